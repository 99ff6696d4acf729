"""Payments and which invoices they pay: the one write path for the admin's payment form and the QBO payment pull.

- `payment_save` saves a payment's own fields and keeps the contact summaries in step (also the previous contact's,
  when the payment moved).
- `payment_applications_set` sets a payment's whole set of applications (QBO Payment.Line with its LinkedTxn) in
  one transaction, under row locks: the rows not given are removed, the others set to the amount given.
- `payment_applications_check` is its validation alone, with the same locks, for a form to show the errors before
  anything is written (the admin's transaction keeps the locks until its save).
- `payment_apply` sets one application of the set (kept for callers that pay one invoice); `payments_delete`.

An application is set, not added (applying 30 twice leaves one row of 30), so a retried call is harmless. QBO's
rules hold: a payment and the invoices it pays belong to the same contact and currency, a void invoice takes no
money, an invoice is never paid beyond its total counting the other payments, and a payment never applies more
than its amount. Locks: the payment row, then the invoices in primary-key order, so two writers never deadlock and
the second one sees the first one's money (PostgreSQL; SQLite serializes writers anyway).
"""

from collections.abc import Iterable
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum

from crm.errors import PaymentApplicationError
from crm.models import Invoice, InvoiceStatus, Payment, PaymentApplication
from crm.money import ZERO, q

from .contacts import contacts_financials_recalculate
from .documents import invoice_recalculate

ApplicationRows = Iterable[tuple[Invoice | int, Decimal]]


def payment_unapplied_amount(*, payment: Payment) -> Decimal:
    """What is left of the payment after its applications (QBO UnappliedAmt)."""
    applied = payment.applications.aggregate(s=Sum("amount"))["s"]
    return q(payment.amount - q(applied))


@transaction.atomic
def payment_save(*, payment: Payment, summaries: bool = True) -> Payment:
    """Save the payment's own fields; recalculate its contact's summary, and the previous contact's if it moved
    (unless `summaries` is False: a caller that recalculates them once for many payments).

    The applications are not touched: set them with `payment_applications_set` (which refuses invoices of another
    contact, so a moved payment must have its set replaced in the same transaction, as the admin form does).
    """
    previous_contact_id = None
    if payment.pk is not None:
        previous_contact_id = (
            Payment.objects.select_for_update().filter(pk=payment.pk).values_list("contact_id", flat=True).first()
        )
    payment.full_clean()
    payment.save()
    if summaries:
        contacts_financials_recalculate(contact_ids=[payment.contact_id, previous_contact_id])
    return payment


@transaction.atomic
def payment_applications_check(*, payment: Payment, rows: ApplicationRows) -> list[tuple[Invoice, Decimal]]:
    """Lock and re-read the invoices of `rows`, validate the set as the payment's whole set of applications, and
    return it as (locked invoice, amount rounded to the cent). `payment` may be unsaved or carry unsaved changes
    (a form's instance): its contact, currency and amount are taken as given. Raises `PaymentApplicationError`
    naming the first problem.

    Called inside an outer transaction (the admin's request) the locks last until that transaction ends.
    """
    rows = [(getattr(invoice, "pk", invoice), q(amount)) for invoice, amount in rows]
    ids = [pk for pk, _ in rows]
    if len(set(ids)) != len(ids):
        raise PaymentApplicationError("an invoice appears twice in the payment; give it one line")
    if payment.pk is not None:
        list(Payment.objects.select_for_update().filter(pk=payment.pk).values_list("pk"))
    invoices = Invoice.objects.select_for_update().filter(pk__in=ids).order_by("pk").in_bulk()
    if len(invoices) != len(ids):
        raise PaymentApplicationError("an invoice of this payment no longer exists")
    checked = [(invoices[pk], amount) for pk, amount in rows]
    applied = ZERO
    for invoice, amount in checked:
        _application_check(payment=payment, invoice=invoice, amount=amount)
        applied += amount
    if applied > q(payment.amount):
        raise PaymentApplicationError(f"{applied} applied is more than the payment's {q(payment.amount)}")
    return checked


def _application_check(*, payment: Payment, invoice: Invoice, amount: Decimal) -> None:
    if amount <= ZERO:
        raise PaymentApplicationError(f"the amount applied to {invoice} must be positive")
    if payment.contact_id is not None and invoice.contact_id != payment.contact_id:
        raise PaymentApplicationError(f"invoice {invoice} belongs to another contact")
    if invoice.currency != payment.currency:
        raise PaymentApplicationError(f"invoice {invoice} is in {invoice.currency}, the payment in {payment.currency}")
    if invoice.status == InvoiceStatus.VOID:
        raise PaymentApplicationError(f"invoice {invoice} is void")
    others = invoice.payment_applications.all()
    if payment.pk is not None:
        others = others.exclude(payment_id=payment.pk)
    paid_by_others = q(others.aggregate(s=Sum("amount"))["s"])
    if paid_by_others + amount > invoice.total_amount:
        raise PaymentApplicationError(
            f"invoice {invoice} has {q(invoice.total_amount - paid_by_others)} left to pay, not {amount}"
        )


@transaction.atomic
def payment_applications_set(
    *, payment: Payment, rows: ApplicationRows, summaries: bool = True
) -> list[PaymentApplication]:
    """Make `rows` the saved payment's whole set of applications, then recalculate every invoice it paid before or
    pays now (amount paid, balance, status) and, unless `summaries` is False (a caller that recalculates them once
    for many payments), their contacts' summaries. All or nothing."""
    checked = payment_applications_check(payment=payment, rows=rows)
    before = set(payment.applications.values_list("invoice_id", flat=True))
    keep = {invoice.pk for invoice, _ in checked}
    payment.applications.exclude(invoice_id__in=keep).delete()
    applications = [
        PaymentApplication.objects.update_or_create(payment=payment, invoice=invoice, defaults={"amount": amount})[0]
        for invoice, amount in checked
    ]
    for invoice in Invoice.objects.filter(pk__in=before | keep).select_related("contact").order_by("pk"):
        invoice_recalculate(invoice=invoice, summary=summaries)
    return applications


@transaction.atomic
def payment_apply(*, payment: Payment, invoice: Invoice, amount: Decimal) -> PaymentApplication:
    """Set how much of `payment` pays `invoice`, keeping its other applications (one row of the whole set)."""
    payment = Payment.objects.select_for_update().get(pk=payment.pk)
    rows = list(payment.applications.exclude(invoice_id=invoice.pk).values_list("invoice_id", "amount"))
    applications = payment_applications_set(payment=payment, rows=[*rows, (invoice, amount)])
    return next(application for application in applications if application.invoice_id == invoice.pk)


@transaction.atomic
def payments_delete(*, payments: Iterable[Payment]) -> None:
    """Delete payments (superusers only, in the admin); the invoices they paid owe that money again."""
    ids = [payment.pk for payment in payments]
    invoice_ids = set(PaymentApplication.objects.filter(payment_id__in=ids).values_list("invoice_id", flat=True))
    contact_ids = set(Payment.objects.filter(pk__in=ids).values_list("contact_id", flat=True))
    Payment.objects.filter(pk__in=ids).delete()
    invoices_recalculate(invoice_ids=invoice_ids)
    contacts_financials_recalculate(contact_ids=contact_ids)


def invoices_recalculate(*, invoice_ids: Iterable[int]) -> None:
    """Recalculate each invoice whose payment applications changed (e.g. after payments were deleted)."""
    for invoice in Invoice.objects.filter(pk__in=set(invoice_ids)).select_related("contact"):
        invoice_recalculate(invoice=invoice)
