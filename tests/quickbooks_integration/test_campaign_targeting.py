"""Building a campaign's recipients from a segment (issue 13): the high-value customers, without those who owe us,
through the campaign list's action and its intermediate page."""

from __future__ import annotations

import pytest
from django.utils import timezone

from crm.models import CampaignRecipient
from quickbooks_integration.models import AuditEvent
from tests.crm.factories import CampaignFactory, ContactFactory, UserFactory

from .test_analytics import invoice, pay

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/crm/campaign/"


@pytest.fixture
def people():
    today = timezone.localdate().isoformat()
    paid_up = ContactFactory(first_name="Paid", last_name="Up")
    pay(invoice(paid_up, today, "5000.00"), today)
    owing = ContactFactory(first_name="Still", last_name="Owing")
    invoice(owing, today, "3000.00")
    small = ContactFactory(first_name="Small", last_name="Spender")
    pay(invoice(small, today, "100.00"), today)
    return paid_up, owing, small


def _post(client, campaign, **fields):
    data = {"action": "add_recipients_from_segment", "_selected_action": [campaign.pk], **fields}
    return client.post(CHANGELIST, data, follow=True)


def test_staff_add_the_high_value_customers_who_owe_nothing_once(client, people):
    paid_up, owing, small = people
    campaign = CampaignFactory(name="Sealer upsell")
    client.force_login(UserFactory(username="sam", groups=["Staff"]))

    page = client.post(CHANGELIST, {"action": "add_recipients_from_segment", "_selected_action": [campaign.pk]})
    assert page.status_code == 200 and b"Add recipients from a segment" in page.content

    choice = {"segment": "high_value", "max_balance": "0", "min_annual_revenue": "1000"}
    response = _post(client, campaign, **choice)
    assert "Sealer upsell: 1 recipient added." in response.content.decode()
    assert list(CampaignRecipient.objects.filter(campaign=campaign).values_list("contact_id", flat=True)) == [
        paid_up.pk
    ]

    response = _post(client, campaign, **{**choice, "max_balance": ""})  # owing is fine now: only the new one added
    assert "Sealer upsell: 1 recipient added, 1 already on the list." in response.content.decode()
    assert set(CampaignRecipient.objects.filter(campaign=campaign).values_list("contact_id", flat=True)) == {
        paid_up.pk,
        owing.pk,
    }
    event = AuditEvent.objects.filter(action="campaign.recipients_add").first()
    assert event.actor.username == "sam" and event.after["added"] == 1 and event.after["max_balance"] is None


def test_the_owner_cannot_build_a_list(client, people):
    campaign = CampaignFactory()
    client.force_login(UserFactory(username="olive", groups=["Owner"]))
    response = _post(client, campaign, segment="high_value", max_balance="0")
    assert response.status_code in (200, 403)  # the action is not offered to a reader: nothing runs
    assert CampaignRecipient.objects.count() == 0
