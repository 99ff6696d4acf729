"""Connection defects found by probing it as an attacker and as a flaky network would (issue 8), and the write
guard: each test failed before its fix."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from django.utils import timezone

from quickbooks_integration.models import QuickBooksAuth, RealmSlot
from quickbooks_integration.qbo import client, errors
from quickbooks_integration.qbo.limiter import RealmLimiter
from quickbooks_integration.qbo.tokens import connection_refresh
from quickbooks_integration.services.connection import connection_test

from .conftest import local_path

pytestmark = pytest.mark.django_db

TOKEN_PATH = "/oauth2/v1/tokens/bearer"


class Sleeper:
    def __init__(self):
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def _callback(su_client, emulator, **overrides) -> str:
    """Start the flow, approve on the emulator, and return the callback URL with `overrides` in its query."""
    start = su_client.post("/quickbooks/connect/")
    params = emulator.approve(start["Location"])
    redirect_uri = dict(parse_qsl(urlsplit(start["Location"]).query))["redirect_uri"]
    return local_path(f"{redirect_uri}?{urlencode({**params, **overrides})}")


@pytest.mark.parametrize("body", ["{}", '{"access_token": null, "refresh_token": null}', "<html>proxy</html>"])
def test_a_token_answer_without_tokens_keeps_the_stored_ones(connected, emulator, body):
    """A 200 `{}` used to set both tokens to NULL while the status stayed "connected"; a non-JSON 200 raised a raw
    JSONDecodeError (a 500 on the callback and on Test connection)."""
    before = QuickBooksAuth.objects.get(pk=connected.pk)
    emulator.control.fail_next(TOKEN_PATH, status=200, count=3, body=body, content_type="application/json")

    with pytest.raises(errors.TokenResponseError):
        connection_refresh(connection_id=connected.pk, force=True, sleeper=Sleeper())

    after = QuickBooksAuth.objects.get(pk=connected.pk)
    assert after.access_token == before.access_token and after.refresh_token == before.refresh_token
    assert after.status == QuickBooksAuth.Status.CONNECTED and "without usable tokens" in after.last_error
    emulator.control.clear_faults()
    assert client.qbo_read_company_info(connection=after)["CompanyName"]  # the kept tokens still work


@pytest.mark.parametrize("body", ["{}", "not json at all"])
def test_callback_with_a_token_answer_without_tokens_stores_nothing(emulator, su_client, body):
    url = _callback(su_client, emulator)
    emulator.control.fail_next(TOKEN_PATH, status=200, body=body, content_type="application/json")

    response = su_client.get(url)

    assert response.status_code == 302 and "bad_token_response" in response["Location"]
    assert not QuickBooksAuth.objects.exists()
    assert b"without tokens" in su_client.get(response["Location"]).content


def test_callback_does_not_trust_the_realm_in_the_url(emulator, su_client):
    """A code issued for realm A with `realmId=B` in the query used to save a "connected" row for B holding A's
    tokens; the realm must answer for the tokens before anything is stored, and the grant is given back."""
    url = _callback(su_client, emulator, realmId="4620816365999999999")

    response = su_client.get(url)

    assert response.status_code == 302 and "realm_mismatch" in response["Location"]
    assert not QuickBooksAuth.objects.exists()
    assert emulator.control.count("/revoke") == 1
    assert [r["status"] for r in emulator.control.requests("/companyinfo/")] == [403]


def test_test_connection_against_a_throttled_realm_answers_at_once(connected, emulator, su_client):
    """The emulator throttles the realm: one attempt, no 60-second backoff inside the browser's request."""
    emulator.control.throttle(per_minute=1)  # connecting already used this minute's call
    sleeper = Sleeper()

    with pytest.raises(errors.ThrottledError):
        connection_test(connection=QuickBooksAuth.objects.get(pk=connected.pk), sleeper=sleeper)

    assert sleeper.delays == []
    response = su_client.post("/quickbooks/test/", follow=True)
    assert b"Test connection failed" in response.content


def test_test_connection_against_a_saturated_local_limiter_stays_within_the_budget(connected, emulator, settings):
    """Every slot of the realm leased by other workers: the limiter waits through the caller's sleeper, no longer
    than the interactive budget, then raises a typed error without sending anything."""
    settings.QUICKBOOKS_INTERACTIVE_WAIT_SECONDS = 2.0
    limiter = RealmLimiter(realm_id=connected.realm_id)
    limiter._ensure_rows()
    RealmSlot.objects.filter(realm_id=connected.realm_id).update(
        holder="other-worker", lease_until=timezone.now().timestamp() + 600
    )
    emulator.control.clear_requests()
    sleeper = Sleeper()

    with pytest.raises(errors.ThrottledError, match="busy for this company"):
        connection_test(connection=QuickBooksAuth.objects.get(pk=connected.pk), sleeper=sleeper)

    assert sleeper.delays and sum(sleeper.delays) <= 2.0
    assert emulator.control.requests("/v3/company/") == []


def test_a_background_call_never_waits_past_the_retry_budget(connected, emulator, settings):
    settings.QUICKBOOKS_RETRY_BUDGET_SECONDS = 30.0
    RealmLimiter(realm_id=connected.realm_id)._ensure_rows()
    RealmSlot.objects.filter(realm_id=connected.realm_id).update(
        holder="other-worker", lease_until=timezone.now().timestamp() + 600
    )
    sleeper = Sleeper()

    with pytest.raises(errors.RealmBusyError):
        client.qbo_read_company_info(connection=connected, sleeper=sleeper)

    assert 0 < sum(sleeper.delays) <= 30.0 + 1e-6  # no transport retry after the limiter spent the budget


@pytest.mark.parametrize("request_id", ["", None, "x" * 51])
def test_writes_refuse_a_missing_or_overlong_request_id_before_sending(connected, emulator, request_id):
    """The `requestid` guard: without it a retried create can make a second object (API.md §3.4)."""
    emulator.control.clear_requests()
    with pytest.raises(ValueError, match="request_id"):
        client.qbo_create(connection=connected, entity="Customer", payload={"DisplayName": "X"}, request_id=request_id)
    with pytest.raises(ValueError, match="request_id"):
        client.qbo_update(
            connection=connected, entity="Customer", payload={"Id": "1", "SyncToken": "0"}, request_id=request_id
        )
    with pytest.raises(ValueError, match="request_id"):
        client.qbo_batch(
            connection=connected, items=[{"bId": "1", "Query": "SELECT * FROM Term"}], request_id=request_id
        )
    assert emulator.control.requests("/v3/company/") == []


def test_every_write_carries_its_request_id(connected, emulator):
    emulator.control.clear_requests()
    client.qbo_create(connection=connected, entity="Customer", payload={"DisplayName": "Rid Co"}, request_id="rid-1")
    client.qbo_batch(connection=connected, items=[{"bId": "1", "Query": "SELECT * FROM Term"}], request_id="rid-2")

    posts = emulator.control.requests("/v3/company/", method="POST")
    assert [r["query"].get("requestid") for r in posts] == ["rid-1", "rid-2"]


def test_connection_status_stays_consistent_after_a_lost_refresh(connected, emulator):
    QuickBooksAuth.objects.filter(pk=connected.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    emulator.control.fail_next(TOKEN_PATH, status=200, count=3, body="{}", content_type="application/json")

    with pytest.raises(errors.TokenResponseError):
        client.qbo_read_company_info(connection=QuickBooksAuth.objects.get(pk=connected.pk), sleeper=Sleeper())

    row = QuickBooksAuth.objects.get(pk=connected.pk)
    assert row.access_token and row.refresh_token and row.status == QuickBooksAuth.Status.CONNECTED
