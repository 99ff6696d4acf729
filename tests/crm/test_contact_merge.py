"""Merging two contacts: every related row and the QuickBooks link move to the survivor, the confirmation page shows
what moves, only staff with `merge_contact` may do it, and the survivor's history says what happened."""

from decimal import Decimal

import pytest
from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.urls import reverse

from crm import services
from crm.models import Activity, CampaignRecipient, Contact, Invoice, Payment, Quote
from crm.services.contact_merge import ContactMergeError, contacts_merge, contacts_merge_preview

from .factories import (
    ActivityFactory,
    CampaignFactory,
    CampaignRecipientFactory,
    ContactFactory,
    InvoiceFactory,
    PaymentFactory,
    QuoteFactory,
)

pytestmark = pytest.mark.django_db


def _history_of(duplicate):
    """Two activities, a quote, a paid invoice and its payment, and a campaign membership."""
    ActivityFactory.create_batch(2, contact=duplicate)
    quote = QuoteFactory(contact=duplicate, items=[("1", "650")])
    invoice = InvoiceFactory(contact=duplicate, items=[("2", "450")], tax_rate=Decimal("0"))
    payment = PaymentFactory(contact=duplicate, amount=Decimal("300.00"))
    services.payment_apply(payment=payment, invoice=invoice, amount=Decimal("300.00"))
    return quote, invoice, payment


def test_merge_moves_activities_quotes_invoices_payments_and_fills_details(staff):
    survivor = ContactFactory(first_name="Jane", last_name="Doe", phone="(617) 555-0134", email="", city="")
    duplicate = ContactFactory(
        first_name="Jane",
        last_name="Doe",
        phone="617.555.0134",
        mobile_phone="781-555-0100",
        email="jane@example.com",
        city="Quincy",
    )
    ActivityFactory(contact=survivor)
    quote, invoice, payment = _history_of(duplicate)
    campaign = CampaignFactory()
    CampaignRecipientFactory(campaign=campaign, contact=survivor)
    CampaignRecipientFactory(campaign=campaign, contact=duplicate)  # the survivor is in it already

    merged = contacts_merge(survivor=survivor, duplicate=duplicate, actor=staff)

    assert not Contact.objects.filter(pk=duplicate.pk).exists()
    assert Activity.objects.filter(contact=merged).count() == 3
    assert Quote.objects.get(pk=quote.pk).contact_id == merged.pk
    assert Invoice.objects.get(pk=invoice.pk).contact_id == merged.pk
    assert Payment.objects.get(pk=payment.pk).contact_id == merged.pk
    assert CampaignRecipient.objects.filter(campaign=campaign, contact=merged).count() == 1
    assert (merged.email, merged.city, merged.mobile_phone) == ("jane@example.com", "Quincy", "781-555-0100")
    assert merged.phone == "(617) 555-0134"  # the survivor's own value wins
    # the CRM owns an unlinked contact's summary: recalculated from the invoices it now has
    assert (merged.total_sales, merged.outstanding_balance) == (Decimal("900.00"), Decimal("600.00"))
    assert merged.last_payment_date == payment.payment_date


def test_merge_moves_the_quickbooks_link_to_an_unlinked_survivor(staff):
    survivor = ContactFactory()
    duplicate = ContactFactory(
        quickbooks_customer_id="58",
        quickbooks_sync_token="3",
        customer_type="customer",
        payment_terms="Net 15",
        outstanding_balance=Decimal("120.50"),
    )

    merged = contacts_merge(survivor=survivor, duplicate=duplicate, actor=staff)

    assert (merged.quickbooks_customer_id, merged.quickbooks_sync_token) == ("58", "3")
    assert (merged.customer_type, merged.payment_terms) == ("customer", "Net 15")
    assert merged.outstanding_balance == Decimal("120.50")  # QBO's figure, not recalculated by the CRM


def test_two_contacts_linked_to_different_customers_are_refused_and_nothing_changes(staff):
    survivor = ContactFactory(quickbooks_customer_id="58")
    duplicate = ContactFactory(quickbooks_customer_id="59")
    ActivityFactory(contact=duplicate)

    assert contacts_merge_preview(survivor=survivor, duplicate=duplicate)["refusal"]
    with pytest.raises(ContactMergeError, match="merge the two customers in QuickBooks first"):
        contacts_merge(survivor=survivor, duplicate=duplicate, actor=staff)

    assert Contact.objects.filter(pk=duplicate.pk, quickbooks_customer_id="59").exists()
    assert Activity.objects.get().contact_id == duplicate.pk


def test_merge_is_audited_on_both_contacts(staff):
    survivor, duplicate = ContactFactory(), ContactFactory(email="old@example.com")
    ActivityFactory.create_batch(2, contact=duplicate)
    duplicate_pk = duplicate.pk

    contacts_merge(survivor=survivor, duplicate=duplicate, actor=staff)

    change = LogEntry.objects.get(object_id=str(survivor.pk), action_flag=CHANGE)
    assert change.user_id == staff.pk
    assert f"#{duplicate_pk}" in change.change_message and "2 activities" in change.change_message
    deletion = LogEntry.objects.get(object_id=str(duplicate_pk), action_flag=DELETION)
    assert f"#{survivor.pk}" in deletion.change_message


def test_preview_counts_what_moves(staff):
    survivor, duplicate = ContactFactory(), ContactFactory()
    _history_of(duplicate)

    preview = contacts_merge_preview(survivor=survivor, duplicate=duplicate)

    assert preview["moves"] == {"activities": 2, "quotes": 1, "invoices": 1, "payments": 1}
    assert Contact.objects.filter(pk=duplicate.pk).exists()  # a preview changes nothing


def test_only_staff_with_merge_permission_may_merge(bookkeeper, owner):
    survivor, duplicate = ContactFactory(), ContactFactory()
    for user in (bookkeeper, owner):
        with pytest.raises(ContactMergeError, match="may not merge"):
            contacts_merge(survivor=survivor, duplicate=duplicate, actor=user)
    assert Contact.objects.count() == 2


# ---------------------------------------------------------------------------------------------------- admin


def test_action_opens_the_confirmation_page_which_shows_both_and_what_moves(staff_client):
    first = ContactFactory(first_name="Jane", last_name="Doe", email="jane@example.com")
    second = ContactFactory(first_name="Jane", last_name="Doe", email="jdoe@example.com")
    _history_of(second)

    response = staff_client.post(
        reverse("admin:crm_contact_changelist"),
        {"action": "merge_two_contacts", "_selected_action": [first.pk, second.pk]},
    )
    assert response.status_code == 302
    page = staff_client.get(response["Location"])

    assert page.status_code == 200
    body = page.content.decode()
    assert "jane@example.com" in body and "jdoe@example.com" in body
    assert "Activities moving: 2" in body and "Invoices moving: 1" in body
    assert Contact.objects.count() == 2  # GET changes nothing


def test_confirming_merges_into_the_chosen_survivor(staff_client):
    first, second = ContactFactory(), ContactFactory()
    ActivityFactory(contact=first)
    url = reverse("admin:crm_contact_merge")

    response = staff_client.post(url, {"ids": f"{first.pk},{second.pk}", "survivor": second.pk})

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:crm_contact_change", args=[second.pk])
    assert list(Contact.objects.values_list("pk", flat=True)) == [second.pk]
    assert Activity.objects.get().contact_id == second.pk


def test_merge_action_and_page_need_the_merge_permission(bookkeeper_client, owner_client):
    first, second = ContactFactory(), ContactFactory()
    url = reverse("admin:crm_contact_merge") + f"?ids={first.pk},{second.pk}"
    for client in (bookkeeper_client, owner_client):
        assert client.get(url).status_code == 403
        assert client.post(url, {"ids": f"{first.pk},{second.pk}", "survivor": first.pk}).status_code == 403
        changelist = client.get(reverse("admin:crm_contact_changelist"))
        assert "merge_two_contacts" not in changelist.content.decode()
    assert Contact.objects.count() == 2


def test_merge_action_needs_exactly_two_contacts(staff_client):
    contacts = ContactFactory.create_batch(3)
    response = staff_client.post(
        reverse("admin:crm_contact_changelist"),
        {"action": "merge_two_contacts", "_selected_action": [c.pk for c in contacts]},
        follow=True,
    )
    assert "Select exactly two contacts" in response.content.decode()
