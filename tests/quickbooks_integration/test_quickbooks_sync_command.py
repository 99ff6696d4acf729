"""`manage.py quickbooks_sync customers|items|estimates|invoices|payments|all [--full]` against the emulator's demo
company: what it prints, and that the demo's pulled documents reconcile with QuickBooks."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from crm.models import Invoice
from crm.roles import BOOKKEEPER
from qbo_emulator.testing import start_emulator
from quickbooks_integration.models import (
    MatchCandidate,
    QuickBooksAuth,
    QuickBooksSync,
    SyncFailure,
    SyncRun,
    fernet_caches_clear,
)
from quickbooks_integration.services.match_review import match_candidate_approve
from tests.crm.factories import UserFactory
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
    for key, label in (
        ("linked", "linked"),
        ("created", "created"),
        ("queued", "queued for review"),
        ("unchanged", "unchanged"),
        ("failed", "failed"),
    ):
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


def test_all_on_the_demo_books_reconciles_to_the_cent_and_a_review_decision_lets_waiting_documents_in(
    connected_demo,
):
    """The demo's two histories (the CRM's own and QuickBooks'): every pulled document agrees with QBO; documents of
    customers still in review wait, and the next changes run applies them once the bookkeeper approves the pair."""
    out = StringIO()
    call_command("quickbooks_sync", "all", stdout=out)
    output = out.getvalue()

    assert output.index("Items import") < output.index("Estimates import") < output.index("Invoices import")
    assert output.index("Invoices import") < output.index("Payments import")
    runs = {run.kind: run for run in SyncRun.objects.filter(kind__in=["estimates", "invoices", "payments"])}
    assert all(run.status == SyncRun.Status.SUCCEEDED for run in runs.values()) and len(runs) == 3
    assert all(run.stats["failed"] == run.stats["total_mismatch"] == 0 for run in runs.values())
    assert runs["invoices"].stats["created"] > 200 and runs["invoices"].stats["unlinked_customer"] > 0
    assert not SyncFailure.objects.filter(resolved_at__isnull=True).exists()
    reconciled = StringIO()
    call_command("quickbooks_reconcile", stdout=reconciled)
    assert "no differences" in reconciled.getvalue()

    waiting = QuickBooksSync.objects.filter(entity_type="Invoice", local_id__isnull=True)  # count() reads afresh
    candidate = (
        MatchCandidate.objects.filter(
            status=MatchCandidate.Status.PENDING, quickbooks_customer_id__in=_customers_of(waiting.all())
        )
        .order_by("-score", "pk")
        .first()
    )
    before = waiting.count()
    match_candidate_approve(candidate=candidate, actor=UserFactory(username="books", groups=[BOOKKEEPER]))
    out = StringIO()
    call_command("quickbooks_sync", "invoices", stdout=out)

    assert "(changes only (CDC)): succeeded." in out.getvalue()
    assert 0 < _figure(out.getvalue(), "created") == before - waiting.count()
    assert Invoice.objects.filter(contact=candidate.contact).exclude(quickbooks_invoice_id=None).exists()


def _customers_of(entries) -> set[str]:
    return {entry.payload["CustomerRef"]["value"] for entry in entries}
