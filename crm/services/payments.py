"""Applying payments to invoices: which invoices a payment pays, and how much of each.

An application is set, not added (`payment_apply(amount=...)` twice leaves one row with that amount), so a retried
call is harmless. QBO's own rules hold here too: a payment and the invoices it pays belong to the same customer
and currency, an invoice is never paid beyond its total, and a payment never applies more than its amount.
"""

from collections.abc import Iterable
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum

from crm.errors import PaymentApplicationError
from crm.models import Invoice, InvoiceStatus, Payment, PaymentApplication
from crm.money import ZERO, q

from .documents import invoice_recalculate


def payment_unapplied_amount(*, payment: Payment) -> Decimal:
    """What is left of the payment after its applications (QBO UnappliedAmt)."""
    applied = payment.applications.aggregate(s=Sum("amount"))["s"]
    return q(payment.amount - q(applied))


def payment_applications_validate(*, payment: Payment, rows: Iterable[tuple[Invoice, Decimal]]) -> None:
    """Check the whole set of applications `payment` would have (the admin inline saves them all at once).

    Each invoice must belong to the payment's contact, be in its currency, not be void, and not be paid beyond its
    total counting other payments; the sum applied must not exceed the payment. `payment` may be unsaved (a form's
    instance). Raises `PaymentApplicationError` naming the first problem.
    """
    applied = ZERO
    for invoice, amount in rows:
        amount = q(amount)
        if amount <= ZERO:
            raise PaymentApplicationError(f"the amount applied to {invoice} must be positive")
        if payment.contact_id is not None and invoice.contact_id != payment.contact_id:
            raise PaymentApplicationError(f"invoice {invoice} belongs to another contact")
        if invoice.currency != payment.currency:
            raise PaymentApplicationError(
                f"invoice {invoice} is in {invoice.currency}, the payment in {payment.currency}"
            )
        if invoice.status == InvoiceStatus.VOID:
            raise PaymentApplicationError(f"invoice {invoice} is void")
        others = invoice.payment_applications.all()
        if payment.pk is not None:
            others = others.exclude(payment_id=payment.pk)
        paid_by_others = q(others.aggregate(s=Sum("amount"))["s"])
        if paid_by_others + amount > invoice.total:
            raise PaymentApplicationError(
                f"invoice {invoice} has {q(invoice.total - paid_by_others)} left to pay, not {amount}"
            )
        applied += amount
    if applied > q(payment.amount):
        raise PaymentApplicationError(f"{applied} applied is more than the payment's {q(payment.amount)}")


@transaction.atomic
def payment_apply(*, payment: Payment, invoice: Invoice, amount: Decimal) -> PaymentApplication:
    """Set how much of `payment` pays `invoice`, then update the invoice's amount paid, balance and status.

    Both rows are locked (PostgreSQL) so two bookkeepers applying at once cannot overpay an invoice.
    """
    amount = q(amount)
    payment = Payment.objects.select_for_update().get(pk=payment.pk)
    invoice = Invoice.objects.select_for_update().select_related("contact").get(pk=invoice.pk)
    rows = [
        (application.invoice, application.amount)
        for application in payment.applications.exclude(invoice=invoice).select_related("invoice")
    ]
    payment_applications_validate(payment=payment, rows=[*rows, (invoice, amount)])
    application, _ = PaymentApplication.objects.update_or_create(
        payment=payment, invoice=invoice, defaults={"amount": amount}
    )
    invoice_recalculate(invoice=invoice)
    return application


def invoices_recalculate(*, invoice_ids: Iterable[int]) -> None:
    """Recalculate each invoice whose payment applications changed (e.g. after the payment form saved)."""
    for invoice in Invoice.objects.filter(pk__in=set(invoice_ids)).select_related("contact"):
        invoice_recalculate(invoice=invoice)
