"""Model behaviour others rely on: display names, quantize-on-save, protected money records."""

from decimal import Decimal

import pytest
from django.db.models import ProtectedError

from crm.models import Contact

from .factories import CampaignFactory, ContactFactory, InvoiceFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"first_name": "Jane", "last_name": "Doe"}, "Jane Doe"),
        ({"first_name": "Jane", "last_name": "Doe", "company_name": "Acme"}, "Jane Doe (Acme)"),
        ({"first_name": "", "last_name": "", "company_name": "Acme"}, "Acme"),
        ({"first_name": "", "last_name": "", "phone": "617.555.0134", "email": ""}, "617.555.0134"),
    ],
)
def test_display_name(fields, expected):
    assert ContactFactory(**fields).display_name == expected


def test_money_is_quantized_half_up_on_save():
    contact = ContactFactory(credit_limit=Decimal("0.125"), total_sales=Decimal("2.675"))
    campaign = CampaignFactory(cost=Decimal("1861.075"))
    contact.refresh_from_db()
    campaign.refresh_from_db()
    assert (contact.credit_limit, contact.total_sales, campaign.cost) == (
        Decimal("0.13"),
        Decimal("2.68"),
        Decimal("1861.08"),
    )


def test_float_money_is_refused():
    with pytest.raises(TypeError):
        ContactFactory(credit_limit=2.675)


def test_contact_with_invoice_cannot_be_deleted():
    invoice = InvoiceFactory(items=[("1", "10")])
    with pytest.raises(ProtectedError):
        invoice.contact.delete()
    assert Contact.objects.filter(pk=invoice.contact_id).exists()


def test_quickbooks_ids_are_unique_but_optional():
    ContactFactory(quickbooks_customer_id=None)
    ContactFactory(quickbooks_customer_id=None)  # many unlinked contacts are fine
    ContactFactory(quickbooks_customer_id="58")
    with pytest.raises(Exception):  # noqa: B017 - IntegrityError, wrapped differently per database
        ContactFactory(quickbooks_customer_id="58")
