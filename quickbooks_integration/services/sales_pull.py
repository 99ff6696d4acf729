"""QBO estimates, invoices and payments pulled into the CRM's quotes, invoices and payments, through the ledger.

Owns the `estimates`, `invoices` and `payments` sync kinds, the pure mapping of those documents onto CRM fields,
the apply functions that write them, and `sales_reconcile` (the figures `quickbooks_reconcile` prints). Transport is
`qbo/client.py`, the ledger `mirror.py`; payments go through the CRM's own payment service
(`crm/services/payments.py`), totals through `crm/services/documents.py`. No database transaction is held across a
QBO call (STYLE §2).

Decisions, and why:

1. **Full import, then CDC**, as the items import does (`products.py`): COUNT, then pages of 1000 `ORDERBY Id`
   (API.md §3.2), one transaction and checkpoint per page; later runs ask CDC since the last good run's start minus a
   margin (`imports.py`), and fall back to a full pull past 30 days or at CDC's 1000-object cap (API.md §5).
2. **The contact is the ledger's**: a document's CustomerRef is looked up in the Customer ledger rows, whose
   `local_id` is the linked contact, or the top-level parent's contact for a job (`customer_links._ledger_point`).
   A document of a customer no contact stands for is skipped and counted (`unlinked_customer`): its ledger row stays,
   with no local row, and every later pull that reads it (a full one reads all) applies it again, changed or not.
   A failure row per document would bury the bookkeeper's queue under a state the review queue already shows.
3. **The CRM computes the totals; QBO's TotalAmt checks them.** Lines are written with QBO's Qty and UnitPrice (the
   CRM rounds each to its column and computes q(qty × price), as QBO does) and the tax rate from
   TxnTaxDetail's TaxPercent; the CRM's recalculation then has to equal TotalAmt to the cent. When it does not (a
   discount line, which the CRM has no concept of; a tax code the CRM cannot express) the CRM's figures stay and an
   open `estimate_total` / `invoice_total` failure row says by how much, never accepted silently; it is resolved by
   a later pull that agrees.
4. **Void and delete.** QBO voids an invoice by zeroing its amounts, with PrivateNote "Voided" (API.md, the
   emulator's `void`); the CRM invoice becomes void with zero-quantity lines (so its total is QBO's 0). A deleted
   invoice (CDC `status: "Deleted"`) is voided in the CRM, never deleted (money records stay). A voided or deleted
   payment is removed through `payments_delete` (its invoices owe that money again). A deleted estimate leaves its
   quote alone (the quote is the CRM's own record) and is counted.
5. **Payments are set, not added**: each pulled payment's applications (its Lines' LinkedTxn to invoices) become its
   whole set through `payment_applications_set`, under the CRM's rules (same contact, never above the invoice's
   total); a refusal is a failure row (`sales_pull`) and the ledger row marked, and the retry re-applies the
   ledger's copy. An application to an invoice the CRM does not hold yet is left out and reported the same way.
6. **Contact summaries**: `contacts_financials_recalculate` for every contact touched. It recalculates only the
   contacts whose summary the CRM owns (unlinked ones); a linked contact carries QBO's Balance, written by the
   customers import (`CRM_OWNS_SUMMARY`).
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.utils.dateparse import parse_date, parse_datetime

from crm.errors import DocumentStateError, PaymentApplicationError
from crm.models import Contact, Invoice, InvoiceItem, InvoiceStatus, Payment, PaymentMethod, Product, Quote, QuoteItem
from crm.models.base import QUANTITY, UNIT_PRICE
from crm.models.sales import TAX_RATE, EmailStatus, QuoteStatus
from crm.money import ZERO, q
from crm.services.contacts import contacts_financials_recalculate
from crm.services.documents import invoice_recalculate, quote_recalculate
from crm.services.payments import payment_applications_set, payment_save, payments_delete

from ..models import QuickBooksAuth, QuickBooksSync, SyncFailure, SyncRun
from ..qbo.client import qbo_count, qbo_get, qbo_query
from ..qbo.errors import QuickBooksValidationError
from . import estimates as estimate_push
from . import invoices as invoice_push
from .failures import failure_record, failure_resolve, failure_retry_register
from .imports import PAGE_SIZE, cdc_pull, import_mode_choose
from .mirror import mirror_apply, mirror_link, mirror_mark_error
from .runs import RunContext, sync_kind_register, sync_run_execute, sync_run_queue
from .webhooks import webhook_entity_register

ESTIMATE, INVOICE, PAYMENT, CUSTOMER = "Estimate", "Invoice", "Payment", "Customer"
KIND_ESTIMATES, KIND_INVOICES, KIND_PAYMENTS = "estimates", "invoices", "payments"
KIND_FAILURE = "sales_pull"
VOIDED_NOTE = "Voided"  # QBO's PrivateNote on a voided transaction (invoice_void_response.json)
STAT_KEYS = (
    "documents",
    "created",
    "updated",
    "voided",
    "deleted",
    "unlinked_customer",
    "total_mismatch",
    "failed",
    "unchanged",
    "api_minimum",
)
ESTIMATE_STATUS = {  # QBO Estimate.TxnStatus → Quote.status
    "Pending": QuoteStatus.SENT,
    "Accepted": QuoteStatus.ACCEPTED,
    "Rejected": QuoteStatus.DECLINED,
    "Closed": QuoteStatus.CONVERTED,
}
CARD_NAMES = ("visa", "mastercard", "master card", "american express", "amex", "discover", "diners", "card")


# ---------------------------------------------------------------------------------------------------- mapping (pure)


def _places(value: Any, places: int) -> Decimal:
    """A QBO number (Decimal, int, float or string) as a Decimal at `places`, half-up; empty is 0."""
    if value is None or value == "" or isinstance(value, bool):
        return Decimal(0).quantize(Decimal(1).scaleb(-places))
    try:
        return Decimal(repr(value) if isinstance(value, float) else str(value)).quantize(
            Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP
        )
    except InvalidOperation:
        raise ValueError(f"not a number: {value!r}") from None


def qbo_money(value: Any) -> Decimal:
    """A QBO amount to the cent, half-up."""
    return _places(value, 2)


def _ref_value(value: Any) -> str:
    return str(value.get("value") or "").strip() if isinstance(value, Mapping) else ""


def _ref_name(value: Any) -> str:
    return str(value.get("name") or "").strip() if isinstance(value, Mapping) else ""


def _date(value: Any) -> datetime.date | None:
    return parse_date(str(value)[:10]) if value else None


def customer_id_of(data: Mapping[str, Any]) -> str:
    return _ref_value(data.get("CustomerRef"))


def linked_ids(data: Mapping[str, Any], txn_type: str) -> list[str]:
    """Ids of the transactions of `txn_type` this one names in LinkedTxn (an invoice's Estimate, say)."""
    return [
        str(link.get("TxnId"))
        for link in data.get("LinkedTxn") or []
        if link.get("TxnType") == txn_type and link.get("TxnId")
    ]


def document_is_voided(data: Mapping[str, Any]) -> bool:
    """QBO voids a transaction by zeroing TotalAmt and writing PrivateNote "Voided" (invoice_void_response.json)."""
    return str(data.get("PrivateNote") or "").strip() == VOIDED_NOTE and qbo_money(data.get("TotalAmt")) == ZERO


def document_tax_rate(data: Mapping[str, Any]) -> Decimal:
    """The percentage QBO charged: the sum of TxnTaxDetail.TaxLine TaxPercent (a combined code has several); 0 when
    no tax was charged."""
    detail = data.get("TxnTaxDetail") or {}
    if qbo_money(detail.get("TotalTax")) == ZERO:
        return _places(0, TAX_RATE["decimal_places"])
    rate = sum(
        (
            _places((line.get("TaxLineDetail") or {}).get("TaxPercent"), TAX_RATE["decimal_places"])
            for line in detail.get("TaxLine") or []
        ),
        Decimal(0),
    )
    return _places(rate, TAX_RATE["decimal_places"])


def document_lines_from_qbo(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The item lines (SalesItemLineDetail; SubTotal and Discount lines have no CRM row) as line fields plus the QBO
    item id. A line without Qty/UnitPrice (QBO allows an Amount alone) is 1 × Amount; a voided line (Amount 0 with
    its Qty and price kept) gets quantity 0, so the CRM's total is QBO's 0."""
    lines = []
    for position, line in enumerate(estimate_push.sales_lines(data)):
        detail = line.get("SalesItemLineDetail") or {}
        amount = qbo_money(line.get("Amount"))
        if detail.get("Qty") in (None, "") and detail.get("UnitPrice") in (None, ""):
            quantity, price = _places(1, QUANTITY["decimal_places"]), _places(amount, UNIT_PRICE["decimal_places"])
        else:
            quantity = _places(detail.get("Qty", 1), QUANTITY["decimal_places"])
            price = _places(detail.get("UnitPrice"), UNIT_PRICE["decimal_places"])
            if amount == ZERO and q(quantity * price) != ZERO:
                quantity = _places(0, QUANTITY["decimal_places"])
        lines.append(
            {
                "item_id": _ref_value(detail.get("ItemRef")),
                "description": str(line.get("Description") or _ref_name(detail.get("ItemRef")))[:4000],
                "quantity": quantity,
                "unit_price": price,
                "taxable": _ref_value(detail.get("TaxCodeRef")) not in ("", "NON"),
                "line_total": q(quantity * price),
                "position": position,
                "quickbooks_line_id": str(line.get("Id") or "")[:50],
            }
        )
    return lines


def _header_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    memo = data.get("CustomerMemo")
    return {
        "issue_date": _date(data.get("TxnDate")),
        "due_date": _date(data.get("DueDate")),
        "currency": (_ref_value(data.get("CurrencyRef")) or "USD")[:3],
        "tax_rate": document_tax_rate(data),
        "notes": str(memo.get("value") or "") if isinstance(memo, Mapping) else "",
        "quickbooks_sync_token": str(data.get("SyncToken") or ""),
    }


def quote_fields_from_estimate(data: Mapping[str, Any]) -> dict[str, Any]:
    """The Quote's fields for a QBO estimate (pure: no database, input untouched)."""
    return {
        **_header_fields(data),
        "quote_number": str(data.get("DocNumber") or "") or None,
        "status": ESTIMATE_STATUS.get(str(data.get("TxnStatus") or ""), QuoteStatus.SENT),
        "expiration_date": _date(data.get("ExpirationDate")),
        "quickbooks_estimate_id": str(data["Id"]),
    }


def invoice_fields_from_qbo(data: Mapping[str, Any]) -> dict[str, Any]:
    """The Invoice's fields for a QBO invoice (pure). QBO has no draft invoice: one that exists was issued, so it is
    sent, or void when QBO voided it. The payment figures are not copied: the payment pull derives them."""
    email = str(data.get("EmailStatus") or EmailStatus.NOT_SET)
    delivered = (data.get("DeliveryInfo") or {}).get("DeliveryTime")
    return {
        **_header_fields(data),
        "invoice_number": str(data.get("DocNumber") or "") or None,
        "status": InvoiceStatus.VOID if document_is_voided(data) else InvoiceStatus.SENT,
        "payment_terms": _ref_name(data.get("SalesTermRef"))[:100],
        "email_status": email if email in EmailStatus.values else EmailStatus.NOT_SET,
        "sent_at": parse_datetime(str(delivered)) if delivered else None,
        "quickbooks_invoice_id": str(data["Id"]),
    }


def payment_method_from_qbo(name: str) -> str:
    """PaymentMethodRef's name (QBO's own list: Cash, Check, Visa, …) as the CRM's method; unnamed is "other"."""
    folded = name.casefold()
    if "cash" in folded:
        return PaymentMethod.CASH
    if "check" in folded or "cheque" in folded:
        return PaymentMethod.CHECK
    if any(card in folded for card in CARD_NAMES):
        return PaymentMethod.CARD
    if "ach" in folded.split() or "bank" in folded or "transfer" in folded:
        return PaymentMethod.ACH
    return PaymentMethod.OTHER


def payment_fields_from_qbo(data: Mapping[str, Any]) -> dict[str, Any]:
    """The Payment's fields for a QBO payment (pure)."""
    return {
        "amount": qbo_money(data.get("TotalAmt")),
        "payment_date": _date(data.get("TxnDate")),
        "method": payment_method_from_qbo(_ref_name(data.get("PaymentMethodRef"))),
        "reference": str(data.get("PaymentRefNum") or "")[:100],
        "currency": (_ref_value(data.get("CurrencyRef")) or "USD")[:3],
        "notes": str(data.get("PrivateNote") or ""),
        "quickbooks_payment_id": str(data["Id"]),
        "quickbooks_sync_token": str(data.get("SyncToken") or ""),
    }


def payment_applications_from_qbo(data: Mapping[str, Any]) -> dict[str, Decimal]:
    """QBO invoice id → amount this payment applies to it (a Line's Amount, summed when two lines name one)."""
    applied: dict[str, Decimal] = {}
    for line in data.get("Line") or []:
        for invoice_id in linked_ids(line, INVOICE):
            applied[invoice_id] = q(applied.get(invoice_id, ZERO) + qbo_money(line.get("Amount")))
    return {invoice_id: amount for invoice_id, amount in applied.items() if amount > ZERO}


# ---------------------------------------------------------------------------------------------------- apply


@dataclass
class ApplyResult:
    """What one apply did; `linked` maps each applied QBO id to its CRM row's pk, `failed` QBO id → reason."""

    created: int = 0
    updated: int = 0
    voided: int = 0
    deleted: int = 0
    unlinked_customer: int = 0
    total_mismatch: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    linked: dict[str, int] = field(default_factory=dict)
    contact_ids: set[int] = field(default_factory=set)

    def add_to(self, stats: dict[str, Any]) -> dict[str, Any]:
        for key in ("created", "updated", "voided", "deleted", "unlinked_customer", "total_mismatch"):
            stats[key] = stats.get(key, 0) + getattr(self, key)
        stats["failed"] = stats.get("failed", 0) + len(self.failed)
        return stats


class _Refused(Exception):
    """The CRM refused this document; the savepoint is rolled back and the reason recorded."""


def _contacts_of(connection: QuickBooksAuth, entries: Sequence[QuickBooksSync]) -> dict[str, int | None]:
    """QBO customer id → the contact the Customer ledger row points at (a job's: its parent's contact)."""
    ids = {customer_id_of(entry.payload or {}) for entry in entries if entry.deleted_at is None} - {""}
    return dict(
        QuickBooksSync.objects.filter(connection=connection, entity_type=CUSTOMER, entity_id__in=ids).values_list(
            "entity_id", "local_id"
        )
    )


def _products_of(entries: Sequence[QuickBooksSync]) -> dict[str, int]:
    ids = {line["item_id"] for entry in entries for line in document_lines_from_qbo(entry.payload or {})} - {""}
    return dict(Product.objects.filter(quickbooks_item_id__in=ids).values_list("quickbooks_item_id", "pk"))


def _free_number(model, field_name: str, number: str | None, pk: int | None) -> str | None:
    """QBO's DocNumber, unless another CRM document holds it (the CRM's numbers are unique): then Q-/INV-<id>."""
    if not number:
        return None
    taken = model.objects.filter(**{field_name: number})
    return None if taken.exclude(pk=pk).exists() else number


def _lines_replace(document, line_model, owner: str, lines: Sequence[Mapping[str, Any]], products) -> None:
    """The document's lines become QBO's, one `save()` each so every line's amount is computed the CRM's one way."""
    line_model.objects.filter(**{owner: document}).delete()
    for line in lines:
        values = {k: v for k, v in line.items() if k not in ("item_id", "line_total")}
        item = line_model(**{owner: document}, product_id=products.get(line["item_id"]), **values)
        item.full_clean(exclude=[owner, "product"])
        item.save()


def _total_check(*, connection, document, data: Mapping[str, Any], entity: str, key: str, kind: str) -> bool:
    """QBO's TotalAmt against the CRM's recalculated total; a difference is an open failure row (decision 3)."""
    qbo_total = qbo_money(data.get("TotalAmt"))
    if qbo_total == document.total_amount:
        failure_resolve(key=key, resolution=f"totals agree at {qbo_total}")
        return True
    qbo_tax = qbo_money((data.get("TxnTaxDetail") or {}).get("TotalTax"))
    message = (
        f"QuickBooks {entity.lower()} {data.get('Id')}: QuickBooks' total {qbo_total} differs from the CRM's "
        f"{document.total_amount} (tax: QuickBooks {qbo_tax}, CRM {document.tax_amount}); the CRM keeps its own "
        "figures: check the discount, tax code and lines in QuickBooks."
    )
    failure_record(
        kind=kind,
        key=key,
        direction=SyncFailure.Direction.PULL,
        error=estimate_push.TotalMismatchError(message),
        connection_id=connection.pk,
        entity_type=entity,
        entity_id=str(data.get("Id")),
        obj=document,
        retry_args={"connection_id": connection.pk, "entity_type": entity, "entity_id": str(data.get("Id"))},
    )
    return False


def _each(
    *,
    connection: QuickBooksAuth,
    entity: str,
    entries: Sequence[QuickBooksSync],
    result: ApplyResult,
    one: Callable[[QuickBooksSync], None],
) -> None:
    """Apply each entry in its own savepoint: a refused document is a failure row, not a failed page. `one` may also
    note a document applied only in part in `result.failed` without raising (it stays applied and linked)."""
    for entry in entries:
        try:
            with transaction.atomic():
                one(entry)
        except (_Refused, ValidationError, PaymentApplicationError, DocumentStateError, ValueError) as exc:
            reason = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            result.failed[entry.entity_id] = reason
        except DatabaseError as exc:  # a constraint the mapping did not foresee: that document only
            result.failed[entry.entity_id] = f"the database refused it: {exc}"
    _failures_note(connection=connection, entity=entity, result=result)


def _failure_key(connection: QuickBooksAuth, entity: str, entity_id: str) -> str:
    return f"{KIND_FAILURE}:{connection.pk}:{entity}:{entity_id}"


def _failures_note(*, connection: QuickBooksAuth, entity: str, result: ApplyResult) -> None:
    """Failure rows (and ledger errors) for the documents the CRM refused; open ones of applied documents resolved."""
    for entity_id, reason in result.failed.items():
        mirror_mark_error(connection=connection, entity_type=entity, entity_ids=[entity_id], message=reason)
        failure_record(
            kind=KIND_FAILURE,
            key=_failure_key(connection, entity, entity_id),
            direction=SyncFailure.Direction.PULL,
            error=QuickBooksValidationError(f"QuickBooks {entity.lower()} {entity_id} was not applied: {reason}"),
            connection_id=connection.pk,
            entity_type=entity,
            entity_id=entity_id,
            retry_args={"connection_id": connection.pk, "entity_type": entity, "entity_id": entity_id},
        )
    keys = [
        _failure_key(connection, entity, entity_id) for entity_id in result.linked if entity_id not in result.failed
    ]
    for key in SyncFailure.objects.filter(key__in=keys, resolved_at__isnull=True).values_list("key", flat=True):
        failure_resolve(key=key, resolution="applied by a later sync")


def estimates_apply(*, connection: QuickBooksAuth, entries: Sequence[QuickBooksSync]) -> ApplyResult:
    """Write changed ledger estimates onto quotes (created, or the one linked by `quickbooks_estimate_id`) with their
    lines, recalculate, compare totals. Call inside the transaction of `mirror_apply`."""
    result = ApplyResult()
    contacts = _contacts_of(connection, entries)
    products = _products_of(entries)
    quotes = Quote.objects.select_related("contact").in_bulk(
        [entry.entity_id for entry in entries], field_name="quickbooks_estimate_id"
    )

    def one(entry: QuickBooksSync) -> None:
        quote = quotes.get(entry.entity_id)
        if entry.deleted_at is not None:
            result.deleted += 1
            return
        contact_id = contacts.get(customer_id_of(entry.payload))
        if contact_id is None:
            result.unlinked_customer += 1
            return
        fields = quote_fields_from_estimate(entry.payload)
        is_new = quote is None
        quote = quote or Quote()
        fields["quote_number"] = _free_number(Quote, "quote_number", fields["quote_number"], quote.pk)
        if not is_new and fields["quote_number"] is None:
            fields.pop("quote_number")
        for key, value in fields.items():
            setattr(quote, key, value)
        quote.contact_id = contact_id
        quote.full_clean(exclude=["quote_number", "campaign"])
        quote.save()
        _lines_replace(quote, QuoteItem, "quote", document_lines_from_qbo(entry.payload), products)
        quote = quote_recalculate(quote=Quote.objects.select_related("contact").get(pk=quote.pk))
        if not _total_check(
            connection=connection,
            document=quote,
            data=entry.payload,
            entity=ESTIMATE,
            key=estimate_push.total_key(quote),
            kind=estimate_push.TOTAL_KIND,
        ):
            result.total_mismatch += 1
        result.created += is_new
        result.updated += not is_new
        result.linked[entry.entity_id] = quote.pk
        result.contact_ids.add(contact_id)

    _each(connection=connection, entity=ESTIMATE, entries=entries, result=result, one=one)
    mirror_link(connection=connection, entity_type=ESTIMATE, links=result.linked)
    return result


def invoices_apply(*, connection: QuickBooksAuth, entries: Sequence[QuickBooksSync]) -> ApplyResult:
    """Write changed ledger invoices onto CRM invoices (created, or the one linked by `quickbooks_invoice_id`), linked
    to the quote of the estimate they name; voided and deleted ones are void (decision 4)."""
    result = ApplyResult()
    contacts = _contacts_of(connection, entries)
    products = _products_of(entries)
    invoices = Invoice.objects.select_related("contact").in_bulk(
        [entry.entity_id for entry in entries], field_name="quickbooks_invoice_id"
    )
    estimate_ids = {eid for entry in entries for eid in linked_ids(entry.payload or {}, ESTIMATE)}
    quotes = dict(
        Quote.objects.filter(quickbooks_estimate_id__in=estimate_ids).values_list("quickbooks_estimate_id", "pk")
    )

    def one(entry: QuickBooksSync) -> None:
        invoice = invoices.get(entry.entity_id)
        if entry.deleted_at is not None:
            if invoice is not None:
                if invoice.status != InvoiceStatus.VOID:
                    invoice.status = InvoiceStatus.VOID
                    invoice.notes = f"{invoice.notes}\nDeleted in QuickBooks.".strip()
                    invoice.save(update_fields=["status", "notes", "updated_at"])
                    invoice_recalculate(invoice=invoice)
                result.linked[entry.entity_id] = invoice.pk
                result.contact_ids.add(invoice.contact_id)
            result.deleted += 1
            return
        contact_id = contacts.get(customer_id_of(entry.payload))
        if contact_id is None:
            result.unlinked_customer += 1
            return
        fields = invoice_fields_from_qbo(entry.payload)
        is_new = invoice is None
        invoice = invoice or Invoice()
        fields["invoice_number"] = _free_number(Invoice, "invoice_number", fields["invoice_number"], invoice.pk)
        if not is_new and fields["invoice_number"] is None:
            fields.pop("invoice_number")
        if not fields["payment_terms"] and invoice.payment_terms:
            fields.pop("payment_terms")  # QBO often sends SalesTermRef without its name: keep the one known
        if fields["sent_at"] is None:
            fields.pop("sent_at")
        if (
            not is_new
            and (invoice.status, fields["status"]) == (InvoiceStatus.DRAFT, InvoiceStatus.SENT)
            and fields["email_status"] != EmailStatus.EMAIL_SENT
        ):
            fields.pop("status")  # a CRM draft pushed to QBO stays a draft until it is sent
        for key, value in fields.items():
            setattr(invoice, key, value)
        if invoice.contact_id and invoice.contact_id != contact_id:
            result.contact_ids.add(invoice.contact_id)
        invoice.contact_id = contact_id
        estimate_quotes = [quotes[eid] for eid in linked_ids(entry.payload, ESTIMATE) if eid in quotes]
        if estimate_quotes:
            invoice.quote_id = estimate_quotes[0]
        invoice.full_clean(exclude=["invoice_number", "quote"])
        invoice.save()
        _lines_replace(invoice, InvoiceItem, "invoice", document_lines_from_qbo(entry.payload), products)
        invoice = invoice_recalculate(invoice=Invoice.objects.select_related("contact").get(pk=invoice.pk))
        if not _total_check(
            connection=connection,
            document=invoice,
            data=entry.payload,
            entity=INVOICE,
            key=invoice_push.total_key(invoice),
            kind=invoice_push.TOTAL_KIND,
        ):
            result.total_mismatch += 1
        result.voided += invoice.status == InvoiceStatus.VOID
        result.created += is_new
        result.updated += not is_new
        result.linked[entry.entity_id] = invoice.pk
        result.contact_ids.add(contact_id)

    _each(connection=connection, entity=INVOICE, entries=entries, result=result, one=one)
    mirror_link(connection=connection, entity_type=INVOICE, links=result.linked)
    return result


def payments_apply(*, connection: QuickBooksAuth, entries: Sequence[QuickBooksSync]) -> ApplyResult:
    """Write changed ledger payments through the CRM's payment service: the payment's fields, then its whole set of
    applications, which recalculates each invoice (amount paid, balance, payment status, paid date)."""
    result = ApplyResult()
    contacts = _contacts_of(connection, entries)
    payments = Payment.objects.in_bulk([entry.entity_id for entry in entries], field_name="quickbooks_payment_id")
    invoice_ids = {iid for entry in entries for iid in payment_applications_from_qbo(entry.payload or {})}
    invoices = dict(
        Invoice.objects.filter(quickbooks_invoice_id__in=invoice_ids).values_list("quickbooks_invoice_id", "pk")
    )

    def one(entry: QuickBooksSync) -> None:
        payment = payments.get(entry.entity_id)
        gone = entry.deleted_at is not None or document_is_voided(entry.payload or {})
        if gone:
            if payment is not None:
                result.contact_ids.add(payment.contact_id)
                payments_delete(payments=[payment])
            if entry.deleted_at is not None:
                result.deleted += 1
            else:
                result.voided += 1
            return
        contact_id = contacts.get(customer_id_of(entry.payload))
        if contact_id is None:
            result.unlinked_customer += 1
            return
        is_new = payment is None
        payment = payment or Payment()
        if payment.contact_id and payment.contact_id != contact_id:
            result.contact_ids.add(payment.contact_id)  # its old invoices are recalculated by the set below
        for key, value in payment_fields_from_qbo(entry.payload).items():
            setattr(payment, key, value)
        payment.contact_id = contact_id
        payment_save(payment=payment)
        applied = payment_applications_from_qbo(entry.payload)
        missing = sorted(set(applied) - set(invoices))
        payment_applications_set(
            payment=payment, rows=[(invoices[iid], amount) for iid, amount in applied.items() if iid in invoices]
        )
        result.created += is_new
        result.updated += not is_new
        result.linked[entry.entity_id] = payment.pk
        result.contact_ids.add(contact_id)
        if missing:  # applied what the CRM holds; the rest is a failure row, retried from the ledger
            result.failed[entry.entity_id] = (
                f"pays QuickBooks invoice(s) {', '.join(missing)}, not in the CRM yet: run the invoices import"
            )

    _each(connection=connection, entity=PAYMENT, entries=entries, result=result, one=one)
    mirror_link(connection=connection, entity_type=PAYMENT, links=result.linked)
    return result


APPLY: dict[str, Callable[..., ApplyResult]] = {
    ESTIMATE: estimates_apply,
    INVOICE: invoices_apply,
    PAYMENT: payments_apply,
}


def _apply(connection: QuickBooksAuth, entity: str, entries: Sequence[QuickBooksSync]) -> ApplyResult:
    """Apply a page and recalculate the summaries of the contacts it touched (decision 6)."""
    result = APPLY[entity](connection=connection, entries=entries)
    contacts_financials_recalculate(contact_ids=result.contact_ids)
    return result


def sales_apply(*, connection: QuickBooksAuth, entity: str, rows: Sequence[Mapping[str, Any]]) -> ApplyResult:
    """Ledger and CRM rows for QBO documents read anywhere (a page, CDC, a webhook's re-read), in one transaction."""
    with transaction.atomic():
        mirrored = mirror_apply(connection=connection, entity_type=entity, rows=rows)
        return _apply(connection, entity, mirrored.changed)


def _webhook_hook(entity: str) -> Callable[..., None]:
    def hook(connection: QuickBooksAuth, rows: Sequence[Mapping[str, Any]], deleted_ids: Sequence[str]) -> None:
        """Webhook re-reads onto the CRM: the webhook service has put the newer copies (and stubs of what QBO no
        longer returns) in the ledger, inside the transaction this runs in."""
        ids = [str(row["Id"]) for row in rows] + [str(entity_id) for entity_id in deleted_ids]
        entries = QuickBooksSync.objects.filter(connection=connection, entity_type=entity, entity_id__in=ids)
        _apply(connection, entity, list(entries))

    hook.__name__ = f"_{entity.lower()}s_from_webhooks"
    return hook


for _entity in (ESTIMATE, INVOICE, PAYMENT):
    webhook_entity_register(_entity)(_webhook_hook(_entity))


@failure_retry_register(KIND_FAILURE)
def _pull_retry(failure: SyncFailure) -> str:
    """Apply the ledger's copy again (the cause may be fixed: the invoice pulled, the contact linked)."""
    args = failure.retry_args
    entry = QuickBooksSync.objects.select_related("connection").get(
        connection_id=args["connection_id"], entity_type=args["entity_type"], entity_id=args["entity_id"]
    )
    with transaction.atomic():
        result = _apply(entry.connection, entry.entity_type, [entry])
    if entry.entity_id in result.failed:
        return f"{entry.entity_type.lower()} {entry.entity_id}: {result.failed[entry.entity_id]}"
    return f"{entry.entity_type.lower()} {entry.entity_id} applied"


# ---------------------------------------------------------------------------------------------------- the sync runs


def _import_run(*, kind: str, connection_id: int, full: bool) -> SyncRun | None:
    if full:
        run = sync_run_queue(connection_id=connection_id, kind=kind)
        SyncRun.objects.filter(pk=run.pk).update(cursor={"full": True})
    return sync_run_execute(connection_id=connection_id, kind=kind)


def estimates_import_run(*, connection_id: int, full: bool = False) -> SyncRun | None:
    """Run the estimates pull inline (the command): resume the newest unfinished run or start one; `full` starts a
    new full import. Returns the run, or None when another worker holds it."""
    return _import_run(kind=KIND_ESTIMATES, connection_id=connection_id, full=full)


def invoices_import_run(*, connection_id: int, full: bool = False) -> SyncRun | None:
    """Run the invoices pull inline; as `estimates_import_run`."""
    return _import_run(kind=KIND_INVOICES, connection_id=connection_id, full=full)


def payments_import_run(*, connection_id: int, full: bool = False) -> SyncRun | None:
    """Run the payments pull inline; as `estimates_import_run`. Pull invoices first: a payment of an invoice the
    CRM does not hold yet is applied only in part (a failure row, retried from the ledger)."""
    return _import_run(kind=KIND_PAYMENTS, connection_id=connection_id, full=full)


def _sync(run: RunContext, *, kind: str, entity: str) -> None:
    """A full import the first time (or on request), CDC afterwards (decision 1)."""
    cursor = dict(run.cursor)
    if "mode" not in cursor:
        cursor = import_mode_choose(run, kind=kind)
        run.stats = dict.fromkeys(STAT_KEYS, 0)
    if cursor["mode"] == "cdc" and cursor.get("step") == "pull":
        cursor = _cdc_pull(run, cursor, entity)
    if cursor["mode"] == "full" and cursor.get("step") in ("count", "pages"):
        cursor = _full_pull(run, cursor, entity)
    stats = dict(run.stats)
    stats["api_calls"] = SyncRun.objects.values_list("api_calls", flat=True).get(pk=run.run.pk)
    stats.pop("progress", None)
    with transaction.atomic():
        run.checkpoint(cursor={**cursor, "step": "done"}, stats=stats)


@sync_kind_register(KIND_ESTIMATES)
def estimates_sync(run: RunContext) -> None:
    """The `estimates` sync: QBO estimates onto quotes."""
    _sync(run, kind=KIND_ESTIMATES, entity=ESTIMATE)


@sync_kind_register(KIND_INVOICES)
def invoices_sync(run: RunContext) -> None:
    """The `invoices` sync: QBO invoices onto CRM invoices."""
    _sync(run, kind=KIND_INVOICES, entity=INVOICE)


@sync_kind_register(KIND_PAYMENTS)
def payments_sync(run: RunContext) -> None:
    """The `payments` sync: QBO payments through the CRM's payment service."""
    _sync(run, kind=KIND_PAYMENTS, entity=PAYMENT)


def _page_sql(entity: str, start: int) -> str:
    return f"SELECT * FROM {entity} ORDERBY Id STARTPOSITION {start} MAXRESULTS {PAGE_SIZE}"  # noqa: S608  # nosec B608 (QBO's query language, constants only)


def _page_write(run: RunContext, entity: str, rows: list[dict], stats: dict[str, Any]) -> dict[str, Any]:
    mirrored = mirror_apply(connection=run.connection, entity_type=entity, rows=rows)
    changed = {entry.entity_id for entry in mirrored.changed}
    waiting = QuickBooksSync.objects.filter(  # skipped before (no contact yet) or refused: unchanged, applied again
        connection=run.connection,
        entity_type=entity,
        entity_id__in=[str(row["Id"]) for row in rows if str(row["Id"]) not in changed],
        local_id__isnull=True,
        deleted_at__isnull=True,
    )
    stats = _apply(run.connection, entity, [*mirrored.changed, *waiting]).add_to(stats)
    stats["documents"] = stats.get("documents", 0) + len(rows)
    stats["unchanged"] = stats.get("unchanged", 0) + mirrored.unchanged
    return stats


def _full_pull(run: RunContext, cursor: dict[str, Any], entity: str) -> dict[str, Any]:
    """COUNT, then page by page; each page and its checkpoint commit together (a rerun continues at the next)."""
    connection = run.connection
    if cursor.get("step") == "count":
        total = qbo_count(connection=connection, entity=entity)
        pages = math.ceil(total / PAGE_SIZE)
        cursor = {**cursor, "step": "pages", "total": total, "pages": pages, "page": 1}
        stats = {**run.stats, "api_minimum": run.stats.get("api_minimum", 0) + 1 + pages}
        with transaction.atomic():
            run.checkpoint(cursor=cursor, stats=stats, progress=f"page 0 of {pages}")
    pages = int(cursor["pages"])
    for page in range(int(cursor["page"]), pages + 1):
        sql = _page_sql(entity, (page - 1) * PAGE_SIZE + 1)
        envelope = qbo_get(connection=connection, path="query", params={"query": sql})
        rows = (envelope.get("QueryResponse") or {}).get(entity) or []
        with transaction.atomic():
            stats = _page_write(run, entity, rows, dict(run.stats))
            cursor = {**cursor, "page": page + 1}
            run.checkpoint(cursor=cursor, stats=stats, progress=f"page {page} of {pages}")
        if len(rows) < PAGE_SIZE:  # fewer than counted: nothing after this page
            break
    return {**cursor, "step": "done"}


def _cdc_pull(run: RunContext, cursor: dict[str, Any], entity: str) -> dict[str, Any]:
    return cdc_pull(
        run,
        entity=entity,
        cursor=cursor,
        apply=lambda rows, stats: _page_write(run, entity, rows, stats),
        next_step="done",
    )


# ---------------------------------------------------------------------------------------------------- reconciliation


@dataclass(frozen=True)
class Difference:
    """One figure the CRM and QBO disagree on: `what` names the CRM row and the QBO entity."""

    what: str
    figure: str
    crm: str
    qbo: str

    def __str__(self) -> str:
        return f"{self.what}: {self.figure} CRM {self.crm}, QuickBooks {self.qbo}"


def _qbo_copies(*, connection: QuickBooksAuth, entity: str, live: bool, where: str = "") -> dict[str, dict | None]:
    """QBO id → its JSON: the ledger's last copy (None when QBO deleted it), or with `live` every entity read again
    from QBO, one query per 1000 (API.md §3.2)."""
    if live:
        sql = f"SELECT * FROM {entity}" + (f" WHERE {where}" if where else "") + " ORDERBY Id"  # noqa: S608  # nosec B608 (QBO's query language, constants only)
        return {str(row["Id"]): row for row in qbo_query(connection=connection, sql=sql)}
    return {
        entity_id: (None if deleted_at is not None else payload)
        for entity_id, payload, deleted_at in QuickBooksSync.objects.filter(
            connection=connection, entity_type=entity
        ).values_list("entity_id", "payload", "deleted_at")
    }


def sales_reconcile(*, connection: QuickBooksAuth, live: bool = False) -> list[Difference]:
    """Every linked invoice's total and balance, and every linked contact's balance, against QBO's figures.

    Selector: reads only. Without `live` QBO's figures are the ledger's last copies (no API call); with `live` they
    are read again (`SELECT * FROM Invoice` and every Customer, active or not, a call per 1000). A contact's balance
    is its customer's BalanceWithJobs (its jobs' invoices roll up to it, as the customers import writes it).
    """
    differences: list[Difference] = []
    invoices = _qbo_copies(connection=connection, entity=INVOICE, live=live)
    for invoice in Invoice.objects.exclude(quickbooks_invoice_id=None).order_by("pk"):
        what = f"invoice {invoice} (QuickBooks {invoice.quickbooks_invoice_id})"
        data = invoices.get(invoice.quickbooks_invoice_id)
        if data is None:
            if invoice.status != InvoiceStatus.VOID:
                differences.append(Difference(what, "exists", invoice.get_status_display().lower(), "not found"))
            continue
        for figure, crm, qbo in (
            ("total", invoice.total_amount, qbo_money(data.get("TotalAmt"))),
            ("balance", invoice.balance_due, qbo_money(data.get("Balance"))),
        ):
            if q(crm) != qbo:
                differences.append(Difference(what, figure, str(q(crm)), str(qbo)))
    customers = _qbo_copies(connection=connection, entity=CUSTOMER, live=live, where="Active IN (true, false)")
    for contact in Contact.objects.exclude(quickbooks_customer_id=None).order_by("pk"):
        what = f"contact {contact} (QuickBooks customer {contact.quickbooks_customer_id})"
        data = customers.get(contact.quickbooks_customer_id)
        if data is None:
            differences.append(Difference(what, "exists", "linked", "not found"))
            continue
        qbo = qbo_money(data.get("BalanceWithJobs", data.get("Balance")))
        if q(contact.outstanding_balance) != qbo:
            differences.append(Difference(what, "balance", str(q(contact.outstanding_balance)), str(qbo)))
    return differences
