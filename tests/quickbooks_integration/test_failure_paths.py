"""Failure paths against the running emulator: the OAuth server down, a throttle in a web request, a wrong key on
every admin page, Django's error reports, and no transaction across HTTP in the connect command."""

from __future__ import annotations

import socket
import threading
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connections
from django.utils import timezone

from quickbooks_integration.models import QuickBooksAuth, SyncRun, fernet_caches_clear
from quickbooks_integration.qbo import client, errors
from quickbooks_integration.qbo.http import discovery_cache_clear
from quickbooks_integration.qbo.tokens import connection_load
from quickbooks_integration.services.runs import sync_run_execute
from quickbooks_integration.services.sync import INITIAL

from .conftest import oauth_flow


def _closed_port_url() -> str:
    """A loopback URL nothing listens on: the OAuth server is down (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_quickbooks_connect_commits_tokens_before_calling_the_api(emulator, superuser):
    """The command must not hold a transaction across the exchange and CompanyInfo calls (STYLE §2): while the
    realm's CompanyInfo is delayed at the emulator, the command's database session is not inside a transaction."""
    from django.db import connection as db

    emulator.control.delay_next("/companyinfo/", seconds=1.5)
    with db.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    states: list[str] = []

    def observe():
        try:
            deadline = time.monotonic() + 1.2
            while time.monotonic() < deadline and not states:
                if emulator.control.count("/companyinfo/"):
                    with connections["default"].cursor() as cursor:
                        cursor.execute("SELECT state FROM pg_stat_activity WHERE pid = %s", [pid])
                        states.append(cursor.fetchone()[0])
                time.sleep(0.05)
        finally:
            connections.close_all()

    observer = threading.Thread(target=observe)
    observer.start()
    call_command("quickbooks_connect")
    observer.join()

    assert states and states[0] != "idle in transaction"
    assert QuickBooksAuth.objects.filter(company_id=emulator.realm_id).exists()


@pytest.mark.django_db
def test_sync_run_admin_pages_render_when_tokens_cannot_be_decrypted(connected, emulator, settings, su_client):
    """Fault 27: a wrong FERNET_KEYS must not 500 any admin page, the sync run's change page included."""
    run = SyncRun.objects.filter(connection=connected).first()
    settings.FERNET_KEYS = ["a-key-that-never-encrypted-anything"]
    fernet_caches_clear()

    for url in (
        "/admin/quickbooks_integration/syncrun/",
        f"/admin/quickbooks_integration/syncrun/{run.pk}/change/",
        f"/admin/quickbooks_integration/quickbooksauth/{connected.pk}/history/",
    ):
        page = su_client.get(url, follow=True)
        assert page.status_code == 200, url
        assert connected.company_id.encode() in page.content, url


@pytest.mark.django_db
def test_refresh_with_the_oauth_server_down_raises_a_typed_transient_error(connected, emulator, settings):
    """A refresh in a fresh worker (no cached discovery document) with Intuit unreachable: TransientError."""
    connection = connection_load(connection_id=connected.pk)
    QuickBooksAuth.objects.filter(pk=connected.pk).update(expires_at=timezone.now() - timedelta(seconds=5))
    connection.expires_at = timezone.now() - timedelta(seconds=5)
    settings.QUICKBOOKS_EMULATOR_URL = _closed_port_url()
    discovery_cache_clear()
    slept: list[float] = []

    with pytest.raises(errors.TransientError):
        client.qbo_read_company_info(connection=connection, sleeper=slept.append)

    row = QuickBooksAuth.objects.get(pk=connected.pk)
    assert row.status == QuickBooksAuth.Status.CONNECTED  # a transient outage never asks for a reconnect
    assert row.refresh_token == connected.refresh_token


@pytest.mark.django_db
def test_initial_sync_survives_the_oauth_server_being_down(connected, emulator, settings):
    """The run becomes a failed row, never stuck "running" (the task caught only QuickBooksError, and the keep-alive
    task likewise: a raw requests.ConnectionError escaped both)."""
    QuickBooksAuth.objects.filter(pk=connected.pk).update(expires_at=timezone.now() - timedelta(seconds=5))
    settings.QUICKBOOKS_EMULATOR_URL = _closed_port_url()
    discovery_cache_clear()

    run = sync_run_execute(connection_id=connected.pk, kind=INITIAL)

    assert run.status == SyncRun.Status.FAILED and "token endpoint unavailable" in run.error


@pytest.mark.django_db
def test_connect_with_the_oauth_server_down_shows_the_error_page(emulator, settings, su_client):
    settings.QUICKBOOKS_EMULATOR_URL = _closed_port_url()
    discovery_cache_clear()

    response = su_client.post("/quickbooks/connect/")

    assert response.status_code == 302
    page = su_client.get(response["Location"])
    assert page.status_code == 400
    assert b"did not answer" in page.content
    assert not QuickBooksAuth.objects.exists()


@pytest.mark.django_db
def test_technical_500_report_raised_inside_test_connection_hides_the_access_token(connected, emulator, superuser):
    """F3: an unexpected error below the Test connection view (here: the limiter's row write fails) must not put
    the access token of `qbo_call`/`_attempt`/`quickbooks_build` frames into Django's error report."""
    import sys

    from django.contrib.messages.storage.fallback import FallbackStorage
    from django.contrib.sessions.backends.db import SessionStore
    from django.db.models.signals import post_save
    from django.test import RequestFactory
    from django.views.debug import ExceptionReporter

    from quickbooks_integration.models import RealmSlot
    from quickbooks_integration.views import quickbooks_test_connection

    def explode(sender, instance, **kwargs):
        if instance.holder:
            raise RuntimeError("boom while leasing a limiter slot")

    request = RequestFactory().post("/quickbooks/test/")
    request.user = superuser
    request.session = SessionStore()
    request._messages = FallbackStorage(request)
    post_save.connect(explode, sender=RealmSlot, dispatch_uid="explode-slot")
    try:
        quickbooks_test_connection(request)
    except RuntimeError:
        exc_info = sys.exc_info()
    else:
        raise AssertionError("the view should have raised")
    finally:
        post_save.disconnect(dispatch_uid="explode-slot", sender=RealmSlot)

    html = ExceptionReporter(request, *exc_info).get_traceback_html()
    text = ExceptionReporter(request, *exc_info).get_traceback_text()
    assert "boom while leasing a limiter slot" in html and "_attempt" in html
    for secret in (connected.access_token, connected.refresh_token):
        assert secret not in html and secret not in text


@pytest.mark.django_db
def test_callback_never_sleeps_through_backoff_in_the_web_request(emulator, su_client, settings):
    """A throttled CompanyInfo read in the callback used to back off (≥ 60 s per 429, up to 5 attempts) inside the
    browser's request; a web server's timeout would then kill it. The callback reads once; since the realm has not
    answered for the new tokens, nothing is stored (a connection is connected only once its realm is proven), the
    new grant is revoked and the page says to try again."""
    settings.QUICKBOOKS_THROTTLE_WAIT_SECONDS = 0.01  # keeps this test fast if the request does back off
    settings.QUICKBOOKS_BACKOFF_CAP_SECONDS = 0.01
    emulator.control.fail_next("/companyinfo/", status=429)

    response, _ = oauth_flow(su_client, emulator)

    assert response.status_code == 302
    assert [r["status"] for r in emulator.control.requests("/companyinfo/")] == [429]  # no retry in the request
    assert not QuickBooksAuth.objects.exists()
    assert emulator.control.count("/revoke") == 1
    page = su_client.get(response["Location"])
    assert b"did not answer for the company" in page.content


@pytest.mark.django_db
def test_throttle_backoff_fits_inside_the_task_timeout(connected, emulator, settings):
    """Repeated 429s (Retry-After 120) used to make one call sleep ~4 × 120 s, past django-q's 300 s task timeout:
    the worker was killed mid-sleep and the run it had claimed stayed "running". The waits of one call now stop
    within a budget below that timeout, with a ThrottledError the caller records."""
    emulator.control.fail_next("/companyinfo/", status=429, count=10, retry_after=120)
    slept: list[float] = []

    with pytest.raises(errors.ThrottledError):
        client.qbo_read_company_info(connection=connected, sleeper=slept.append)

    assert slept and sum(slept) < settings.Q_CLUSTER["timeout"] - 60  # room for the calls themselves
    assert all(delay >= 120 for delay in slept)  # Retry-After is still honoured
