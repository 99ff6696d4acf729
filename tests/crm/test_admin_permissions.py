"""What each role can and cannot do in the admin (DESIGN §3, RELIABILITY §E3–E4), through the real admin views."""

from decimal import Decimal

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from crm.models import Contact, Invoice, Payment

from .factories import (
    ActivityFactory,
    CampaignFactory,
    ContactFactory,
    InvoiceFactory,
    PaymentFactory,
    ProductFactory,
    QuoteFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def rows():
    contact = ContactFactory(credit_limit=Decimal("1000.00"))
    return {
        "contact": contact,
        "activity": ActivityFactory(contact=contact),
        "campaign": CampaignFactory(),
        "product": ProductFactory(),
        "quote": QuoteFactory(contact=contact, items=[("1", "450")]),
        "invoice": InvoiceFactory(contact=contact, items=[("1", "450")]),
        "payment": PaymentFactory(contact=contact),
    }


def url(model: str, view: str, obj=None) -> str:
    args = [obj.pk] if obj is not None else []
    return reverse(f"admin:crm_{model}_{view}", args=args)


# (role, model, view) → expected status. view: changelist, add, change (GET), delete (GET confirmation page).
EXPECTED = {
    "staff": {
        "contact": {"changelist": 200, "add": 200, "change": 200, "delete": 403},
        "activity": {"changelist": 200, "add": 200, "change": 200, "delete": 403},
        "campaign": {"changelist": 200, "add": 200, "change": 200, "delete": 403},
        "product": {"changelist": 200, "add": 403, "change": 200, "delete": 403},
        "quote": {"changelist": 200, "add": 200, "change": 200, "delete": 403},
        "invoice": {"changelist": 200, "add": 403, "change": 200, "delete": 403},
        "payment": {"changelist": 200, "add": 403, "change": 200, "delete": 403},
    },
    "bookkeeper": {
        "contact": {"changelist": 200, "add": 403, "change": 200, "delete": 403},
        "activity": {"changelist": 200, "add": 403, "change": 200, "delete": 403},
        "campaign": {"changelist": 200, "add": 403, "change": 200, "delete": 403},
        "product": {"changelist": 200, "add": 403, "change": 200, "delete": 403},
        "quote": {"changelist": 200, "add": 403, "change": 200, "delete": 403},
        "invoice": {"changelist": 200, "add": 200, "change": 200, "delete": 403},
        "payment": {"changelist": 200, "add": 200, "change": 200, "delete": 403},
    },
    "owner": {
        model: {"changelist": 200, "add": 403, "change": 200, "delete": 403}
        for model in ("contact", "activity", "campaign", "product", "quote", "invoice", "payment")
    },
    "superuser": {
        model: {"changelist": 200, "add": 200, "change": 200, "delete": 200}
        for model in ("contact", "activity", "campaign", "product", "quote", "invoice", "payment")
    },
}
CASES = [
    (role, model, view, status)
    for role, models in EXPECTED.items()
    for model, views in models.items()
    for view, status in views.items()
]


@pytest.mark.parametrize(("role", "model", "view", "status"), CASES, ids=["-".join(map(str, c)) for c in CASES])
def test_admin_status_codes(request, rows, role, model, view, status):
    client = request.getfixturevalue(f"{role}_client")
    obj = rows[model] if view in ("change", "delete") else None
    assert client.get(url(model, view, obj)).status_code == status


def _contact_post(contact: Contact, **changes) -> dict:
    data = {
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "company_name": contact.company_name,
        "source": contact.source,
        "phone": contact.phone,
        "mobile_phone": contact.mobile_phone,
        "email": contact.email,
        "address_line1": contact.address_line1,
        "address_line2": contact.address_line2,
        "city": contact.city,
        "state": contact.state,
        "zip_code": contact.zip_code,
        "customer_type": contact.customer_type,
        "payment_terms": contact.payment_terms,
        "credit_limit": contact.credit_limit,
        "total_sales": contact.total_sales,
        "outstanding_balance": contact.outstanding_balance,
        "last_payment_date": "",
        "average_days_to_pay": "",
    }
    data.update(changes)
    return data


def test_staff_sees_financial_fields_read_only(staff_client, rows):
    contact = rows["contact"]
    page = staff_client.get(url("contact", "change", contact)).content.decode()
    assert "1,000.00" in page or "1000.00" in page  # seen…
    assert 'name="credit_limit"' not in page  # …not editable
    assert 'name="first_name"' in page

    response = staff_client.post(
        url("contact", "change", contact), _contact_post(contact, credit_limit="99999.00", city="Quincy")
    )
    assert response.status_code == 302
    contact.refresh_from_db()
    assert contact.city == "Quincy"  # the rest of the form saved
    assert contact.credit_limit == Decimal("1000.00")  # the financial field did not


def test_bookkeeper_edits_financial_fields(bookkeeper_client, rows):
    contact = rows["contact"]
    page = bookkeeper_client.get(url("contact", "change", contact)).content.decode()
    assert 'name="credit_limit"' in page
    response = bookkeeper_client.post(url("contact", "change", contact), _contact_post(contact, credit_limit="2500.5"))
    assert response.status_code == 302
    contact.refresh_from_db()
    assert contact.credit_limit == Decimal("2500.50")


def test_owner_cannot_change(owner_client, rows):
    contact = rows["contact"]
    response = owner_client.post(url("contact", "change", contact), _contact_post(contact, city="Nowhere"))
    assert response.status_code == 403
    contact.refresh_from_db()
    assert contact.city != "Nowhere"


@pytest.mark.parametrize("role", ["staff", "bookkeeper", "owner"])
def test_no_bulk_delete_of_money_records(request, rows, role):
    client = request.getfixturevalue(f"{role}_client")
    for model, obj in (("invoice", rows["invoice"]), ("payment", rows["payment"])):
        page = client.get(url(model, "changelist"))
        assert "delete_selected" not in page.content.decode()
        response = client.post(url(model, "changelist"), {"action": "delete_selected", "_selected_action": [obj.pk]})
        assert response.status_code in (200, 302)
    assert Invoice.objects.filter(pk=rows["invoice"].pk).exists()
    assert Payment.objects.filter(pk=rows["payment"].pk).exists()


def test_superuser_keeps_bulk_delete(superuser_client, rows):
    assert "delete_selected" in superuser_client.get(url("contact", "changelist")).content.decode()


def test_staff_can_mark_invoice_sent_but_not_void(staff_client, rows):
    invoice = rows["invoice"]
    page = staff_client.get(url("invoice", "changelist")).content.decode()
    assert 'value="mark_sent"' in page
    assert 'value="void"' not in page
    staff_client.post(url("invoice", "changelist"), {"action": "void", "_selected_action": [invoice.pk]})
    invoice.refresh_from_db()
    assert invoice.status != "void"
    staff_client.post(url("invoice", "changelist"), {"action": "mark_sent", "_selected_action": [invoice.pk]})
    invoice.refresh_from_db()
    assert invoice.email_status == "EmailSent"


def test_bookkeeper_voids_invoice(bookkeeper_client, rows):
    invoice = rows["invoice"]
    response = bookkeeper_client.post(
        url("invoice", "changelist"), {"action": "void", "_selected_action": [invoice.pk]}
    )
    assert response.status_code == 302
    invoice.refresh_from_db()
    assert invoice.status == "void"


def test_bookkeeper_not_staff_converts_quote_to_invoice(staff_client, bookkeeper_client, rows):
    quote = rows["quote"]
    staff_client.post(url("quote", "changelist"), {"action": "convert_to_crm_invoice", "_selected_action": [quote.pk]})
    assert not quote.invoices.exists()
    bookkeeper_client.post(
        url("quote", "changelist"), {"action": "convert_to_crm_invoice", "_selected_action": [quote.pk]}
    )
    assert quote.invoices.get().total_amount == quote.total_amount


def test_staff_changes_invoice_view_only(staff_client, rows):
    invoice = rows["invoice"]
    assert staff_client.post(url("invoice", "change", invoice), {"notes": "hacked"}).status_code == 403


def test_void_action_is_in_the_invoice_history(bookkeeper_client, bookkeeper, rows):
    invoice = rows["invoice"]
    bookkeeper_client.post(url("invoice", "changelist"), {"action": "void", "_selected_action": [invoice.pk]})
    entry = LogEntry.objects.get(object_id=str(invoice.pk), content_type__model="invoice")
    assert entry.user == bookkeeper and "Voided" in entry.get_change_message()


def test_derived_summary_is_read_only_even_for_the_bookkeeper(bookkeeper_client, rows):
    """Total sales, balance, last payment and days to pay come from the invoices (or QBO); a typed figure would
    disagree with them until the next recalculation silently overwrote it."""
    contact = rows["contact"]
    page = bookkeeper_client.get(url("contact", "change", contact)).content.decode()
    assert 'name="outstanding_balance"' not in page
    response = bookkeeper_client.post(
        url("contact", "change", contact), _contact_post(contact, outstanding_balance="999.00", total_sales="5")
    )
    assert response.status_code == 302
    contact.refresh_from_db()
    total = rows["invoice"].total_amount
    assert (contact.outstanding_balance, contact.total_sales) == (total, total)
