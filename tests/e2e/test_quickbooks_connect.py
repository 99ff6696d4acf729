"""The superuser connects QuickBooks in a real browser: log in, Connect, approve on the emulator, see the company."""

from __future__ import annotations

import pytest

from quickbooks_integration.models import QuickBooksAuth, SyncRun
from tests.support.emulator import emulator_use

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def emulator(emulator_server, settings, live_server):
    return emulator_use(emulator_server, settings, redirect_uri=f"{live_server.url}/quickbooks/callback/")


def test_superuser_connects_quickbooks_in_chromium(page, live_server, emulator, django_user_model):
    django_user_model.objects.create_superuser("admin", "admin@example.com", "pw-admin-12345")

    page.goto(f"{live_server.url}/admin/login/?next=/admin/quickbooks_integration/quickbooksauth/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "pw-admin-12345")
    page.click("input[type=submit]")
    assert page.inner_text("#qbo-status") == "Not connected"

    page.click("#qbo-connect")
    page.wait_for_url(f"{emulator.url}/connect/oauth2**")
    assert page.inner_text("#company") == "Sandbox Company_US_1"
    page.click("#connect")

    page.wait_for_url(f"{live_server.url}/admin/quickbooks_integration/quickbooksauth/")
    assert page.inner_text("#qbo-company") == "Sandbox Company_US_1"
    assert page.inner_text("#qbo-status") == "Connected"
    assert page.inner_text("#qbo-realm") == emulator.realm_id
    assert "Connected to Sandbox Company_US_1" in page.inner_text("ul.messagelist")
    assert "initial" in page.inner_text("#quickbooks-runs")
    row = QuickBooksAuth.objects.get()
    assert row.access_token not in page.content()
    assert SyncRun.objects.get(connection=row).status == SyncRun.Status.SUCCEEDED
