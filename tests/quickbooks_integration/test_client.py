"""services/client.py against the running emulator: refresh, rotation, 401 retry, invalid_grant, retries, faults."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from quickbooks_integration.models import AuditEvent, QuickBooksAuth
from quickbooks_integration.qbo import client, errors
from quickbooks_integration.qbo.http import call_counts

pytestmark = pytest.mark.django_db


class Sleeper:
    """Records requested delays; never sleeps."""

    def __init__(self):
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def _fresh(connection: QuickBooksAuth) -> QuickBooksAuth:
    return QuickBooksAuth.objects.get(pk=connection.pk)


def test_expired_access_token_refreshed_once_and_rotation_persisted(connected, emulator):
    old_refresh = connected.refresh_token
    old_access = connected.access_token
    emulator.control.expire_access_tokens()  # QBO now answers 401/3200; our row still thinks it is valid
    token_calls = emulator.control.token_calls()

    info = client.qbo_read_company_info(connection=connected)

    assert info["CompanyName"] == "Sandbox Company_US_1"
    assert emulator.control.token_calls() == token_calls + 1
    row = _fresh(connected)
    assert row.refresh_token != old_refresh and row.access_token != old_access
    assert row.refresh_token == connected.refresh_token  # the caller's instance adopted the new tokens
    assert row.last_refreshed_at is not None
    calls = emulator.control.requests("/companyinfo/")
    assert [c["status"] for c in calls[-2:]] == [401, 200]


def test_refresh_within_five_minutes_of_expiry_happens_before_the_call(connected, emulator):
    QuickBooksAuth.objects.filter(pk=connected.pk).update(expires_at=timezone.now() + timedelta(seconds=120))
    connection = _fresh(connected)
    token_calls = emulator.control.token_calls()

    client.qbo_read_company_info(connection=connection)

    assert emulator.control.token_calls() == token_calls + 1
    assert [c["status"] for c in emulator.control.requests("/companyinfo/")][-1] == 200
    assert _fresh(connected).expires_at > timezone.now() + timedelta(minutes=50)


def test_no_refresh_per_call_when_token_is_valid(connected, emulator):
    token_calls = emulator.control.token_calls()
    for _ in range(3):
        client.qbo_read_company_info(connection=connected)
    assert emulator.control.token_calls() == token_calls


def test_invalid_grant_marks_needs_reconnect_and_stops_calling(connected, emulator, su_client):
    emulator.control.revoke_connection(emulator.realm_id)
    QuickBooksAuth.objects.filter(pk=connected.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    connection = _fresh(connected)
    token_calls = emulator.control.token_calls()

    with pytest.raises(errors.ReconnectRequiredError):
        client.qbo_read_company_info(connection=connection)

    row = _fresh(connected)
    assert row.status == QuickBooksAuth.Status.NEEDS_RECONNECT
    assert "invalid_grant" in row.last_error
    assert emulator.control.token_calls() == token_calls + 1
    assert AuditEvent.objects.filter(action="refresh_failed", outcome="failure").count() == 1

    with pytest.raises(errors.ReconnectRequiredError):
        client.qbo_read_company_info(connection=row)
    assert emulator.control.token_calls() == token_calls + 1  # no retry loop

    for url in ("/admin/", "/admin/quickbooks_integration/quickbooksauth/", "/admin/auth/user/"):
        page = su_client.get(url)
        assert page.status_code == 200
        assert b'id="quickbooks-banner"' in page.content, url
        assert b"Reconnect QuickBooks" in page.content
    page = su_client.get("/admin/quickbooks_integration/quickbooksauth/")
    assert b'id="qbo-reconnect"' in page.content and b"Needs reconnect" in page.content


def test_reconnect_after_invalid_grant_clears_the_banner(
    connected, emulator, su_client, django_capture_on_commit_callbacks
):
    from .conftest import oauth_flow

    QuickBooksAuth.objects.filter(pk=connected.pk).update(status=QuickBooksAuth.Status.NEEDS_RECONNECT)
    with django_capture_on_commit_callbacks(execute=True):
        response, _ = oauth_flow(su_client, emulator)
    assert response["Location"] == "/admin/quickbooks_integration/quickbooksauth/"
    assert _fresh(connected).status == QuickBooksAuth.Status.CONNECTED
    assert QuickBooksAuth.objects.count() == 1
    assert b'id="quickbooks-banner"' not in su_client.get("/admin/").content
    assert AuditEvent.objects.filter(action="reconnect").count() == 1


def test_second_401_after_refresh_needs_reconnect(connected, emulator):
    emulator.control.fail_next("/companyinfo/", status=401, count=2)
    reads, token_calls = emulator.control.count("/companyinfo/"), emulator.control.token_calls()
    with pytest.raises(errors.ReconnectRequiredError):
        client.qbo_read_company_info(connection=connected)
    assert _fresh(connected).status == QuickBooksAuth.Status.NEEDS_RECONNECT
    assert emulator.control.count("/companyinfo/") == reads + 2
    assert emulator.control.token_calls() == token_calls + 1


def test_429_with_xml_body_retried_after_backoff(connected, emulator):
    emulator.control.fail_next("/companyinfo/", status=429)
    sleeper = Sleeper()

    info = client.qbo_read_company_info(connection=connected, sleeper=sleeper)

    assert info["CompanyName"] == "Sandbox Company_US_1"
    statuses = [c["status"] for c in emulator.control.requests("/companyinfo/")]
    assert statuses[-2:] == [429, 200]
    assert len(sleeper.delays) == 1
    assert 60.0 <= sleeper.delays[0] <= 66.0  # Intuit: wait 60 s; plus jitter


def test_429_retry_after_header_is_honoured(connected, emulator):
    emulator.control.fail_next("/companyinfo/", status=429, retry_after=90)
    sleeper = Sleeper()
    client.qbo_read_company_info(connection=connected, sleeper=sleeper)
    assert 90.0 <= sleeper.delays[0] <= 96.0


def test_two_503s_then_success_with_exponential_backoff(connected, emulator):
    emulator.control.fail_next("/companyinfo/", status=503, count=2)
    sleeper = Sleeper()

    client.qbo_read_company_info(connection=connected, sleeper=sleeper)

    assert [c["status"] for c in emulator.control.requests("/companyinfo/")][-3:] == [503, 503, 200]
    assert len(sleeper.delays) == 2
    assert 0.5 <= sleeper.delays[0] <= 1.0  # base 1 s, equal jitter
    assert 1.0 <= sleeper.delays[1] <= 2.0


def test_retries_are_capped(connected, emulator, settings):
    settings.QUICKBOOKS_MAX_ATTEMPTS = 3
    emulator.control.clear_requests()
    emulator.control.fail_next("/companyinfo/", status=502, count=10)
    sleeper = Sleeper()
    with pytest.raises(errors.TransientError):
        client.qbo_read_company_info(connection=connected, sleeper=sleeper)
    assert emulator.control.count("/companyinfo/") == 3
    assert len(sleeper.delays) == 2


def test_system_fault_500_is_resubmitted_once(connected, emulator):
    emulator.control.clear_requests()
    emulator.control.fail_next("/companyinfo/", status=500, count=5)
    with pytest.raises(errors.TransientError) as caught:
        client.qbo_read_company_info(connection=connected, sleeper=Sleeper())
    assert caught.value.code == "10000"
    assert emulator.control.count("/companyinfo/") == 2


def test_3100_is_not_retried_and_recorded(connected, emulator):
    emulator.control.clear_requests()
    emulator.control.fail_next("/companyinfo/", status=403)
    with pytest.raises(errors.RealmNotAuthorizedError):
        client.qbo_read_company_info(connection=connected, sleeper=Sleeper())
    assert emulator.control.count("/companyinfo/") == 1
    assert "3100" in _fresh(connected).last_error


def test_timeout_is_retried(connected, emulator, settings):
    settings.QUICKBOOKS_READ_TIMEOUT = 0.3
    emulator.control.delay_next("/companyinfo/", seconds=1.0)
    sleeper = Sleeper()
    info = client.qbo_read_company_info(connection=connected, sleeper=sleeper)
    assert info["CompanyName"]
    assert len(sleeper.delays) == 1


def test_query_pages_by_startposition(connected, emulator):
    emulator.control.clear_requests()
    total = client.qbo_count(connection=connected, entity="Customer")
    rows = list(client.qbo_query(connection=connected, sql="SELECT * FROM Customer ORDERBY Id", page_size=10))
    assert len(rows) == total
    assert len({row["Id"] for row in rows}) == total
    assert emulator.control.count("/query") == 1 + (total // 10) + 1


def test_create_with_request_id_survives_a_dropped_response(connected, emulator):
    before = client.qbo_count(connection=connected, entity="Customer")
    request_id = uuid.uuid4().hex
    emulator.control.drop_response_next("/customer", method="POST", mode="500")

    created = client.qbo_create(
        connection=connected,
        entity="Customer",
        payload={"DisplayName": "Drop Test Co"},
        request_id=request_id,
        sleeper=Sleeper(),
    )

    assert created["DisplayName"] == "Drop Test Co"
    assert client.qbo_count(connection=connected, entity="Customer") == before + 1
    outcomes = [c["outcome"] for c in emulator.control.requests("/customer", "POST")]
    assert outcomes == ["dropped", "replayed"]


def test_typed_errors_for_business_faults(connected, emulator):
    existing = next(client.qbo_query(connection=connected, sql="SELECT * FROM Customer ORDERBY Id", page_size=1))
    with pytest.raises(errors.DuplicateNameError):
        client.qbo_create(
            connection=connected,
            entity="Customer",
            payload={"DisplayName": existing["DisplayName"]},
            request_id=uuid.uuid4().hex,
        )
    with pytest.raises(errors.StaleObjectError):
        client.qbo_update(
            connection=connected,
            entity="Customer",
            payload={"Id": existing["Id"], "SyncToken": "999", "sparse": True, "Notes": "x"},
            request_id=uuid.uuid4().hex,
        )
    with pytest.raises(errors.NotFoundError):
        client.qbo_read(connection=connected, entity="Customer", entity_id="999999")


def test_call_counts_per_connection(connected, emulator):
    before = client.qbo_call_counts(connection=connected)["api"]
    client.qbo_read_company_info(connection=connected)
    client.qbo_count(connection=connected, entity="Item")
    assert client.qbo_call_counts(connection=connected)["api"] == before + 2
    assert call_counts()["api"] >= 2


def test_not_connected_raises(connected, emulator, su_client):
    su_client.post("/quickbooks/disconnect/")
    with pytest.raises(errors.NotConnectedError):
        client.qbo_read_company_info(connection=_fresh(connected))


def test_batch_returns_one_answer_per_item(connected, emulator):
    items = [
        {"bId": "1", "operation": "create", "Customer": {"DisplayName": "Batch One Ltd"}},
        {"bId": "2", "Query": "SELECT * FROM Item MAXRESULTS 2"},
    ]
    answers = client.qbo_batch(connection=connected, items=items, request_id=uuid.uuid4().hex[:30])
    by_id = {answer["bId"]: answer for answer in answers}
    assert by_id["1"]["Customer"]["DisplayName"] == "Batch One Ltd"
    assert len(by_id["2"]["QueryResponse"]["Item"]) == 2


def test_cdc_reports_changes_since(connected, emulator):
    since = (timezone.now() - timedelta(minutes=1)).isoformat(timespec="seconds")
    client.qbo_create(
        connection=connected, entity="Customer", payload={"DisplayName": "CDC Fresh Co"}, request_id=uuid.uuid4().hex
    )
    changes = client.qbo_cdc(connection=connected, entities=["Customer", "Invoice"], changed_since=since)
    assert "CDC Fresh Co" in {row.get("DisplayName") for row in changes["Customer"]}


def test_lost_refresh_response_is_retried_with_the_stored_token(connected, emulator):
    """Fault 3: the server rotated, the answer was lost; the retry with the old token (24 h grace) succeeds."""
    emulator.control.drop_response_next("/oauth2/v1/tokens/bearer", method="POST")
    QuickBooksAuth.objects.filter(pk=connected.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    connection = _fresh(connected)
    token_calls = emulator.control.token_calls()
    sleeper = Sleeper()

    info = client.qbo_read_company_info(connection=connection, sleeper=sleeper)

    assert info["CompanyName"] == "Sandbox Company_US_1"
    assert emulator.control.token_calls() == token_calls + 2
    assert len(sleeper.delays) == 1
    row = _fresh(connected)
    assert row.status == QuickBooksAuth.Status.CONNECTED and row.refresh_token == connection.refresh_token


def test_insecure_transport_only_for_a_loopback_emulator(settings, monkeypatch):
    from quickbooks_integration.qbo.http import insecure_transport_allow

    monkeypatch.delenv("OAUTHLIB_INSECURE_TRANSPORT", raising=False)
    settings.QUICKBOOKS_ENVIRONMENT = "emulator"
    settings.QUICKBOOKS_EMULATOR_URL = "http://qbo-emulator.example.com:8765"
    insecure_transport_allow()
    assert "OAUTHLIB_INSECURE_TRANSPORT" not in __import__("os").environ
    settings.QUICKBOOKS_ENVIRONMENT = "production"
    settings.QUICKBOOKS_EMULATOR_URL = "http://127.0.0.1:8765"
    insecure_transport_allow()
    assert "OAUTHLIB_INSECURE_TRANSPORT" not in __import__("os").environ
    settings.QUICKBOOKS_ENVIRONMENT = "emulator"
    insecure_transport_allow()
    assert __import__("os").environ["OAUTHLIB_INSECURE_TRANSPORT"] == "1"


def test_refresh_token_past_its_lifetime_leads_to_reconnect(connected, emulator):
    emulator.control.advance_clock(8726400 + 60)  # past x_refresh_token_expires_in at the emulator
    with pytest.raises(errors.ReconnectRequiredError):
        client.qbo_read_company_info(connection=connected, sleeper=Sleeper())
    assert _fresh(connected).status == QuickBooksAuth.Status.NEEDS_RECONNECT
