"""Every CRM changelist runs the same number of queries for N rows as for 3N (DESIGN §4: no query per row)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm.services import payment_apply

from .factories import (
    ActivityFactory,
    CampaignFactory,
    CampaignRecipientFactory,
    ContactFactory,
    InvoiceFactory,
    PaymentFactory,
    ProductFactory,
    QuoteFactory,
)

pytestmark = pytest.mark.django_db


def _paid_invoice():
    contact = ContactFactory()
    invoice = InvoiceFactory(contact=contact, items=[("1", "10")])
    payment_apply(
        payment=PaymentFactory(contact=contact, amount=invoice.total_amount),
        invoice=invoice,
        amount=invoice.total_amount,
    )
    return invoice


def _recipient():
    campaign = CampaignFactory()
    CampaignRecipientFactory(campaign=campaign)
    return CampaignRecipientFactory(campaign=campaign, contact=ContactFactory())


MAKERS = {
    "contact": ContactFactory,
    "activity": ActivityFactory,
    "campaign": _recipient,
    "campaignrecipient": _recipient,
    "product": ProductFactory,
    "quote": lambda: QuoteFactory(campaign=CampaignFactory(), items=[("2", "450")]),
    "invoice": _paid_invoice,
    "payment": _paid_invoice,
}


def _count(client, path: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(path)
    assert response.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("model", sorted(MAKERS))
@pytest.mark.parametrize("role", ["superuser", "staff"])
def test_changelist_query_count_is_constant(request, model, role):
    client = request.getfixturevalue(f"{role}_client")
    path = reverse(f"admin:crm_{model}_changelist")
    n = 4
    for _ in range(n):
        MAKERS[model]()
    few = _count(client, path)
    for _ in range(2 * n):
        MAKERS[model]()
    many = _count(client, path)
    assert many == few, f"{model}: {few} queries for {n} rows, {many} for {3 * n}"


def test_campaign_change_page_does_not_query_per_recipient(superuser_client):
    campaign = CampaignFactory()
    for _ in range(3):
        CampaignRecipientFactory(campaign=campaign)
    path = reverse("admin:crm_campaign_change", args=[campaign.pk])
    _count(superuser_client, path)  # warm the content-type and permission caches a lone run starts without
    few = _count(superuser_client, path)
    for _ in range(9):
        CampaignRecipientFactory(campaign=campaign)
    assert _count(superuser_client, path) == few
