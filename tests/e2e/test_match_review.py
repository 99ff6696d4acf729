"""The bookkeeper works the review queue in Chromium: log in, approve one pair from the queue, reject one on its
page, link one to another customer found with the search box, and undo that link."""

from __future__ import annotations

import pytest
from django.test import Client

from crm.models import Contact
from quickbooks_integration.models import MatchCandidate, QuickBooksAuth
from tests.crm.factories import ContactFactory, UserFactory
from tests.quickbooks_integration.conftest import CALLBACK, oauth_flow
from tests.quickbooks_integration.test_review_admin import ledger_fill, propose
from tests.support.emulator import emulator_use

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

Status = MatchCandidate.Status
QUEUE = "/admin/quickbooks_integration/matchcandidate/"


@pytest.fixture
def connection(emulator_server, settings, django_user_model) -> QuickBooksAuth:
    """Connected by the real OAuth flow (a superuser's own session, not the browser's), the sandbox in the ledger."""
    emulator = emulator_use(emulator_server, settings, redirect_uri=CALLBACK)
    root = Client()
    root.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-12345"))
    response, _ = oauth_flow(root, emulator)
    assert response.status_code == 302
    connection = QuickBooksAuth.objects.get(company_id=emulator.realm_id)
    ledger_fill(connection)
    return connection


def test_bookkeeper_approves_rejects_links_elsewhere_and_undoes(page, live_server, connection):
    customers = {c.entity_id: c.payload for c in connection.ledger.filter(entity_type="Customer")}
    amy = ContactFactory(first_name="Amy", last_name="Lauterbach", phone="", mobile_phone="650.555.3311", city="")
    approve = propose(connection, amy, customers["1"], kind="name_partial")
    pike = ContactFactory(first_name="Jordan", last_name="Pike", phone="(650) 555-0987", email="")
    reject = propose(connection, pike, customers["7"], kind="name_conflict")
    geeta = ContactFactory(first_name="Geeta", last_name="Kalapatapu", phone="", email="gk@example.com")
    wrong = propose(connection, geeta, customers["13"], kind="name_only", score=30)
    UserFactory(username="bea", groups=["Bookkeeper"], password="pw-bea-12345")
    csp_errors: list[str] = []
    page.on("console", lambda message: csp_errors.append(message.text) if "Security Policy" in message.text else None)

    page.goto(f"{live_server.url}/admin/login/?next={QUEUE}")
    page.fill("#id_username", "bea")
    page.fill("#id_password", "pw-bea-12345")
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}{QUEUE}")
    assert page.inner_text("h1") == "Match review"
    assert page.locator("#result_list tbody tr").count() == 3

    # approve one from the queue with the action
    page.check(f"input[name=_selected_action][value='{approve.pk}']")
    page.select_option("select[name=action]", "approve")
    page.click("button[name=index]")
    assert "1 match candidate approved." in page.inner_text("ul.messagelist")
    assert page.locator("#result_list tbody tr").count() == 2, "the approved pair left the pending queue"
    assert Contact.objects.get(pk=amy.pk).quickbooks_customer_id == "1"

    # reject one on its page, after reading why it was proposed
    page.click(f"text=Review #{reject.pk}")
    assert "Names disagree" in page.inner_text("#qbo-reasons")
    assert page.get_attribute("#qbo-compare tr[data-field=name]", "data-state") == "differs"
    page.click("#qbo-reject")
    message = page.inner_text("ul.messagelist")
    assert "Rejected: Jordan Pike is not QuickBooks customer Freeman Sporting Goods" in message
    assert page.inner_text("#qbo-pair-status") == "Rejected"
    assert MatchCandidate.objects.get(pk=reject.pk).status == Status.REJECTED

    # link one to the customer it really is, found by typing part of the name
    page.goto(f"{live_server.url}{QUEUE}{wrong.pk}/change/")
    assert page.is_disabled("#link-other-submit")
    page.fill("#link-other-search", "kalap")
    option = page.locator("#link-other-results button.qbo-customer-option[data-id='10']")
    option.wait_for()
    assert "Geeta Kalapatapu" in option.inner_text() and "(650) 555-0022" in option.inner_text()
    option.click()
    assert page.input_value("#link-other-search") == "Geeta Kalapatapu"
    page.click("#link-other-submit")
    chosen = MatchCandidate.objects.get(contact=geeta, quickbooks_customer_id="10")
    page.wait_for_url(f"{live_server.url}{QUEUE}{chosen.pk}/change/")
    assert "instead of John Melton" in page.inner_text("ul.messagelist")
    assert page.inner_text("#qbo-pair-status") == "Approved"
    assert Contact.objects.get(pk=geeta.pk).quickbooks_customer_id == "10"
    assert MatchCandidate.objects.get(pk=wrong.pk).status == Status.SUPERSEDED

    # undo the link: the first pair is back in the queue, the contact unlinked
    page.click("#qbo-undo")
    page.wait_for_url(f"{live_server.url}{QUEUE}{wrong.pk}/change/")
    assert f"Undone: pair #{wrong.pk} is back in the queue." in page.inner_text("ul.messagelist")
    assert page.inner_text("#qbo-pair-status") == "Pending"
    assert Contact.objects.get(pk=geeta.pk).quickbooks_customer_id is None
    assert MatchCandidate.objects.get(pk=wrong.pk).status == Status.PENDING
    assert MatchCandidate.objects.get(pk=chosen.pk).status == Status.SUPERSEDED
    history = page.inner_text("#qbo-history")
    assert "Contact unlinked" in history and "Contact linked" in history

    page.goto(f"{live_server.url}{QUEUE}")
    rows = page.inner_text("#result_list tbody")
    assert f"Review #{wrong.pk}" in rows and f"Review #{reject.pk}" not in rows and f"Review #{approve.pk}" not in rows
    assert csp_errors == []
