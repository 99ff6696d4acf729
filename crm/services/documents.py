"""Quote and invoice totals, conversion of a quote to an invoice, voiding and marking sent.

Totals follow QBO (RELIABILITY §D3): each line is q(qty × unit price), the subtotal is the sum of rounded lines,
tax is rounded once on the taxable subtotal (none for a tax-exempt contact), total = subtotal + tax. An invoice's
amount paid is the sum of its payment applications and its payment status follows from the balance and due date.
"""

import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import Case, CharField, Max, Sum, Value, When
from django.utils import timezone

from crm.errors import DocumentStateError
from crm.models import Invoice, InvoiceItem, InvoiceStatus, PaymentStatus, Quote, QuoteStatus
from crm.models.sales import EmailStatus, LineItem
from crm.money import ZERO, line_total, q, tax_amount

from .contacts import contacts_financials_recalculate


@dataclass(frozen=True)
class DocumentTotals:
    subtotal: Decimal
    tax_amount: Decimal
    total_amount: Decimal


def document_totals(*, lines: Iterable[LineItem], tax_rate: Decimal, tax_exempt: bool = False) -> DocumentTotals:
    """Pure: the totals of a document from its lines, exactly as QBO would compute TotalAmt."""
    subtotal = ZERO
    taxable = ZERO
    for line in lines:
        amount = line_total(line.quantity, line.unit_price)
        subtotal += amount
        if line.taxable:
            taxable += amount
    tax = ZERO if tax_exempt else tax_amount(taxable, tax_rate)
    return DocumentTotals(subtotal=q(subtotal), tax_amount=tax, total_amount=q(subtotal + tax))


def quote_recalculate(*, quote: Quote) -> Quote:
    """Store the quote's subtotal, tax and total from its current lines; returns the same (updated) quote."""
    totals = document_totals(lines=quote.items.all(), tax_rate=quote.tax_rate, tax_exempt=quote.contact.tax_exempt)
    quote.subtotal, quote.tax_amount, quote.total_amount = totals.subtotal, totals.tax_amount, totals.total_amount
    quote.save(update_fields=["subtotal", "tax_amount", "total_amount", "updated_at"])
    return quote


def invoice_payment_status_derive(invoice: Invoice, today: datetime.date) -> str:
    """Pure: the payment status the money implies today. Paid when nothing is owed on a non-zero total; overdue
    when a sent invoice is past its due date; partial when something was paid; otherwise unpaid (a void invoice
    too: it owes nothing and was paid nothing). Bulk writers (the demo loader) use it too."""
    if invoice.status == InvoiceStatus.VOID:
        return PaymentStatus.UNPAID
    if invoice.total_amount > ZERO and invoice.balance_due <= ZERO:
        return PaymentStatus.PAID
    if invoice.status == InvoiceStatus.SENT and invoice.due_date and invoice.due_date < today:
        return PaymentStatus.OVERDUE
    if invoice.amount_paid > ZERO:
        return PaymentStatus.PARTIAL
    return PaymentStatus.UNPAID


def invoice_payment_status_expression(today: datetime.date) -> Case:
    """`invoice_payment_status_derive` as a database expression, to list and filter invoices by their payment
    status today: the stored one is as of the invoice's last save, and "unpaid" turns "overdue" with no save."""
    return Case(
        When(status=InvoiceStatus.VOID, then=Value(PaymentStatus.UNPAID)),
        When(total_amount__gt=ZERO, balance_due__lte=ZERO, then=Value(PaymentStatus.PAID)),
        When(status=InvoiceStatus.SENT, due_date__lt=today, then=Value(PaymentStatus.OVERDUE)),
        When(amount_paid__gt=ZERO, then=Value(PaymentStatus.PARTIAL)),
        default=Value(PaymentStatus.UNPAID),
        output_field=CharField(),
    )


@transaction.atomic
def invoice_changes_validate(*, invoice: Invoice, lines: Iterable[LineItem]) -> None:
    """Check an edited invoice (its form's unsaved instance and the lines it would have) against the payments
    already applied to it: they must come from its contact, and its new total must still cover them (QBO refuses
    both). Raises `DocumentStateError` naming the problem; a new invoice has nothing applied and always passes.
    """
    if invoice.pk is None:
        return
    # Against payments being applied right now (`payment_applications_check` locks the same row); inside the
    # admin's request transaction the lock lasts until the edit is saved.
    list(Invoice.objects.select_for_update().filter(pk=invoice.pk).values_list("pk"))
    applications = invoice.payment_applications.all()
    if invoice.contact_id is not None and applications.exclude(payment__contact_id=invoice.contact_id).exists():
        raise DocumentStateError(
            f"invoice {invoice} has payments from another contact applied; unapply them before changing its contact"
        )
    paid = q(applications.aggregate(s=Sum("amount"))["s"])
    tax_exempt = invoice.contact.tax_exempt if invoice.contact_id is not None else False
    total = document_totals(lines=lines, tax_rate=invoice.tax_rate or ZERO, tax_exempt=tax_exempt).total_amount
    if total < paid:
        raise DocumentStateError(
            f"invoice {invoice} would total {total}, less than the {paid} already paid; unapply payments first"
        )


def invoice_recalculate(*, invoice: Invoice, today: datetime.date | None = None, summary: bool = True) -> Invoice:
    """Store totals from the lines, amount paid from the payment applications, the balance, the payment status and
    the paid date; then the contact's financial summary, unless `summary` is False because the caller recalculates
    the summaries of many invoices' contacts once at the end (the sales pulls)."""
    totals = document_totals(
        lines=invoice.items.all(), tax_rate=invoice.tax_rate, tax_exempt=invoice.contact.tax_exempt
    )
    invoice.subtotal, invoice.tax_amount, invoice.total_amount = totals.subtotal, totals.tax_amount, totals.total_amount
    invoice.amount_paid = q(invoice.payment_applications.aggregate(s=Sum("amount"))["s"])
    owed = q(invoice.total_amount - invoice.amount_paid)
    invoice.balance_due = ZERO if invoice.status == InvoiceStatus.VOID else owed
    invoice.payment_status = invoice_payment_status_derive(invoice, today or timezone.localdate())
    invoice.paid_date = (
        invoice.payment_applications.aggregate(d=Max("payment__payment_date"))["d"]
        if invoice.payment_status == PaymentStatus.PAID
        else None
    )
    invoice.save(
        update_fields=[
            *("subtotal", "tax_amount", "total_amount", "amount_paid", "balance_due"),
            *("payment_status", "paid_date", "updated_at"),
        ]
    )
    if summary:
        contacts_financials_recalculate(contact_ids=[invoice.contact_id])
    return invoice


@transaction.atomic
def quote_convert_to_invoice(
    *, quote: Quote, issue_date: datetime.date | None = None, due_date: datetime.date | None = None
) -> Invoice:
    """Copy an accepted (or sent/draft) quote's lines into a new draft invoice and mark the quote converted."""
    quote = Quote.objects.select_for_update().select_related("contact").get(pk=quote.pk)
    if quote.status in (QuoteStatus.CONVERTED, QuoteStatus.DECLINED, QuoteStatus.EXPIRED):
        raise DocumentStateError(f"quote {quote} is {quote.get_status_display().lower()} and cannot be invoiced")
    invoice = Invoice.objects.create(
        contact=quote.contact,
        quote=quote,
        issue_date=issue_date or timezone.localdate(),
        due_date=due_date or quote.due_date,
        currency=quote.currency,
        tax_rate=quote.tax_rate,
        payment_terms=quote.payment_terms,
        notes=quote.notes,
    )
    for item in quote.items.all():
        # save() per line (not bulk_create) so each line's amount is computed and quantized the one way.
        InvoiceItem(
            invoice=invoice,
            product_id=item.product_id,
            description=item.description,
            quantity=item.quantity,
            unit_price=item.unit_price,
            taxable=item.taxable,
            position=item.position,
        ).save()
    quote.status = QuoteStatus.CONVERTED
    quote.save(update_fields=["status", "updated_at"])
    return invoice_recalculate(invoice=invoice)


@transaction.atomic
def invoice_void(*, invoice: Invoice) -> Invoice:
    """Void instead of delete (money records are never deleted casually); refused while payments are applied."""
    invoice = Invoice.objects.select_for_update().select_related("contact").get(pk=invoice.pk)
    if invoice.payment_applications.exists():
        raise DocumentStateError(f"invoice {invoice} has payments applied; unapply them before voiding")
    invoice.status = InvoiceStatus.VOID
    invoice.save(update_fields=["status", "updated_at"])
    return invoice_recalculate(invoice=invoice)


def invoice_mark_sent(*, invoice: Invoice, when: datetime.datetime | None = None) -> Invoice:
    """Record that the invoice went to the customer (QBO EmailStatus=EmailSent); a draft becomes sent."""
    if invoice.status == InvoiceStatus.VOID:
        raise DocumentStateError(f"invoice {invoice} is void")
    invoice.email_status = EmailStatus.EMAIL_SENT
    invoice.sent_at = when or timezone.now()
    if invoice.status == InvoiceStatus.DRAFT:
        invoice.status = InvoiceStatus.SENT
    invoice.save(update_fields=["email_status", "sent_at", "status", "updated_at"])
    return invoice_recalculate(invoice=invoice)  # a sent invoice past its due date is overdue
