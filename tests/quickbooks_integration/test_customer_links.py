"""Linking, enrichment with field ownership and conflicts, and reversible review decisions (services only).

The customer JSON is QBO's own sample (`../shared/qbo/samples/customer_read.json`, "Bill's Windsurf Shop"), put
into the ledger as the import would; decisions read it from there, so no HTTP is needed here.
"""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest

from crm.models import Contact
from crm.models.contacts import CustomerType
from quickbooks_integration.models import AuditEvent, ContactConflict, MatchCandidate, QuickBooksAuth, QuickBooksSync
from quickbooks_integration.services.customer_links import (
    LinkError,
    contact_conflict_resolve,
    contact_fields_from_customer,
    customer_link,
    customer_unlink,
    update_contact_from_customer,
)
from quickbooks_integration.services.match_review import (
    MatchDecisionError,
    match_candidate_approve,
    match_candidate_create_contact,
    match_candidate_link_other,
    match_candidate_propose,
    match_candidate_reject,
    match_candidate_undo,
    match_candidates_approve_above,
)
from quickbooks_integration.services.mirror import mirror_apply
from tests.crm.factories import ContactFactory, InvoiceFactory, UserFactory

pytestmark = pytest.mark.django_db

BILL = {  # samples/customer_read.json, trimmed of nothing that matters here
    "PrimaryEmailAddr": {"Address": "Surf@Intuit.com"},
    "SyncToken": "0",
    "GivenName": "Bill",
    "DisplayName": "Bill's Windsurf Shop",
    "CompanyName": "Bill's Windsurf Shop",
    "FamilyName": "Lucchini",
    "PrimaryPhone": {"FreeFormNumber": "(415) 444-6538"},
    "Active": True,
    "Job": False,
    "BalanceWithJobs": 85.0,
    "BillAddr": {
        "City": "Half Moon Bay",
        "Line1": "12 Ocean Dr.",
        "PostalCode": "94213",
        "CountrySubDivisionCode": "CA",
    },
    "Taxable": False,
    "Balance": 85.0,
    "SalesTermRef": {"value": "3", "name": "Net 30"},
    "Id": "2",
    "MetaData": {"CreateTime": "2014-09-11T16:49:28-07:00", "LastUpdatedTime": "2014-09-18T12:56:01-07:00"},
}


def customer(**changes) -> dict:
    data = copy.deepcopy(BILL)
    data.update(changes)
    return data


@pytest.fixture
def connection() -> QuickBooksAuth:
    return QuickBooksAuth.objects.create(company_id="9130357766001234", company_name="Attack-a-Crack")


@pytest.fixture
def ledger(connection):
    """Bill (2), Amy (3), and a job under Bill (4), as the import leaves them."""
    rows = [
        BILL,
        customer(
            Id="3",
            DisplayName="Amy's Bird Sanctuary",
            GivenName="Amy",
            FamilyName="Lauterbach",
            CompanyName="Amy's Bird Sanctuary",
            PrimaryPhone={"FreeFormNumber": "(650) 555-3311"},
            PrimaryEmailAddr={"Address": "Birds@Intuit.com"},
            Balance=239.0,
            BalanceWithJobs=239.0,
        ),
        customer(Id="4", DisplayName="Bill's Windsurf Shop:Garage floor", Job=True, ParentRef={"value": "2"}),
    ]
    mirror_apply(connection=connection, entity_type="Customer", rows=rows)
    return rows


@pytest.fixture
def bookkeeper():
    return UserFactory(username="bea", groups=["Bookkeeper"])


def test_link_copies_financials_fills_empty_details_and_records_conflicts(connection, ledger, bookkeeper):
    contact = ContactFactory(
        first_name="Bill",
        last_name="Lucchini",
        company_name="",
        phone="415.444.6538",
        email="bill@lucchini.example",
        address_line1="",
        city="",
        state="",
        zip_code="",
        customer_type=CustomerType.PROSPECT,
        credit_limit=Decimal("500"),
    )
    customer_link(connection=connection, contact=contact, customer=BILL, actor=bookkeeper, source="review")

    contact.refresh_from_db()
    assert contact.quickbooks_customer_id == "2"
    assert contact.quickbooks_sync_token == "0"
    assert contact.customer_type == CustomerType.CUSTOMER
    assert contact.payment_terms == "Net 30"
    assert contact.tax_exempt is False, "Taxable: false with no exemption reason is QBO's default, not an exemption"
    assert contact.outstanding_balance == Decimal("85.00")
    assert contact.credit_limit == Decimal("500.00"), "QBO's API has no credit limit: the CRM's stays"
    # empty CRM details are filled from QBO; the same phone in another format is no conflict
    assert (contact.company_name, contact.address_line1, contact.city, contact.state, contact.zip_code) == (
        "Bill's Windsurf Shop",
        "12 Ocean Dr.",
        "Half Moon Bay",
        "CA",
        "94213",
    )
    assert contact.phone == "415.444.6538"
    # a differing e-mail is a conflict, and the CRM's value is kept
    assert contact.email == "bill@lucchini.example"
    conflict = ContactConflict.objects.get(contact=contact, resolved_at__isnull=True)
    assert (conflict.field, conflict.crm_value, conflict.qbo_value) == (
        "email",
        "bill@lucchini.example",
        "surf@intuit.com",
    )
    # the ledger row and the job's row point at the contact; the link is audited
    assert set(QuickBooksSync.objects.filter(local_id=contact.pk).values_list("entity_id", flat=True)) == {"2", "4"}
    event = AuditEvent.objects.get(action="customer.link")
    assert event.actor == bookkeeper and event.after["source"] == "review"


def test_conflict_resolution_either_way_and_gone_when_qbo_agrees(connection, ledger, bookkeeper):
    contact = ContactFactory(
        first_name="Bill",
        last_name="Lucchini",
        email="bill@lucchini.example",
        phone="",
        address_line1="",
        city="",
        state="",
        zip_code="",
    )
    customer_link(connection=connection, contact=contact, customer=BILL, source="auto")
    conflict = ContactConflict.objects.get(contact=contact)
    contact_conflict_resolve(conflict=conflict, take_qbo=True, actor=bookkeeper)
    contact.refresh_from_db()
    assert contact.email == "surf@intuit.com"
    assert ContactConflict.objects.get(pk=conflict.pk).resolution == ContactConflict.Resolution.TOOK_QBO

    # QBO changes the first name: a new conflict; QBO changing it back resolves it as gone
    update_contact_from_customer(connection=connection, contact=contact, customer=customer(GivenName="William"))
    assert ContactConflict.objects.filter(contact=contact, field="first_name", resolved_at__isnull=True).exists()
    update_contact_from_customer(connection=connection, contact=contact, customer=BILL)
    assert not ContactConflict.objects.filter(contact=contact, resolved_at__isnull=True).exists()
    contact.refresh_from_db()
    assert contact.first_name == "Bill"


def test_link_rules(connection, ledger):
    linked = ContactFactory(quickbooks_customer_id="3")
    other = ContactFactory()
    with pytest.raises(LinkError, match="already linked to QuickBooks customer 3"):
        customer_link(connection=connection, contact=linked, customer=BILL, source="auto")
    with pytest.raises(LinkError, match="job or sub-customer"):
        customer_link(connection=connection, contact=other, customer=ledger[2], source="auto")
    customer_link(connection=connection, contact=other, customer=BILL, source="auto")
    with pytest.raises(LinkError, match="already linked to"):
        customer_link(connection=connection, contact=ContactFactory(), customer=BILL, source="auto")


def test_unlink_keeps_history_and_hands_the_summary_back_to_the_crm(connection, ledger):
    contact = ContactFactory(first_name="Bill", last_name="Lucchini")
    InvoiceFactory(contact=contact)
    customer_link(connection=connection, contact=contact, customer=BILL, source="auto")
    contact.refresh_from_db()
    assert contact.outstanding_balance == Decimal("85.00")
    customer_unlink(connection=connection, contact=contact, reason="deactivated in QuickBooks")
    contact.refresh_from_db()
    assert contact.quickbooks_customer_id is None
    assert contact.outstanding_balance == sum(i.balance_due for i in contact.invoices.all())
    assert not QuickBooksSync.objects.filter(local_id=contact.pk).exists()
    actions = list(AuditEvent.objects.filter(object_id=str(contact.pk)).values_list("action", flat=True))
    assert actions == ["customer.unlink", "customer.link"]


def test_new_contact_from_a_display_name_only_customer():
    fields = contact_fields_from_customer({"Id": "9", "DisplayName": "Dana Whitfield (deleted)", "SyncToken": "1"})
    assert (fields["first_name"], fields["last_name"], fields["company_name"]) == ("Dana", "Whitfield", "")
    fields = contact_fields_from_customer({"Id": "9", "DisplayName": "Cool Cars LLC", "SyncToken": "1"})
    assert (fields["first_name"], fields["last_name"], fields["company_name"]) == ("", "", "Cool Cars LLC")


def _candidate(connection, contact, data, score=80, kind="name_partial"):
    return match_candidate_propose(
        connection=connection,
        contact=contact,
        customer=data,
        score=score,
        kind=kind,
        reasons=[{"rule": "phone", "value": "+14154446538"}],
    )


def test_approve_links_supersedes_and_undo_restores_everything(connection, ledger, bookkeeper):
    bill = ContactFactory(first_name="Bill", last_name="Lucchini", phone="415-444-6538")
    namesake = ContactFactory(first_name="Bill", last_name="Lucchini", phone="")
    first = _candidate(connection, bill, BILL, score=92)
    rival = _candidate(connection, namesake, BILL, score=60)
    bill_amy = _candidate(connection, bill, ledger[1], score=40)

    match_candidate_approve(candidate=first, actor=bookkeeper)
    bill.refresh_from_db()
    assert bill.quickbooks_customer_id == "2"
    rival.refresh_from_db(), bill_amy.refresh_from_db()
    assert (rival.status, rival.superseded_by_id) == (MatchCandidate.Status.SUPERSEDED, first.pk)
    assert bill_amy.status == MatchCandidate.Status.SUPERSEDED, "a linked contact's other pairs are moot too"
    with pytest.raises(MatchDecisionError, match="already approved by bea"):
        match_candidate_reject(candidate=first, actor=bookkeeper)

    match_candidate_undo(candidate=first, actor=bookkeeper)
    bill.refresh_from_db()
    assert bill.quickbooks_customer_id is None
    statuses = set(MatchCandidate.objects.values_list("status", flat=True))
    assert statuses == {MatchCandidate.Status.PENDING}
    history = list(
        AuditEvent.objects.filter(
            object_type="quickbooks_integration.MatchCandidate", object_id=str(first.pk)
        ).values_list("action", flat=True)
    )
    assert history == ["match.undo", "match.approve"]


def test_reject_is_remembered_and_undone(connection, ledger, bookkeeper):
    contact = ContactFactory()
    candidate = _candidate(connection, contact, BILL)
    match_candidate_reject(candidate=candidate, actor=bookkeeper)
    assert _candidate(connection, contact, BILL) is None, "a rejected pair is never proposed again"
    match_candidate_undo(candidate=candidate, actor=bookkeeper)
    assert MatchCandidate.objects.get(pk=candidate.pk).status == MatchCandidate.Status.PENDING


def test_link_to_another_customer_and_undo_brings_the_first_pair_back(connection, ledger, bookkeeper):
    amy = ContactFactory(first_name="Amy", last_name="Lauterbach", phone="650 555 3311")
    wrong = _candidate(connection, amy, BILL, score=55)
    chosen = match_candidate_link_other(candidate=wrong, quickbooks_customer_id="3", actor=bookkeeper)
    amy.refresh_from_db()
    assert amy.quickbooks_customer_id == "3"
    assert chosen.status == MatchCandidate.Status.APPROVED and chosen.kind == "manual"
    assert chosen.score > wrong.score, "the phone and names agree with customer 3"
    wrong.refresh_from_db()
    assert (wrong.status, wrong.superseded_by_id) == (MatchCandidate.Status.SUPERSEDED, chosen.pk)
    match_candidate_undo(candidate=chosen, actor=bookkeeper)
    wrong.refresh_from_db()
    amy.refresh_from_db()
    assert wrong.status == MatchCandidate.Status.PENDING and amy.quickbooks_customer_id is None


def test_create_contact_and_undo_removes_it(connection, ledger, bookkeeper):
    stranger = ContactFactory(first_name="Bill", last_name="Stone")
    candidate = _candidate(connection, stranger, BILL)
    created = match_candidate_create_contact(candidate=candidate, actor=bookkeeper)
    assert created.quickbooks_customer_id == "2" and created.customer_type == CustomerType.CUSTOMER
    assert MatchCandidate.objects.get(pk=candidate.pk).status == MatchCandidate.Status.REJECTED
    match_candidate_undo(candidate=candidate, actor=bookkeeper)
    assert not Contact.objects.filter(pk=created.pk).exists(), "nothing refers to it yet: removed"
    assert MatchCandidate.objects.get(pk=candidate.pk).status == MatchCandidate.Status.PENDING


def test_approve_above_a_score_skips_moot_pairs(connection, ledger, bookkeeper):
    bill = ContactFactory(first_name="Bill", last_name="Lucchini")
    twin = ContactFactory(first_name="Bill", last_name="Lucchini")
    amy = ContactFactory(first_name="Amy", last_name="Lauterbach")
    pairs = [
        _candidate(connection, bill, BILL, 95),
        _candidate(connection, twin, BILL, 91),
        _candidate(connection, amy, ledger[1], 70),
    ]
    result = match_candidates_approve_above(candidates=pairs, min_score=90, actor=bookkeeper)
    assert (result["approved"], result["skipped"], result["below"]) == (1, 1, 1)
    assert Contact.objects.get(pk=bill.pk).quickbooks_customer_id == "2"
    assert Contact.objects.get(pk=twin.pk).quickbooks_customer_id is None
