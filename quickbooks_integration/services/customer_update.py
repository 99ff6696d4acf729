"""Sending a linked contact's changes to its QBO customer (issue 10, "Push"), without overwriting someone else's:
sparse updates with the stored SyncToken, a re-read on 5010, a `ContactConflict` for a field QBO changed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from django.db import transaction

from crm.models import Contact

from ..models import ContactConflict, QuickBooksAuth, SyncFailure
from ..qbo.client import qbo_read, qbo_update
from ..qbo.errors import DuplicateNameError, QuickBooksError, StaleObjectError
from .audit import audit_record
from .customer_links import update_contact_from_customer
from .customer_lookup import free_display_name
from .customer_payload import (
    ADDRESS_KEYS,
    CUSTOMER,
    address_differs,
    comparable,
    customer_payload_from_contact,
    display_name_clean,
)
from .customer_push import PushError, PushOutcome, failed, failure_key, permission_check, retry_contact
from .failures import failure_resolve, failure_retry_register
from .mirror import mirror_apply, mirror_get

KIND_UPDATE = "customer_update"
UPDATED = "customer.push_update"

# Payload key -> the contact fields it carries (for conflicts, which are recorded per contact field).
PAYLOAD_FIELDS: dict[str, tuple[str, ...]] = {
    "DisplayName": ("first_name", "last_name", "company_name"),
    "GivenName": ("first_name",),
    "FamilyName": ("last_name",),
    "CompanyName": ("company_name",),
    "PrimaryPhone": ("phone",),
    "Mobile": ("mobile_phone",),
    "PrimaryEmailAddr": ("email",),
    "BillAddr": ("address_line1", "address_line2", "city", "state", "zip_code"),
}
UPDATABLE = ("GivenName", "FamilyName", "CompanyName", "PrimaryPhone", "Mobile", "PrimaryEmailAddr", "BillAddr")


class PushConflictError(StaleObjectError):
    """5010 with QBO's own change to a field we send: the CRM's value is not written over it."""


def _open_conflict_fields(contact: Contact) -> set[str]:
    return set(
        ContactConflict.objects.filter(contact=contact, resolved_at__isnull=True).values_list("field", flat=True)
    )


def _changes(*, payload: Mapping[str, Any], base: Mapping[str, Any], skip: set[str]) -> dict[str, Any]:
    """The sparse body's fields: what the contact has and QBO's last copy (`base`) lacks or holds differently."""
    changes: dict[str, Any] = {}
    for key in UPDATABLE:
        ours = payload.get(key)
        if ours is None or skip.intersection(PAYLOAD_FIELDS[key]):
            continue
        if key == "BillAddr":
            if address_differs(ours, base.get(key)):
                merged = dict(base.get(key) or {})  # a sparse update replaces the whole address object
                merged.update(ours)
                changes[key] = merged
        elif comparable(key, ours) != comparable(key, base.get(key)):
            changes[key] = ours
    names_changed = changes.keys() & {"GivenName", "FamilyName", "CompanyName"}
    new_name = comparable("DisplayName", payload["DisplayName"]) != comparable("DisplayName", base.get("DisplayName"))
    if (
        names_changed
        and new_name
        and _display_name_from_names(base)
        and not skip.intersection(PAYLOAD_FIELDS["DisplayName"])
    ):
        changes["DisplayName"] = payload["DisplayName"]
    return changes


def _display_name_from_names(customer: Mapping[str, Any]) -> bool:
    """Whether the customer's DisplayName was made from its names the way ours is ("First Last (Company)", maybe
    with a " (city)" or " (2)" we added): only then does it follow a change of name. A name the bookkeeper chose
    ("Amy's Bird Sanctuary") is hers, and stays."""
    person = " ".join(str(customer.get(k) or "").strip() for k in ("GivenName", "FamilyName")).strip()
    company = str(customer.get("CompanyName") or "").strip()
    made = f"{person} ({company})" if person and company else person or company
    if not made:
        return False
    display = comparable("DisplayName", customer.get("DisplayName"))
    made = comparable("DisplayName", display_name_clean(made))
    return display == made or display.startswith(made + " (")


def _same_value(key: str, a: Any, b: Any) -> bool:
    if key == "BillAddr":
        return not address_differs(a or {}, b)
    return comparable(key, a) == comparable(key, b)


def _conflicts_open(
    *, connection: QuickBooksAuth, contact: Contact, customer: Mapping[str, Any], keys: Iterable[str]
) -> list[str]:
    """An open ContactConflict per contact field QBO changed under us (shown on the contact; the bookkeeper
    decides). Returns the contact fields."""
    qbo_values: dict[str, str] = {}
    for key in keys:
        if key == "BillAddr":
            address = customer.get(key) or {}
            for line, field in ADDRESS_KEYS.items():
                qbo_values[field] = str(address.get(line) or "")
        elif key in ("PrimaryPhone", "Mobile"):
            qbo_values[PAYLOAD_FIELDS[key][0]] = str((customer.get(key) or {}).get("FreeFormNumber") or "")
        elif key == "PrimaryEmailAddr":
            qbo_values["email"] = str((customer.get(key) or {}).get("Address") or "")
        elif key in PAYLOAD_FIELDS and len(PAYLOAD_FIELDS[key]) == 1:
            qbo_values[PAYLOAD_FIELDS[key][0]] = str(customer.get(key) or "")
    fields = []
    for field, qbo_value in qbo_values.items():
        crm_value = str(getattr(contact, field) or "")
        if not crm_value or comparable("DisplayName", crm_value) == comparable("DisplayName", qbo_value):
            continue
        ContactConflict.objects.update_or_create(
            contact=contact,
            field=field,
            resolved_at__isnull=True,
            defaults={
                "connection": connection,
                "quickbooks_customer_id": str(customer.get("Id", "")),
                "crm_value": crm_value,
                "qbo_value": qbo_value,
            },
        )
        fields.append(field)
    return fields


def _updated(
    *, connection: QuickBooksAuth, contact: Contact, actor, customer: Mapping[str, Any], sent: Mapping[str, Any]
) -> None:
    """QBO's answer into the ledger, its SyncToken and financial fields onto the contact, audited."""
    with transaction.atomic():
        mirror_apply(connection=connection, entity_type=CUSTOMER, rows=[customer])
        update_contact_from_customer(connection=connection, contact=contact, customer=customer)
        audit_record(
            action=UPDATED,
            actor=actor,
            obj=contact,
            after={
                "quickbooks_customer_id": str(customer["Id"]),
                "fields": sorted(sent),
                "SyncToken": customer.get("SyncToken"),
            },
            message=f"sent {', '.join(sorted(sent))}",
        )


def contact_push_update(*, connection: QuickBooksAuth, contact: Contact, actor) -> PushOutcome:
    """Send the contact's changed details to its QBO customer as a sparse update with the stored SyncToken.

    On 5010 (stale, API.md §3.4) the customer is read again: fields QBO did not change since our last copy are
    re-applied on the new SyncToken; a field QBO changed to another value becomes an open ContactConflict and a
    `SyncFailure` (code 5010), and is not sent.

    Updates are sparse, with the stored SyncToken, and never clear a QBO field the CRM left empty (an empty CRM
    detail is filled from QBO, `update_contact_from_customer`). A field with an open `ContactConflict` is not sent:
    the bookkeeper decides it. What we send is re-applied after a 5010 only when QBO did not change those fields
    since our last copy (the ledger's payload); a field QBO changed to something else is a conflict, never
    overwritten.
    """
    permission_check(actor)
    contact = Contact.objects.get(pk=contact.pk)
    customer_id = contact.quickbooks_customer_id
    if not customer_id:
        raise PushError(f"{contact} is not linked to a QuickBooks customer: create it in QuickBooks first.")
    key = failure_key(KIND_UPDATE, contact.pk)
    try:
        entry = mirror_get(connection=connection, entity_type=CUSTOMER, entity_id=customer_id)
        if entry is None or not entry.payload:
            base = qbo_read(connection=connection, entity=CUSTOMER, entity_id=customer_id)
            with transaction.atomic():
                mirror_apply(connection=connection, entity_type=CUSTOMER, rows=[base])
        else:
            base = dict(entry.payload)
        skip = _open_conflict_fields(contact)
        changes = _changes(payload=customer_payload_from_contact(contact), base=base, skip=skip)
        if not changes:
            if not skip:
                failure_resolve(key=key, resolution="nothing left to send")
            return PushOutcome(contact.pk, "unchanged", customer_id, _waiting(skip))
        token = contact.quickbooks_sync_token or str(base.get("SyncToken", "0"))
        body = {"Id": customer_id, "SyncToken": token, "sparse": True, **changes}
        try:
            customer = qbo_update(connection=connection, entity=CUSTOMER, payload=body, request_id=uuid.uuid4().hex)
        except DuplicateNameError:
            if "DisplayName" not in changes:
                raise
            changes["DisplayName"] = free_display_name(
                connection=connection, contact=contact, taken_name=changes["DisplayName"]
            )
            body = {"Id": customer_id, "SyncToken": token, "sparse": True, **changes}
            customer = qbo_update(connection=connection, entity=CUSTOMER, payload=body, request_id=uuid.uuid4().hex)
        except StaleObjectError:
            return _stale(connection=connection, contact=contact, actor=actor, base=base, changes=changes)
    except QuickBooksError as error:
        return failed(connection=connection, contact=contact, actor=actor, error=error, request=None, kind=KIND_UPDATE)
    _updated(connection=connection, contact=contact, actor=actor, customer=customer, sent=changes)
    if not skip:
        failure_resolve(key=key, resolution=f"updated (SyncToken {customer.get('SyncToken')})")
    return PushOutcome(contact.pk, "updated", customer_id, _waiting(skip))


def _waiting(skip: set[str]) -> str:
    return f"not sent while the conflict is open: {', '.join(sorted(skip))}" if skip else ""


def _stale(
    *, connection: QuickBooksAuth, contact: Contact, actor, base: Mapping[str, Any], changes: dict[str, Any]
) -> PushOutcome:
    """5010: re-read; what QBO changed since `base` to something else than ours is a conflict, the rest is sent."""
    customer_id = contact.quickbooks_customer_id
    fresh = qbo_read(connection=connection, entity=CUSTOMER, entity_id=customer_id)
    with transaction.atomic():
        mirror_apply(connection=connection, entity_type=CUSTOMER, rows=[fresh])
    conflicted = [
        k
        for k in changes
        if not _same_value(k, base.get(k), fresh.get(k)) and not _same_value(k, changes[k], fresh.get(k))
    ]
    remaining = {k: v for k, v in changes.items() if k not in conflicted and not _same_value(k, v, fresh.get(k))}
    customer = fresh
    if remaining:
        body = {"Id": customer_id, "SyncToken": str(fresh.get("SyncToken")), "sparse": True, **remaining}
        customer = qbo_update(connection=connection, entity=CUSTOMER, payload=body, request_id=uuid.uuid4().hex)
    if not conflicted:
        _updated(connection=connection, contact=contact, actor=actor, customer=customer, sent=remaining)
        failure_resolve(key=failure_key(KIND_UPDATE, contact.pk), resolution="re-applied after 5010")
        return PushOutcome(contact.pk, "updated", customer_id, "re-applied on QuickBooks' newer version")
    with transaction.atomic():
        fields = _conflicts_open(connection=connection, contact=contact, customer=fresh, keys=conflicted)
        _updated(connection=connection, contact=contact, actor=actor, customer=customer, sent=remaining)
    error = PushConflictError(
        f"QuickBooks changed {', '.join(sorted(conflicted))} of customer {customer_id} since the CRM last read it; "
        f"the CRM's {', '.join(fields) or 'values'} were not sent. Decide each conflict on the contact, then retry.",
        code="5010",
        detail=f"fields: {', '.join(sorted(conflicted))}",
        element=", ".join(sorted(conflicted)),
    )
    return failed(connection=connection, contact=contact, actor=actor, error=error, request=None, kind=KIND_UPDATE)


@failure_retry_register(KIND_UPDATE)
def _update_retry(failure: SyncFailure) -> str:
    """Retrying a failed update sends the contact's details again (fields with an open conflict excepted)."""
    connection, contact = retry_contact(failure)
    try:
        outcome = contact_push_update(connection=connection, contact=contact, actor=None)
    except PushError as error:
        return str(error)
    return f"{contact}: {outcome.status}" + (f" ({outcome.message})" if outcome.message else "")
