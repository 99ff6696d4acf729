"""Fault matrix, transport rows (RELIABILITY §3 rows 1, 2, 5, 6, 7, 8): what a pull or a push looks like after the
token expires mid-sync, the grant is revoked, QBO throttles, answers 500 or 503 in bursts, or does not answer in
time. Real services (`customers_import_run`, `contact_push_create`) against the emulator over HTTP; every wait the
transport asks for is recorded by the virtual clock and never slept.

Each test's docstring states the expected state afterwards; the assertions check that nothing was lost (every
customer in the ledger and linked, every pending event kept) and nothing duplicated (one ledger row and one contact
per customer, one QBO customer per contact), with the run's status, cursor, calls and failure rows.
"""

from __future__ import annotations

import json

import pytest

from crm.models import Contact
from crm.roles import BOOKKEEPER, STAFF
from qbo_emulator.webhooks import sign
from quickbooks_integration.models import AuditEvent, QuickBooksAuth, QuickBooksSync, SyncFailure, SyncRun, WebhookEvent
from quickbooks_integration.qbo.client import qbo_query
from quickbooks_integration.services.customer_push import KIND_CREATE, contact_push_create
from quickbooks_integration.services.customers import KIND as CUSTOMERS
from quickbooks_integration.services.customers import customers_import_run
from quickbooks_integration.services.failures import failure_retry
from quickbooks_integration.tasks import webhook_events_process_task
from tests.crm.factories import ContactFactory, UserFactory

from .conftest import BIG, oauth_flow
from .support import when_seen

pytestmark = pytest.mark.django_db

PAGE_2 = "STARTPOSITION 1001 MAXRESULTS 1000"


# ---------------------------------------------------------------------------------------------------- helpers


def statuses(server, path: str = "/query") -> list[int]:
    return [r["status"] for r in server.control.requests(path)]


def open_failures(**filters) -> list[SyncFailure]:
    return list(SyncFailure.objects.filter(resolved_at__isnull=True, **filters))


def run_failure_key(connection: QuickBooksAuth) -> str:
    return f"sync_run:{connection.pk}:{CUSTOMERS}"


def assert_nothing_lost_or_doubled(connection: QuickBooksAuth, total: int = BIG) -> None:
    """Every QBO customer is one ledger row and one linked contact (the CRM started empty: each is a new contact)."""
    ledger = QuickBooksSync.objects.filter(connection=connection, entity_type="Customer")
    assert ledger.count() == total
    assert set(ledger.values_list("entity_id", flat=True)) == {str(i) for i in range(1, total + 1)}
    assert not ledger.filter(local_id=None).exists()
    linked = Contact.objects.exclude(quickbooks_customer_id=None)
    assert Contact.objects.count() == linked.count() == total
    assert linked.values("quickbooks_customer_id").distinct().count() == total


def assert_only_page_1(connection: QuickBooksAuth) -> None:
    """Page 1 committed whole (ids 1-1000 in the ledger), nothing of page 2, and nothing applied to contacts."""
    ids = set(
        QuickBooksSync.objects.filter(connection=connection, entity_type="Customer").values_list("entity_id", flat=True)
    )
    assert ids == {str(i) for i in range(1, 1001)}
    assert not Contact.objects.exists()


def a_contact(n: int = 1, **fields) -> Contact:
    """A contact no sandbox customer resembles (its own name, phone and e-mail)."""
    values = {
        "first_name": f"Ottoline{n}",
        "last_name": "Fairweather",
        "company_name": "",
        "phone": f"(339) 555-{n:04d}",
        "mobile_phone": "",
        "email": f"ottoline{n}.fairweather@example.org",
        "city": "Hingham",
        **fields,
    }
    return ContactFactory(**values)


def customers_named(connection: QuickBooksAuth, name: str) -> list[dict]:
    return list(qbo_query(connection=connection, sql=f"SELECT * FROM Customer WHERE DisplayName = '{name}'"))


def creates(server) -> list[dict]:
    return [r for r in server.control.requests("/customer", "POST") if r["path"].endswith("/customer")]


# ---------------------------------------------------------------------------------------------------- row 1


def test_token_expiring_mid_sync_is_refreshed_once_and_the_sync_finishes(big, clock):
    """Row 1: the access token expires between page 1 and page 2 (QBO answers 401/3200).

    Expected afterwards: the run succeeded in its first attempt; exactly one token call (the refresh), the rotated
    tokens stored on the connection, still connected; page 2 sent twice (401, then 200), every other call once, and
    all four counted on the run; 1,200 ledger rows and 1,200 linked contacts, none twice; no failure row.
    """
    server, connection = big
    before = QuickBooksAuth.objects.get(pk=connection.pk)
    armed = when_seen(server, server.control.expire_access_tokens, seen=2)  # after COUNT and page 1

    run = customers_import_run(connection_id=connection.pk)
    armed.wait()

    assert run.status == SyncRun.Status.SUCCEEDED and run.attempts == 1, run.error
    assert server.control.token_calls() == 1
    assert statuses(server) == [200, 200, 401, 200]
    assert run.api_calls == 4
    row = QuickBooksAuth.objects.get(pk=connection.pk)
    assert row.status == QuickBooksAuth.Status.CONNECTED
    assert row.refresh_token != before.refresh_token and row.access_token != before.access_token
    assert_nothing_lost_or_doubled(connection)
    assert run.stats["created"] == BIG
    assert open_failures() == []
    assert clock.backoffs == []


# ---------------------------------------------------------------------------------------------------- row 2


def test_invalid_grant_mid_sync_stops_without_a_retry_loop_and_resumes_after_reconnecting(big, clock, su_client):
    """Row 2: the grant is revoked at Intuit between page 1 and page 2; the refresh gets 400 `invalid_grant`.

    Expected afterwards: the connection needs reconnecting (an audit line says why, the admin shows Reconnect); the
    run failed at page 2 with one open failure row; exactly one token call, and a second task for the run sends
    nothing at all (no refresh loop, no API call); a webhook event arriving meanwhile stays pending. After the
    reconnect the same run resumes at page 2 only and succeeds; the failure row is resolved; the pending event is
    processed; 1,200 ledger rows and contacts, none twice.
    """
    server, connection = big
    armed = when_seen(server, server.control.revoke_connection, seen=2)

    failed = customers_import_run(connection_id=connection.pk)
    armed.wait()

    assert failed.status == SyncRun.Status.FAILED and "reconnect" in failed.error.lower()
    assert failed.cursor["page"] == 2 and failed.cursor["step"] == "pages"
    assert server.control.token_calls() == 1
    assert statuses(server) == [200, 200, 401]
    row = QuickBooksAuth.objects.get(pk=connection.pk)
    assert row.status == QuickBooksAuth.Status.NEEDS_RECONNECT and "invalid_grant" in row.last_error
    assert AuditEvent.objects.filter(action="refresh_failed", outcome=AuditEvent.Outcome.FAILURE).count() == 1
    assert_only_page_1(connection)
    (failure,) = open_failures(key=run_failure_key(connection))
    assert failure.error_class == "ReconnectRequiredError"
    # a webhook arrives while the grant is gone: stored, and left pending (nothing is lost, nothing is called)
    change = {"name": "Customer", "id": "7", "operation": "Update", "lastUpdated": "2026-12-01T10:00:00-0800"}
    notification = {"realmId": connection.realm_id, "dataChangeEvent": {"entities": [change]}}
    body = json.dumps({"eventNotifications": [notification]}).encode()
    response = su_client.post(
        "/webhooks/quickbooks/",
        data=body,
        content_type="application/json",
        HTTP_INTUIT_SIGNATURE=sign(body, server.verifier_token),
    )
    assert response.status_code == 200
    server.control.clear_requests()

    again = customers_import_run(connection_id=connection.pk)  # the broker or the sweeper delivers the task again
    assert webhook_events_process_task(connection.realm_id) == 1

    assert again.pk == failed.pk and again.status == SyncRun.Status.FAILED
    assert server.control.requests() == []  # no refresh, no API call: a person must reconnect first
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.PENDING
    failure.refresh_from_db()
    assert failure.resolved_at is None and failure.attempts == 2 and len(open_failures()) == 1
    page = su_client.get("/admin/quickbooks_integration/quickbooksauth/").content.decode()
    assert 'id="qbo-reconnect"' in page

    response, _ = oauth_flow(su_client, server)  # the owner reconnects
    assert response.status_code == 302
    assert QuickBooksAuth.objects.get(pk=connection.pk).status == QuickBooksAuth.Status.CONNECTED
    server.control.clear_requests()

    resumed = customers_import_run(connection_id=connection.pk)

    assert resumed.pk == failed.pk and resumed.status == SyncRun.Status.SUCCEEDED, resumed.error
    queries = server.control.requests("/query")
    assert len(queries) == 1 and PAGE_2 in queries[0]["query"]["query"]  # page 2 only
    assert_nothing_lost_or_doubled(connection)
    failure.refresh_from_db()
    assert failure.resolved_at is not None
    assert webhook_events_process_task(connection.realm_id) == 0
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.PROCESSED
    assert QuickBooksAuth.objects.count() == 1


# ---------------------------------------------------------------------------------------------------- row 5


def test_a_429_burst_waits_what_qbo_asks_and_the_sync_finishes(big, clock):
    """Row 5: QBO throttles the realm to one request a minute (its sliding window, on the emulator's clock), so
    every page after the COUNT is first refused with the XML 429 ThrottleExceeded body.

    Expected afterwards: each 429 was followed by a wait of at least 60 s (Intuit's rule; no Retry-After sent) and
    then by the same request, answered; the run succeeded in one attempt with 5 calls counted (3 answered, 2
    throttled); 1,200 ledger rows and contacts, none twice; no failure row. The test itself never sleeps.
    """
    server, connection = big
    server.control.throttle(per_minute=1)
    server.control.advance_clock(61)  # the window forgets the connect's calls: the COUNT is admitted

    run = customers_import_run(connection_id=connection.pk)

    assert run.status == SyncRun.Status.SUCCEEDED and run.attempts == 1, run.error
    assert statuses(server) == [200, 429, 200, 429, 200]
    assert [r["outcome"] for r in server.control.requests("/query")].count("throttled") == 2
    assert len(clock.backoffs) == 2 and all(60.0 <= delay <= 66.0 for delay in clock.backoffs)
    assert run.api_calls == 5
    assert_nothing_lost_or_doubled(connection)
    assert open_failures() == []


# ---------------------------------------------------------------------------------------------------- row 6


def test_a_500_burst_on_a_create_is_resubmitted_once_then_retried_into_one_customer(connected, emulator, clock):
    """Row 6: QBO commits a customer create but answers 500 SystemFault, and answers the resubmission 500 too.

    Expected afterwards: the transport sent the create twice (Intuit: resubmit once), with one requestid, and gave
    up; the push is a failure row (code 10000, HTTP 500, its requestid) and the contact is not linked yet; QBO holds
    exactly one customer of that name. The bookkeeper's retry replays the same requestid: the contact is linked to
    that one customer, the failure row resolved, and still one customer in QBO.
    """
    staff = UserFactory(username="staff-500", groups=[STAFF])
    bookkeeper = UserFactory(username="bookkeeper-500", groups=[BOOKKEEPER])
    contact = a_contact()
    emulator.control.drop_response_next(r"/customer$", count=2, mode="500", method="POST")  # executed, then 500

    first = contact_push_create(connection=connected, contact=contact, actor=staff)

    assert first.status == "failed"
    assert [r["status"] for r in creates(emulator)] == [None, None]  # both answered 500 after executing
    (failure,) = open_failures(kind=KIND_CREATE)
    assert (failure.code, failure.http_status, failure.error_class) == ("10000", 500, "TransientError")
    assert failure.request_id and {r["query"]["requestid"] for r in creates(emulator)} == {failure.request_id}
    assert len(clock.backoffs) == 1 and 0.5 <= clock.backoffs[0] <= 1.0
    contact.refresh_from_db()
    assert contact.quickbooks_customer_id is None
    assert len(customers_named(connected, "Ottoline1 Fairweather")) == 1  # made once, not yet known to the CRM

    message = failure_retry(failure=failure, actor=bookkeeper)

    assert "created" in message
    contact.refresh_from_db()
    (customer,) = customers_named(connected, "Ottoline1 Fairweather")
    assert contact.quickbooks_customer_id == customer["Id"]
    assert [r["outcome"] for r in creates(emulator)] == ["dropped", "dropped", "replayed"]
    assert {r["query"]["requestid"] for r in creates(emulator)} == {failure.request_id}
    failure.refresh_from_db()
    assert failure.resolved_at is not None and open_failures() == []
    assert QuickBooksSync.objects.filter(entity_type="Customer", entity_id=customer["Id"], local_id=contact.pk).exists()


# ---------------------------------------------------------------------------------------------------- row 7


def test_a_503_burst_fails_the_run_without_moving_its_cursor_and_the_rerun_resumes(big, clock):
    """Row 7: a proxy answers page 2 with 503 (an HTML page), five times in a row: more than the transport's cap.

    Expected afterwards: five attempts of page 2 with exponential backoff (about 1, 2, 4, 8 s, equal jitter, never
    slept); the run failed visibly (status, error, one failure row with HTTP 503) with its cursor still at page 2;
    page 1 in the ledger whole and nothing of page 2; no contact applied yet. The next task resumes the same run at
    page 2 (one call), succeeds, resolves the failure row; 1,200 ledger rows and contacts, none twice; every call of
    both attempts counted on the run.
    """
    server, connection = big
    armed = when_seen(server, lambda: server.control.fail_next("/query", status=503, count=5), seen=2)

    failed = customers_import_run(connection_id=connection.pk)
    armed.wait()

    assert failed.status == SyncRun.Status.FAILED and "HTTP 503" in failed.error
    assert statuses(server) == [200, 200] + [503] * 5
    assert failed.cursor["page"] == 2 and failed.stats["progress"] == "page 1 of 2"
    assert_only_page_1(connection)
    (failure,) = open_failures(key=run_failure_key(connection))
    assert failure.http_status == 503 and failure.error_class == "TransientError"
    assert len(clock.backoffs) == 4
    for attempt, delay in enumerate(clock.backoffs):
        assert 2**attempt / 2 <= delay <= 2**attempt  # base 1 s doubling, equal jitter
    server.control.clear_requests()

    resumed = customers_import_run(connection_id=connection.pk)

    assert resumed.pk == failed.pk and resumed.status == SyncRun.Status.SUCCEEDED and resumed.attempts == 2
    queries = server.control.requests("/query")
    assert len(queries) == 1 and PAGE_2 in queries[0]["query"]["query"]
    assert resumed.api_calls == 2 + 5 + 1
    assert_nothing_lost_or_doubled(connection)
    failure.refresh_from_db()
    assert failure.resolved_at is not None


# ---------------------------------------------------------------------------------------------------- row 8


def test_timeouts_are_retried_and_leave_exactly_one_of_everything(connected, emulator, clock, settings):
    """Row 8: QBO answers later than the client's read timeout (0.5 s here), once on a page of the customers import
    and once on a customer create that it did commit.

    Expected afterwards: each timed-out request was sent again (the page as it was; the create with the same
    requestid, which QBO answers by replaying the first create); the import succeeded with the sandbox's 29
    customers in the ledger once each and one contact per top-level customer; the push created exactly one QBO
    customer and linked the contact to it; no failure row.
    """
    settings.QUICKBOOKS_READ_TIMEOUT = 0.5
    emulator.control.clear_requests()
    emulator.control.delay_next("/query", 1.2, method="GET")  # the one page of the import

    run = customers_import_run(connection_id=connected.pk)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    pages = emulator.control.requests("/query", "GET")
    assert len(pages) == 2 and pages[0]["query"] == pages[1]["query"]
    ledger = QuickBooksSync.objects.filter(connection=connected, entity_type="Customer")
    assert ledger.count() == 29  # the sandbox's customers, jobs included
    top_level = {e.entity_id for e in ledger if not e.payload.get("ParentRef")}  # jobs get no contact of their own
    assert set(Contact.objects.values_list("quickbooks_customer_id", flat=True)) == top_level
    assert Contact.objects.count() == len(top_level) == 26

    contact = a_contact(2)
    emulator.control.delay_next(r"/customer$", 1.2, method="POST")

    outcome = contact_push_create(connection=connected, contact=contact, actor=UserFactory(groups=[STAFF]))

    assert outcome.status == "created", outcome
    sent = creates(emulator)
    assert len(sent) == 2 and sent[1]["outcome"] == "replayed"
    assert sent[0]["query"]["requestid"] == sent[1]["query"]["requestid"]
    (customer,) = customers_named(connected, "Ottoline2 Fairweather")
    contact.refresh_from_db()
    assert contact.quickbooks_customer_id == customer["Id"] == outcome.customer_id
    assert open_failures() == []
    assert len(clock.backoffs) == 2  # one backoff per timed-out request
