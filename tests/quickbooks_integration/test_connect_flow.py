"""The OAuth flow through the real views against the running emulator (issue 4, RELIABILITY A1–A3)."""

from __future__ import annotations

import pytest
from django.db import connection as db

from quickbooks_integration.models import AuditEvent, QuickBooksAuth, SyncRun
from tests.support.emulator import consent

from .conftest import local_path, oauth_flow

pytestmark = pytest.mark.django_db


def test_whole_flow_connects_reads_company_and_runs_initial_sync(
    emulator, su_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response, callback_url = oauth_flow(su_client, emulator)

    assert response.status_code == 302
    assert "code=" not in response["Location"]
    assert response["Location"] == "/admin/quickbooks_integration/quickbooksauth/"
    row = QuickBooksAuth.objects.get()
    assert row.company_id == emulator.realm_id
    assert row.status == QuickBooksAuth.Status.CONNECTED
    assert row.company_name == "Sandbox Company_US_1"
    assert row.access_token and row.refresh_token
    assert row.expires_at and row.refresh_expires_at
    assert row.connected_by.username == "root"
    assert emulator.control.count("/oauth2/v1/tokens/bearer", "POST") == 1
    run = SyncRun.objects.get(connection=row)
    assert run.kind == "initial" and run.status == SyncRun.Status.SUCCEEDED
    assert run.stats["company_name"] == "Sandbox Company_US_1"
    assert run.stats["customer_count"] > 0 and run.stats["item_count"] > 0
    assert run.api_calls == 3
    assert AuditEvent.objects.filter(action="connect", outcome="success").count() == 1

    page = su_client.get(response["Location"])
    html = page.content.decode()
    assert page.status_code == 200
    assert "Sandbox Company_US_1" in html and emulator.realm_id in html
    assert row.access_token not in html and row.refresh_token not in html
    assert 'id="qbo-disconnect"' in html and 'id="qbo-test"' in html
    assert "initial" in html


def test_access_denied_stores_nothing(emulator, su_client):
    response, _ = oauth_flow(su_client, emulator, decision="cancel")

    assert response.status_code == 302
    assert response["Location"].startswith("/quickbooks/error/?reason=access_denied")
    assert not QuickBooksAuth.objects.exists()
    assert emulator.control.token_calls() == 0
    page = su_client.get(response["Location"])
    assert page.status_code == 400
    assert b"not granted" in page.content


def _start(client, emulator) -> str:
    response = client.post("/quickbooks/connect/")
    assert response.status_code == 302
    return consent(emulator, response["Location"])


def _swap_state(url: str, state: str | None) -> str:
    from urllib.parse import parse_qsl, urlencode, urlsplit

    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    if state is None:
        query.pop("state")
    else:
        query["state"] = state
    return f"{parts.path}?{urlencode(query)}"


@pytest.mark.parametrize(
    ("label", "mutate"),
    [
        ("forged", lambda url: _swap_state(url, "forged-state-value")),
        ("missing", lambda url: _swap_state(url, None)),
    ],
)
def test_bad_state_is_rejected_and_nothing_exchanged(emulator, su_client, label, mutate):
    location = _start(su_client, emulator)
    response = su_client.get(mutate(location))

    assert response.status_code == 302
    assert response["Location"].startswith("/quickbooks/error/?reason=state_")
    assert "code=" not in response["Location"]
    assert not QuickBooksAuth.objects.exists()
    assert emulator.control.token_calls() == 0


def test_expired_state_is_rejected(emulator, su_client, settings):
    settings.QUICKBOOKS_STATE_MAX_AGE_SECONDS = -1
    location = _start(su_client, emulator)
    response = su_client.get(local_path(location))

    assert response["Location"] == "/quickbooks/error/?reason=state_expired"
    assert not QuickBooksAuth.objects.exists()
    assert emulator.control.token_calls() == 0


def test_reused_state_is_rejected(emulator, su_client, django_capture_on_commit_callbacks):
    location = _start(su_client, emulator)
    with django_capture_on_commit_callbacks(execute=True):
        first = su_client.get(local_path(location))
    assert first["Location"] == "/admin/quickbooks_integration/quickbooksauth/"
    before = QuickBooksAuth.objects.get()
    tokens = (before.access_token, before.refresh_token)

    replay = su_client.get(local_path(location))

    assert replay["Location"] == "/quickbooks/error/?reason=state_missing"
    assert emulator.control.token_calls() == 1
    after = QuickBooksAuth.objects.get()
    assert (after.access_token, after.refresh_token) == tokens


def test_state_from_another_session_is_rejected(emulator, su_client, client_factory_superuser):
    location = _start(su_client, emulator)
    other = client_factory_superuser()
    response = other.get(local_path(location))

    assert response["Location"].startswith("/quickbooks/error/?reason=state_")
    assert not QuickBooksAuth.objects.exists()
    assert emulator.control.token_calls() == 0


def test_two_connect_starts_get_different_states(emulator, su_client):
    from urllib.parse import parse_qs, urlsplit

    first = su_client.post("/quickbooks/connect/")["Location"]
    second = su_client.post("/quickbooks/connect/")["Location"]
    state_1 = parse_qs(urlsplit(first).query)["state"][0]
    state_2 = parse_qs(urlsplit(second).query)["state"][0]
    assert state_1 != state_2 and len(state_1) >= 43


def test_token_endpoint_down_exchanges_once_and_stores_nothing(emulator, su_client):
    location = _start(su_client, emulator)
    emulator.control.fail_next("/oauth2/v1/tokens/bearer", status=500)

    response = su_client.get(local_path(location))

    assert response["Location"] == "/quickbooks/error/?reason=exchange_failed"
    assert emulator.control.token_calls() == 1
    assert not QuickBooksAuth.objects.exists()


def test_callback_without_code(emulator, su_client):
    location = _start(su_client, emulator)
    from urllib.parse import parse_qsl, urlencode, urlsplit

    query = dict(parse_qsl(urlsplit(location).query))
    query.pop("code")
    response = su_client.get(f"/quickbooks/callback/?{urlencode(query)}")

    assert response["Location"] == "/quickbooks/error/?reason=no_code"
    assert not QuickBooksAuth.objects.exists()


def test_second_company_is_refused_and_first_kept(connected, emulator, su_client):
    before = QuickBooksAuth.objects.get()
    location = _start(su_client, emulator)
    forged_realm = location.replace(f"realmId={emulator.realm_id}", "realmId=1234567890")

    response = su_client.get(local_path(forged_realm))

    assert response["Location"] == "/quickbooks/error/?reason=second_company"
    after = QuickBooksAuth.objects.get()
    assert (after.company_id, after.refresh_token, after.status) == (
        before.company_id,
        before.refresh_token,
        before.status,
    )
    assert emulator.control.token_calls() == 1  # only the first connect's exchange


def test_tokens_are_ciphertext_at_rest(connected):
    with db.cursor() as cursor:
        cursor.execute("SELECT access_token, refresh_token FROM quickbooks_integration_quickbooksauth")
        raw_access, raw_refresh = cursor.fetchone()
    raw = bytes(raw_access).decode() + bytes(raw_refresh).decode()
    assert connected.access_token not in raw and connected.refresh_token not in raw
    assert raw.startswith("gAAAAA")  # Fernet token version byte, base64


def test_expired_authorization_code_restarts_the_flow(emulator, su_client):
    location = _start(su_client, emulator)
    emulator.control.advance_clock(601)  # auth codes live 10 minutes at the emulator

    response = su_client.get(local_path(location))

    assert response["Location"] == "/quickbooks/error/?reason=exchange_failed"
    assert emulator.control.token_calls() == 1
    assert not QuickBooksAuth.objects.exists()


def test_token_endpoint_timeout_is_not_retried(emulator, su_client, settings):
    settings.QUICKBOOKS_READ_TIMEOUT = 0.3
    location = _start(su_client, emulator)
    emulator.control.delay_next("/oauth2/v1/tokens/bearer", seconds=1.0)

    response = su_client.get(local_path(location))

    assert response["Location"] == "/quickbooks/error/?reason=exchange_down"
    assert emulator.control.token_calls() == 1
    assert not QuickBooksAuth.objects.exists()
