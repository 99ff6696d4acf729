"""Linking a CRM contact to a QBO customer, unlinking it, and enriching the contact from the customer.

Every link in the system is made here (automatic links of the import, the bookkeeper's approvals, pushes), so the
rules hold in one place: a contact has at most one customer, a customer at most one contact (the unique
`Contact.quickbooks_customer_id`), a job or sub-customer is never linked (it belongs to its parent's contact, and
its ledger row points there), and every link and unlink is an AuditEvent on the contact.

Field ownership (issue 10, the plan's `update_contact_from_customer`): QBO owns the financial fields (customer
type, payment terms by the term's name, tax exemption, balance, id and SyncToken) and they are copied over; the
CRM owns the contact details (names, phones, e-mail, address) and QBO only fills the ones left empty. A detail on
which both have different values becomes an open `ContactConflict` shown on the contact: never overwritten either
way. The credit limit stays the CRM's: the QBO API exposes none on Customer (API.md §4.1).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from crm.models import Contact
from crm.models.contacts import CustomerType
from crm.normalization import email_normalize, phone_to_e164
from crm.services.contacts import contacts_financials_recalculate

from ..models import ContactConflict, QuickBooksAuth, QuickBooksSync
from .audit import audit_record
from .matching import DELETED_SUFFIX, persons_from_display

CUSTOMER = "Customer"

# Contact field → how to read it from a QBO Customer. CRM-owned: filled from QBO only when empty.
DETAIL_SOURCES: dict[str, tuple[str, ...]] = {
    "first_name": ("GivenName",),
    "last_name": ("FamilyName",),
    "company_name": ("CompanyName",),
    "phone": ("PrimaryPhone", "FreeFormNumber"),
    "mobile_phone": ("Mobile", "FreeFormNumber"),
    "email": ("PrimaryEmailAddr", "Address"),
    "address_line1": ("BillAddr", "Line1"),
    "address_line2": ("BillAddr", "Line2"),
    "city": ("BillAddr", "City"),
    "state": ("BillAddr", "CountrySubDivisionCode"),
    "zip_code": ("BillAddr", "PostalCode"),
}
FINANCIAL_FIELDS = (
    "customer_type",
    "payment_terms",
    "tax_exempt",
    "outstanding_balance",
    "quickbooks_sync_token",
)
# Columns `Contact.save()` derives from a field: an `update_fields` save must name them too, or they go stale.
DERIVED_FIELDS = {"phone": "phone_e164", "mobile_phone": "mobile_phone_e164"}
_SPACES = re.compile(r"\s+")
_EMAIL_SPLIT = re.compile(r"[,;\s]+")


class LinkError(Exception):
    """The link would break a rule (already linked elsewhere, a job, …); the message says which, for a person."""


# ---------------------------------------------------------------------------------------------------- mapping


def _dig(data: Mapping[str, Any], path: tuple[str, ...]) -> str:
    value: Any = data
    for key in path:
        if not isinstance(value, Mapping):
            return ""
        value = value.get(key)
    return "" if value is None else str(value).strip()


def _fit(contact_field: str, value: str) -> str:
    return value[: Contact._meta.get_field(contact_field).max_length]


def customer_details(customer: Mapping[str, Any]) -> dict[str, str]:
    """The contact details a QBO customer carries, as contact field values (empty when absent or unusable)."""
    details = {name: _dig(customer, path) for name, path in DETAIL_SOURCES.items()}
    emails = [part for part in _EMAIL_SPLIT.split(details["email"]) if "@" in part]
    details["email"] = email_normalize(emails[0]) if emails else ""
    for name in ("phone", "mobile_phone"):
        if details[name] and not phone_to_e164(details[name]):
            details[name] = ""  # "n/a" or a local number: no better than an empty field, never fills one
    return {name: _fit(name, value) for name, value in details.items()}


def customer_financials(customer: Mapping[str, Any]) -> dict[str, Any]:
    """The QBO-owned fields. Balance includes jobs' balances (their invoices count for the parent's contact)."""
    values: dict[str, Any] = {
        "customer_type": CustomerType.CUSTOMER,
        "quickbooks_sync_token": str(customer.get("SyncToken", "")),
    }
    term = customer.get("SalesTermRef")
    if isinstance(term, Mapping) and term.get("name"):
        values["payment_terms"] = _fit("payment_terms", str(term["name"]))
    elif term is None:
        values["payment_terms"] = ""
    if "Taxable" in customer or "TaxExemptionReasonId" in customer:
        # Exempt only with an exemption reason: `Taxable: false` alone is a default, and QBO taxes such customers'
        # documents all the same (the sandbox's own invoices do; docs/decisions.md 19).
        values["tax_exempt"] = bool(customer.get("TaxExemptionReasonId"))
    balance = customer.get("BalanceWithJobs", customer.get("Balance"))
    if balance is not None:
        with contextlib.suppress(InvalidOperation):  # a malformed Balance leaves the CRM's figure
            values["outstanding_balance"] = Decimal(str(balance)).quantize(Decimal("0.01"))
    return values


def _same(field_name: str, a: str, b: str) -> bool:
    if field_name in ("phone", "mobile_phone"):
        return (phone_to_e164(a) or a) == (phone_to_e164(b) or b)
    if field_name == "email":
        return email_normalize(a) == email_normalize(b)
    return _SPACES.sub(" ", a).strip().casefold() == _SPACES.sub(" ", b).strip().casefold()


def contact_fields_from_customer(customer: Mapping[str, Any]) -> dict[str, Any]:
    """All the fields of a new contact made from a QBO customer (one with no plausible contact in the CRM)."""
    fields: dict[str, Any] = {**customer_details(customer), **customer_financials(customer)}
    if not (fields["first_name"] or fields["last_name"] or fields["company_name"]):
        display = str(customer.get("DisplayName") or "").removesuffix(DELETED_SUFFIX).strip()
        persons = persons_from_display(display)
        words = display.split()
        if persons and len(words) >= 2 and "," not in display:  # "John Smith": a person; a business otherwise
            fields["first_name"] = _fit("first_name", " ".join(words[:-1]))
            fields["last_name"] = _fit("last_name", words[-1] if words else "")
        else:
            fields["company_name"] = _fit("company_name", display)
    return fields


# ---------------------------------------------------------------------------------------------------- enrichment


def contact_enrich(contact: Contact, customer: Mapping[str, Any]) -> tuple[list[str], dict[str, tuple[str, str]]]:
    """The field-ownership rule, without writing: QBO's financial fields copied onto `contact`, its empty details
    filled; returns (fields changed, {field: (CRM value, QBO value)} for the details that differ)."""
    changed: list[str] = []
    for name, value in customer_financials(customer).items():
        if getattr(contact, name) != value:
            setattr(contact, name, value)
            changed.append(name)
    differing: dict[str, tuple[str, str]] = {}
    for name, qbo_value in customer_details(customer).items():
        crm_value = getattr(contact, name) or ""
        if not qbo_value:
            continue
        if not crm_value:
            setattr(contact, name, qbo_value)
            changed.append(name)
        elif not _same(name, crm_value, qbo_value):
            differing[name] = (crm_value, qbo_value)
    return changed, differing


def update_contact_from_customer(
    *, connection: QuickBooksAuth, contact: Contact, customer: Mapping[str, Any]
) -> list[str]:
    """Copy QBO's financial fields, fill empty details, record differing details as conflicts; saves the contact.

    Returns the names of the contact fields changed. Conflicts that no longer differ are resolved as "gone".
    """
    changed, differing = contact_enrich(contact, customer)
    if changed:
        contact_save_fields(contact, changed)
    customer_id = str(customer.get("Id", ""))
    _conflicts_record(connection=connection, contact=contact, customer_id=customer_id, differing=differing)
    return changed


def contact_save_fields(contact: Contact, fields: Iterable[str]) -> None:
    """Save only `fields` (and the columns derived from them: a phone's E.164, which search and matching use)."""
    fields = list(fields)
    derived = [DERIVED_FIELDS[name] for name in fields if name in DERIVED_FIELDS]
    contact.save(update_fields=[*fields, *derived, "updated_at"])


def _conflicts_record(
    *, connection: QuickBooksAuth, contact: Contact, customer_id: str, differing: Mapping[str, tuple[str, str]]
) -> None:
    open_rows = {c.field: c for c in ContactConflict.objects.filter(contact=contact, resolved_at__isnull=True)}
    now = timezone.now()
    for name, row in open_rows.items():
        if name not in differing:
            row.resolved_at, row.resolution = now, ContactConflict.Resolution.GONE
            row.save(update_fields=["resolved_at", "resolution", "updated_at"])
    for name, (crm_value, qbo_value) in differing.items():
        row = open_rows.get(name)
        if row is None:
            ContactConflict.objects.create(
                connection=connection,
                contact=contact,
                quickbooks_customer_id=customer_id,
                field=name,
                crm_value=crm_value,
                qbo_value=qbo_value,
            )
        elif (row.crm_value, row.qbo_value) != (crm_value, qbo_value):
            row.crm_value, row.qbo_value, row.quickbooks_customer_id = crm_value, qbo_value, customer_id
            row.save(update_fields=["crm_value", "qbo_value", "quickbooks_customer_id", "updated_at"])


def contact_conflict_resolve(*, conflict: ContactConflict, take_qbo: bool, actor) -> ContactConflict:
    """The bookkeeper's choice on one conflict: keep the CRM's value, or take QuickBooks' into the contact."""
    with transaction.atomic():
        conflict = ContactConflict.objects.select_for_update().select_related("contact").get(pk=conflict.pk)
        if conflict.resolved_at is not None:
            return conflict
        if take_qbo:
            setattr(conflict.contact, conflict.field, conflict.qbo_value)
            contact_save_fields(conflict.contact, [conflict.field])
        conflict.resolved_at, conflict.resolved_by = timezone.now(), actor
        conflict.resolution = ContactConflict.Resolution.TOOK_QBO if take_qbo else ContactConflict.Resolution.KEPT_CRM
        conflict.save(update_fields=["resolved_at", "resolved_by", "resolution", "updated_at"])
        audit_record(
            action="contact.conflict_resolve",
            actor=actor,
            obj=conflict.contact,
            before={conflict.field: conflict.crm_value},
            after={conflict.field: conflict.qbo_value if take_qbo else conflict.crm_value},
            message=conflict.get_resolution_display(),
        )
    return conflict


# ---------------------------------------------------------------------------------------------------- links


def customer_descendants(*, connection: QuickBooksAuth, customer_id: str) -> list[str]:
    """Ids of the jobs and sub-customers under a customer (any depth, from the ledger's ParentRef)."""
    found: list[str] = []
    frontier = [str(customer_id)]
    ledger = QuickBooksSync.objects.filter(connection=connection, entity_type=CUSTOMER)
    while frontier:
        children = list(ledger.filter(payload__ParentRef__value__in=frontier).values_list("entity_id", flat=True))
        children = [c for c in children if c not in found]
        found.extend(children)
        frontier = children
    return found


def _ledger_point(*, connection: QuickBooksAuth, customer_id: str, contact_id: int | None) -> None:
    """The customer's ledger row and its jobs' rows map to the contact (or to nothing)."""
    ids = [customer_id, *customer_descendants(connection=connection, customer_id=customer_id)]
    QuickBooksSync.objects.filter(connection=connection, entity_type=CUSTOMER, entity_id__in=ids).update(
        local_id=contact_id
    )


def customer_link(
    *, connection: QuickBooksAuth, contact: Contact, customer: Mapping[str, Any], actor=None, source: str
) -> Contact:
    """Link `contact` to the QBO `customer` (its JSON), enrich it, point the ledger at it and audit the link.

    `source` says who decided: "auto" (the import), "review" (the bookkeeper), "push" (created from the contact).
    Linking a pair that is already linked just enriches again.
    """
    customer_id = str(customer["Id"])
    with transaction.atomic():
        contact = Contact.objects.select_for_update().get(pk=contact.pk)
        if contact.quickbooks_customer_id and contact.quickbooks_customer_id != customer_id:
            raise LinkError(
                f"{contact} is already linked to QuickBooks customer {contact.quickbooks_customer_id}; "
                "undo that link first."
            )
        if customer.get("Job") or customer.get("ParentRef"):
            raise LinkError(
                f"QuickBooks customer {customer.get('DisplayName') or customer_id} is a job or sub-customer: "
                "it belongs to its parent's contact."
            )
        holder = Contact.objects.filter(quickbooks_customer_id=customer_id).exclude(pk=contact.pk).first()
        if holder is not None:
            raise LinkError(
                f"QuickBooks customer {customer.get('DisplayName') or customer_id} is already linked to {holder}."
            )
        newly = contact.quickbooks_customer_id != customer_id
        if newly:
            contact.quickbooks_customer_id = customer_id
            contact.save(update_fields=["quickbooks_customer_id", "updated_at"])
        update_contact_from_customer(connection=connection, contact=contact, customer=customer)
        _ledger_point(connection=connection, customer_id=customer_id, contact_id=contact.pk)
        if newly:
            audit_record(
                action="customer.link",
                actor=actor,
                obj=contact,
                after={
                    "quickbooks_customer_id": customer_id,
                    "customer": str(customer.get("DisplayName", "")),
                    "source": source,
                },
            )
    return contact


def customer_unlink(*, connection: QuickBooksAuth, contact: Contact, actor=None, reason: str) -> Contact:
    """Undo a link (an undone approval, a customer deactivated or merged away in QBO); history kept in the audit.

    The contact keeps its details; its summary becomes the CRM's again (recalculated from its own invoices).
    """
    with transaction.atomic():
        contact = Contact.objects.select_for_update().get(pk=contact.pk)
        customer_id = contact.quickbooks_customer_id
        if not customer_id:
            return contact
        contact.quickbooks_customer_id = None
        contact.quickbooks_sync_token = ""
        contact.save(update_fields=["quickbooks_customer_id", "quickbooks_sync_token", "updated_at"])
        _ledger_point(connection=connection, customer_id=customer_id, contact_id=None)
        ContactConflict.objects.filter(contact=contact, resolved_at__isnull=True).update(
            resolved_at=timezone.now(), resolution=ContactConflict.Resolution.GONE
        )
        audit_record(
            action="customer.unlink",
            actor=actor,
            obj=contact,
            before={"quickbooks_customer_id": customer_id},
            after={"quickbooks_customer_id": None},
            message=reason,
        )
        contacts_financials_recalculate(contact_ids=[contact.pk])
    contact.refresh_from_db()
    return contact


def contact_create_from_customer(
    *, connection: QuickBooksAuth, customer: Mapping[str, Any], actor=None, source: str
) -> Contact:
    """A new contact (type customer) for a QBO customer no contact matches, linked to it."""
    with transaction.atomic():
        contact = Contact.objects.create(**contact_fields_from_customer(customer))
        audit_record(
            action="contact.create_from_customer",
            actor=actor,
            obj=contact,
            after={"quickbooks_customer_id": str(customer["Id"]), "customer": str(customer.get("DisplayName", ""))},
        )
        return customer_link(connection=connection, contact=contact, customer=customer, actor=actor, source=source)


def contacts_linked(*, customer_ids: Iterable[str]) -> dict[str, int]:
    """customer id → linked contact id, for the given customers."""
    linked = Contact.objects.filter(quickbooks_customer_id__in=list(customer_ids))
    return dict(linked.values_list("quickbooks_customer_id", "pk"))


def contact_has_history(contact: Contact) -> bool:
    """Whether anything but QBO matching refers to the contact (so undoing its creation must not delete it)."""
    skip = {"qbo_match_candidates", "qbo_conflicts"}
    for relation in Contact._meta.related_objects:
        accessor = relation.get_accessor_name()
        if accessor in skip or not (relation.one_to_many or relation.one_to_one):
            continue
        if relation.related_model._default_manager.filter(Q(**{relation.field.name: contact})).exists():
            return True
    return False
