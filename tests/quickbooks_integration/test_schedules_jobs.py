"""The background schedules (schedules.py, created by migrations) and what their tasks do (services/schedules_jobs.py):
CDC every 15 minutes queues each synced kind once, the nightly reconciliation queues full runs once, and the nightly
refresh stores overdue invoices and the CRM-owned contact summaries. Syncs run against the emulator over real HTTP."""

from __future__ import annotations

import datetime
import importlib
import uuid
import zoneinfo
from decimal import Decimal

import pytest
from django.apps import apps as django_apps
from django.utils import timezone
from django.utils.module_loading import import_string
from django_q.models import Schedule

from crm.models import Contact, PaymentStatus
from crm.services import payment_apply, payment_save
from quickbooks_integration.models import QuickBooksAuth, SyncRun
from quickbooks_integration.qbo.client import qbo_read, qbo_update
from quickbooks_integration.schedules import NIGHTLY, SCHEDULES
from quickbooks_integration.services.schedules_jobs import financials_refresh
from quickbooks_integration.tasks import financials_refresh_task, syncs_changes_task, syncs_full_task
from tests.crm.factories import ContactFactory, InvoiceFactory, PaymentFactory

pytestmark = pytest.mark.django_db
KINDS = ("customers", "items", "estimates", "invoices", "payments")


def _runs(connection: QuickBooksAuth, kind: str):
    return SyncRun.objects.filter(connection=connection, kind=kind).order_by("pk")


# ---------------------------------------------------------------------------------------------------- schedules


def _assert_schedules() -> None:
    rows = {row.name: row for row in Schedule.objects.filter(name__in=SCHEDULES)}
    assert set(rows) == set(SCHEDULES)
    for name, (func, schedule_type, minutes) in SCHEDULES.items():
        assert (rows[name].func, rows[name].schedule_type, rows[name].minutes, rows[name].repeats) == (
            func,
            schedule_type,
            minutes,
            -1,
        )
        assert callable(import_string(func)), func
    for name, (hour, minute) in NIGHTLY.items():
        at = timezone.localtime(rows[name].next_run)
        assert (at.hour, at.minute) == (hour, minute) and rows[name].schedule_type == Schedule.DAILY


def test_the_migrations_create_every_schedule_and_0008_recreates_them():
    kept = {"quickbooks-keepalive", "quickbooks-requeue-runs", "quickbooks-webhook-sweep", "quickbooks-webhook-prune"}
    assert kept < set(SCHEDULES)
    assert SCHEDULES["quickbooks-sync-changes"] == ("quickbooks_integration.tasks.syncs_changes_task", "I", 15)
    _assert_schedules()  # as the migrations left the test database

    Schedule.objects.all().delete()
    migration = importlib.import_module("quickbooks_integration.migrations.0008_schedules_sync")
    migration.forwards(django_apps, None)
    migration.forwards(django_apps, None)  # idempotent: by name, no duplicates
    _assert_schedules()
    assert Schedule.objects.count() == len(SCHEDULES)


@pytest.mark.parametrize(("day", "expected"), [("2026-03-07", "2026-03-08"), ("2026-10-31", "2026-11-01")])
def test_a_nightly_schedule_keeps_its_local_hour_across_daylight_saving(settings, day, expected):
    """django-q2 moves a daily schedule by a local day, so 03:30 stays 03:30 when the clocks change (TIME_ZONE)."""
    settings.TIME_ZONE = "America/New_York"
    zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    hour, minute = NIGHTLY["quickbooks-financials-refresh"]
    at = datetime.datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=zone)
    schedule = Schedule(schedule_type=SCHEDULES["quickbooks-financials-refresh"][1], next_run=at)

    after = schedule.calculate_next_run().astimezone(zone)

    assert (after.date().isoformat(), after.hour, after.minute) == (expected, hour, minute)
    elapsed = after.astimezone(datetime.UTC) - at.astimezone(datetime.UTC)
    assert elapsed in (datetime.timedelta(hours=23), datetime.timedelta(hours=25))  # the local hour, not 24 h, kept


# ---------------------------------------------------------------------------------------------------- CDC every 15'


def test_changes_task_queues_each_kind_once_when_called_twice(connected, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as first:
        assert syncs_changes_task() == len(KINDS)
    with django_capture_on_commit_callbacks() as second:
        assert syncs_changes_task() == 0  # all still queued: nothing more

    assert len(first) == len(KINDS) and second == []  # one task sent per run, on commit
    for kind in KINDS:
        assert list(_runs(connected, kind).values_list("status", flat=True)) == [SyncRun.Status.QUEUED]


def test_changes_task_leaves_a_running_kind_and_a_company_needing_reconnection_alone(
    connected, django_capture_on_commit_callbacks
):
    SyncRun.objects.create(connection=connected, kind="items", status=SyncRun.Status.RUNNING)
    with django_capture_on_commit_callbacks():
        assert syncs_changes_task() == len(KINDS) - 1
    assert all(_runs(connected, kind).count() == 1 for kind in KINDS)

    QuickBooksAuth.objects.filter(pk=connected.pk).update(status=QuickBooksAuth.Status.NEEDS_RECONNECT)
    SyncRun.objects.all().delete()
    with django_capture_on_commit_callbacks():
        assert syncs_changes_task() == 0


def test_a_change_no_webhook_announced_is_caught_by_the_next_changes_run(
    connected, emulator, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):  # the tasks run inline in the test settings
        syncs_changes_task()
    first = {kind: _runs(connected, kind).last() for kind in KINDS}
    assert all(run.status == SyncRun.Status.SUCCEEDED and run.cursor["mode"] == "full" for run in first.values())
    contact = Contact.objects.get(quickbooks_customer_id="1")
    assert contact.tax_exempt is False
    current = qbo_read(connection=connected, entity="Customer", entity_id="1")
    qbo_update(  # no webhook is configured: only CDC can tell the CRM
        connection=connected,
        entity="Customer",
        payload={
            "Id": "1",
            "SyncToken": current["SyncToken"],
            "sparse": True,
            "Taxable": False,
            "TaxExemptionReasonId": "5",
        },
        request_id=str(uuid.uuid4()),
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert syncs_changes_task() == len(KINDS)

    runs = {kind: _runs(connected, kind).last() for kind in KINDS}
    assert all(run.status == SyncRun.Status.SUCCEEDED and run.cursor["mode"] == "cdc" for run in runs.values())
    contact.refresh_from_db()
    assert contact.tax_exempt is True


# ---------------------------------------------------------------------------------------------------- nightly full


def test_full_task_queues_one_full_run_per_kind_when_called_twice(connected, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as sent:
        assert syncs_full_task() == len(KINDS)
        assert syncs_full_task() == 0  # already pending as full runs
    assert len(sent) == len(KINDS)
    for kind in KINDS:
        assert [run.cursor for run in _runs(connected, kind)] == [{"full": True}]


def test_full_task_makes_a_queued_cdc_run_full_instead_of_adding_one(connected, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        syncs_changes_task()
    with django_capture_on_commit_callbacks() as sent:
        syncs_full_task()
    assert sent == []  # the queued runs' tasks are already on their way
    for kind in KINDS:
        assert [(run.status, run.cursor) for run in _runs(connected, kind)] == [(SyncRun.Status.QUEUED, {"full": True})]
    with django_capture_on_commit_callbacks():
        assert syncs_changes_task() == 0


def test_the_nightly_run_is_a_full_pull_even_after_a_good_import(
    connected, emulator, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        syncs_changes_task()  # first imports: full (nothing before them)
        syncs_full_task()  # tonight's: full again, though a CDC would do

    for kind in KINDS:
        last = _runs(connected, kind).last()
        assert last.status == SyncRun.Status.SUCCEEDED
        assert (last.cursor["mode"], last.cursor["reason"]) == ("full", "requested")


# ---------------------------------------------------------------------------------------------------- nightly refresh


def test_refresh_stores_overdue_invoices_and_every_summary_but_a_linked_balance():
    today = timezone.localdate()
    unlinked = ContactFactory()
    due_soon = InvoiceFactory(contact=unlinked, issue_date=today - datetime.timedelta(days=20), items=[("1", "400.00")])
    partly_paid = InvoiceFactory(contact=unlinked, issue_date=today - datetime.timedelta(days=25), items=[("2", "100")])
    payment = payment_save(payment=PaymentFactory.build(contact=unlinked, amount=Decimal("50.00")))
    payment_apply(payment=payment, invoice=partly_paid, amount=Decimal("50.00"))
    linked = ContactFactory(quickbooks_customer_id="58", outstanding_balance=Decimal("999.99"))
    linked_invoice = InvoiceFactory(contact=linked, issue_date=today - datetime.timedelta(days=20), items=[("1", "10")])
    Contact.objects.filter(pk=linked.pk).update(outstanding_balance=Decimal("999.99"))  # QBO's figure, kept
    Contact.objects.filter(pk=unlinked.pk).update(outstanding_balance=Decimal("0"), total_sales=Decimal("0"))
    due_soon.refresh_from_db()
    assert due_soon.payment_status == PaymentStatus.UNPAID

    later = financials_refresh(today=today + datetime.timedelta(days=11))  # both due dates have passed

    assert later.invoices_overdue == 3 and later.contacts >= 1
    due_soon.refresh_from_db()
    partly_paid.refresh_from_db()
    assert (due_soon.payment_status, partly_paid.payment_status) == (PaymentStatus.OVERDUE, PaymentStatus.OVERDUE)
    unlinked.refresh_from_db()
    assert unlinked.total_sales == due_soon.total_amount + partly_paid.total_amount > Decimal("600")
    assert unlinked.outstanding_balance == unlinked.total_sales - Decimal("50.00")
    linked.refresh_from_db()
    assert linked.outstanding_balance == Decimal("999.99")
    assert linked.total_sales == linked_invoice.total_amount >= Decimal("10.00")  # the CRM's own arithmetic
    assert financials_refresh(today=today + datetime.timedelta(days=11)).invoices_overdue == 0


def test_refresh_task_today_changes_nothing_that_is_not_due():
    invoice = InvoiceFactory(items=[("1", "100.00")])
    assert financials_refresh_task()["invoices_overdue"] == 0
    invoice.refresh_from_db()
    assert invoice.payment_status == PaymentStatus.UNPAID
