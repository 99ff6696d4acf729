"""QBO estimates, invoices and payments pulled into the CRM's quotes, invoices and payments, through the ledger.

Owns the `estimates`, `invoices` and `payments` sync kinds, the apply functions that write QBO's documents onto CRM
rows, and the retry of a total QBO disagreed with. The pure mapping of QBO's JSON onto CRM fields is
`sales_mapping.py`; recognising a document typed in both systems `sales_twins.py`; reconciliation `reconcile.py`.
Transport is `qbo/client.py`, the ledger `mirror.py`; payments go through the CRM's own payment service
(`crm/services/payments.py`), totals through `crm/services/documents.py`. No database transaction is held across a
QBO call (STYLE §2).

Decisions, and why:

1. **Full import, then CDC**, as the items import does (`products.py`): COUNT, then pages of 1000 `ORDERBY Id`
   (API.md §3.2), one transaction and checkpoint per page; later runs ask CDC since the last good run's start minus a
   margin (`imports.py`), and fall back to a full pull past 30 days or at CDC's 1000-object cap (API.md §5).
2. **The contact is the ledger's**: a document's CustomerRef is looked up in the Customer ledger rows, whose
   `local_id` is the linked contact, or the top-level parent's contact for a job (`customer_links._ledger_point`).
   A document of a customer no contact stands for is skipped and counted (`unlinked_customer`): its ledger row stays,
   with no local row; a full pull applies it again when it reads it, and the last step of a changes run
   (`waiting_entries`) applies those whose customer has a contact now. A failure row per document would bury the
   bookkeeper's queue under a state the review queue already shows.
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
6. **Contact summaries**: `contacts_financials_recalculate` for every contact touched: total sales, last payment
   and average days to pay from the CRM's invoices and payments, pulled ones included; the outstanding balance
   only for an unlinked contact: a linked one carries QBO's BalanceWithJobs, written by the customers import
   (`crm/services/contacts.py::crm_owns_balance`).
7. **Estimate status**: Accepted, Rejected and Closed move the quote (`estimates.quote_status_pulled`); Pending,
   QBO's default, keeps what the CRM knows, and a converted quote stays converted (docs/decisions.md 22).
8. **A document typed in both systems is linked, not copied** (`sales_twins.py`): before creating a CRM row for a
   QBO document, the pull looks for the unlinked CRM row it is (the CRM's marker, the same number and contact, or
   the only row with the same contact, date and total); QBO's copy is then written onto that row (QBO keeps the
   books), counted as `matched` and audited (`sales_pull_link`) with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.db.models import Q
from django.db.models.fields.json import KT
from django_q.tasks import async_task

from crm.errors import DocumentStateError, PaymentApplicationError
from crm.models import Invoice, InvoiceItem, InvoiceStatus, Payment, Product, Quote, QuoteItem
from crm.models.sales import EmailStatus
from crm.services.contacts import contacts_financials_recalculate
from crm.services.documents import invoice_recalculate, quote_recalculate
from crm.services.payments import payment_applications_set, payment_save, payments_delete

from ..models import AuditEvent, QuickBooksAuth, QuickBooksSync, SyncFailure, SyncRun
from ..qbo.client import qbo_count, qbo_get, qbo_read
from ..qbo.errors import NotFoundError, QuickBooksValidationError
from ..qbo.numbers import qbo_money
from . import estimates as estimate_push
from . import invoices as invoice_push
from .audit import audit_record
from .failures import failure_record, failure_resolve, failure_retry_register
from .imports import PAGE_SIZE, cdc_pull, import_mode_choose
from .mirror import mirror_apply, mirror_link, mirror_mark_error
from .runs import RunContext, sync_kind_register, sync_run_execute, sync_run_queue
from .sales_mapping import (
    CUSTOMER,
    ESTIMATE,
    INVOICE,
    PAYMENT,
    customer_id_of,
    document_is_voided,
    document_lines_from_qbo,
    invoice_fields_from_qbo,
    linked_ids,
    payment_applications_from_qbo,
    payment_fields_from_qbo,
    quote_fields_from_estimate,
)
from .sales_twins import Twin, twins_find
from .webhooks import webhook_entity_register

KIND_ESTIMATES, KIND_INVOICES, KIND_PAYMENTS = "estimates", "invoices", "payments"
KIND_FAILURE = "sales_pull"
REREAD_TASK = "quickbooks_integration.tasks.sales_document_reread_task"
TWIN_ACTION = "sales_pull_link"  # the audit action of a CRM document recognised as a QBO one (decision 8)
DOUBT_ACTION = "sales_pull_doubt"  # …and of one created beside CRM documents it might be
APPLY_COUNTS = ("created", "updated", "matched", "doubtful", "voided", "deleted", "unlinked_customer", "total_mismatch")
STAT_KEYS = ("documents", *APPLY_COUNTS, "failed", "unchanged", "api_minimum")

# ---------------------------------------------------------------------------------------------------- apply


@dataclass
class ApplyResult:
    """What one apply did; `linked` maps each applied QBO id to its CRM row's pk, `failed` QBO id → reason."""

    created: int = 0
    updated: int = 0
    voided: int = 0
    deleted: int = 0
    matched: int = 0
    doubtful: int = 0
    unlinked_customer: int = 0
    total_mismatch: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    linked: dict[str, int] = field(default_factory=dict)
    contact_ids: set[int] = field(default_factory=set)

    def add_to(self, stats: dict[str, Any]) -> dict[str, Any]:
        for key in APPLY_COUNTS:
            stats[key] = stats.get(key, 0) + getattr(self, key)
        stats["failed"] = stats.get("failed", 0) + len(self.failed)
        return stats


class _Refused(Exception):
    """The CRM refused this document; the savepoint is rolled back and the reason recorded."""


def _counted(result: ApplyResult, entry: QuickBooksSync, twin: Twin | None, row, is_new: bool) -> None:
    """Count an applied document; a CRM row recognised as this document is linked, and the link audited. A new row
    made beside CRM rows it might be (a doubt, decision 8) is audited as a warning naming them."""
    what = f"QuickBooks {entry.entity_type.lower()} {entry.entity_id}"
    after = {"entity_type": entry.entity_type, "entity_id": entry.entity_id}
    if twin is not None and twin.row is not None:
        result.matched += 1
        audit_record(action=TWIN_ACTION, obj=row, after=after, message=f"linked to {what}: {twin.reason}")
        return
    if is_new:
        result.created += 1
    else:
        result.updated += 1
    if twin is not None and twin.doubts:
        result.doubtful += 1
        candidates = ", ".join(f"{doubt} (#{doubt.pk})" for doubt in twin.doubts)
        audit_record(
            action=DOUBT_ACTION,
            obj=row,
            after={**after, "candidates": [doubt.pk for doubt in twin.doubts]},
            outcome=AuditEvent.Outcome.WARNING,
            message=f"created from {what} beside {candidates}, each with {twin.reason}: compare them; if one is "
            "this document, void or delete the CRM's copy",
        )


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
        item.full_clean(exclude=[owner, "product"], validate_unique=False, validate_constraints=False)
        item.save()


def _open_keys(kind: str) -> set[str]:
    """The open failure rows of `kind`, read once per page so an agreeing total costs no UPDATE."""
    return set(SyncFailure.objects.filter(kind=kind, resolved_at__isnull=True).values_list("key", flat=True))


def _total_check(
    *, connection, document, data: Mapping[str, Any], entity: str, key: str, kind: str, open_keys: set[str]
) -> bool:
    """QBO's TotalAmt against the CRM's recalculated total; a difference is an open failure row (decision 3)."""
    qbo_total = qbo_money(data.get("TotalAmt"))
    if qbo_total == document.total_amount:
        if key in open_keys:
            failure_resolve(key=key, resolution=f"totals agree at {qbo_total}")
        return True
    estimate_push.total_mismatch_record(
        connection=connection,
        document=document,
        data=data,
        entity=entity,
        kind=kind,
        key=key,
        direction=SyncFailure.Direction.PULL,
        retry_args={"connection_id": connection.pk, "entity_type": entity, "entity_id": str(data.get("Id"))},
        advice="the CRM keeps its own figures: check the discount, tax code and lines in QuickBooks.",
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
    applied = [entity_id for entity_id in result.linked if entity_id not in result.failed]
    QuickBooksSync.objects.filter(
        connection=connection, entity_type=entity, entity_id__in=applied, sync_status=QuickBooksSync.Status.ERROR
    ).update(sync_status=QuickBooksSync.Status.SYNCED, error_message="")
    keys = [_failure_key(connection, entity, entity_id) for entity_id in applied]
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
    twins = twins_find(entity=ESTIMATE, entries=entries, contacts=contacts, linked=quotes)
    open_totals = _open_keys(estimate_push.TOTAL_KIND)

    def one(entry: QuickBooksSync) -> None:
        quote = quotes.get(entry.entity_id)
        if entry.deleted_at is not None:
            result.deleted += 1
            return
        contact_id = contacts.get(customer_id_of(entry.payload))
        twin = None if quote else twins.get(entry.entity_id)
        if contact_id is None and twin is None:
            result.unlinked_customer += 1
            return
        quote = twin.row if twin and twin.row else quote
        contact_id = contact_id or quote.contact_id
        is_new = quote is None
        quote = quote or Quote()
        fields = quote_fields_from_estimate(entry.payload, current_status=None if is_new else quote.status)
        fields["quote_number"] = _free_number(Quote, "quote_number", fields["quote_number"], quote.pk)
        if not is_new and fields["quote_number"] is None:
            fields.pop("quote_number")
        for key, value in fields.items():
            setattr(quote, key, value)
        quote.contact_id = contact_id
        # Uniqueness and check constraints are the database's, refused per document (`_each`): no query per rule.
        quote.full_clean(exclude=["quote_number", "campaign"], validate_unique=False, validate_constraints=False)
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
            open_keys=open_totals,
        ):
            result.total_mismatch += 1
        _counted(result, entry, twin, quote, is_new)
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
    twins = twins_find(entity=INVOICE, entries=entries, contacts=contacts, linked=invoices)
    open_totals = _open_keys(invoice_push.TOTAL_KIND)
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
                    invoice_recalculate(invoice=invoice, summary=False)
                result.linked[entry.entity_id] = invoice.pk
                result.contact_ids.add(invoice.contact_id)
            result.deleted += 1
            return
        contact_id = contacts.get(customer_id_of(entry.payload))
        twin = None if invoice else twins.get(entry.entity_id)
        if contact_id is None and twin is None:
            result.unlinked_customer += 1
            return
        invoice = twin.row if twin and twin.row else invoice
        contact_id = contact_id or invoice.contact_id
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
        invoice.full_clean(exclude=["invoice_number", "quote"], validate_unique=False, validate_constraints=False)
        invoice.save()
        _lines_replace(invoice, InvoiceItem, "invoice", document_lines_from_qbo(entry.payload), products)
        invoice = invoice_recalculate(
            invoice=Invoice.objects.select_related("contact").get(pk=invoice.pk), summary=False
        )
        if not _total_check(
            connection=connection,
            document=invoice,
            data=entry.payload,
            entity=INVOICE,
            key=invoice_push.total_key(invoice),
            kind=invoice_push.TOTAL_KIND,
            open_keys=open_totals,
        ):
            result.total_mismatch += 1
        result.voided += invoice.status == InvoiceStatus.VOID
        _counted(result, entry, twin, invoice, is_new)
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
    twins = twins_find(entity=PAYMENT, entries=entries, contacts=contacts, linked=payments)
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
        twin = None if payment else twins.get(entry.entity_id)
        payment = twin.row if twin and twin.row else payment
        is_new = payment is None
        payment = payment or Payment()
        if payment.contact_id and payment.contact_id != contact_id:
            result.contact_ids.add(payment.contact_id)  # its old invoices are recalculated by the set below
        for key, value in payment_fields_from_qbo(entry.payload).items():
            setattr(payment, key, value)
        payment.contact_id = contact_id
        payment_save(payment=payment, summaries=False)
        applied = payment_applications_from_qbo(entry.payload)
        missing = sorted(set(applied) - set(invoices))
        payment_applications_set(
            payment=payment,
            rows=[(invoices[iid], amount) for iid, amount in applied.items() if iid in invoices],
            summaries=False,
        )
        _counted(result, entry, twin, payment, is_new)
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


def sales_document_reread(*, connection_id: int, entity: str, entity_id: str) -> str:
    """Read one document from QBO again and apply it (a retry of a total QBO disagreed with, once someone has fixed
    the document in QBO or the CRM's figures): its total is compared again, and the failure row resolved when they
    agree. Returns what happened, for the bookkeeper."""
    connection = QuickBooksAuth.objects.get(pk=connection_id)
    try:
        data = qbo_read(connection=connection, entity=entity, entity_id=entity_id)
    except NotFoundError:
        return f"QuickBooks no longer has {entity.lower()} {entity_id}: the next sync records its deletion"
    result = sales_apply(connection=connection, entity=entity, rows=[data])
    if entity_id in result.failed:
        return f"{entity.lower()} {entity_id}: {result.failed[entity_id]}"
    if result.total_mismatch:
        return f"{entity.lower()} {entity_id} read again: QuickBooks' total still differs from the CRM's"
    return f"{entity.lower()} {entity_id} read again: the totals agree"


def sales_document_reread_enqueue(*, connection_id: int, entity: str, entity_id: str) -> None:
    transaction.on_commit(
        lambda: async_task(
            REREAD_TASK, connection_id, entity, entity_id, task_name=f"qbo-reread-{entity.lower()}-{entity_id}"
        )
    )


@failure_retry_register(estimate_push.TOTAL_KIND)
@failure_retry_register(invoice_push.TOTAL_KIND)
def _total_retry(failure: SyncFailure) -> str:
    """A total QBO disagreed with. The CRM's own estimate (a push's failure) is pushed again: the CRM's figures are
    the quote's. Anything else is QBO's document, read again from QBO: an invoice (QBO keeps the books once it
    exists there) or an estimate the pull brought in."""
    args = failure.retry_args
    if failure.kind == estimate_push.TOTAL_KIND and failure.direction == SyncFailure.Direction.PUSH:
        estimate_push.estimates_push_enqueue(quote_ids=[int(args["quote_id"])], actor=None)
        return f"push of quote #{args['quote_id']} queued"
    entity = ESTIMATE if failure.kind == estimate_push.TOTAL_KIND else INVOICE
    sales_document_reread_enqueue(
        connection_id=int(args.get("connection_id") or failure.connection_id),
        entity=entity,
        entity_id=str(args.get("entity_id") or failure.entity_id),
    )
    return f"{entity.lower()} {failure.entity_id} will be read again from QuickBooks"


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
    if cursor["mode"] == "cdc":  # a full pull has read (and applied) every waiting document already
        with transaction.atomic():
            stats = _waiting_apply(run.connection, entity, stats)
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
    unapplied = Q(local_id__isnull=True)
    if entity == PAYMENT:  # applied in part (decision 5): its invoices may be here now
        unapplied |= Q(sync_status=QuickBooksSync.Status.ERROR)
    waiting = QuickBooksSync.objects.filter(  # skipped before (no contact yet) or refused: unchanged, applied again
        unapplied,
        connection=run.connection,
        entity_type=entity,
        entity_id__in=[str(row["Id"]) for row in rows if str(row["Id"]) not in changed],
        deleted_at__isnull=True,
    )
    stats = _apply(run.connection, entity, [*mirrored.changed, *waiting]).add_to(stats)
    stats["documents"] = stats.get("documents", 0) + len(rows)
    stats["unchanged"] = stats.get("unchanged", 0) + mirrored.unchanged
    return stats


def waiting_entries(connection: QuickBooksAuth, entity: str) -> list[QuickBooksSync]:
    """Ledger documents a CDC run would not read again but that can now be applied (up to a page): skipped for want
    of a contact whose customer has one now (decision 2), and payments applied in part or refused (decision 5),
    whose invoices may have arrived since."""
    linked_customers = QuickBooksSync.objects.filter(
        connection=connection, entity_type=CUSTOMER, local_id__isnull=False
    ).values("entity_id")
    skipped = Q(local_id__isnull=True, sync_status=QuickBooksSync.Status.SYNCED) & Q(customer_ref__in=linked_customers)
    waiting = skipped | Q(sync_status=QuickBooksSync.Status.ERROR) if entity == PAYMENT else skipped
    rows = QuickBooksSync.objects.filter(connection=connection, entity_type=entity, deleted_at__isnull=True)
    return list(rows.alias(customer_ref=KT("payload__CustomerRef__value")).filter(waiting).order_by("pk")[:PAGE_SIZE])


def _waiting_apply(connection: QuickBooksAuth, entity: str, stats: dict[str, Any]) -> dict[str, Any]:
    """Apply `waiting_entries` at the end of every changes (CDC) run, in a transaction of its own."""
    entries = waiting_entries(connection, entity)
    return _apply(connection, entity, entries).add_to(stats) if entries else stats


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
