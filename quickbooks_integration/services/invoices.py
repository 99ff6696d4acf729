"""Quote → QBO invoice (linked to its estimate), sending it from QBO, and fetching its PDF.

Owns the Invoice payload of a CRM invoice (pure), the conversion of a quote, the send and the PDF download. The CRM
invoice is always made by the CRM's own conversion (`crm.services.quote_convert_to_invoice`), so its totals are
computed one way; this module then creates its QBO twin with `LinkedTxn` → the estimate (API.md §4.4), stores the
id, SyncToken and line ids on it, and checks QBO's TotalAmt against its total to the cent (a difference is an open
`invoice_total` failure row, never accepted silently).

Repeating a step is harmless, as for estimates (services/estimates.py): a create's `requestid` is derived from the
CRM invoice and its failed attempts; a retry first looks the invoice up by DocNumber (the CRM invoice number)
confirmed by its marker (PrivateNote "CRM-I-<pk>"); an invoice already in QBO is not created again; a send's
`requestid` is derived from the invoice's SyncToken, an invoice already e-mailed is not sent again, and a retried
send first reads the invoice to see whether the lost attempt went out. No database transaction is held across a
QBO call (STYLE §2).

Failure rows: `invoice_push` and `invoice_send` are retried (in a worker) by resuming the conversion or the send;
`invoice_total` has no retry of its own: the bookkeeper corrects the tax rate or lines on whichever side is wrong
and marks it resolved (a later conversion does not touch an invoice already in QBO).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone
from django.utils.dateparse import parse_date
from django_q.tasks import async_task

from crm.errors import DocumentStateError
from crm.models import Invoice, InvoiceItem, InvoiceStatus, Quote, QuoteStatus
from crm.models.sales import EmailStatus
from crm.services import invoice_mark_sent, quote_convert_to_invoice

from ..models import AuditEvent, QuickBooksAuth, SyncFailure
from ..qbo.client import qbo_create, qbo_pdf, qbo_query, qbo_read, qbo_send
from ..qbo.errors import QuickBooksError
from ..qbo.numbers import qbo_money
from .audit import audit_record
from .estimates import (
    FAILED,
    FOUND,
    PUSH_PERMISSION,
    SalesPushError,
    TotalsCompared,
    attempts_failed,
    connection_for_push,
    customer_ref,
    error_text,
    estimate_push,
    line_payloads,
    permission_require,
    qbo_escape,
    request_id_for,
    sales_lines,
    total_mismatch_record,
)
from .failures import failure_record, failure_resolve, failure_retry_register
from .mirror import mirror_apply, mirror_link, qbo_time

INVOICE = "Invoice"
SEND_PERMISSION = "crm.send_invoice"
VIEW_PERMISSION = "crm.view_invoice"
CONVERT_KIND = "invoice_push"
SEND_KIND = "invoice_send"
TOTAL_KIND = "invoice_total"
CONVERT_TASK = "quickbooks_integration.tasks.quotes_convert_task"
SEND_TASK = "quickbooks_integration.tasks.invoices_send_task"

CREATED, ALREADY, SENT = "created", "already", "sent"


class InvoiceSendError(SalesPushError):
    """The invoice cannot be e-mailed (no e-mail address on the contact)."""


@dataclass
class ConvertResult(TotalsCompared):
    """One quote's conversion: the CRM invoice (when made) and what happened to its QBO twin."""

    quote: Quote
    outcome: str
    invoice: Invoice | None = None
    message: str = ""
    qbo_total: Decimal | None = None
    crm_total: Decimal | None = None


@dataclass
class SendResult:
    invoice: Invoice
    outcome: str
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome != FAILED


def invoice_marker(invoice: Invoice) -> str:
    return f"CRM-I-{invoice.pk}"


def push_key(invoice: Invoice) -> str:
    return f"{CONVERT_KIND}:invoice:{invoice.pk}"


def send_key(invoice: Invoice) -> str:
    return f"{SEND_KIND}:invoice:{invoice.pk}"


def total_key(invoice: Invoice) -> str:
    return f"{TOTAL_KIND}:invoice:{invoice.pk}"


def invoice_payload(*, invoice: Invoice, items: Sequence[InvoiceItem], estimate_id: str) -> dict[str, Any]:
    """Pure: the Invoice a CRM invoice becomes, linked to the quote's estimate (`LinkedTxn` TxnType Estimate)."""
    payload: dict[str, Any] = {
        "CustomerRef": customer_ref(invoice.contact, document=invoice),
        "DocNumber": invoice.invoice_number,
        "PrivateNote": invoice_marker(invoice),
        "TxnDate": invoice.issue_date.isoformat(),
        "Line": line_payloads(items, tax_exempt=invoice.contact.tax_exempt, document=invoice),
    }
    if invoice.due_date:
        payload["DueDate"] = invoice.due_date.isoformat()
    if estimate_id:
        payload["LinkedTxn"] = [{"TxnId": estimate_id, "TxnType": "Estimate"}]
    return payload


# ---------------------------------------------------------------------------------------------------- convert


def quote_convert(*, quote: Quote, actor) -> ConvertResult:
    """Convert a quote: its estimate brought up to date (created if missing), the CRM invoice made by the CRM's
    conversion (the quote becomes converted), then the QBO invoice linked to the estimate. Each step is skipped
    when already done, so converting twice, or again after a failure, makes nothing twice."""
    permission_require(
        actor=actor, permission=PUSH_PERMISSION, action=CONVERT_KIND, obj=quote, what="convert quotes in QuickBooks"
    )
    connection = connection_for_push()
    quote = Quote.objects.select_related("contact").get(pk=quote.pk)
    invoice = quote.invoices.exclude(status=InvoiceStatus.VOID).order_by("id").first()
    if invoice is None and quote.status in (QuoteStatus.DECLINED, QuoteStatus.EXPIRED):
        # the CRM conversion refuses these too; asked first so that QBO gets no estimate for a dead quote
        return _refused(quote, DocumentStateError(f"quote {quote} is {quote.get_status_display().lower()}"), actor)
    pushed = estimate_push(quote=quote, actor=actor)
    if not pushed.ok:
        return ConvertResult(quote=quote, outcome=FAILED, message=f"the estimate could not be pushed: {pushed.message}")
    quote = Quote.objects.select_related("contact").get(pk=quote.pk)
    if invoice is None:
        try:
            invoice = quote_convert_to_invoice(quote=quote)
        except DocumentStateError as exc:
            return _refused(quote, exc, actor)
    if invoice.quickbooks_invoice_id:
        return ConvertResult(
            quote=quote,
            outcome=ALREADY,
            invoice=invoice,
            message=f"already QuickBooks invoice {invoice.quickbooks_invoice_id}",
        )
    return _invoice_push(connection, quote, invoice, actor)


def _refused(quote: Quote, error: DocumentStateError, actor) -> ConvertResult:
    """The CRM's own rule refuses the conversion (a declined or expired quote): said and audited, no failure row."""
    audit_record(action=CONVERT_KIND, actor=actor, obj=quote, outcome=AuditEvent.Outcome.FAILURE, message=str(error))
    return ConvertResult(quote=quote, outcome=FAILED, message=str(error))


def _invoice_load(invoice_id: int) -> Invoice:
    items = InvoiceItem.objects.select_related("product").order_by("position", "id")
    return (
        Invoice.objects.select_related("contact", "quote")
        .prefetch_related(Prefetch("items", queryset=items))
        .get(pk=invoice_id)
    )


def _invoice_push(connection: QuickBooksAuth, quote: Quote, invoice: Invoice, actor) -> ConvertResult:
    invoice = _invoice_load(invoice.pk)
    items = list(invoice.items.all())
    try:
        payload = invoice_payload(invoice=invoice, items=items, estimate_id=quote.quickbooks_estimate_id or "")
    except SalesPushError as exc:
        return _convert_fail(connection, quote, invoice, exc, actor=actor)
    generation = attempts_failed([push_key(invoice)]).get(push_key(invoice), 0)
    request_id = request_id_for(connection, INVOICE, "create", invoice.pk, generation)
    if generation:
        try:
            found = _invoice_find(connection, invoice)
        except QuickBooksError as exc:
            return _convert_fail(connection, quote, invoice, exc, actor=actor, request_id=request_id)
        if found is not None:
            return _invoice_apply(connection, quote, invoice, items, found, FOUND, actor)
    try:
        created = qbo_create(connection=connection, entity=INVOICE, payload=payload, request_id=request_id)
    except QuickBooksError as exc:
        return _convert_fail(connection, quote, invoice, exc, actor=actor, request_id=request_id)
    return _invoice_apply(connection, quote, invoice, items, created, CREATED, actor)


def _invoice_find(connection: QuickBooksAuth, invoice: Invoice) -> Mapping[str, Any] | None:
    """The invoice an earlier attempt may have made: its DocNumber, confirmed by the marker (the first made wins)."""
    sql = f"SELECT * FROM Invoice WHERE DocNumber = '{qbo_escape(invoice.invoice_number)}' ORDERBY Id"  # noqa: S608  # nosec B608 (QBO's query language, escaped)
    for row in qbo_query(connection=connection, sql=sql):
        if str(row.get("PrivateNote") or "") == invoice_marker(invoice):
            return row
    return None


def _invoice_apply(
    connection: QuickBooksAuth,
    quote: Quote,
    invoice: Invoice,
    items: Sequence[InvoiceItem],
    data: Mapping[str, Any],
    outcome: str,
    actor,
) -> ConvertResult:
    """Store QBO's invoice on the CRM invoice in one short transaction: id, SyncToken, line ids, the due date QBO
    computed from its terms when the CRM had none, the ledger copy; totals compared; audit."""
    qbo_total = qbo_money(data.get("TotalAmt"))
    result = ConvertResult(
        quote=quote, outcome=outcome, invoice=invoice, qbo_total=qbo_total, crm_total=invoice.total_amount
    )
    with transaction.atomic():
        mirror_apply(connection=connection, entity_type=INVOICE, rows=[data])
        mirror_link(connection=connection, entity_type=INVOICE, links={str(data["Id"]): invoice.pk})
        invoice.quickbooks_invoice_id = str(data["Id"])
        invoice.quickbooks_sync_token = str(data.get("SyncToken", ""))
        fields = ["quickbooks_invoice_id", "quickbooks_sync_token", "updated_at"]
        if invoice.due_date is None and parse_date(str(data.get("DueDate") or "")):
            invoice.due_date = parse_date(str(data["DueDate"]))
            fields.append("due_date")
        invoice.updated_at = timezone.now()
        Invoice.objects.filter(pk=invoice.pk).update(**{name: getattr(invoice, name) for name in fields})
        changed = []
        for item, line in zip(items, sales_lines(data), strict=False):
            line_id = str(line.get("Id") or "")
            if item.quickbooks_line_id != line_id:
                item.quickbooks_line_id = line_id
                changed.append(item)
        InvoiceItem.objects.bulk_update(changed, ["quickbooks_line_id"])
        failure_resolve(
            key=push_key(invoice), actor=actor, resolution=f"invoice {invoice.quickbooks_invoice_id} {outcome}"
        )
        if result.total_differs:
            result.message = total_mismatch_record(
                connection=connection,
                document=invoice,
                data=data,
                entity=INVOICE,
                kind=TOTAL_KIND,
                key=total_key(invoice),
                direction=SyncFailure.Direction.PUSH,
                retry_args={"quote_id": quote.pk, "invoice_id": invoice.pk},
                advice="check the tax rate and the lines.",
            )
        else:
            failure_resolve(key=total_key(invoice), actor=actor, resolution=f"totals agree at {qbo_total}")
        audit_record(
            action=CONVERT_KIND,
            actor=actor,
            obj=invoice,
            after={
                "invoice_id": invoice.quickbooks_invoice_id,
                "estimate_id": quote.quickbooks_estimate_id or "",
                "outcome": outcome,
                "qbo_total": str(qbo_total),
                "crm_total": str(invoice.total_amount),
            },
            outcome=AuditEvent.Outcome.WARNING if result.total_differs else AuditEvent.Outcome.SUCCESS,
            message=result.message or f"QuickBooks invoice {invoice.quickbooks_invoice_id} {outcome} from {quote}",
        )
    return result


def _convert_fail(
    connection: QuickBooksAuth, quote: Quote, invoice: Invoice, error: BaseException, *, actor, request_id: str = ""
) -> ConvertResult:
    message = error_text(error)
    failure_record(
        kind=CONVERT_KIND,
        key=push_key(invoice),
        direction=SyncFailure.Direction.PUSH,
        error=error,
        connection_id=connection.pk,
        entity_type=INVOICE,
        obj=invoice,
        request_id=request_id,
        retry_args={"quote_id": quote.pk, "invoice_id": invoice.pk},
    )
    audit_record(action=CONVERT_KIND, actor=actor, obj=invoice, outcome=AuditEvent.Outcome.FAILURE, message=message)
    return ConvertResult(
        quote=quote,
        outcome=FAILED,
        invoice=invoice,
        message=f"CRM invoice {invoice} was made, but QuickBooks did not take it: {message}",
    )


# ---------------------------------------------------------------------------------------------------- send


def invoice_send(*, invoice: Invoice, actor) -> SendResult:
    """E-mail the invoice from QBO to its contact's address (`POST invoice/<id>/send?sendTo=`), then record QBO's
    EmailStatus and delivery time on the CRM invoice (a draft becomes sent). An invoice already e-mailed is not
    sent again: a double click or a retry never mails the customer twice."""
    permission_require(
        actor=actor, permission=SEND_PERMISSION, action=SEND_KIND, obj=invoice, what="send invoices to customers"
    )
    connection = connection_for_push()
    invoice = Invoice.objects.select_related("contact").get(pk=invoice.pk)
    if invoice.status == InvoiceStatus.VOID:
        return SendResult(invoice=invoice, outcome=FAILED, message="it is void")
    if not invoice.quickbooks_invoice_id:
        return SendResult(
            invoice=invoice,
            outcome=FAILED,
            message='it is not in QuickBooks yet: use "Convert to QuickBooks invoices" on its quote first',
        )
    if invoice.email_status == EmailStatus.EMAIL_SENT:
        when = timezone.localtime(invoice.sent_at).strftime("%Y-%m-%d %H:%M") if invoice.sent_at else "earlier"
        return SendResult(invoice=invoice, outcome=ALREADY, message=f"already sent ({when})")
    email = invoice.contact.email
    if not email:
        error = InvoiceSendError(f"{invoice.contact.display_name} has no e-mail address; add one to the contact.")
        return _send_fail(connection, invoice, error, actor=actor)
    generation = attempts_failed([send_key(invoice)]).get(send_key(invoice), 0)
    request_id = request_id_for(
        connection, INVOICE, "send", invoice.quickbooks_invoice_id, invoice.quickbooks_sync_token, generation
    )
    try:
        if generation:  # the lost attempt may have gone out: QBO's EmailStatus says
            current = qbo_read(connection=connection, entity=INVOICE, entity_id=invoice.quickbooks_invoice_id)
            if current.get("EmailStatus") == EmailStatus.EMAIL_SENT:
                return _send_apply(connection, invoice, current, email, FOUND, actor)
        sent = qbo_send(
            connection=connection,
            entity=INVOICE,
            entity_id=invoice.quickbooks_invoice_id,
            send_to=email,
            request_id=request_id,
        )
    except QuickBooksError as exc:
        return _send_fail(connection, invoice, exc, actor=actor, request_id=request_id)
    return _send_apply(connection, invoice, sent, email, SENT, actor)


def _send_apply(
    connection: QuickBooksAuth, invoice: Invoice, data: Mapping[str, Any], email: str, outcome: str, actor
) -> SendResult:
    delivered: datetime = qbo_time((data.get("DeliveryInfo") or {}).get("DeliveryTime")) or timezone.now()
    with transaction.atomic():
        mirror_apply(connection=connection, entity_type=INVOICE, rows=[data])
        invoice = invoice_mark_sent(invoice=invoice, when=delivered)
        invoice.quickbooks_sync_token = str(data.get("SyncToken", ""))
        invoice.email_status = str(data.get("EmailStatus") or EmailStatus.EMAIL_SENT)
        Invoice.objects.filter(pk=invoice.pk).update(
            quickbooks_sync_token=invoice.quickbooks_sync_token, email_status=invoice.email_status
        )
        failure_resolve(key=send_key(invoice), actor=actor, resolution=f"sent to {email}")
        audit_record(
            action=SEND_KIND,
            actor=actor,
            obj=invoice,
            after={"to": email, "email_status": invoice.email_status, "sent_at": delivered.isoformat()},
            message=f"e-mailed from QuickBooks to {email}",
        )
    return SendResult(invoice=invoice, outcome=outcome, message=f"sent to {email}")


def _send_fail(
    connection: QuickBooksAuth, invoice: Invoice, error: BaseException, *, actor, request_id: str = ""
) -> SendResult:
    message = error_text(error)
    failure_record(
        kind=SEND_KIND,
        key=send_key(invoice),
        direction=SyncFailure.Direction.PUSH,
        error=error,
        connection_id=connection.pk,
        entity_type=INVOICE,
        entity_id=invoice.quickbooks_invoice_id or "",
        obj=invoice,
        request_id=request_id,
        retry_args={"invoice_id": invoice.pk},
    )
    audit_record(action=SEND_KIND, actor=actor, obj=invoice, outcome=AuditEvent.Outcome.FAILURE, message=message)
    return SendResult(invoice=invoice, outcome=FAILED, message=message)


def quote_invoices_send(*, quote: Quote, actor) -> list[SendResult]:
    """Send every open invoice converted from `quote` (the quote admin's "send" action)."""
    invoices = list(quote.invoices.exclude(status=InvoiceStatus.VOID).order_by("id"))
    if not invoices:
        raise SalesPushError(f'{quote} has no invoice yet: use "Convert to QuickBooks invoices" first.')
    return [invoice_send(invoice=invoice, actor=actor) for invoice in invoices]


# ---------------------------------------------------------------------------------------------------- PDF


def invoice_pdf(*, invoice: Invoice, actor) -> bytes:
    """The invoice's PDF as QBO renders it (`GET invoice/<id>/pdf`), for a person reading the invoice: one attempt
    and a short wait for the limiter, since it runs inside their web request."""
    permission_require(actor=actor, permission=VIEW_PERMISSION, action="invoice_pdf", obj=invoice, what="read invoices")
    if not invoice.quickbooks_invoice_id:
        raise SalesPushError(f"{invoice} is not in QuickBooks yet, so QuickBooks has no PDF of it.")
    connection = connection_for_push()
    return qbo_pdf(connection=connection, entity=INVOICE, entity_id=invoice.quickbooks_invoice_id, interactive=True)


# ---------------------------------------------------------------------------------------------------- queue, retry


def quotes_convert_enqueue(*, quote_ids: Sequence[int], actor) -> int:
    ids = list(quote_ids)
    actor_id = actor.pk if actor is not None else None
    transaction.on_commit(lambda: async_task(CONVERT_TASK, ids, actor_id, task_name=f"qbo-convert-{ids[0]}-{len(ids)}"))
    return len(ids)


def invoices_send_enqueue(*, invoice_ids: Sequence[int], actor) -> int:
    ids = list(invoice_ids)
    actor_id = actor.pk if actor is not None else None
    transaction.on_commit(lambda: async_task(SEND_TASK, ids, actor_id, task_name=f"qbo-send-{ids[0]}-{len(ids)}"))
    return len(ids)


@failure_retry_register(CONVERT_KIND)
def _convert_retry(failure: SyncFailure) -> str:
    """Converting again resumes where it stopped: the CRM invoice exists, its QBO twin is looked up, then made."""
    quote_id = int(failure.retry_args["quote_id"])
    quotes_convert_enqueue(quote_ids=[quote_id], actor=None)
    return f"conversion of quote #{quote_id} queued"


@failure_retry_register(SEND_KIND)
def _send_retry(failure: SyncFailure) -> str:
    invoice_id = int(failure.retry_args["invoice_id"])
    invoices_send_enqueue(invoice_ids=[invoice_id], actor=None)
    return f"sending of invoice #{invoice_id} queued"
