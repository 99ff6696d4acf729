"""The bookkeeper reads the failure rows, the ledger and the runs (interrupted shown as such) in the admin."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from quickbooks_integration.models import SyncFailure, SyncRun
from quickbooks_integration.qbo.errors import StaleObjectError
from quickbooks_integration.services.failures import failure_record
from quickbooks_integration.services.runs import sync_run_claim

pytestmark = pytest.mark.django_db


@pytest.fixture
def bookkeeper_client(client, django_user_model):
    user = django_user_model.objects.create_user("bookkeeper-1", password="pw-bk-12345", is_staff=True)
    user.groups.add(Group.objects.get(name="Bookkeeper"))
    client.force_login(user)
    return client


def test_failure_rows_keep_qbos_words_and_count_attempts(connected, bookkeeper_client):
    error = StaleObjectError("Stale Object Error", code="5010", detail="You and someone else", intuit_tid="tid-42")
    for _ in range(2):
        failure_record(
            kind="customer_push",
            key="customer_push:contact:7",
            direction="push",
            error=error,
            connection_id=connected.pk,
            entity_type="Customer",
            entity_id="58",
        )

    failure = SyncFailure.objects.get()
    assert (failure.code, failure.intuit_tid, failure.attempts, failure.error_class) == (
        "5010",
        "tid-42",
        2,
        "StaleObjectError",
    )
    page = bookkeeper_client.get("/admin/quickbooks_integration/syncfailure/?open=yes")
    assert page.status_code == 200 and b"Customer 58" in page.content and b"Stale Object Error" in page.content
    connection_page = bookkeeper_client.get("/admin/quickbooks_integration/quickbooksauth/")
    assert b"1 open" in connection_page.content and b"customer_push" in connection_page.content


def test_ledger_and_runs_pages_render_for_the_bookkeeper(connected, bookkeeper_client):
    stuck = sync_run_claim(connection_id=connected.pk, kind="initial")
    SyncRun.objects.filter(pk=stuck.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=5))

    ledger = bookkeeper_client.get("/admin/quickbooks_integration/quickbookssync/")
    runs = bookkeeper_client.get("/admin/quickbooks_integration/syncrun/")
    connection_page = bookkeeper_client.get("/admin/quickbooks_integration/quickbooksauth/")

    assert ledger.status_code == 200 and b"CompanyInfo" in ledger.content
    assert runs.status_code == 200 and b"Interrupted" in runs.content
    assert b'data-state="interrupted"' in connection_page.content


def test_staff_cannot_read_failure_rows(connected, client, django_user_model):
    user = django_user_model.objects.create_user("staff-9", password="pw-staff-12345", is_staff=True)
    user.groups.add(Group.objects.get(name="Staff"))
    client.force_login(user)

    assert client.get("/admin/quickbooks_integration/syncfailure/").status_code == 403
