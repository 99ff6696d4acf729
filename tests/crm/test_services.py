"""Payments, voiding, conversion and the contact's financial summary, through `crm.services`."""

import datetime
from decimal import Decimal

import pytest

from crm.errors import DocumentStateError, PaymentApplicationError
from crm.models import InvoiceStatus, PaymentApplication, PaymentStatus, QuoteStatus
from crm.services import (
    contact_financials_recalculate,
    contacts_financials_recalculate,
    invoice_mark_sent,
    invoice_void,
    payment_applications_set,
    payment_apply,
    payment_save,
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
    assert (invoice.amount_paid, invoice.balance_due, invoice.payment_status) == (
        D("40.00"),
        D("60.01"),
        PaymentStatus.PARTIAL,
    )

    second = PaymentFactory(contact=contact, amount=D("60.01"))
    payment_apply(payment=second, invoice=invoice, amount=D("60.01"))
    invoice.refresh_from_db()
    assert (invoice.amount_paid, invoice.balance_due, invoice.payment_status) == (D("100.01"), D("0.00"), "paid")
    assert invoice.paid_date == second.payment_date
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
    assert (invoice.status, invoice.balance_due, invoice.total_amount) == (InvoiceStatus.VOID, D("0.00"), D("100.01"))


def test_void_refused_while_paid(contact, invoice):
    payment_apply(payment=PaymentFactory(contact=contact, amount=D("10")), invoice=invoice, amount=D("10"))
    with pytest.raises(DocumentStateError):
        invoice_void(invoice=invoice)


def test_overdue_status(contact):
    past = datetime.date(2024, 1, 1)
    invoice = InvoiceFactory(contact=contact, issue_date=past, due_date=past, items=[("1", "10")])
    assert (invoice.status, invoice.payment_status) == (InvoiceStatus.SENT, PaymentStatus.OVERDUE)
    draft = InvoiceFactory(contact=contact, issue_date=past, due_date=past, items=[("1", "10")], status="draft")
    assert draft.payment_status == PaymentStatus.UNPAID  # never sent: not overdue
    invoice_mark_sent(invoice=draft)
    draft.refresh_from_db()
    assert (draft.status, draft.payment_status) == (InvoiceStatus.SENT, PaymentStatus.OVERDUE)


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
    assert (invoice.subtotal, invoice.tax_amount, invoice.total_amount) == (D("102.69"), D("6.42"), D("109.11"))
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


def test_a_linked_contacts_balance_is_left_to_quickbooks(contact):
    """One rule (`crm_owns_balance`): a linked contact keeps QBO's balance, through every entry point; its sales,
    last payment and days to pay come from the CRM's documents (pulled ones included) like anyone's."""
    linked = ContactFactory(quickbooks_customer_id="58", outstanding_balance=D("12.34"), total_sales=D("99.00"))
    linked_invoice = InvoiceFactory(contact=linked, items=[("1", "100")], tax_rate=D("0"))
    InvoiceFactory(contact=contact, items=[("1", "70")], tax_rate=D("0"))
    payment_apply(
        payment=PaymentFactory(contact=linked, amount=D("40")), invoice=linked_invoice, amount=D("40")
    )  # → invoice_recalculate → the contact summary
    recalculated = contacts_financials_recalculate(contact_ids=[linked.pk, contact.pk])
    assert contact_financials_recalculate(contact=linked) == linked
    assert sorted(c.pk for c in recalculated) == sorted([contact.pk, linked.pk])
    linked.refresh_from_db()
    contact.refresh_from_db()
    assert (linked.outstanding_balance, linked.total_sales) == (D("12.34"), D("100.00"))
    assert (linked.last_payment_date, linked.average_days_to_pay) == (
        linked.payments.get().payment_date,
        D((linked.payments.get().payment_date - linked_invoice.issue_date).days),
    )
    assert (contact.outstanding_balance, contact.total_sales) == (D("70.00"), D("70.00"))


def test_applications_set_replaces_the_whole_set(contact, invoice):
    other = InvoiceFactory(contact=contact, items=[("1", "50")], tax_rate=D("0"))
    payment = PaymentFactory(contact=contact, amount=D("150.01"))
    payment_applications_set(payment=payment, rows=[(invoice, D("100.01")), (other, D("50"))])
    payment_applications_set(payment=payment, rows=[(other, D("20.004"))])
    invoice.refresh_from_db()
    other.refresh_from_db()
    assert list(payment.applications.values_list("invoice_id", "amount")) == [(other.pk, D("20.00"))]
    assert (invoice.amount_paid, invoice.balance_due) == (D("0.00"), D("100.01"))
    assert (other.amount_paid, other.balance_due, other.payment_status) == (
        D("20.00"),
        D("30.00"),
        PaymentStatus.PARTIAL,
    )


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (lambda invoice, other: [(invoice, D("10")), (invoice, D("5"))], "appears twice"),
        (lambda invoice, other: [(invoice, D("10")), (other, D("10"))], "another contact"),
        (lambda invoice, other: [(invoice, D("10")), (invoice.pk + 1000, D("1"))], "no longer exists"),
    ],
)
def test_applications_set_is_all_or_nothing(contact, invoice, rows, message):
    other = InvoiceFactory(items=[("1", "50")], tax_rate=D("0"))
    payment = PaymentFactory(contact=contact, amount=D("100"))
    payment_applications_set(payment=payment, rows=[(invoice, D("7"))])
    with pytest.raises(PaymentApplicationError, match=message):
        payment_applications_set(payment=payment, rows=rows(invoice, other))
    invoice.refresh_from_db()
    assert list(payment.applications.values_list("amount", flat=True)) == [D("7.00")]
    assert invoice.amount_paid == D("7.00")


def test_moving_a_payment_updates_the_previous_contacts_last_payment(contact):
    payment = PaymentFactory(contact=contact, amount=D("10"), payment_date=datetime.date(2025, 3, 1))
    payment_save(payment=payment)
    contact.refresh_from_db()
    assert contact.last_payment_date == datetime.date(2025, 3, 1)
    payment.contact = ContactFactory()
    payment_save(payment=payment)
    contact.refresh_from_db()
    payment.contact.refresh_from_db()
    assert (contact.last_payment_date, payment.contact.last_payment_date) == (None, datetime.date(2025, 3, 1))
