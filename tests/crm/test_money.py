"""Totals to the cent, the way QuickBooks computes them, on SQLite and PostgreSQL alike (RELIABILITY §D2–D3)."""

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm.models import InvoiceItem, QuoteItem
from crm.money import line_total, q, tax_amount
from crm.services import document_totals, quote_recalculate

from .factories import ContactFactory, InvoiceFactory, QuoteFactory

D = Decimal


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0.125", "0.13"), ("1861.075", "1861.08"), ("2.675", "2.68"), ("0.005", "0.01"), ("-2.675", "-2.68")],
)
def test_q_rounds_half_up(value, expected):
    assert q(D(value)) == D(expected)


def test_q_refuses_float():
    with pytest.raises(TypeError):
        q(2.675)


@pytest.mark.parametrize(
    ("qty", "price", "expected"),
    [
        ("1", "0.125", "0.13"),
        ("1", "1861.075", "1861.08"),
        ("1", "2.675", "2.68"),
        ("3", "33.335", "100.01"),  # 100.005 → up, not the 100.00 of banker's rounding
        ("0.125", "10", "1.25"),
        ("2.5", "0.125", "0.31"),  # 0.3125
        ("1.3333", "3.00", "4.00"),
    ],
)
def test_line_total(qty, price, expected):
    assert line_total(D(qty), D(price)) == D(expected)


def test_totals_are_sums_of_rounded_lines_and_tax_rounds_once():
    # Three lines of 3 × 33.335 = 100.005 each: rounded lines sum to 300.03 (not q(300.015) = 300.02).
    lines = [QuoteItem(quantity=D("3"), unit_price=D("33.335"), taxable=True) for _ in range(3)]
    totals = document_totals(lines=lines, tax_rate=D("6.25"))
    assert totals.subtotal == D("300.03")
    assert totals.tax_amount == D("18.75")  # 300.03 × 6.25 % = 18.751875
    assert totals.total_amount == D("318.78")


def test_tax_exempt_contact_pays_no_tax():
    lines = [QuoteItem(quantity=D("1"), unit_price=D("100"), taxable=True)]
    assert document_totals(lines=lines, tax_rate=D("6.25"), tax_exempt=True).total_amount == D("100.00")


def test_only_taxable_lines_are_taxed():
    lines = [
        QuoteItem(quantity=D("1"), unit_price=D("150.00"), taxable=False),  # inspection fee
        QuoteItem(quantity=D("2"), unit_price=D("2.675"), taxable=True),
    ]
    totals = document_totals(lines=lines, tax_rate=D("6.25"))
    assert (totals.subtotal, totals.tax_amount, totals.total_amount) == (D("155.35"), D("0.33"), D("155.68"))
    assert tax_amount(D("5.35"), D("6.25")) == D("0.33")  # 0.334375


@pytest.mark.django_db
def test_awkward_quote_stored_to_the_cent():
    quote = QuoteFactory(items=[("1", "0.125"), ("1", "1861.075"), ("1", "2.675"), ("3", "33.335")], tax_rate=D("0"))
    quote.refresh_from_db()
    amounts = list(quote.items.order_by("position").values_list("line_total", flat=True))
    assert amounts == [D("0.13"), D("1861.08"), D("2.68"), D("100.01")]
    assert quote.subtotal == quote.total_amount == D("1963.90")


@pytest.mark.django_db
def test_invoice_totals_and_balance_stored():
    invoice = InvoiceFactory(items=[("3", "33.335"), ("0.125", "10")], tax_rate=D("0"))
    invoice.refresh_from_db()
    assert (invoice.subtotal, invoice.total_amount, invoice.balance_due) == (D("101.26"), D("101.26"), D("101.26"))


@pytest.mark.django_db
def test_quote_recalculate_after_line_change():
    quote = QuoteFactory(items=[("1", "100")], tax_rate=D("0"))
    item = quote.items.get()
    item.quantity = D("2.5")
    item.unit_price = D("0.125")
    item.save()
    assert quote_recalculate(quote=quote).total_amount == D("0.31")


quantities = st.decimals(min_value=D("0.0001"), max_value=D("9999"), places=4, allow_nan=False, allow_infinity=False)
prices = st.decimals(min_value=D("0"), max_value=D("99999"), places=5, allow_nan=False, allow_infinity=False)


@given(qty=quantities, price=prices)
def test_line_total_property(qty, price):
    assert line_total(qty, price) == q(qty * price)
    assert line_total(qty, price) == (qty * price).quantize(D("0.01"), rounding="ROUND_HALF_UP")


@pytest.mark.django_db
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(qty=quantities, price=prices | st.sampled_from([D("0.125"), D("1861.075"), D("2.675"), D("33.335")]))
def test_stored_line_total_equals_computed(qty, price):
    """Whatever the database does with decimals, what is read back is exactly q(qty × price)."""
    invoice = InvoiceFactory(contact=ContactFactory(), tax_rate=D("0"))
    item = InvoiceItem.objects.create(invoice=invoice, quantity=qty, unit_price=price)
    stored = InvoiceItem.objects.get(pk=item.pk)
    assert stored.quantity == qty
    assert stored.unit_price == price
    assert stored.line_total == q(qty * price)
