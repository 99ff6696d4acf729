"""`manage.py quickbooks_sync customers|items|all [--full]` against the emulator's demo company: what it prints."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from qbo_emulator.testing import start_emulator
from quickbooks_integration.models import QuickBooksAuth, SyncRun, fernet_caches_clear
from tests.support.emulator import emulator_use

from .conftest import CALLBACK, oauth_flow

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def demo_server():
    server = start_emulator(seed="demo")
    yield server
    server.stop()


@pytest.fixture
def connected_demo(demo_server, settings, su_client, django_capture_on_commit_callbacks) -> QuickBooksAuth:
    emulator_use(demo_server, settings, redirect_uri=CALLBACK)
    with django_capture_on_commit_callbacks(execute=True):
        response, _ = oauth_flow(su_client, demo_server)
    assert response.status_code == 302
    call_command("load_demo", stdout=StringIO())
    yield QuickBooksAuth.objects.get(company_id=demo_server.realm_id)
    fernet_caches_clear()


def _sync(*args: str) -> str:
    out = StringIO()
    call_command("quickbooks_sync", "customers", *args, stdout=out)
    return out.getvalue()


def _figure(output: str, label: str) -> int:
    return int(re.search(rf"^\s+{re.escape(label)}:\s+(\d+)$", output, re.MULTILINE).group(1))


def test_prints_what_the_import_did_and_the_calls_against_the_minimum(connected_demo):
    output = _sync()

    run = SyncRun.objects.get(kind="customers")
    assert f"Customers import #{run.pk} (full): succeeded." in output
    for key, label in (("linked", "linked"), ("created", "created"), ("queued", "queued for review"),
                       ("unchanged", "unchanged"), ("failed", "failed")):
        assert _figure(output, label) == run.stats[key], label
    assert _figure(output, "linked") >= 200 and _figure(output, "queued for review") > 0
    assert "API calls:                     2 made, 2 the minimum possible" in output


def test_a_second_run_reads_changes_only_and_reports_everything_unchanged(connected_demo):
    _sync()

    output = _sync()

    assert "(changes only (CDC)): succeeded." in output
    assert _figure(output, "linked") == _figure(output, "created") == _figure(output, "queued for review") == 0
    assert _figure(output, "unchanged") == 253
    assert "API calls:                     1 made, 1 the minimum possible" in output
    assert "(full): succeeded." in _sync("--full")


def test_a_failed_import_is_an_error_with_the_reason(connected_demo, demo_server):
    demo_server.control.revoke_connection()

    with pytest.raises(CommandError, match="reconnect"):
        _sync()

    assert SyncRun.objects.get(kind="customers").status == SyncRun.Status.FAILED
    with pytest.raises(CommandError, match="not connected"):  # the failure left the connection needing a reconnect
        _sync()


def test_all_runs_customers_then_items_and_prints_each(connected_demo):
    out = StringIO()
    call_command("quickbooks_sync", "all", stdout=out)
    output = out.getvalue()

    customers, items = SyncRun.objects.get(kind="customers"), SyncRun.objects.get(kind="items")
    assert output.index("Customers import") < output.index("Items import")
    assert f"Items import #{items.pk} (full): succeeded." in output
    assert _figure(output, "products created") == items.stats["created"]
    assert _figure(output, "products updated") == items.stats["updated"] > 0  # the demo CRM has its products
    assert customers.status == items.status == SyncRun.Status.SUCCEEDED
