"""The sync-run pattern (services/runs.py): lease, heartbeat, resumable cursor, exact per-run call counts, failures.

Each test drives a real run against the emulator through the real client; the interruptions are real ones (an
exception raised by the body, a lease that lapsed while another attempt held the run, two runs overlapping).
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import connection as db_connection
from django.db import transaction
from django.utils import timezone

from quickbooks_integration.models import QuickBooksAuth, SyncFailure, SyncRun
from quickbooks_integration.qbo.client import qbo_count, qbo_read_company_info
from quickbooks_integration.services.failures import FailureRetryError, failure_retry
from quickbooks_integration.services.runs import (
    STALLED_CLAIMS,
    RunContext,
    RunLeaseLost,
    sync_kind_register,
    sync_run_claim,
    sync_run_execute,
    sync_runs_requeue_stale,
)
from quickbooks_integration.services.sync import INITIAL

pytestmark = pytest.mark.django_db

PAGES = 3
CRASHES = {"remaining": 0}


@sync_kind_register("test_pages")
def _paged_body(run: RunContext) -> None:
    """Three "pages", each one QBO call then a checkpoint; crashes (a non-QBO error) after page 2 when armed."""
    for page in range(run.cursor.get("page", 1), PAGES + 1):
        qbo_count(connection=run.connection, entity="Customer")
        with transaction.atomic():
            done = run.stats.get("pages_done", []) + [page]
            run.checkpoint(cursor={"page": page + 1}, stats={"pages_done": done}, progress=f"page {page} of {PAGES}")
        if page == 2 and CRASHES["remaining"]:
            CRASHES["remaining"] -= 1
            raise RuntimeError("disk full while mapping page 2")


@pytest.fixture
def crash_once():
    CRASHES["remaining"] = 1
    yield
    CRASHES["remaining"] = 0


def _api_calls(emulator) -> int:
    return len([r for r in emulator.control.requests("/v3/company/")])


def test_initial_sync_uses_the_run_pattern(connected, emulator):
    run = SyncRun.objects.get(connection=connected, kind=INITIAL)

    assert run.status == SyncRun.Status.SUCCEEDED and run.attempts == 1
    assert run.stats["company_name"] == "Sandbox Company_US_1"
    assert run.stats["customer_count"] == 29 and run.stats["item_count"] > 0
    assert run.cursor == {"step": 3} and run.lease_expires_at is None
    # the callback proved the realm with one CompanyInfo read; the run made the other three calls
    assert run.api_calls == 3 == _api_calls(emulator) - 1
    assert connected.ledger.get(entity_type="CompanyInfo").payload["CompanyName"] == "Sandbox Company_US_1"


def test_an_exception_fails_the_run_and_the_next_task_resumes_it(connected, emulator, crash_once):
    emulator.control.clear_requests()

    failed = sync_run_execute(connection_id=connected.pk, kind="test_pages")

    assert failed.status == SyncRun.Status.FAILED and "disk full" in failed.error
    assert failed.cursor == {"page": 3} and failed.stats["pages_done"] == [1, 2]
    failure = SyncFailure.objects.get(kind="sync_run", resolved_at__isnull=True)
    assert failure.error_class == "RuntimeError" and failure.retry_args == {"run_id": failed.pk}

    resumed = sync_run_execute(connection_id=connected.pk, kind="test_pages")  # the next task, no run id

    assert resumed.pk == failed.pk and resumed.status == SyncRun.Status.SUCCEEDED and resumed.attempts == 2
    assert resumed.stats["pages_done"] == [1, 2, 3]  # page 3 only: no page was done twice
    assert resumed.api_calls == 3 == _api_calls(emulator)
    failure.refresh_from_db()
    assert failure.resolved_at is not None  # the later success resolved the failure row


def test_a_lapsed_lease_shows_interrupted_and_is_taken_over(connected, emulator):
    emulator.control.clear_requests()
    zombie = sync_run_claim(connection_id=connected.pk, kind="test_pages")
    assert sync_run_claim(connection_id=connected.pk, kind="test_pages") is None  # its lease is live: hands off

    SyncRun.objects.filter(pk=zombie.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    zombie.refresh_from_db()
    assert zombie.status == SyncRun.Status.RUNNING and zombie.state == SyncRun.Status.INTERRUPTED

    done = sync_run_execute(connection_id=connected.pk, kind="test_pages")

    assert done.pk == zombie.pk and done.status == SyncRun.Status.SUCCEEDED and done.attempts == 2
    assert done.api_calls == PAGES == _api_calls(emulator)
    with pytest.raises(RunLeaseLost):  # the old attempt, waking up, may not write beside its successor
        RunContext(run=zombie).heartbeat()


def test_a_run_held_by_a_live_lease_is_not_run_twice(connected, emulator):
    held = sync_run_claim(connection_id=connected.pk, kind="test_pages")

    assert sync_run_execute(connection_id=connected.pk, kind="test_pages", run_id=held.pk) is None
    assert sync_run_execute(connection_id=connected.pk, kind="test_pages") is None
    assert SyncRun.objects.filter(kind="test_pages").count() == 1


def test_the_sweeper_requeues_interrupted_runs(connected, emulator):
    stuck = sync_run_claim(connection_id=connected.pk, kind="test_pages")
    SyncRun.objects.filter(pk=stuck.pk).update(lease_expires_at=timezone.now() - timedelta(minutes=1))

    requeued = sync_runs_requeue_stale()  # the schedule's task; the test settings run queued tasks inline

    assert requeued == [stuck.pk]
    stuck.refresh_from_db()
    assert stuck.status == SyncRun.Status.SUCCEEDED and stuck.attempts == 2


def test_a_run_dying_at_the_same_point_is_failed_where_the_bookkeeper_sees_it_not_requeued_for_ever(
    connected, emulator, django_user_model, django_capture_on_commit_callbacks
):
    """A page that kills its worker every time (memory, the task timeout) leaves the run running with a lapsed lease
    and no new checkpoint; after STALLED_CLAIMS such claims the sweeper stops, and Retry starts it afresh."""
    stuck = sync_run_claim(connection_id=connected.pk, kind="test_pages")
    assert stuck.claims_since_checkpoint == 1
    for _ in range(STALLED_CLAIMS - 1):  # the worker dies before its first checkpoint, each time
        SyncRun.objects.filter(pk=stuck.pk).update(lease_expires_at=timezone.now() - timedelta(minutes=1))
        stuck = sync_run_claim(connection_id=connected.pk, kind="test_pages")
    SyncRun.objects.filter(pk=stuck.pk).update(lease_expires_at=timezone.now() - timedelta(minutes=1))

    assert sync_runs_requeue_stale() == []

    stuck.refresh_from_db()
    assert (stuck.status, stuck.claims_since_checkpoint, stuck.api_calls) == (SyncRun.Status.FAILED, 3, 0)
    failure = SyncFailure.objects.get(kind="sync_run", resolved_at__isnull=True)
    assert failure.error_class == "RunStalledError" and "stopped 3 times in a row" in failure.message
    assert sync_runs_requeue_stale() == []  # failed is final for the sweeper: only Retry starts it again
    owner = django_user_model.objects.create_superuser("owner-1", password="pw-owner-12345")

    with django_capture_on_commit_callbacks(execute=True):
        failure_retry(failure=failure, actor=owner)

    stuck.refresh_from_db()
    assert stuck.status == SyncRun.Status.SUCCEEDED and stuck.claims_since_checkpoint == 0
    assert SyncFailure.objects.get(pk=failure.pk).resolved_at is not None


def test_a_run_that_checkpoints_between_deaths_is_never_stopped(connected, emulator, crash_once):
    """Progress resets the count: a long import killed by the task timeout after each page keeps going."""
    run = sync_run_execute(connection_id=connected.pk, kind="test_pages")  # pages 1-2 saved, then it crashed
    assert run.status == SyncRun.Status.FAILED and run.claims_since_checkpoint == 0
    SyncRun.objects.filter(pk=run.pk).update(status=SyncRun.Status.INTERRUPTED, claims_since_checkpoint=0)

    assert sync_runs_requeue_stale() == [run.pk]

    run.refresh_from_db()
    assert run.status == SyncRun.Status.SUCCEEDED


def test_retrying_the_failure_row_resumes_the_run(
    connected, emulator, crash_once, django_user_model, django_capture_on_commit_callbacks
):
    failed = sync_run_execute(connection_id=connected.pk, kind="test_pages")
    failure = SyncFailure.objects.get(kind="sync_run", resolved_at__isnull=True)
    staff = django_user_model.objects.create_user("staff-1", password="pw-staff-12345")
    staff.groups.add(Group.objects.get(name="Staff"))
    bookkeeper = django_user_model.objects.create_user("bk", password="pw-bk-12345")
    bookkeeper.groups.add(Group.objects.get(name="Bookkeeper"))

    with pytest.raises(FailureRetryError):
        failure_retry(failure=failure, actor=staff)
    with django_capture_on_commit_callbacks(execute=True):
        message = failure_retry(failure=failure, actor=django_user_model.objects.get(pk=bookkeeper.pk))

    assert "queued again" in message
    failed.refresh_from_db()
    assert failed.status == SyncRun.Status.SUCCEEDED
    failure.refresh_from_db()
    assert failure.resolved_at is not None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_calls_are_counted_per_run_when_runs_overlap_in_one_process(connected, emulator, settings):
    """Two runs in two threads of one worker: each run counts its own calls (a global counter's difference would
    give each the sum)."""
    other = QuickBooksAuth.objects.get(pk=connected.pk)
    barrier = threading.Barrier(2)
    results: dict[str, SyncRun] = {}

    @sync_kind_register("test_overlap_a")
    def body_a(run: RunContext) -> None:
        barrier.wait(timeout=30)
        for _ in range(2):
            qbo_read_company_info(connection=run.connection)

    @sync_kind_register("test_overlap_b")
    def body_b(run: RunContext) -> None:
        barrier.wait(timeout=30)
        for _ in range(5):
            qbo_count(connection=run.connection, entity="Item")

    def work(kind: str) -> None:
        try:
            results[kind] = sync_run_execute(connection_id=other.pk, kind=kind)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=work, args=(kind,)) for kind in ("test_overlap_a", "test_overlap_b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert results["test_overlap_a"].api_calls == 2
    assert results["test_overlap_b"].api_calls == 5
