"""Management commands and django-q2 tasks of the integration, against the emulator."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_q.models import Schedule

from quickbooks_integration.models import QuickBooksAuth, SyncRun
from quickbooks_integration.schedules import schedules_ensure
from quickbooks_integration.tasks import initial_sync_task, keepalive_task

pytestmark = pytest.mark.django_db


def test_quickbooks_connect_runs_the_real_flow_via_the_consent_form(emulator, superuser, capsys):
    call_command("quickbooks_connect")

    out = capsys.readouterr().out
    row = QuickBooksAuth.objects.get()
    assert "Connected to Sandbox Company_US_1" in out and row.company_id in out
    assert row.status == QuickBooksAuth.Status.CONNECTED and row.connected_by == superuser
    assert emulator.control.count("/connect/oauth2", "POST") == 1  # the Connect button was pressed
    assert emulator.control.token_calls() == 1
    assert row.access_token not in out and row.refresh_token not in out


def test_quickbooks_connect_with_auto_approve(emulator, superuser, capsys):
    emulator.control.set_auto_approve(True)
    call_command("quickbooks_connect")
    assert emulator.control.count("/connect/oauth2", "POST") == 0
    assert QuickBooksAuth.objects.get().company_name == "Sandbox Company_US_1"


def test_quickbooks_connect_refuses_outside_the_emulator(settings, superuser):
    settings.QUICKBOOKS_ENVIRONMENT = "sandbox"
    with pytest.raises(CommandError, match="emulator"):
        call_command("quickbooks_connect")


def test_quickbooks_status_prints_state_but_no_tokens(connected, capsys):
    call_command("quickbooks_status")
    out = capsys.readouterr().out
    assert "Sandbox Company_US_1" in out and "Connected" in out and "initial" in out
    assert connected.access_token not in out and connected.refresh_token not in out


def test_keepalive_refreshes_idle_connections_only(connected, emulator):
    token_calls = emulator.control.token_calls()
    assert keepalive_task() == 0  # refreshed at connect time: not due
    QuickBooksAuth.objects.filter(pk=connected.pk).update(last_refreshed_at=timezone.now() - timedelta(hours=30))
    old_refresh = connected.refresh_token

    assert keepalive_task() == 1

    assert emulator.control.token_calls() == token_calls + 1
    assert QuickBooksAuth.objects.get().refresh_token != old_refresh


def test_keepalive_schedule_exists_once(db):
    assert Schedule.objects.filter(name="quickbooks-keepalive").count() == 1  # created by migration 0003
    schedules_ensure()
    schedules_ensure()
    schedule = Schedule.objects.get(name="quickbooks-keepalive")
    assert schedule.func == "quickbooks_integration.tasks.keepalive_task"


def test_initial_sync_records_failure_as_a_row(connected, emulator):
    emulator.control.fail_next("/companyinfo/", status=400, code="6000")
    run = SyncRun.objects.create(connection=connected, kind="initial")
    initial_sync_task(connected.pk, run.pk)
    run.refresh_from_db()
    assert run.status == SyncRun.Status.FAILED and "6000" in run.error


def test_initial_sync_task_runs_a_claimed_run_once(connected, emulator):
    run = SyncRun.objects.create(connection=connected, kind="initial")
    initial_sync_task(connected.pk, run.pk)
    calls = emulator.control.count("/v3/company/")
    initial_sync_task(connected.pk, run.pk)  # delivered twice: the second finds it claimed
    assert emulator.control.count("/v3/company/") == calls
    run.refresh_from_db()
    assert run.status == SyncRun.Status.SUCCEEDED and run.api_calls == 3
