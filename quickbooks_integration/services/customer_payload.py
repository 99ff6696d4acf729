"""The QBO Customer body built from a contact, and how its values compare (push, issue 10).

Pure: no database, client or settings, input untouched. The lookup, the create and the sparse update all use it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from crm.models import Contact
from crm.normalization import email_normalize, phone_to_e164

from .matching import phone_keys

CUSTOMER = "Customer"

# API.md §4.1 lengths.
DISPLAY_NAME_MAX = 500
NAME_MAX = 100
PHONE_MAX = 30
EMAIL_MAX = 100
_FORBIDDEN_IN_NAME = re.compile(r"[:\t\r\n]+")
_SPACES = re.compile(r"\s+")
ADDRESS_KEYS = {
    "Line1": "address_line1",
    "Line2": "address_line2",
    "City": "city",
    "CountrySubDivisionCode": "state",
    "PostalCode": "zip_code",
}


def display_name_clean(text: str, *, limit: int = DISPLAY_NAME_MAX) -> str:
    """A DisplayName QBO accepts: no `:`, tab or newline (6000 otherwise), single spaces, at most `limit` chars."""
    cleaned = _SPACES.sub(" ", _FORBIDDEN_IN_NAME.sub(" ", text or "")).strip()
    return cleaned[:limit].rstrip()


def _text(value: str, limit: int) -> str:
    return _SPACES.sub(" ", (value or "").replace("\t", " ")).strip()[:limit].rstrip()


def _phone(raw: str) -> dict[str, str] | None:
    """`{"FreeFormNumber": …}` as typed (QBO keeps free text, ≤ 30); a longer entry ("617-555-0134 ext. 22 (ask
    for the office manager)") is sent as the E.164 number found in it."""
    raw = (raw or "").strip()
    if not raw:
        return None
    if len(raw) <= PHONE_MAX:
        return {"FreeFormNumber": raw}
    e164 = phone_to_e164(raw) or next(iter(phone_keys(raw)), None)
    return {"FreeFormNumber": e164} if e164 else None


def phone_variants(raw: str) -> list[str]:
    """The ways people type one number, for an exact `IN (…)` on QBO's free-text phone fields (QBO has no OR, and
    LIKE cannot serve many contacts at once): the typed text and the nine usual US layouts of its E.164 form.
    Rarer layouts are caught by the ledger search, which compares numbers, not text."""
    variants = [raw.strip()] if raw and raw.strip() else []
    e164 = phone_to_e164(raw)
    if e164 and e164.startswith("+1") and len(e164) == 12:
        a, b, c = e164[2:5], e164[5:8], e164[8:]
        variants += [
            f"({a}) {b}-{c}",
            f"{a}-{b}-{c}",
            f"{a}.{b}.{c}",
            f"{a}{b}{c}",
            f"{a} {b} {c}",
            f"1-{a}-{b}-{c}",
            f"+1 {a}-{b}-{c}",
            f"+1 ({a}) {b}-{c}",
            f"+1{a}{b}{c}",
        ]
    elif e164:
        variants.append(e164)
    return list(dict.fromkeys(v for v in variants if len(v) <= PHONE_MAX))


def customer_payload_from_contact(contact: Contact) -> dict[str, Any]:
    """The QBO Customer body for a contact (create, or the source of a sparse update); pure, input untouched.

    DisplayName is the CRM's own display name ("First Last (Company)", else the company, phone or e-mail), cleaned
    for QBO. Empty details are left out. An e-mail over QBO's 100 characters, or one QBO would refuse as not an
    address (2210), is left out rather than failing the push: the CRM keeps it.
    """
    payload: dict[str, Any] = {
        "DisplayName": display_name_clean(contact.display_name) or f"Contact {contact.pk}",
    }
    for key, value in (
        ("GivenName", contact.first_name),
        ("FamilyName", contact.last_name),
        ("CompanyName", contact.company_name),
    ):
        text = _text(value, NAME_MAX)
        if text:
            payload[key] = text
    for key, raw in (("PrimaryPhone", contact.phone), ("Mobile", contact.mobile_phone)):
        phone = _phone(raw)
        if phone:
            payload[key] = phone
    email = email_normalize(contact.email)
    if email and len(email) <= EMAIL_MAX and "@" in email and "." in email.rpartition("@")[2]:
        payload["PrimaryEmailAddr"] = {"Address": email}
    address = {
        key: _text(getattr(contact, field), 255 if key != "PostalCode" else 30) for key, field in ADDRESS_KEYS.items()
    }
    address = {key: value for key, value in address.items() if value}
    if address:
        payload["BillAddr"] = address
    return payload


def comparable(key: str, value: Any) -> Any:
    """A payload value as compared between the CRM, the ledger and QBO: phones by E.164, e-mails lower-cased,
    names case- and space-insensitive, addresses by their lines."""
    if key in ("PrimaryPhone", "Mobile", "AlternatePhone"):
        raw = str(value.get("FreeFormNumber") or "").strip() if isinstance(value, Mapping) else ""
        return phone_to_e164(raw) or raw
    if key == "PrimaryEmailAddr":
        return email_normalize(value.get("Address") if isinstance(value, Mapping) else "")
    if key == "BillAddr":
        value = value if isinstance(value, Mapping) else {}
        return tuple(_SPACES.sub(" ", str(value.get(k) or "")).strip().casefold() for k in ADDRESS_KEYS)
    return _SPACES.sub(" ", str(value or "")).strip().casefold()


def address_differs(ours: Mapping[str, Any], theirs: Any) -> bool:
    """Only the lines the contact has count: an empty CRM line never clears QBO's."""
    theirs = theirs if isinstance(theirs, Mapping) else {}
    return any(
        comparable("DisplayName", value) != comparable("DisplayName", theirs.get(key)) for key, value in ours.items()
    )
