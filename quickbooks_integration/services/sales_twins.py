"""A QBO document the CRM already holds unlinked: the same estimate, invoice or payment typed in both systems.

Owns recognising it, so that the sales pulls (`sales_pull.py`) link the CRM's row instead of adding QBO's copy
beside it. Reads only; the pull writes QBO's figures onto the row it is given and audits the link.

The rules, strongest first; each CRM row is claimed by one QBO document at most, and only a row no QBO id is linked
to yet (a void CRM invoice only through its marker):

1. **The CRM's own marker** in PrivateNote (`CRM-Q-<pk>` / `CRM-I-<pk>`, written by the estimate push and the
   conversion): the CRM made this document and lost QBO's answer (a timeout), whoever the customer is now.
2. **The same number and the same contact**: DocNumber equal to the quote or invoice number, ignoring case and
   surrounding spaces (QBO keeps DocNumber as typed, ≤ 21 characters).
3. **The same contact, date and total, and only one such row**: numbered differently in each system (the CRM's
   `Q-12` beside QBO's `1042`). Two candidates is a doubt, and a doubt creates QBO's copy rather than guessing; the
   doubt is returned too (`Twin.doubts`), so the pull can name the rows the bookkeeper should compare.

Payments have no number: the same contact, date and amount, and only one such row; when several remain, the one
whose reference (check number) equals PaymentRefNum, if exactly one does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Model, Q

from crm.models import Invoice, InvoiceStatus, Payment, Quote

from ..models import QuickBooksSync
from ..qbo.numbers import qbo_money
from .estimates import estimate_marker
from .invoices import invoice_marker
from .sales_mapping import ESTIMATE, INVOICE, PAYMENT, customer_id_of, qbo_date


@dataclass(frozen=True)
class Twin:
    """The CRM row a QBO document is, and why (for the audit line and the bookkeeper); or, with `row` None, the
    rows it might be (`doubts`): QBO's copy is then created beside them, and the audit line names them."""

    row: Model | None
    reason: str
    doubts: tuple[Model, ...] = ()


@dataclass(frozen=True)
class _Kind:
    model: type[Model]
    id_field: str
    number_field: str
    date_field: str
    amount_field: str
    marker: Callable[[Any], str] | None  # the PrivateNote the CRM's own push writes


KINDS = {
    ESTIMATE: _Kind(Quote, "quickbooks_estimate_id", "quote_number", "issue_date", "total_amount", estimate_marker),
    INVOICE: _Kind(Invoice, "quickbooks_invoice_id", "invoice_number", "issue_date", "total_amount", invoice_marker),
    PAYMENT: _Kind(Payment, "quickbooks_payment_id", "", "payment_date", "amount", None),
}


def _fold(value: Any) -> str:
    return str(value or "").strip().casefold()


def _note(data: Mapping[str, Any]) -> str:
    return str(data.get("PrivateNote") or "").strip()


def _marker_pk(data: Mapping[str, Any]) -> int | None:
    """The pk a marker-shaped PrivateNote ("CRM-Q-12") names; `_Kind.marker` confirms it is exactly the marker."""
    tail = _note(data).rpartition("-")[2]
    return int(tail) if tail.isdigit() else None


def twins_find(
    *,
    entity: str,
    entries: Sequence[QuickBooksSync],
    contacts: Mapping[str, int | None],
    linked: Mapping[str, Any],
) -> dict[str, Twin]:
    """QBO id → the unlinked CRM row each of `entries` is (see the module's rules), for the entries no CRM row is
    linked to yet (`linked`, by QBO id). `contacts` maps a QBO customer id to its contact. One query."""
    kind = KINDS[entity]
    waiting = [
        entry for entry in entries if entry.deleted_at is None and entry.entity_id not in linked and entry.payload
    ]
    if not waiting:
        return {}
    contact_of = {entry.entity_id: contacts.get(customer_id_of(entry.payload)) for entry in waiting}
    markers = {entry.entity_id: _marker_pk(entry.payload) if kind.marker else None for entry in waiting}
    contact_ids = {pk for pk in contact_of.values() if pk is not None}
    marker_pks = {pk for pk in markers.values() if pk is not None}
    if not contact_ids and not marker_pks:
        return {}
    rows = list(
        kind.model.objects.filter(**{f"{kind.id_field}__isnull": True})
        .filter(Q(contact_id__in=contact_ids) | Q(pk__in=marker_pks))
        .order_by("pk")
    )
    by_pk = {row.pk: row for row in rows}
    claimed: set[int] = set()
    twins: dict[str, Twin] = {}

    def claim(entity_id: str, row: Model, reason: str) -> None:
        claimed.add(row.pk)
        twins[entity_id] = Twin(row, reason)

    for entry in waiting:  # rule 1 first over the whole page: a marker is certain, a number only likely
        row = by_pk.get(markers[entry.entity_id])
        if row is not None and row.pk not in claimed and kind.marker and _note(entry.payload) == kind.marker(row):
            claim(entry.entity_id, row, f"its PrivateNote is the CRM's marker {_note(entry.payload)}")
    live = [row for row in rows if not (isinstance(row, Invoice) and row.status == InvoiceStatus.VOID)]
    for entry in waiting:
        if entry.entity_id in twins or contact_of[entry.entity_id] is None:
            continue
        contact_id = contact_of[entry.entity_id]
        mine = [row for row in live if row.contact_id == contact_id and row.pk not in claimed]
        number = _fold(entry.payload.get("DocNumber"))
        if kind.number_field and number:
            same_number = [row for row in mine if _fold(getattr(row, kind.number_field)) == number]
            if len(same_number) == 1:
                claim(entry.entity_id, same_number[0], f"the same number {entry.payload.get('DocNumber')} and customer")
                continue
            if same_number:
                twins[entry.entity_id] = Twin(None, f"the same number {number} and customer", tuple(same_number))
                continue
        when, amount = qbo_date(entry.payload.get("TxnDate")), qbo_money(entry.payload.get("TotalAmt"))
        alike = [
            row for row in mine if getattr(row, kind.date_field) == when and getattr(row, kind.amount_field) == amount
        ]
        if len(alike) > 1 and entity == PAYMENT:
            reference = _fold(entry.payload.get("PaymentRefNum"))
            alike = [row for row in alike if reference and _fold(row.reference) == reference]
        if len(alike) == 1:
            claim(entry.entity_id, alike[0], f"the same customer, date {when} and amount {amount}")
        elif alike:
            twins[entry.entity_id] = Twin(None, f"the same customer, date {when} and amount {amount}", tuple(alike))
    return twins
