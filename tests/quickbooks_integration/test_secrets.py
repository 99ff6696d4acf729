"""No token or code in logs, pages or Django's error reports (RELIABILITY F3, finding 10)."""

from __future__ import annotations

import logging
import sys
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db.models.signals import post_save
from django.test import RequestFactory
from django.views.debug import ExceptionReporter

from quickbooks_integration.models import QuickBooksAuth
from quickbooks_integration.qbo import client
from tests.support.emulator import consent

from .conftest import local_path, oauth_flow

pytestmark = pytest.mark.django_db


def test_logs_of_a_whole_flow_contain_no_secret(
    emulator, su_client, caplog, django_capture_on_commit_callbacks, settings
):
    caplog.set_level(logging.DEBUG)
    with django_capture_on_commit_callbacks(execute=True):
        response, callback_url = oauth_flow(su_client, emulator)
    row = QuickBooksAuth.objects.get()
    secrets = {
        row.access_token,
        row.refresh_token,
        parse_qs(urlsplit(callback_url).query)["code"][0],
        settings.QUICKBOOKS_CLIENT_SECRET,
    }
    emulator.control.expire_access_tokens()
    client.qbo_read_company_info(connection=row)  # 401 → refresh → retry
    emulator.control.fail_next("/companyinfo/", status=429)
    client.qbo_read_company_info(connection=row, sleeper=lambda s: None)
    su_client.post("/quickbooks/disconnect/")
    secrets |= {row.access_token, row.refresh_token}

    text = "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in caplog.records)
    assert caplog.records, "the flow should log something"
    for secret in secrets:
        assert secret not in text


def _callback_exc_info(request):
    """Call the view and return exc_info caught here, so the traceback starts at the view (as Django's handler)."""
    from quickbooks_integration.views import quickbooks_callback

    try:
        quickbooks_callback(request)
    except RuntimeError:
        return sys.exc_info()
    raise AssertionError("the callback should have raised")


def test_technical_500_report_raised_inside_the_callback_hides_code_and_tokens(emulator, su_client, superuser):
    from django.contrib.messages.storage.fallback import FallbackStorage

    def explode(sender, instance, **kwargs):
        raise RuntimeError("boom while saving the connection")

    start = su_client.post("/quickbooks/connect/")
    location = consent(emulator, start["Location"])
    query = parse_qs(urlsplit(location).query)
    request = RequestFactory().get(local_path(location))
    request.user = superuser
    request.session = su_client.session
    request._messages = FallbackStorage(request)
    post_save.connect(explode, sender=QuickBooksAuth, dispatch_uid="explode")
    try:
        exc_info = _callback_exc_info(request)
    finally:
        post_save.disconnect(dispatch_uid="explode", sender=QuickBooksAuth)

    html = ExceptionReporter(request, *exc_info).get_traceback_html()
    text = ExceptionReporter(request, *exc_info).get_traceback_text()
    assert "boom while saving the connection" in html
    assert "connect_complete" in html and "_connection_store" in html  # the frames are there…
    for secret in (query["code"][0], query["state"][0], emulator.client_secret):
        assert secret not in html and secret not in text  # …their secrets are not
    for token_prefix in ("eyJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiYWxnIjoiZGlyIn0..", "RT1-"):  # emulator token shapes
        assert token_prefix not in html and token_prefix not in text
    assert not QuickBooksAuth.objects.exists()


def test_connection_page_never_shows_tokens_or_ciphertext(connected, su_client):
    from django.db import connection as db

    with db.cursor() as cursor:
        cursor.execute("SELECT access_token, refresh_token FROM quickbooks_integration_quickbooksauth")
        ciphertexts = [bytes(v).decode() for v in cursor.fetchone()]
    for url in (
        "/admin/quickbooks_integration/quickbooksauth/",
        "/admin/quickbooks_integration/syncrun/",
        "/admin/quickbooks_integration/auditevent/",
        f"/admin/quickbooks_integration/syncrun/{connected.runs.get().pk}/change/",
    ):
        page = su_client.get(url, follow=True)
        assert page.status_code == 200, url
        html = page.content.decode()
        for value in (connected.access_token, connected.refresh_token, *ciphertexts):
            assert value not in html, url


def test_no_module_level_auth_client_and_every_authorization_url_passes_state():
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[2] / "quickbooks_integration"
    for path in root.rglob("*.py"):
        source = path.read_text()
        for line in source.splitlines():
            assert not re.match(r"^\w+\s*=\s*(QuickBooksAuth)?AuthClient\(", line), path
        for call in re.findall(r"get_authorization_url\(([^)]*)\)", source):
            assert "state_token=" in call, path
