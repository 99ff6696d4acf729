"""Hardening of the CRM's own data (issue 14): money and quantities refuse negative or absurd values (form error
and database check), CSV exports cannot carry formulas, imports are capped and refuse phones that are not numbers."""

import csv
import io
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse

from crm.admin import base as admin_base
from crm.models import Contact, Invoice, Product, Quote, QuoteItem
from crm.resources import ContactResource

from .factories import ContactFactory, QuoteFactory
from .test_admin_sales import _inline_data
from .test_import import HEADER, _dry_run

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("model", "field", "value", "message"),
    [
        (Product, "unit_price", "-5", "A price cannot be negative."),
        (Product, "unit_price", "4750000", "A price above 1,000,000 is surely a typo"),
        (Product, "cost", "-1", "A cost cannot be negative."),
        (Contact, "credit_limit", "-100", "A credit limit cannot be negative."),
        (Quote, "tax_rate", "-50", "A tax rate cannot be negative."),
        (Quote, "tax_rate", "999.9999", "A tax rate above 30 is surely a typo"),
        (QuoteItem, "quantity", "-2", "A quantity cannot be negative."),
        (QuoteItem, "unit_price", "-100", "A price cannot be negative."),
    ],
)
def test_model_refuses_negative_and_absurd_values(model, field, value, message):
    with pytest.raises(ValidationError) as refused:
        model._meta.get_field(field).clean(Decimal(value), model())
    assert message in " ".join(refused.value.messages)


@pytest.mark.parametrize(
    ("create", "constraint"),
    [
        (lambda: Product.objects.create(name="Epoxy", unit_price=Decimal("-1")), "unit_price_range"),
        (lambda: ContactFactory(credit_limit=Decimal("-100")), "credit_limit_range"),
        (lambda: QuoteItem.objects.create(quote=QuoteFactory(), quantity=Decimal("-2")), "quantity_range"),
        (lambda: QuoteFactory(tax_rate=Decimal("999.9999")), "tax_rate_range"),
        (lambda: Invoice.objects.create(contact=ContactFactory(), tax_rate=Decimal("-50")), "tax_rate_range"),
    ],
)
def test_database_refuses_what_skips_validation(create, constraint):
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        create()


def test_admin_quote_with_a_negative_quantity_is_a_form_error(staff_client):
    add_url = reverse("admin:crm_quote_add")
    page = staff_client.get(add_url)
    data = {
        "contact": ContactFactory().pk,
        "status": "draft",
        "issue_date": "2025-05-01",
        "currency": "USD",
        "tax_rate": "6.25",
        **_inline_data(page, 0, [{"position": "1", "description": "Crack", "quantity": "-2", "unit_price": "100"}]),
    }
    response = staff_client.post(add_url, data)
    assert response.status_code == 200
    assert "A quantity cannot be negative." in response.content.decode()
    assert not Quote.objects.exists()


def test_export_escapes_formulas_and_import_restores_them(staff_client):
    evil = ["=CMD|' /C calc'!A0", "+SUM(1+1)", "@evil", '=HYPERLINK("http://x.example")', "-2+3"]
    for n, name in enumerate(evil):
        ContactFactory(first_name=name, last_name=f"Row{n}", phone="+1 617-555-0134", email=f"row{n}@example.com")
    dataset = ContactResource().export()
    rows = list(csv.DictReader(io.StringIO(dataset.csv)))
    assert sorted(row["first_name"] for row in rows) == sorted("'" + name for name in evil)
    assert {row["phone"] for row in rows} == {"'+1 617-555-0134"}
    assert not [cell for row in rows for cell in row.values() if cell[:1] in ("=", "+", "-", "@")]

    Contact.objects.all().delete()
    imported = ContactResource().import_data(dataset, dry_run=False, raise_errors=True)
    assert not imported.has_validation_errors()
    assert sorted(Contact.objects.values_list("first_name", flat=True)) == sorted(evil)
    assert set(Contact.objects.values_list("phone", flat=True)) == {"+1 617-555-0134"}


def test_admin_export_is_escaped(superuser_client):
    ContactFactory(first_name="=HYPERLINK(1)")
    url = reverse("admin:crm_contact_export")
    form = superuser_client.get(url).context["form"]
    csv_index = next(value for value, label in form.fields["format"].choices if label.lower() == "csv")
    data = {"format": csv_index, "resource": "0", "export_items": []}
    data.update({name: "on" for name in form.fields if name.startswith("contactresource_")})
    response = superuser_client.post(url, data)
    body = response.content.decode()
    assert "'=HYPERLINK(1)" in body and ",=HYPERLINK" not in body


def test_import_over_the_cap_is_refused_before_reading(staff_client, monkeypatch):
    monkeypatch.setattr(admin_base, "IMPORT_MAX_BYTES", 1000)
    rows = "".join(f"Jane,Doe{n},,(617) 555-{n:04d},,,Quincy,MA,02169,phone_system\n" for n in range(40))
    response = _dry_run(staff_client, "contact", HEADER + rows)
    assert response.status_code == 200
    assert "an import takes at most" in response.content.decode()
    assert "result" not in response.context or response.context["result"] is None
    assert not Contact.objects.exists()


def test_import_under_the_cap_goes_through(staff_client):
    response = _dry_run(staff_client, "contact", HEADER + "Jane,Doe,,(617) 555-0134,,,Quincy,MA,02169,phone_system\n")
    assert not response.context["result"].has_validation_errors()


@pytest.mark.parametrize("phone", ["617", "n/a", "call office"])
def test_import_row_with_an_unreadable_phone_is_an_error_on_that_row(staff_client, phone):
    good = "Jane,Doe,,(617) 555-0134,,,Quincy,MA,02169,phone_system\n"
    response = _dry_run(staff_client, "contact", HEADER + good + f"Bob,Smith,,{phone},,,Newton,MA,02458,phone_system\n")
    result = response.context["result"]
    assert result.has_validation_errors()
    invalid = result.invalid_rows
    assert [row.number for row in invalid] == [2]
    assert "is not a phone number" in " ".join(invalid[0].error_dict["phone"])
    assert not Contact.objects.exists()


def test_a_junk_phone_from_the_phone_system_still_saves():
    """The refusal is validation (forms, imports); the feed and the sync, which save directly, keep the row."""
    contact = ContactFactory(phone="call office")
    assert (contact.phone, contact.phone_e164) == ("call office", "")
    with pytest.raises(ValidationError, match="not a phone number"):
        contact.full_clean()
