"""Push against the running emulator (real HTTP): create customers from contacts without ever making a duplicate,
batches of 30, 6240, the requestid replay, sparse updates with 5010, and who may press the buttons."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.db import transaction
from django.urls import reverse

from crm.models import Contact
from quickbooks_integration.models import AuditEvent, ContactConflict, MatchCandidate, QuickBooksSync, SyncFailure
from quickbooks_integration.qbo.client import qbo_create, qbo_query, qbo_read, qbo_update
from quickbooks_integration.services.customer_links import customer_link
from quickbooks_integration.services.customer_payload import customer_payload_from_contact, phone_variants
from quickbooks_integration.services.customer_push import (
    KIND_CREATE,
    PushError,
    contact_push_create,
    contacts_push_create,
)
from quickbooks_integration.services.customer_update import KIND_UPDATE, contact_push_update
from quickbooks_integration.services.failures import failure_retry
from quickbooks_integration.services.match_review import customer_json, match_candidate_reject
from quickbooks_integration.services.mirror import mirror_apply
from tests.crm.factories import ContactFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def user_in(django_user_model):
    def make(group: str):
        user = django_user_model.objects.create_user(f"{group.lower()}-1", password="pw-12345-abcde", is_staff=True)
        user.groups.add(Group.objects.get(name=group))
        return django_user_model.objects.get(pk=user.pk)  # fresh permission cache

    return make


@pytest.fixture
def staff(user_in):
    return user_in("Staff")


def _contact(n: int = 1, **fields) -> Contact:
    """A contact no sandbox customer resembles: its own name, phone and e-mail."""
    values = {
        "first_name": f"Zelda{n}",
        "last_name": "Quackenbush",
        "phone": f"(857) 555-{n:04d}",
        "mobile_phone": "",
        "email": f"zelda{n}.quackenbush@example.org",
        "city": "Quincy",
        "address_line1": f"{n} Granite St",
        **fields,
    }
    return ContactFactory(**values)


def _customers_named(connection, name: str) -> list[dict]:
    escaped = name.replace("'", "\\'")
    return list(qbo_query(connection=connection, sql=f"SELECT * FROM Customer WHERE DisplayName = '{escaped}'"))


def _creates(emulator) -> int:
    return len([r for r in emulator.control.requests("/customer", "POST") if r["path"].endswith("/customer")])


# ---------------------------------------------------------------------------------------------------- payload


def test_payload_is_qbo_safe_and_leaves_empty_details_out():
    contact = Contact(
        pk=7,
        first_name="Ann:\tMarie",
        last_name="O'Brien\nJr",
        company_name="C" * 150,
        phone="617-555-0134 ext. 22 (ask for the office manager)",
        email="ann@example.com",
        city="Quincy",
    )

    payload = customer_payload_from_contact(contact)

    assert payload["DisplayName"] == f"Ann Marie O'Brien Jr ({'C' * 150})"
    assert not any(ch in payload["DisplayName"] for ch in ":\t\n")
    assert len(payload["CompanyName"]) == 100
    assert payload["PrimaryPhone"] == {"FreeFormNumber": "+16175550134"}  # the typed text is over 30 characters
    assert payload["PrimaryEmailAddr"] == {"Address": "ann@example.com"}
    assert payload["BillAddr"] == {"City": "Quincy"}
    assert "Mobile" not in payload


def test_phone_variants_cover_the_usual_formats():
    variants = phone_variants("617.555.0134")
    assert {"617.555.0134", "(617) 555-0134", "617-555-0134", "6175550134", "+16175550134"} <= set(variants)


# ---------------------------------------------------------------------------------------------------- create


def test_create_makes_one_customer_and_links_it(connected, emulator, staff):
    contact = _contact()

    outcome = contact_push_create(connection=connected, contact=contact, actor=staff)

    assert outcome.status == "created", outcome
    contact.refresh_from_db()
    customer = qbo_read(connection=connected, entity="Customer", entity_id=contact.quickbooks_customer_id)
    assert customer["DisplayName"] == "Zelda1 Quackenbush"
    assert customer["PrimaryPhone"]["FreeFormNumber"] == "(857) 555-0001"
    assert customer["BillAddr"]["Line1"] == "1 Granite St"
    assert contact.quickbooks_sync_token == "0" and contact.customer_type == "customer"
    entry = QuickBooksSync.objects.get(entity_type="Customer", entity_id=contact.quickbooks_customer_id)
    assert entry.local_id == contact.pk
    assert _creates(emulator) == 1
    actions = list(
        AuditEvent.objects.filter(object_id=str(contact.pk), object_type="crm.Contact").values_list("action", flat=True)
    )
    assert {"customer.push_requested", "customer.push", "customer.link"} <= set(actions)


def test_an_existing_customer_becomes_a_candidate_not_a_duplicate(connected, emulator, staff, user_in):
    # Amy's Bird Sanctuary (customer 1): (650) 555-3311, Birds@Intuit.com; typed another way in the CRM
    contact = _contact(first_name="Amy", last_name="Lauterbach", phone="650.555.3311", email="")

    outcome = contact_push_create(connection=connected, contact=contact, actor=staff)

    assert outcome.status == "queued", outcome
    candidate = MatchCandidate.objects.get(contact=contact)
    assert candidate.quickbooks_customer_id == "1" and candidate.status == MatchCandidate.Status.PENDING
    assert any(reason["rule"] == "phone" for reason in candidate.reasons)
    contact.refresh_from_db()
    assert contact.quickbooks_customer_id is None
    assert _creates(emulator) == 0

    # the bookkeeper says it is someone else: the next push creates
    match_candidate_reject(candidate=candidate, actor=user_in("Bookkeeper"))
    assert contact_push_create(connection=connected, contact=contact, actor=staff).status == "created"


def test_the_ledger_finds_a_customer_whose_phone_qbo_cannot_match(connected, emulator, staff):
    odd = qbo_create(
        connection=connected,
        entity="Customer",
        payload={"DisplayName": "Roof Guy", "PrimaryPhone": {"FreeFormNumber": "857 555 0199 x3"}},
        request_id="test-odd-phone",
    )
    with transaction.atomic():
        mirror_apply(connection=connected, entity_type="Customer", rows=[odd])
    contact = _contact(first_name="Rufus", last_name="Guy", phone="857-555-0199")

    outcome = contact_push_create(connection=connected, contact=contact, actor=staff)

    assert outcome.status == "queued", outcome
    assert MatchCandidate.objects.get(contact=contact).quickbooks_customer_id == odd["Id"]


def test_a_retry_after_a_lost_answer_replays_the_requestid_and_never_creates_two(
    connected, emulator, staff, user_in, settings
):
    settings.QUICKBOOKS_MAX_ATTEMPTS = 1  # the transport's own retry would replay it at once
    contact = _contact()
    emulator.control.drop_response_next(r"/customer$", method="POST")  # QBO commits, the answer is lost

    first = contact_push_create(connection=connected, contact=contact, actor=staff)

    assert first.status == "failed"
    failure = SyncFailure.objects.get(kind=KIND_CREATE, resolved_at__isnull=True)
    assert failure.request_id and failure.object_id == str(contact.pk)
    assert len(_customers_named(connected, "Zelda1 Quackenbush")) == 1  # made, but the CRM does not know it

    message = failure_retry(failure=failure, actor=user_in("Bookkeeper"))

    assert "created" in message
    contact.refresh_from_db()
    customers = _customers_named(connected, "Zelda1 Quackenbush")
    assert [c["Id"] for c in customers] == [contact.quickbooks_customer_id]
    replayed = [r for r in emulator.control.requests("/customer", "POST") if r["outcome"] == "replayed"]
    assert replayed and replayed[0]["query"]["requestid"] == failure.request_id
    failure.refresh_from_db()
    assert failure.resolved_at is not None


def test_a_second_click_after_a_crash_reuses_the_stored_requestid(connected, emulator, staff, settings):
    """The requestid is stored before the first attempt: a push that died mid-way is replayed, not repeated."""
    settings.QUICKBOOKS_MAX_ATTEMPTS = 1
    contact = _contact()
    emulator.control.drop_response_next(r"/customer$", method="POST")
    contact_push_create(connection=connected, contact=contact, actor=staff)
    SyncFailure.objects.all().delete()  # as if the worker had died before writing anything

    outcome = contact_push_create(connection=connected, contact=contact, actor=staff)

    assert outcome.status == "created"
    assert len(_customers_named(connected, "Zelda1 Quackenbush")) == 1
    assert not MatchCandidate.objects.exists()  # its own customer is not taken for somebody else


def test_display_name_taken_by_another_person_gets_the_city(connected, emulator, staff):
    # customer 4 is "Diego Rodriguez", (650) 555-4477, Diego@Rodriguez.com: same name, another person
    contact = _contact(first_name="Diego", last_name="Rodriguez", phone="857-555-0400", email="diego@example.org")

    outcome = contact_push_create(connection=connected, contact=contact, actor=staff)

    assert outcome.status == "created", outcome
    customer = qbo_read(connection=connected, entity="Customer", entity_id=outcome.customer_id)
    assert customer["DisplayName"] == "Diego Rodriguez (Quincy)"
    assert not MatchCandidate.objects.exists()


def test_display_name_taken_by_a_vendor_gets_a_number(connected, emulator, staff):
    vendor = next(iter(qbo_query(connection=connected, sql="SELECT * FROM Vendor ORDERBY Id")))
    name = vendor["DisplayName"]
    contact = _contact(first_name="", last_name="", company_name=name, city="")

    outcome = contact_push_create(connection=connected, contact=contact, actor=staff)

    assert outcome.status == "created", outcome
    customer = qbo_read(connection=connected, entity="Customer", entity_id=outcome.customer_id)
    assert customer["DisplayName"] == f"{name} (2)"


# ---------------------------------------------------------------------------------------------------- batches


def test_45_contacts_take_two_batch_calls(connected, emulator, staff):
    contacts = [_contact(n) for n in range(1, 46)]
    emulator.control.clear_requests()

    outcomes = contacts_push_create(connection=connected, contacts=contacts, actor=staff)

    assert [o.status for o in outcomes] == ["created"] * 45
    assert emulator.control.count("/batch", "POST") == 2
    assert emulator.control.count("/query") <= 20  # the search: a few IN (…) queries per field for all 45
    assert _creates(emulator) == 0
    assert Contact.objects.filter(quickbooks_customer_id__isnull=False).count() == 45
    assert QuickBooksSync.objects.filter(entity_type="Customer", local_id__in=[c.pk for c in contacts]).count() == 45


def test_a_lost_batch_answer_is_replayed_item_by_item_on_retry(connected, emulator, staff, user_in, settings):
    settings.QUICKBOOKS_MAX_ATTEMPTS = 1
    contacts = [_contact(n) for n in (1, 2, 3)]
    emulator.control.drop_response_next(r"/batch$", method="POST")  # QBO made all three; the answer is lost

    outcomes = contacts_push_create(connection=connected, contacts=contacts, actor=staff)

    assert [o.status for o in outcomes] == ["failed"] * 3
    failures = list(SyncFailure.objects.filter(kind=KIND_CREATE, resolved_at__isnull=True).order_by("object_id"))
    assert len({f.request_id for f in failures}) == 1  # one batch, one requestid
    bookkeeper = user_in("Bookkeeper")
    for failure in failures:  # each retry sends its own item under the batch's requestid: QBO replays the batch
        assert "created" in failure_retry(failure=failure, actor=bookkeeper)

    for n, contact in enumerate(contacts, start=1):
        contact.refresh_from_db()
        assert [c["Id"] for c in _customers_named(connected, f"Zelda{n} Quackenbush")] == [
            contact.quickbooks_customer_id
        ]
    assert emulator.control.count("/batch", "POST") == 4


def test_a_faulty_item_fails_alone(connected, emulator, staff):
    good = [_contact(n) for n in (1, 2)]
    bad = _contact(3, email="zelda3@example.")  # QBO refuses it (2210); the CRM's save() kept it

    outcomes = {o.contact_id: o for o in contacts_push_create(connection=connected, contacts=[*good, bad], actor=staff)}

    assert [outcomes[c.pk].status for c in good] == ["created", "created"]
    assert outcomes[bad.pk].status == "failed"
    failure = SyncFailure.objects.get(resolved_at__isnull=True)
    assert (failure.kind, failure.code, failure.object_id) == (KIND_CREATE, "2210", str(bad.pk))
    # QBO answered it for sure: after fixing the e-mail, a retry gets a new requestid and creates it
    Contact.objects.filter(pk=bad.pk).update(email="zelda3@example.org")
    assert contact_push_create(connection=connected, contact=bad, actor=staff).status == "created"


def test_same_name_in_one_batch_with_nothing_to_tell_them_apart_is_queued(connected, emulator, staff):
    first = _contact(1, email="")  # a phone only
    second = _contact(1, phone="", email="zelda@example.org")  # the same name, an e-mail only

    outcomes = {
        o.contact_id: o for o in contacts_push_create(connection=connected, contacts=[first, second], actor=staff)
    }

    assert outcomes[first.pk].status == "created"
    assert outcomes[second.pk].status == "queued"  # 6240 from its twin, which may be the same person
    candidate = MatchCandidate.objects.get(contact=second)
    assert candidate.quickbooks_customer_id == outcomes[first.pk].customer_id


def test_contacts_sharing_a_phone_in_one_selection_are_not_both_created(connected, emulator, staff):
    first = _contact(1)
    second = _contact(2, first_name="Zed", phone="857.555.0001")

    outcomes = {
        o.contact_id: o for o in contacts_push_create(connection=connected, contacts=[first, second], actor=staff)
    }

    assert outcomes[first.pk].status == "created"
    assert outcomes[second.pk].status == "queued"


# ---------------------------------------------------------------------------------------------------- update


def _pushed(connected, staff, **fields) -> Contact:
    contact = _contact(**fields)
    assert contact_push_create(connection=connected, contact=contact, actor=staff).status == "created"
    contact.refresh_from_db()
    return contact


def test_update_sends_a_sparse_change_with_the_synctoken(connected, emulator, staff):
    contact = _pushed(connected, staff)
    Contact.objects.filter(pk=contact.pk).update(mobile_phone="857-555-7777", city="Braintree")

    outcome = contact_push_update(connection=connected, contact=contact, actor=staff)

    assert outcome.status == "updated", outcome
    customer = qbo_read(connection=connected, entity="Customer", entity_id=contact.quickbooks_customer_id)
    assert customer["Mobile"]["FreeFormNumber"] == "857-555-7777"
    assert customer["BillAddr"]["City"] == "Braintree" and customer["BillAddr"]["Line1"] == "1 Granite St"
    assert customer["SyncToken"] == "1"
    contact.refresh_from_db()
    assert contact.quickbooks_sync_token == "1"
    entry = QuickBooksSync.objects.get(entity_type="Customer", entity_id=contact.quickbooks_customer_id)
    assert entry.sync_version == 1 and entry.payload["Mobile"]["FreeFormNumber"] == "857-555-7777"
    assert contact_push_update(connection=connected, contact=contact, actor=staff).status == "unchanged"


def test_update_after_a_change_in_qbo_rereads_and_reapplies(connected, emulator, staff):
    contact = _pushed(connected, staff)
    customer_id = contact.quickbooks_customer_id
    qbo_update(  # someone edits the notes in QuickBooks: our SyncToken "0" is stale now
        connection=connected,
        entity="Customer",
        payload={"Id": customer_id, "SyncToken": "0", "sparse": True, "Notes": "Gate code 1234"},
        request_id="test-notes",
    )
    Contact.objects.filter(pk=contact.pk).update(email="zelda@new.example.org")

    outcome = contact_push_update(connection=connected, contact=contact, actor=staff)

    assert outcome.status == "updated", outcome
    customer = qbo_read(connection=connected, entity="Customer", entity_id=customer_id)
    assert customer["PrimaryEmailAddr"]["Address"] == "zelda@new.example.org"
    assert customer["Notes"] == "Gate code 1234" and customer["SyncToken"] == "2"
    assert any(r["status"] == 400 for r in emulator.control.requests("/customer", "POST"))  # the 5010
    contact.refresh_from_db()
    assert contact.quickbooks_sync_token == "2"
    assert not SyncFailure.objects.filter(resolved_at__isnull=True).exists()


def test_update_of_a_field_qbo_changed_too_is_a_conflict_not_an_overwrite(connected, emulator, staff):
    contact = _pushed(connected, staff)
    customer_id = contact.quickbooks_customer_id
    qbo_update(
        connection=connected,
        entity="Customer",
        payload={
            "Id": customer_id,
            "SyncToken": "0",
            "sparse": True,
            "PrimaryPhone": {"FreeFormNumber": "857-555-1111"},
        },
        request_id="test-phone",
    )
    Contact.objects.filter(pk=contact.pk).update(phone="857-555-2222", email="zelda@new.example.org")

    outcome = contact_push_update(connection=connected, contact=contact, actor=staff)

    assert outcome.status == "failed"
    customer = qbo_read(connection=connected, entity="Customer", entity_id=customer_id)
    assert customer["PrimaryPhone"]["FreeFormNumber"] == "857-555-1111"  # QBO's change is kept
    assert customer["PrimaryEmailAddr"]["Address"] == "zelda@new.example.org"  # the other change went through
    failure = SyncFailure.objects.get(kind=KIND_UPDATE, resolved_at__isnull=True)
    assert failure.code == "5010" and "PrimaryPhone" in failure.message
    conflict = ContactConflict.objects.get(contact=contact, resolved_at__isnull=True)
    assert (conflict.field, conflict.crm_value, conflict.qbo_value) == ("phone", "857-555-2222", "857-555-1111")
    # while the conflict is open, the phone is not sent again
    assert contact_push_update(connection=connected, contact=contact, actor=staff).status == "unchanged"
    assert qbo_read(connection=connected, entity="Customer", entity_id=customer_id)["PrimaryPhone"] == {
        "FreeFormNumber": "857-555-1111"
    }


def test_a_name_change_renames_only_a_display_name_made_from_the_names(connected, emulator, staff):
    pushed = _pushed(connected, staff)
    amy = _contact(first_name="Amy", last_name="Lauterbach", phone="(650) 555-3311", email="Birds@Intuit.com")
    customer_link(
        connection=connected,
        contact=amy,
        customer=customer_json(connection=connected, customer_id="1"),
        source="review",
    )
    Contact.objects.filter(pk__in=[pushed.pk, amy.pk]).update(last_name="Smith")

    assert contact_push_update(connection=connected, contact=pushed, actor=staff).status == "updated"
    assert contact_push_update(connection=connected, contact=amy, actor=staff).status == "updated"

    ours = qbo_read(connection=connected, entity="Customer", entity_id=pushed.quickbooks_customer_id)
    assert (ours["DisplayName"], ours["FamilyName"]) == ("Zelda1 Smith", "Smith")
    theirs = qbo_read(connection=connected, entity="Customer", entity_id="1")
    assert (theirs["DisplayName"], theirs["FamilyName"]) == ("Amy's Bird Sanctuary", "Smith")


def test_update_needs_a_linked_contact(connected, staff):
    with pytest.raises(PushError, match="not linked"):
        contact_push_update(connection=connected, contact=_contact(), actor=staff)


# ---------------------------------------------------------------------------------------------------- admin


def _action(client, name: str, contacts):
    return client.post(
        reverse("admin:crm_contact_changelist"),
        {"action": name, "_selected_action": [c.pk for c in contacts]},
        follow=True,
    )


def test_staff_can_create_and_update_from_the_contact_list(connected, emulator, staff, client):
    client.force_login(staff)
    contacts = [_contact(1), _contact(2)]

    page = client.get(reverse("admin:crm_contact_changelist")).content.decode()
    assert "create_in_quickbooks" in page and "update_quickbooks" in page
    response = _action(client, "create_in_quickbooks", contacts)

    assert "2 contacts created in QuickBooks." in response.content.decode()
    assert Contact.objects.filter(quickbooks_customer_id__isnull=False).count() == 2
    Contact.objects.filter(pk=contacts[0].pk).update(city="Milton")
    response = _action(client, "update_quickbooks", contacts)
    body = response.content.decode()
    assert "1 contact updated in QuickBooks." in body and "1 contact already up to date" in body


def test_an_owner_cannot_push(connected, emulator, user_in, client):
    owner = user_in("Owner")
    client.force_login(owner)
    contact = _contact()

    page = client.get(reverse("admin:crm_contact_changelist")).content.decode()
    assert "create_in_quickbooks" not in page
    _action(client, "create_in_quickbooks", [contact])
    with pytest.raises(PushError):
        contact_push_create(connection=connected, contact=contact, actor=owner)

    contact.refresh_from_db()
    assert contact.quickbooks_customer_id is None and _creates(emulator) == 0
