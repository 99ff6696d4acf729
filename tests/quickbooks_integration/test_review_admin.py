"""The bookkeeper's review queue and contact conflicts in the admin, through the admin client.

The ledger holds what the emulator's sandbox company sends (its 29 recorded customers, their invoices and
payments), read with the real client as the customers import does; candidates are proposed with the pair's real
score and reasons (`pair_assess`). Every decision goes through the admin's POSTs, and each undo must leave the rows
exactly as they were before the decision.
"""

from __future__ import annotations

import re

import pytest
from django.db import connection as db_connection
from django.db import transaction
from django.forms.models import model_to_dict
from django.test import Client
from django.test.utils import CaptureQueriesContext

from crm.models import Contact
from crm.models.contacts import CustomerType
from quickbooks_integration.models import AuditEvent, ContactConflict, MatchCandidate, QuickBooksAuth
from quickbooks_integration.qbo.client import qbo_query
from quickbooks_integration.services.match_review import contact_row, match_candidate_propose
from quickbooks_integration.services.matching import customer_row_from_qbo, pair_assess
from quickbooks_integration.services.mirror import mirror_apply
from tests.crm.factories import ActivityFactory, ContactFactory, InvoiceFactory, UserFactory

pytestmark = pytest.mark.django_db

QUEUE = "/admin/quickbooks_integration/matchcandidate/"
CONFLICTS = "/admin/quickbooks_integration/contactconflict/"
Status = MatchCandidate.Status


# ---------------------------------------------------------------------------------------------------- helpers


def ledger_fill(connection: QuickBooksAuth) -> dict[str, dict]:
    """The sandbox company's customers, invoices and payments into the ledger, as the import leaves them."""
    pages = {
        entity: list(qbo_query(connection=connection, sql=f"SELECT * FROM {entity} ORDERBY Id"))  # noqa: S608
        for entity in ("Customer", "Invoice", "Payment")
    }
    with transaction.atomic():
        for entity, rows in pages.items():
            mirror_apply(connection=connection, entity_type=entity, rows=rows)
    return {customer["Id"]: customer for customer in pages["Customer"]}


def propose(connection: QuickBooksAuth, contact: Contact, customer: dict, *, kind: str, score: int | None = None):
    """A candidate as matching would write it: the pair's real score and reasons (or a given score)."""
    assessment = pair_assess(contact_row(contact), customer_row_from_qbo(customer))
    return match_candidate_propose(
        connection=connection,
        contact=contact,
        customer=customer,
        score=assessment.score if score is None else score,
        kind=kind,
        reasons=[dict(reason) for reason in assessment.reasons],
    )


def role_client(username: str, group: str) -> Client:
    client = Client()
    client.force_login(UserFactory(username=username, groups=[group]))
    return client


def contact_state(contact: Contact) -> dict:
    """Every field of the contact but its timestamps: what an undo must give back."""
    contact = Contact.objects.get(pk=contact.pk)
    return {key: value for key, value in model_to_dict(contact).items() if key not in ("created_at", "updated_at")}


def candidates_state() -> dict[int, tuple]:
    return {
        row.pk: (row.status, row.superseded_by_id, row.decided_by_id, row.decided_at)
        for row in MatchCandidate.objects.all()
    }


def act(client: Client, action: str, *candidates: MatchCandidate, **extra):
    data = {"action": action, "_selected_action": [c.pk for c in candidates], "index": "0", **extra}
    return client.post(QUEUE + "?status=all", data, follow=True)


def decide(client: Client, candidate: MatchCandidate, decision: str, **extra):
    return client.post(f"{QUEUE}{candidate.pk}/decide/", {"decision": decision, **extra}, follow=True)


def shown_messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def refreshed(candidate: MatchCandidate) -> MatchCandidate:
    return MatchCandidate.objects.get(pk=candidate.pk)


# ---------------------------------------------------------------------------------------------------- fixtures


@pytest.fixture
def customers(connected) -> dict[str, dict]:
    return ledger_fill(connected)


@pytest.fixture
def bookkeeper() -> Client:
    return role_client("bea-bookkeeper", "Bookkeeper")


@pytest.fixture
def amy(connected, customers):
    """Amy Lauterbach: her mobile is the customer's PrimaryPhone, her e-mail differs, her address is empty."""
    contact = ContactFactory(
        first_name="Amy",
        last_name="Lauterbach",
        phone="",
        mobile_phone="650.555.3311",
        email="amy@lauterbach.example",
        address_line1="",
        city="",
        state="",
        zip_code="",
        customer_type=CustomerType.PROSPECT,
        payment_terms="",
    )
    return contact, propose(connected, contact, customers["1"], kind="name_partial")


@pytest.fixture
def recycled(connected, customers):
    """A phone number that now belongs to someone else: Freeman Sporting Goods' number, another person's name."""
    contact = ContactFactory(first_name="Jordan", last_name="Pike", phone="(650) 555-0987", email="")
    return contact, propose(connected, contact, customers["7"], kind="name_conflict")


# ---------------------------------------------------------------------------------------------------- the queue


def test_queue_shows_pending_pairs_with_score_reasons_filters_and_search(
    connected, customers, amy, recycled, bookkeeper
):
    contact, candidate = amy
    _, conflict_pair = recycled
    decided = propose(
        connected, ContactFactory(first_name="Kate", last_name="Whelan"), customers["14"], kind="name_only"
    )
    MatchCandidate.objects.filter(pk=decided.pk).update(status=Status.REJECTED)

    page = bookkeeper.get(QUEUE)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Match review" in html
    assert f"Review #{candidate.pk}" in html and f"Review #{conflict_pair.pk}" in html
    assert f"Review #{decided.pk}" not in html, "the queue shows pending pairs by default"
    assert "Amy&#x27;s Bird Sanctuary (#1)" in html
    assert (
        f'<meter class="qbo-score" min="0" max="100" low="50" high="90" optimum="100" value="{candidate.score}">'
        in html
    )
    assert "phone · names agree" in html and "Names disagree" in html  # reasons summary; the recycled number's kind
    assert "Phone +1 650-555-3311 is the contact&#x27;s mobile and the customer&#x27;s PrimaryPhone." in html

    assert f"Review #{decided.pk}" in bookkeeper.get(QUEUE + "?status=all").content.decode()
    assert f"Review #{decided.pk}" in bookkeeper.get(QUEUE + "?status=rejected").content.decode()
    by_kind = bookkeeper.get(QUEUE + "?kind=name_conflict").content.decode()
    assert f"Review #{conflict_pair.pk}" in by_kind and f"Review #{candidate.pk}" not in by_kind
    band = "90" if candidate.score >= 90 else "70" if candidate.score >= 70 else "50" if candidate.score >= 50 else "0"
    assert f"Review #{candidate.pk}" in bookkeeper.get(QUEUE + f"?score={band}").content.decode()
    # search: a phone in any format, a name, the customer's id
    assert f"Review #{candidate.pk}" in bookkeeper.get(QUEUE, {"q": "(650) 555-3311"}).content.decode()
    found = bookkeeper.get(QUEUE, {"q": "Pike"}).content.decode()
    assert f"Review #{conflict_pair.pk}" in found and f"Review #{candidate.pk}" not in found
    assert f"Review #{conflict_pair.pk}" in bookkeeper.get(QUEUE, {"q": "7"}).content.decode()
    assert f"Review #{candidate.pk}" in bookkeeper.get(QUEUE, {"q": "lauterbach.example"}).content.decode()


def test_queue_query_count_does_not_grow_with_rows(connected, customers, bookkeeper):
    def queue_queries(pairs: int) -> int:
        MatchCandidate.objects.all().delete()
        for n in range(pairs):
            customer = customers[str(n % 29 + 1)]
            propose(connected, ContactFactory(), customer, kind="name_only" if n % 2 else "shared_phone", score=n % 100)
        bookkeeper.get(QUEUE)  # warm the session and the content types
        with CaptureQueriesContext(db_connection) as queries:
            page = bookkeeper.get(QUEUE + "?status=all")
        assert page.status_code == 200 and page.content.decode().count("Review #") == pairs
        return len(queries)

    assert queue_queries(5) == queue_queries(30)


# ---------------------------------------------------------------------------------------------------- the pair page


def test_pair_page_side_by_side_reasons_activities_invoices_and_history(connected, customers, amy, bookkeeper):
    contact, candidate = amy
    ActivityFactory(contact=contact, kind="call", summary="Asked about the crack in the bird house foundation")
    invoice = InvoiceFactory(contact=contact, items=[("1", "450.00")])

    page = bookkeeper.get(f"{QUEUE}{candidate.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    rows = {row.label: row for row in page.context["comparison"]}
    assert (rows["Name"].crm, rows["Name"].qbo, rows["Name"].state) == ("Amy Lauterbach", "Amy Lauterbach", "same")
    assert rows["E-mail"].state == "differs" and rows["E-mail"].qbo == "birds@intuit.com"
    assert rows["Address"].state == "fills" and rows["Address"].crm == ""
    assert (rows["Balance"].qbo, rows["Balance"].state) == ("639.00", "replaces")
    assert (rows["Mobile"].crm, rows["Phone"].qbo) == ("650.555.3311", "(650) 555-3311")
    assert 'data-field="e-mail" data-state="differs"' in html and 'data-field="address" data-state="fills"' in html
    assert "Phone +1 650-555-3311 is the contact&#x27;s mobile and the customer&#x27;s PrimaryPhone." in html
    assert "Names agree: same first name, same last name (100% alike)." in html
    assert "Asked about the crack in the bird house foundation" in html
    assert str(invoice) in html
    qbo_documents = page.context["qbo_documents"]
    assert qbo_documents and all(doc["customer"] == "Amy's Bird Sanctuary" for doc in qbo_documents)
    assert {doc["type"] for doc in qbo_documents} >= {"Invoice"}
    assert 'id="qbo-approve"' in html and 'id="link-other-search"' in html and 'id="qbo-undo"' not in html
    assert "No decision yet." in html

    decide(bookkeeper, candidate, "approve")
    html = bookkeeper.get(f"{QUEUE}{candidate.pk}/change/").content.decode()
    assert 'id="qbo-undo"' in html and 'id="qbo-approve"' not in html
    assert 'data-action="match.approve"' in html and 'data-action="customer.link"' in html
    assert "bea-bookkeeper" in html


def test_reasons_in_plain_english_for_every_rule():
    from quickbooks_integration.admin.review import reason_sentence, reasons_summary

    reasons = [
        {"rule": "phone", "value": "+16175550134", "contact_field": "mobile_phone", "customer_field": "PrimaryPhone"},
        {"rule": "email", "value": "jane@example.com"},
        {"rule": "name", "verdict": "agree", "similarity": 95, "detail": "nickname_first/same_last"},
        {"rule": "name", "verdict": "partial", "similarity": 70, "detail": "first_name_uncertain:initial"},
        {"rule": "name", "verdict": "conflict", "similarity": 31, "detail": "names_differ"},
        {"rule": "name", "verdict": "unknown", "similarity": 0, "detail": "company_vs_person"},
        {"rule": "shared_phone", "value": "+16175550134", "contacts": 2, "customers": 1},
        {"rule": "email_other_contact", "value": "jane@example.com", "contacts": [4, 9]},
        {"rule": "contact_matches_other_customers", "customers": ["12", "40"]},
        {"rule": "keys_differ"},
        {"rule": "customer_inactive"},
        {"rule": "contact_already_linked"},
        {"rule": "chosen_by_bookkeeper", "instead_of": 7},
    ]
    assert [reason_sentence(reason) for reason in reasons] == [
        "Phone +1 617-555-0134 is the contact's mobile and the customer's PrimaryPhone.",
        "E-mail jane@example.com is on both.",
        "Names agree: one first name is a nickname of the other, same last name (95% alike).",
        "Names partly agree: same last name; one first name is only an initial (70% alike).",
        "Names disagree: different people's names (a recycled phone number?) (31% alike).",
        "Names not compared: one side is a company, the other a person.",
        "Phone +1 617-555-0134 is shared by 2 contacts and 1 customer (a household, an office line or a duplicate).",
        "The customer's e-mail jane@example.com is also on 2 other contacts (#4, #9).",
        "The contact's phone or e-mail also matches QuickBooks customers 12, 40.",
        "Both sides have a phone or e-mail, but none of them is shared.",
        "The QuickBooks customer is inactive (deleted in QuickBooks).",
        "The contact is already linked to another QuickBooks customer: this one may be a duplicate there.",
        "Chosen by the bookkeeper instead of pair #7.",
    ]
    assert reason_sentence({"rule": "brand_new_rule", "value": "x"}) == "Brand new rule: value x."
    assert reasons_summary(reasons[:3]) == "phone · e-mail · names agree"


# ---------------------------------------------------------------------------------------------------- decisions


def test_approve_action_links_enriches_and_supersedes_then_undo_restores_exactly(connected, customers, amy, bookkeeper):
    contact, candidate = amy
    rival = propose(connected, ContactFactory(first_name="Amy", last_name="L."), customers["1"], kind="name_partial")
    other_customer = propose(connected, contact, customers["4"], kind="name_only", score=20)
    contact_before, pairs_before = contact_state(contact), candidates_state()

    response = act(bookkeeper, "approve", candidate)
    assert "1 match candidate approved." in shown_messages(response)
    contact.refresh_from_db()
    assert contact.quickbooks_customer_id == "1"
    assert contact.customer_type == CustomerType.CUSTOMER
    assert (contact.address_line1, contact.city, contact.state, contact.zip_code) == (
        "4581 Finch St.",
        "Bayshore",
        "CA",
        "94326",
    )
    assert str(contact.outstanding_balance) == "639.00"
    assert contact.email == "amy@lauterbach.example", "the CRM's e-mail is kept ..."
    conflict = ContactConflict.objects.get(contact=contact, resolved_at__isnull=True)
    assert (conflict.field, conflict.qbo_value) == ("email", "birds@intuit.com"), "... and the difference recorded"
    assert refreshed(rival).status == refreshed(other_customer).status == Status.SUPERSEDED
    assert refreshed(candidate).decided_by.username == "bea-bookkeeper"

    response = act(bookkeeper, "undo", candidate)
    assert "1 match candidate back in the queue." in shown_messages(response)
    assert contact_state(contact) == contact_before
    assert candidates_state() == pairs_before
    assert not ContactConflict.objects.filter(contact=contact, resolved_at__isnull=True).exists()
    actions = list(
        AuditEvent.objects.filter(object_type="quickbooks_integration.MatchCandidate", object_id=str(candidate.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == ["match.approve", "match.undo"]


def test_approve_fills_an_empty_phone_with_its_e164_so_search_finds_it(connected, customers, bookkeeper):
    contact = ContactFactory(first_name="Geeta", last_name="Kalapatapu", phone="", email="geeta@kalapatapu.com")
    candidate = propose(connected, contact, customers["10"], kind="email_only")
    decide(bookkeeper, candidate, "approve")
    contact.refresh_from_db()
    assert (contact.phone, contact.phone_e164) == ("(650) 555-0022", "+16505550022")
    found = bookkeeper.get("/admin/crm/contact/", {"q": "650-555-0022"})
    assert found.status_code == 200 and f"/admin/crm/contact/{contact.pk}/change/" in found.content.decode()


def test_reject_is_remembered_and_undo_lifts_it(connected, customers, recycled, bookkeeper):
    contact, candidate = recycled
    before = candidates_state()
    response = act(bookkeeper, "reject", candidate)
    assert "1 match candidate rejected." in shown_messages(response)
    assert refreshed(candidate).status == Status.REJECTED
    assert propose(connected, contact, customers["7"], kind="name_conflict") is None, "never proposed again"
    assert Contact.objects.get(pk=contact.pk).quickbooks_customer_id is None

    response = decide(bookkeeper, candidate, "undo")
    assert response.redirect_chain[-1][0] == f"{QUEUE}{candidate.pk}/change/"
    assert "Undone: the pair is back in the queue." in shown_messages(response)
    assert candidates_state() == before


def test_reject_button_and_a_second_decision_on_the_same_pair_is_refused(connected, recycled, bookkeeper):
    _, candidate = recycled
    response = decide(bookkeeper, candidate, "reject")
    (message,) = shown_messages(response)
    assert message.startswith("Rejected: Jordan Pike is not QuickBooks customer Freeman Sporting Goods;")
    response = decide(bookkeeper, candidate, "approve")
    assert "This pair was already rejected by bea-bookkeeper." in shown_messages(response)
    assert refreshed(candidate).status == Status.REJECTED


def test_link_to_a_different_customer_through_the_search_and_undo(connected, customers, bookkeeper):
    geeta = ContactFactory(first_name="Geeta", last_name="Kalapatapu", phone="", email="gk@example.com", city="")
    wrong = propose(connected, geeta, customers["13"], kind="name_only", score=30)
    earlier = propose(
        connected, ContactFactory(first_name="G.", last_name="Kalapatapu"), customers["10"], kind="name_partial"
    )
    contact_before, pairs_before = contact_state(geeta), candidates_state()

    search = bookkeeper.get(f"{QUEUE}{wrong.pk}/customers/", {"q": "geeta"}).json()["results"]
    assert [(r["id"], r["name"], r["selectable"]) for r in search] == [("10", "Geeta Kalapatapu", True)]
    by_phone = bookkeeper.get(f"{QUEUE}{wrong.pk}/customers/", {"q": "650.555.0022"}).json()["results"]
    assert [r["id"] for r in by_phone] == ["10"]
    by_email = bookkeeper.get(f"{QUEUE}{wrong.pk}/customers/", {"q": "Geeta@Kalapatapu"}).json()["results"]
    assert [r["id"] for r in by_email] == ["10"]
    jobs = bookkeeper.get(f"{QUEUE}{wrong.pk}/customers/", {"q": "Twin Lane"}).json()["results"]
    assert jobs == [], "a job belongs to its parent's contact: never offered"

    response = decide(bookkeeper, wrong, "link_other", quickbooks_customer_id="10")
    chosen = MatchCandidate.objects.get(contact=geeta, quickbooks_customer_id="10")
    assert response.redirect_chain[-1][0] == f"{QUEUE}{chosen.pk}/change/"
    assert "Linked Geeta Kalapatapu to QuickBooks customer Geeta Kalapatapu instead of John Melton." in shown_messages(
        response
    )
    assert Contact.objects.get(pk=geeta.pk).quickbooks_customer_id == "10"
    assert (chosen.status, chosen.kind) == (Status.APPROVED, "manual")
    assert (refreshed(wrong).status, refreshed(wrong).superseded_by_id) == (Status.SUPERSEDED, chosen.pk)
    assert refreshed(earlier).status == Status.SUPERSEDED, "the customer's other pending pair is moot too"
    assert "Chosen by the bookkeeper instead of pair" in response.content.decode()

    # a customer linked elsewhere is shown but cannot be chosen
    other = propose(connected, ContactFactory(first_name="Geeta", last_name="K"), customers["13"], kind="name_only")
    taken = bookkeeper.get(f"{QUEUE}{other.pk}/customers/", {"q": "Kalapatapu"}).json()["results"]
    assert [(r["id"], r["selectable"], r["linked_contact"]) for r in taken] == [("10", False, "Geeta Kalapatapu")]
    MatchCandidate.objects.filter(pk=other.pk).delete()

    response = decide(bookkeeper, chosen, "undo")
    assert response.redirect_chain[-1][0] == f"{QUEUE}{wrong.pk}/change/", "back to the pair the choice replaced"
    assert contact_state(geeta) == contact_before
    after = candidates_state()
    assert after.pop(chosen.pk)[0] == Status.SUPERSEDED, "the pair made by the choice leaves the queue"
    assert after == pairs_before


def test_link_to_a_previously_rejected_customer_and_undo_keeps_the_rejection(connected, customers, bookkeeper):
    contact = ContactFactory(first_name="Mark", last_name="Cho", phone="", email="")
    rejected = propose(connected, contact, customers["17"], kind="name_only")
    decide(bookkeeper, rejected, "reject")
    pending = propose(connected, contact, customers["13"], kind="name_only", score=20)
    before = candidates_state()

    decide(bookkeeper, pending, "link_other", quickbooks_customer_id="17")
    assert refreshed(rejected).status == Status.APPROVED
    decide(bookkeeper, rejected, "undo")
    assert candidates_state() == before, "the rejection, its author and time come back"


def test_link_to_an_unknown_customer_is_refused(connected, customers, amy, bookkeeper):
    _, candidate = amy
    response = decide(bookkeeper, candidate, "link_other", quickbooks_customer_id="9999")
    assert "Choose the QuickBooks customer from the search results." in shown_messages(response)
    assert refreshed(candidate).status == Status.PENDING
    response = decide(bookkeeper, candidate, "link_other", quickbooks_customer_id="9")  # a job
    assert any("job or sub-customer" in message for message in shown_messages(response))
    assert refreshed(candidate).status == Status.PENDING


def test_create_a_new_contact_and_undo_removes_it(connected, customers, bookkeeper):
    stranger = ContactFactory(first_name="Dylan", last_name="Sollfrank-Ortiz", phone="", email="")
    candidate = propose(connected, stranger, customers["6"], kind="name_partial")
    contacts_before, pairs_before = set(Contact.objects.values_list("pk", flat=True)), candidates_state()

    response = decide(bookkeeper, candidate, "create_contact")
    created = Contact.objects.get(quickbooks_customer_id="6")
    assert (created.first_name, created.last_name, created.customer_type) == (
        "Dylan",
        "Sollfrank",
        CustomerType.CUSTOMER,
    )
    (message,) = shown_messages(response)
    assert message == "Created contact Dylan Sollfrank for QuickBooks customer Dylan Sollfrank, linked."
    assert refreshed(candidate).status == Status.REJECTED

    decide(bookkeeper, candidate, "undo")
    assert set(Contact.objects.values_list("pk", flat=True)) == contacts_before
    assert candidates_state() == pairs_before


def test_approve_above_a_score_asks_the_score_then_approves_best_first(connected, customers, bookkeeper):
    def person(first, last):
        return ContactFactory(first_name=first, last_name=last, phone="", email="")

    best = propose(connected, person("Travis", "Waldron"), customers["26"], kind="name_only", score=96)
    twin = propose(connected, person("Travis", "Waldron"), customers["26"], kind="name_only", score=92)
    low = propose(connected, person("Mark", "Cho"), customers["17"], kind="name_only", score=75)
    unselected = propose(connected, person("John", "Melton"), customers["13"], kind="name_only", score=99)

    page = act(bookkeeper, "approve_above", best, twin, low)
    html = page.content.decode()
    assert page.status_code == 200 and 'id="approve-above-form"' in html
    assert 'name="min_score" value="90"' in html and "2 of the selected pairs score 90 or more." in html

    invalid = bookkeeper.post(
        QUEUE,
        {"action": "approve_above", "_selected_action": [best.pk, twin.pk, low.pk], "min_score": "150"},
    )
    assert invalid.status_code == 200 and "errornote" in invalid.content.decode()
    assert refreshed(best).status == Status.PENDING

    done = bookkeeper.post(
        QUEUE,
        {"action": "approve_above", "_selected_action": [best.pk, twin.pk, low.pk], "min_score": "90"},
        follow=True,
    )
    (message,) = shown_messages(done)
    assert message.startswith("1 match candidate scoring 90 or more approved. 1 below 90 left as it was. 1 skipped: ")
    assert "already superseded" in message
    assert [refreshed(c).status for c in (best, twin, low, unselected)] == [
        Status.APPROVED,
        Status.SUPERSEDED,
        Status.PENDING,
        Status.PENDING,
    ]


# ---------------------------------------------------------------------------------------------------- permissions


def test_staff_gets_403_everywhere(connected, amy):
    _, candidate = amy
    staff = role_client("sam-staff", "Staff")
    assert staff.get(QUEUE).status_code == 403
    assert staff.get(f"{QUEUE}{candidate.pk}/change/").status_code == 403
    assert staff.get(f"{QUEUE}{candidate.pk}/customers/", {"q": "amy"}).status_code == 403
    for decision in ("approve", "reject", "link_other", "create_contact", "undo"):
        response = staff.post(f"{QUEUE}{candidate.pk}/decide/", {"decision": decision, "quickbooks_customer_id": "1"})
        assert response.status_code == 403
    for action in ("approve", "reject", "approve_above", "undo"):
        assert act(staff, action, candidate).status_code == 403
    assert refreshed(candidate).status == Status.PENDING


def test_owner_sees_the_queue_but_cannot_decide(connected, amy):
    _, candidate = amy
    owner = role_client("olive-owner", "Owner")
    queue = owner.get(QUEUE)
    assert queue.status_code == 200 and f"Review #{candidate.pk}" in queue.content.decode()
    assert 'name="action"' not in queue.content.decode(), "no actions offered"
    page = owner.get(f"{QUEUE}{candidate.pk}/change/")
    assert page.status_code == 200 and 'id="qbo-decisions"' not in page.content.decode()
    assert owner.get(f"{QUEUE}{candidate.pk}/customers/", {"q": "amy"}).status_code == 403
    for decision in ("approve", "reject", "link_other", "create_contact", "undo"):
        response = owner.post(f"{QUEUE}{candidate.pk}/decide/", {"decision": decision, "quickbooks_customer_id": "1"})
        assert response.status_code == 403
    for action in ("approve", "reject", "approve_above", "undo"):
        act(owner, action, candidate)
    assert refreshed(candidate).status == Status.PENDING
    assert not AuditEvent.objects.filter(action__startswith="match.").exists()


def test_decisions_are_post_only_with_csrf_and_nothing_is_added_or_deleted(connected, amy, django_user_model):
    _, candidate = amy
    user = UserFactory(username="bea-csrf", groups=["Bookkeeper"])
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    assert strict.get(f"{QUEUE}{candidate.pk}/decide/").status_code == 405
    assert strict.post(f"{QUEUE}{candidate.pk}/decide/", {"decision": "approve"}).status_code == 403
    assert strict.post(f"{QUEUE}{candidate.pk}/change/", {}).status_code in (403, 405)
    assert refreshed(candidate).status == Status.PENDING

    superuser = Client()
    superuser.force_login(django_user_model.objects.create_superuser("su", "su@example.com", "pw-su-12345"))
    assert superuser.get(QUEUE + "add/").status_code == 403
    assert superuser.get(f"{QUEUE}{candidate.pk}/delete/").status_code == 403
    assert superuser.post(f"{QUEUE}{candidate.pk}/decide/", {"decision": "nonsense"}).status_code == 400
    assert "delete_selected" not in superuser.get(QUEUE).content.decode()


# ---------------------------------------------------------------------------------------------------- conflicts


def test_conflicts_listed_open_by_default_resolved_either_way_and_shown_on_the_contact(
    connected, customers, amy, bookkeeper
):
    contact, candidate = amy
    contact.first_name, contact.company_name = "Amelia", "Bird Rescue"
    contact.save()
    decide(bookkeeper, candidate, "approve")
    open_fields = set(ContactConflict.objects.filter(contact=contact).values_list("field", flat=True))
    assert open_fields == {"first_name", "company_name", "email"}

    page = bookkeeper.get(f"/admin/crm/contact/{contact.pk}/change/").content.decode()
    assert "QuickBooks conflicts" in page
    assert re.search(r"Email</a>: CRM “amy@lauterbach.example”, QuickBooks “birds@intuit.com”", page)
    assert f"{CONFLICTS}?contact={contact.pk}" in page

    listed = bookkeeper.get(CONFLICTS, {"contact": contact.pk}).content.decode()
    assert "Contact conflicts" in listed and "birds@intuit.com" in listed
    email, first_name, company = (
        ContactConflict.objects.get(contact=contact, field=field) for field in ("email", "first_name", "company_name")
    )
    response = bookkeeper.post(
        CONFLICTS, {"action": "take_qbo", "_selected_action": [email.pk], "index": "0"}, follow=True
    )
    assert "1 contact conflict updated from QuickBooks." in shown_messages(response)
    response = bookkeeper.post(
        CONFLICTS, {"action": "keep_crm", "_selected_action": [first_name.pk], "index": "0"}, follow=True
    )
    assert "1 contact conflict kept as in the CRM." in shown_messages(response)
    contact.refresh_from_db()
    assert (contact.email, contact.first_name) == ("birds@intuit.com", "Amelia")
    assert ContactConflict.objects.get(pk=email.pk).resolved_by.username == "bea-bookkeeper"

    still_open = bookkeeper.get(CONFLICTS).content.decode()
    assert "Bird Rescue" in still_open and "birds@intuit.com" not in still_open
    assert "birds@intuit.com" in bookkeeper.get(CONFLICTS, {"state": "resolved"}).content.decode()
    assert company.pk and "Company name" in bookkeeper.get(f"/admin/crm/contact/{contact.pk}/change/").content.decode()


def test_staff_reads_conflicts_but_cannot_resolve_them(connected, customers, amy, bookkeeper):
    contact, candidate = amy
    decide(bookkeeper, candidate, "approve")
    conflict = ContactConflict.objects.get(contact=contact)
    staff = role_client("sam-staff", "Staff")
    listed = staff.get(CONFLICTS)
    assert listed.status_code == 200 and 'name="action"' not in listed.content.decode()
    staff.post(CONFLICTS, {"action": "take_qbo", "_selected_action": [conflict.pk], "index": "0"})
    assert ContactConflict.objects.get(pk=conflict.pk).resolved_at is None
    assert staff.get(f"{CONFLICTS}{conflict.pk}/change/").status_code == 200
    assert staff.post(f"{CONFLICTS}{conflict.pk}/change/", {"crm_value": "x"}).status_code == 403


def test_taking_quickbooks_phone_updates_its_e164_too(connected, customers, bookkeeper):
    contact = ContactFactory(first_name="Amy", last_name="Lauterbach", phone="(617) 555-0134", email="")
    decide(bookkeeper, propose(connected, contact, customers["1"], kind="name_only"), "approve")
    conflict = ContactConflict.objects.get(contact=contact, field="phone")
    bookkeeper.post(CONFLICTS, {"action": "take_qbo", "_selected_action": [conflict.pk], "index": "0"})
    contact.refresh_from_db()
    assert (contact.phone, contact.phone_e164) == ("(650) 555-3311", "+16505553311")
