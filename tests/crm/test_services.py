"""Payments, voiding, conversion and the contact's financial summary, through `crm.services`."""

import datetime
from decimal import Decimal

import pytest

from crm.errors import DocumentStateError, PaymentApplicationError
from crm.models import InvoiceStatus, PaymentApplication, QuoteStatus
from crm.services import (
    contact_financials_recalculate,
    invoice_mark_sent,
    invoice_void,
    payment_apply,
    payment_unapplied_amount,
    quote_convert_to_invoice,
)

from .factories import ContactFactory, InvoiceFactory, PaymentFactory, QuoteFactory

D = Decimal
pytestmark = pytest.mark.django_db


@pytest.fixture
def contact():
    return ContactFactory()


@pytest.fixture
def invoice(contact):
    return InvoiceFactory(contact=contact, items=[("3", "33.335")], tax_rate=D("0"))  # total 100.01


def test_partial_then_full_payment(contact, invoice):
    first = PaymentFactory(contact=contact, amount=D("40.00"))
    payment_apply(payment=first, invoice=invoice, amount=D("40"))
    invoice.refresh_from_db()
    assert (invoice.amount_paid, invoice.balance_due, invoice.status) == (
        D("40.00"),
        D("60.01"),
        InvoiceStatus.PARTIALLY_PAID,
    )

    second = PaymentFactory(contact=contact, amount=D("60.01"))
    payment_apply(payment=second, invoice=invoice, amount=D("60.01"))
    invoice.refresh_from_db()
    assert (invoice.amount_paid, invoice.balance_due, invoice.status) == (D("100.01"), D("0.00"), InvoiceStatus.PAID)
    assert payment_unapplied_amount(payment=second) == D("0.00")


def test_one_payment_split_over_two_invoices(contact, invoice):
    other = InvoiceFactory(contact=contact, items=[("1", "50")], tax_rate=D("0"))
    payment = PaymentFactory(contact=contact, amount=D("150.01"))
    payment_apply(payment=payment, invoice=invoice, amount=D("100.01"))
    payment_apply(payment=payment, invoice=other, amount=D("50.00"))
    assert sorted(payment.applications.values_list("amount", flat=True)) == [D("50.00"), D("100.01")]
    assert payment_unapplied_amount(payment=payment) == D("0.00")


def test_apply_is_a_set_not_an_add(contact, invoice):
    payment = PaymentFactory(contact=contact, amount=D("100.01"))
    payment_apply(payment=payment, invoice=invoice, amount=D("30"))
    payment_apply(payment=payment, invoice=invoice, amount=D("30"))  # a retry
    assert PaymentApplication.objects.get().amount == D("30.00")
    invoice.refresh_from_db()
    assert invoice.amount_paid == D("30.00")


@pytest.mark.parametrize(
    ("payment_amount", "applied", "message"),
    [
        (D("500"), D("100.02"), "left to pay"),  # more than the invoice's total
        (D("20"), D("30"), "more than the payment"),  # more than the payment
        (D("20"), D("0"), "positive"),
    ],
)
def test_overapplication_refused(contact, invoice, payment_amount, applied, message):
    payment = PaymentFactory(contact=contact, amount=payment_amount)
    with pytest.raises(PaymentApplicationError, match=message):
        payment_apply(payment=payment, invoice=invoice, amount=applied)
    assert not PaymentApplication.objects.exists()


def test_payment_from_another_contact_refused(invoice):
    payment = PaymentFactory(amount=D("100.01"))
    with pytest.raises(PaymentApplicationError, match="another contact"):
        payment_apply(payment=payment, invoice=invoice, amount=D("10"))


def test_void_keeps_the_record_and_clears_the_balance(invoice):
    invoice_void(invoice=invoice)
    invoice.refresh_from_db()
    assert (invoice.status, invoice.balance_due, invoice.total) == (InvoiceStatus.VOID, D("0.00"), D("100.01"))


def test_void_refused_while_paid(contact, invoice):
    payment_apply(payment=PaymentFactory(contact=contact, amount=D("10")), invoice=invoice, amount=D("10"))
    with pytest.raises(DocumentStateError):
        invoice_void(invoice=invoice)


def test_overdue_status(contact):
    past = datetime.date(2024, 1, 1)
    invoice = InvoiceFactory(contact=contact, issue_date=past, due_date=past, items=[("1", "10")])
    assert invoice.status == InvoiceStatus.OVERDUE


def test_mark_sent_moves_draft_to_sent(contact):
    invoice = InvoiceFactory(contact=contact, status=InvoiceStatus.DRAFT, items=[("1", "10")])
    assert invoice.status == InvoiceStatus.DRAFT
    invoice_mark_sent(invoice=invoice)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.SENT and invoice.sent_at and invoice.email_status == "EmailSent"


def test_convert_quote_copies_lines_and_totals(contact):
    quote = QuoteFactory(contact=contact, items=[("3", "33.335"), ("1", "2.675")], tax_rate=D("6.25"))
    for item in quote.items.all():
        item.taxable = True
        item.save()
    invoice = quote_convert_to_invoice(quote=quote)
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.CONVERTED
    assert invoice.quote == quote and invoice.items.count() == 2
    assert (invoice.subtotal, invoice.tax_amount, invoice.total) == (D("102.69"), D("6.42"), D("109.11"))
    assert invoice.invoice_number == f"INV-{invoice.pk:06d}"
    with pytest.raises(DocumentStateError):
        quote_convert_to_invoice(quote=quote)


def test_contact_financials(contact, invoice):
    payment = PaymentFactory(contact=contact, amount=D("40"), payment_date=invoice.issue_date + datetime.timedelta(10))
    payment_apply(payment=payment, invoice=invoice, amount=D("40"))
    contact_financials_recalculate(contact=contact)
    contact.refresh_from_db()
    assert contact.total_sales == D("100.01")
    assert contact.outstanding_balance == D("60.01")
    assert contact.last_payment_date == payment.payment_date
    assert contact.average_days_to_pay == D("10.00")


def test_document_numbers_from_pk(contact):
    quote = QuoteFactory(contact=contact)
    assert quote.quote_number == f"Q-{quote.pk:06d}"
    typed = QuoteFactory(contact=contact, quote_number="EST-1001")
    assert typed.quote_number == "EST-1001"


def test_payment_in_another_currency_refused(contact, invoice):
    """QBO applies a payment only to invoices in its own currency (RELIABILITY §D4)."""
    payment = PaymentFactory(contact=contact, amount=D("100.01"), currency="CAD")
    with pytest.raises(PaymentApplicationError, match="CAD"):
        payment_apply(payment=payment, invoice=invoice, amount=D("10"))
