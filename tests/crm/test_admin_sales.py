"""Quotes, invoices and payments edited through the admin: totals and balances come from the services."""

from decimal import Decimal

import pytest
from django.urls import reverse

from crm.models import Payment, PaymentStatus, Quote

from .factories import ContactFactory, InvoiceFactory, ProductFactory

pytestmark = pytest.mark.django_db


def _inline_data(response, index: int, rows: list[dict]) -> dict:
    """Management form plus rows for the `index`-th inline of an admin add/change page."""
    formset = response.context["inline_admin_formsets"][index].formset
    data = {
        f"{formset.prefix}-TOTAL_FORMS": str(len(rows)),
        f"{formset.prefix}-INITIAL_FORMS": "0",
        f"{formset.prefix}-MIN_NUM_FORMS": "0",
        f"{formset.prefix}-MAX_NUM_FORMS": "1000",
    }
    for i, row in enumerate(rows):
        data.update({f"{formset.prefix}-{i}-{key}": value for key, value in row.items()})
    return data


def test_staff_adds_quote_and_totals_are_computed(staff_client):
    contact = ContactFactory()
    product = ProductFactory(name="Crack injection (per crack)", unit_price=Decimal("450"), taxable=True)
    add_url = reverse("admin:crm_quote_add")
    page = staff_client.get(add_url)
    data = {
        "contact": contact.pk,
        "status": "draft",
        "issue_date": "2025-05-01",
        "currency": "USD",
        "tax_rate": "6.25",
        "payment_terms": "Net 30",
        "notes": "",
        **_inline_data(
            page,
            0,
            [
                {
                    "position": "1",
                    "product": product.pk,
                    "description": "Crack injection",
                    "quantity": "3",
                    "unit_price": "33.335",
                    "taxable": "on",
                },
                {"position": "2", "description": "Inspection", "quantity": "1", "unit_price": "150"},
            ],
        ),
    }
    response = staff_client.post(add_url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    quote = Quote.objects.get()
    assert (quote.subtotal, quote.tax_amount, quote.total_amount) == (
        Decimal("250.01"),
        Decimal("6.25"),
        Decimal("256.26"),
    )


def _payment_post(client, contact, amount: str, applications: list[dict]):
    add_url = reverse("admin:crm_payment_add")
    page = client.get(add_url)
    data = {
        "contact": contact.pk,
        "amount": amount,
        "payment_date": "2025-06-01",
        "method": "check",
        "reference": "CHK 1042",
        "currency": "USD",
        "notes": "",
        **_inline_data(page, 0, applications),
    }
    return client.post(add_url, data)


def test_bookkeeper_records_payment_and_invoice_balance_follows(bookkeeper_client):
    contact = ContactFactory()
    invoice = InvoiceFactory(contact=contact, items=[("3", "33.335")], tax_rate=Decimal("0"))
    response = _payment_post(bookkeeper_client, contact, "60.00", [{"invoice": invoice.pk, "amount": "60.00"}])
    assert response.status_code == 302
    invoice.refresh_from_db()
    assert (invoice.amount_paid, invoice.balance_due, invoice.payment_status) == (
        Decimal("60.00"),
        Decimal("40.01"),
        PaymentStatus.PARTIAL,
    )


@pytest.mark.parametrize(
    ("amount", "applied", "message"),
    [("50.00", "60.00", "more than the payment"), ("500.00", "100.02", "left to pay")],
)
def test_admin_refuses_overapplication(bookkeeper_client, amount, applied, message):
    contact = ContactFactory()
    invoice = InvoiceFactory(contact=contact, items=[("3", "33.335")], tax_rate=Decimal("0"))
    response = _payment_post(bookkeeper_client, contact, amount, [{"invoice": invoice.pk, "amount": applied}])
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Payment.objects.exists()


def test_admin_refuses_invoice_of_another_contact(bookkeeper_client):
    invoice = InvoiceFactory(items=[("1", "100")])
    response = _payment_post(bookkeeper_client, ContactFactory(), "100", [{"invoice": invoice.pk, "amount": "100"}])
    assert "belongs to another contact" in response.content.decode()
    assert not Payment.objects.exists()


def test_contact_search_matches_any_phone_format(staff_client):
    contact = ContactFactory(phone="(617) 555-0134")
    ContactFactory(phone="781-555-0100")
    response = staff_client.get(reverse("admin:crm_contact_changelist"), {"q": "617.555.0134"})
    assert list(response.context["cl"].result_list) == [contact]


def test_a_line_with_a_product_and_no_price_takes_the_products_price_and_tax(staff_client):
    """As QBO fills a line from its item: choosing "Crack injection" must not quote it at $0 and untaxed."""
    contact = ContactFactory()
    product = ProductFactory(name="Crack injection (per crack)", unit_price=Decimal("450"), taxable=True)
    add_url = reverse("admin:crm_quote_add")
    page = staff_client.get(add_url)
    assert 'name="items-__prefix__-unit_price"' in page.content.decode()
    rows = [
        {"position": "1", "product": product.pk, "description": "", "quantity": "2", "unit_price": ""},
        {"position": "2", "description": "Discounted inspection", "quantity": "1", "unit_price": "99"},
    ]
    data = {
        "contact": contact.pk,
        "status": "draft",
        "issue_date": "2025-05-01",
        "currency": "USD",
        "tax_rate": "6.25",
        **_inline_data(page, 0, rows),
    }
    response = staff_client.post(add_url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    quote = Quote.objects.get()
    assert [(i.unit_price, i.taxable) for i in quote.items.all()] == [(Decimal("450"), True), (Decimal("99"), False)]
    assert (quote.subtotal, quote.tax_amount, quote.total_amount) == (
        Decimal("999.00"),
        Decimal("56.25"),
        Decimal("1055.25"),
    )


def test_a_line_without_product_or_price_is_refused(staff_client):
    add_url = reverse("admin:crm_quote_add")
    page = staff_client.get(add_url)
    data = {
        "contact": ContactFactory().pk,
        "status": "draft",
        "issue_date": "2025-05-01",
        "currency": "USD",
        "tax_rate": "0",
        **_inline_data(page, 0, [{"position": "1", "description": "Mystery", "quantity": "1", "unit_price": ""}]),
    }
    response = staff_client.post(add_url, data)
    assert response.status_code == 200
    assert not Quote.objects.exists()


def test_line_prices_show_with_the_precision_they_have(staff_client):
    from .factories import QuoteFactory

    quote = QuoteFactory(items=[("1", "475"), ("8", "0.125")])
    page = staff_client.get(reverse("admin:crm_quote_change", args=[quote.pk])).content.decode()
    assert 'value="475.00"' in page and 'value="0.125"' in page
    assert "475.00000" not in page and "0.12500" not in page
