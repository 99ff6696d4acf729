"""Duplicates on both sides: QBO customers that look like one person (from the ledger), CRM contacts sharing a phone
or e-mail, remembered dismissals, the two admin pages, and a CRM merge carrying the integration's rows along."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.db import transaction
from django.urls import reverse

from crm.models import Contact
from crm.services.contact_merge import contacts_merge
from quickbooks_integration.models import AuditEvent, ContactConflict, MatchCandidate, QuickBooksSync
from quickbooks_integration.qbo.client import qbo_query
from quickbooks_integration.services.duplicates import (
    CONTACTS,
    CUSTOMERS,
    contact_duplicates_list,
    customer_duplicates_list,
    duplicate_dismiss,
)
from quickbooks_integration.services.mirror import mirror_apply
from tests.crm.factories import ContactFactory

pytestmark = pytest.mark.django_db

CUSTOMERS_URL = "/admin/quickbooks_integration/quickbooksauth/duplicates/"
CONTACTS_URL = "/admin/crm/contact/duplicates/"


@pytest.fixture
def user_in(django_user_model):
    def make(group: str):
        user = django_user_model.objects.create_user(f"{group.lower()}-1", password="pw-12345-abcde", is_staff=True)
        user.groups.add(Group.objects.get(name=group))
        return django_user_model.objects.get(pk=user.pk)

    return make


@pytest.fixture
def ledger(connected):
    """Every sandbox customer in the ledger, as the customers import leaves it."""
    rows = list(qbo_query(connection=connected, sql="SELECT * FROM Customer WHERE Active IN (true, false) ORDERBY Id"))
    with transaction.atomic():
        mirror_apply(connection=connected, entity_type="Customer", rows=rows)
    return connected


def _ids(pairs) -> set[tuple[str, str]]:
    return {(str(p.a["Id"]), str(p.b["Id"])) for p in pairs}


# ---------------------------------------------------------------------------------------------------- customers


def test_qbo_customers_sharing_an_email_are_reported_jobs_are_not(ledger):
    pairs = customer_duplicates_list(connection=ledger)

    # "Kookies by Kathy" (16) and "Red Rock Diner" (20) share qbwebsamplecompany@yahoo.com; the jobs 8 and 9 repeat
    # their parent's phone and e-mail by design and are never reported
    assert ("16", "20") in _ids(pairs)
    assert not any({"8", "9"} & set(pair) for pair in _ids(pairs))
    pair = next(p for p in pairs if (str(p.a["Id"]), str(p.b["Id"])) == ("16", "20"))
    assert "same e-mail qbwebsamplecompany@yahoo.com" in pair.reasons_text


def test_a_dismissed_customer_pair_stays_dismissed_until_restored(ledger, user_in):
    bookkeeper = user_in("Bookkeeper")

    duplicate_dismiss(kind=CUSTOMERS, a="16", b="20", actor=bookkeeper, connection=ledger)

    assert ("16", "20") not in _ids(customer_duplicates_list(connection=ledger))
    assert ("16", "20") in _ids(customer_duplicates_list(connection=ledger, dismissed=True))
    duplicate_dismiss(kind=CUSTOMERS, a="20", b="16", actor=bookkeeper, connection=ledger, restore=True)
    assert ("16", "20") in _ids(customer_duplicates_list(connection=ledger))
    assert AuditEvent.objects.filter(action="duplicate.dismiss", actor=bookkeeper).count() == 1


def test_staff_cannot_dismiss_customer_pairs(ledger, user_in):
    with pytest.raises(PermissionError):
        duplicate_dismiss(kind=CUSTOMERS, a="16", b="20", actor=user_in("Staff"), connection=ledger)


def test_the_bookkeeper_works_through_the_customer_page(ledger, user_in, client):
    client.force_login(user_in("Bookkeeper"))

    index = client.get(reverse("admin:index")).content.decode()
    assert CUSTOMERS_URL in index and "QuickBooks duplicate customers" in index
    page = client.get(CUSTOMERS_URL)
    assert page.status_code == 200
    body = page.content.decode()
    assert "Kookies by Kathy" in body and "Red Rock Diner" in body and "Not a duplicate" in body

    response = client.post(CUSTOMERS_URL, {"a": "16", "b": "20"})

    assert response.status_code == 302
    assert "Kookies by Kathy" not in client.get(CUSTOMERS_URL).content.decode()
    assert "Kookies by Kathy" in client.get(CUSTOMERS_URL + "?dismissed=1").content.decode()


def test_the_customer_page_is_not_for_staff(ledger, user_in, client):
    client.force_login(user_in("Staff"))
    assert client.get(CUSTOMERS_URL).status_code == 403
    assert client.post(CUSTOMERS_URL, {"a": "16", "b": "20"}).status_code == 403
    assert CUSTOMERS_URL not in client.get(reverse("admin:index")).content.decode()


# ---------------------------------------------------------------------------------------------------- contacts


def test_contacts_sharing_a_phone_or_email_are_listed(db):
    jane = ContactFactory(first_name="Jane", last_name="Doe", phone="(617) 555-0134", email="jane@example.com")
    janet = ContactFactory(first_name="Janet", last_name="Doe", phone="+1 617-555-0134", email="")
    other = ContactFactory(first_name="Bob", last_name="Roe", phone="781-555-0100", email="JANE@example.com")
    ContactFactory(first_name="Ann", last_name="Lee", phone="508-555-0199", email="ann@example.com")

    pairs = {(p.a.pk, p.b.pk) for p in contact_duplicates_list()}

    assert pairs == {(jane.pk, janet.pk), (jane.pk, other.pk)}


def test_staff_see_contact_pairs_with_a_merge_link_and_can_dismiss(user_in, client):
    jane = ContactFactory(first_name="Jane", last_name="Doe", phone="(617) 555-0134")
    janet = ContactFactory(first_name="Janet", last_name="Doe", phone="617.555.0134")
    client.force_login(user_in("Staff"))

    assert CONTACTS_URL in client.get(reverse("admin:index")).content.decode()
    body = client.get(CONTACTS_URL).content.decode()
    assert reverse("admin:crm_contact_merge") + f"?ids={jane.pk}%2C{janet.pk}" in body

    client.post(CONTACTS_URL, {"a": jane.pk, "b": janet.pk})

    assert contact_duplicates_list() == []
    assert [(p.a.pk, p.b.pk) for p in contact_duplicates_list(dismissed=True)] == [(jane.pk, janet.pk)]


def test_an_owner_sees_contact_pairs_but_cannot_merge_or_dismiss(user_in, client):
    ContactFactory(phone="(617) 555-0134")
    ContactFactory(phone="617.555.0134")
    client.force_login(user_in("Owner"))

    body = client.get(CONTACTS_URL).content.decode()

    assert "1 pair." in body and "merge-link" not in body and "Not a duplicate" not in body
    assert client.post(CONTACTS_URL, {"a": 1, "b": 2}).status_code == 403
    with pytest.raises(PermissionError):
        duplicate_dismiss(kind=CONTACTS, a=1, b=2, actor=user_in("Bookkeeper"))


# ---------------------------------------------------------------------------------------------------- merge


def test_a_crm_merge_carries_candidates_conflicts_and_the_ledger_along(ledger, user_in):
    survivor = ContactFactory()
    duplicate = ContactFactory(quickbooks_customer_id="16")
    QuickBooksSync.objects.filter(connection=ledger, entity_type="Customer", entity_id="16").update(
        local_id=duplicate.pk
    )
    for contact in (survivor, duplicate):  # both proposed for customer 20: one row survives the unique pair
        MatchCandidate.objects.create(
            connection=ledger, contact=contact, quickbooks_customer_id="20", score=60, kind="shared_email"
        )
    MatchCandidate.objects.create(
        connection=ledger, contact=duplicate, quickbooks_customer_id="5", score=40, kind="name_only"
    )
    ContactConflict.objects.create(
        connection=ledger, contact=duplicate, quickbooks_customer_id="16", field="email", crm_value="a", qbo_value="b"
    )

    merged = contacts_merge(survivor=survivor, duplicate=duplicate, actor=user_in("Staff"))

    assert merged.quickbooks_customer_id == "16"
    assert sorted(MatchCandidate.objects.values_list("contact_id", "quickbooks_customer_id")) == [
        (survivor.pk, "20"),
        (survivor.pk, "5"),
    ]
    assert ContactConflict.objects.get().contact_id == survivor.pk
    entry = QuickBooksSync.objects.get(connection=ledger, entity_type="Customer", entity_id="16")
    assert entry.local_id == survivor.pk
    link = AuditEvent.objects.get(action="customer.link", object_id=str(survivor.pk))
    assert link.after["source"] == "merge"
    assert not Contact.objects.filter(pk=duplicate.pk).exists()
