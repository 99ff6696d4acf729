"""Fault matrix, crash rows (RELIABILITY §3 rows 24, 25): a worker killed mid-sync and run again, and PostgreSQL
going away mid-sync. PostgreSQL only: a real `qcluster` must see the test's database, and only PostgreSQL lets a test
cut a session from the server side (`pg_terminate_backend`, what a restart does to every open session; restarting
the shared server itself is not possible here).

Both cut the customers import of the 1,200-customer company while page 2 is in flight (page 1 committed), and
check that nothing is lost or duplicated once the run is taken up again: one ledger row and one contact per
customer, the run's cursor and attempts, and every QBO call counted once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection as db
from django.db import connections
from django.utils import timezone
from django_q.tasks import async_task

from crm.models import Contact
from quickbooks_integration.models import QuickBooksAuth, QuickBooksSync, SyncFailure, SyncRun
from quickbooks_integration.services.customers import KIND as CUSTOMERS
from quickbooks_integration.services.customers import customers_import_run
from quickbooks_integration.services.runs import TASK, sync_run_queue, sync_runs_requeue_stale

from .conftest import BIG
from .support import when_seen

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
PAGE_1 = "STARTPOSITION 1 MAXRESULTS 1000"
PAGE_2 = "STARTPOSITION 1001 MAXRESULTS 1000"
LEASE_SECONDS = 2  # a killed worker's run reads "interrupted" this long after its last heartbeat


@pytest.fixture
def reconnect_before_teardown(transactional_db):
    """A test that cut its own database session leaves Django holding a dead connection: drop it before the
    transactional teardown flushes the tables through it."""
    yield
    for connection in connections.all():
        connection.close()


def assert_page_1_only(connection: QuickBooksAuth) -> None:
    ids = set(
        QuickBooksSync.objects.filter(connection=connection, entity_type="Customer").values_list("entity_id", flat=True)
    )
    assert ids == {str(i) for i in range(1, 1001)}
    assert not Contact.objects.exists()


def assert_nothing_lost_or_doubled(connection: QuickBooksAuth) -> None:
    ledger = QuickBooksSync.objects.filter(connection=connection, entity_type="Customer")
    assert set(ledger.values_list("entity_id", flat=True)) == {str(i) for i in range(1, BIG + 1)}
    assert ledger.count() == BIG and not ledger.filter(local_id=None).exists()
    assert Contact.objects.count() == BIG
    assert (
        Contact.objects.exclude(quickbooks_customer_id=None).values("quickbooks_customer_id").distinct().count() == BIG
    )


def page_queries(server) -> list[str]:
    """The import's queries in order: "count" (python-quickbooks POSTs it, the statement in the body), then the
    STARTPOSITION window of each page read (a GET with the statement in the URL)."""
    return [
        "count" if r["method"] == "POST" else r["query"]["query"].split(" ORDERBY Id ")[1]
        for r in server.control.requests("/query")
    ]


# ---------------------------------------------------------------------------------------------------- row 25


def _terminate_backend_when_page_2_is_in_flight(server):
    with db.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]

    def restart() -> None:
        try:
            with connections["default"].cursor() as cursor:  # the watcher thread's own session
                cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
                assert cursor.fetchone()[0] is True
        finally:
            connections["default"].close()

    return when_seen(server, restart, seen=3)  # COUNT and page 1 answered; page 2's answer is held


def test_postgresql_restarted_mid_sync_fails_the_run_visibly_and_the_rerun_resumes(
    big, clock, reconnect_before_teardown
):
    """Row 25: every session of the worker is cut by the server (a PostgreSQL restart) while page 2 is in flight;
    the database is back at once (the next connection succeeds).

    Expected afterwards: `customers_import_run` returns (the task never dies on it) with the run failed, its error
    naming the lost connection, one open failure row, and its cursor at page 2: page 1 committed whole, nothing of
    page 2, no contact applied. The next task resumes the same run at page 2 (one call), succeeds and resolves the
    failure row: 1,200 ledger rows and contacts, none twice.
    """
    server, connection = big
    armed = _terminate_backend_when_page_2_is_in_flight(server)

    failed = customers_import_run(connection_id=connection.pk)
    armed.wait()

    assert failed.status == SyncRun.Status.FAILED and "connection" in failed.error
    assert failed.cursor["page"] == 2
    assert_page_1_only(connection)
    (failure,) = SyncFailure.objects.filter(resolved_at__isnull=True)
    assert failure.key == f"sync_run:{connection.pk}:{CUSTOMERS}" and failure.error_class == "OperationalError"
    server.control.clear_requests()

    resumed = customers_import_run(connection_id=connection.pk)

    assert resumed.pk == failed.pk and resumed.status == SyncRun.Status.SUCCEEDED, resumed.error
    assert page_queries(server) == [PAGE_2]
    assert_nothing_lost_or_doubled(connection)
    failure.refresh_from_db()
    assert failure.resolved_at is not None


def test_postgresql_restarted_mid_sync_loses_nothing_and_the_run_resumes_from_its_checkpoint(
    big, clock, reconnect_before_teardown
):
    """Row 25, the recovery: the same cut, then the run taken up again by the next task.

    Expected afterwards: the attempt that lost its session wrote nothing partial: page 1 committed whole, nothing of
    page 2, no contact, the cursor at page 2. The attempt records its failure on a fresh session; had the database
    stayed down, the run would stay 'running' under its lease, read 'interrupted' once the lease lapses, and the
    schedule's sweeper would queue it again. Either way the new attempt
    resumes at page 2 (one call) and succeeds: attempts 2, 1,200 ledger rows and contacts, none twice, every call
    counted once (COUNT, page 1, the cut page 2, page 2 again), no failure row left open.
    """
    server, connection = big
    armed = _terminate_backend_when_page_2_is_in_flight(server)

    customers_import_run(connection_id=connection.pk)
    armed.wait()
    db.close()  # the worker's next task starts with a new session (django-q closes the broken one)

    run = SyncRun.objects.get(connection=connection, kind=CUSTOMERS)
    assert run.cursor["page"] == 2 and run.attempts == 1
    assert_page_1_only(connection)
    if run.status == SyncRun.Status.RUNNING:  # nobody could record the failure: the lease is the safety net
        SyncRun.objects.filter(pk=run.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))  # later
        run.refresh_from_db()
        assert run.state == SyncRun.Status.INTERRUPTED
        assert sync_runs_requeue_stale() == [run.pk]  # the schedule's sweeper; the test settings run it inline
    else:
        assert run.status == SyncRun.Status.FAILED
        customers_import_run(connection_id=connection.pk)

    run.refresh_from_db()
    assert run.status == SyncRun.Status.SUCCEEDED and run.attempts == 2, run.error
    assert page_queries(server) == ["count", PAGE_1, PAGE_2, PAGE_2]
    assert run.api_calls == 4
    assert_nothing_lost_or_doubled(connection)
    assert not SyncFailure.objects.filter(resolved_at__isnull=True).exists()


# ---------------------------------------------------------------------------------------------------- row 24


def _qcluster(server, tmp_path: Path, name: str) -> tuple[subprocess.Popen, Path]:
    """A real `qcluster` (ORM broker, one worker) in its own process group, pointed at the test database and the
    emulator; its django-q timeout (60 s) is far above this run, so only the test kills it; a run's lease lasts
    `LEASE_SECONDS` without a heartbeat."""
    params = db.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.support.qcluster_settings",
        "DATABASE_URL": f"postgres://{params['USER']}@{params['HOST'] or '127.0.0.1'}:{params['PORT'] or 5432}/"
        f"{params['NAME']}",
        "Q_TEST_TIMEOUT": "60",
        "Q_TEST_RETRY": "90",
        "QUICKBOOKS_RUN_LEASE_SECONDS": str(LEASE_SECONDS),
        "QUICKBOOKS_ENVIRONMENT": "emulator",
        "QUICKBOOKS_EMULATOR_URL": server.url,
        "QUICKBOOKS_CLIENT_ID": server.client_id,
        "QUICKBOOKS_CLIENT_SECRET": server.client_secret,
    }
    log = tmp_path / f"{name}.log"
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the sentinel, pusher, monitor and worker die together
    )
    return worker, log


def _stop(worker: subprocess.Popen, *, kill: bool = False) -> None:
    """SIGTERM to the cluster's main process (it stops its children and exits in about a second), or SIGKILL to its
    whole group; either way nothing of that group is left running afterwards."""
    if worker.poll() is None:
        if kill:
            os.killpg(worker.pid, signal.SIGKILL)
        else:
            worker.terminate()
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):  # a child that outlived its parent
        os.killpg(worker.pid, signal.SIGKILL)


def _wait_for(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_a_worker_killed_mid_sync_is_resumed_from_its_checkpoint_by_the_next_worker(
    big, tmp_path, reconnect_before_teardown
):
    """Row 24: the `qcluster` running the customers import is SIGKILLed (the whole process group: no cleanup, no
    exception handler) while page 2 is in flight; a new `qcluster` is started and the schedule's sweeper runs.

    Expected afterwards: right after the kill the run is still 'running' under its lease, with its cursor at page 2,
    page 1 committed whole and no contact; once the lease lapses it reads 'interrupted', the sweeper queues it and
    the new worker resumes it at page 2 and finishes it: attempts 2, no failure row, 1,200 ledger rows and contacts,
    none twice; the run counted every call once, the one the killed worker was waiting on included.
    """
    server, connection = big
    run = sync_run_queue(connection_id=connection.pk, kind=CUSTOMERS)
    first, first_log = _qcluster(server, tmp_path, "first")
    second = None
    try:
        armed = when_seen(server, lambda: os.killpg(first.pid, signal.SIGKILL), seen=3, hold=10.0)
        async_task(TASK, run.pk, task_name=f"qbo-customers-{run.pk}", sync=False)
        armed.wait(timeout=60)
        first.wait(timeout=30)
        assert first.returncode == -signal.SIGKILL, first_log.read_text()[-3000:]

        run.refresh_from_db()
        assert run.status == SyncRun.Status.RUNNING and run.cursor["page"] == 2 and run.attempts == 1
        assert_page_1_only(connection)

        def interrupted() -> bool:
            run.refresh_from_db()
            return run.state == SyncRun.Status.INTERRUPTED

        assert _wait_for(interrupted, LEASE_SECONDS + 5)  # nobody renews the lease of a dead worker

        second, second_log = _qcluster(server, tmp_path, "second")
        async_task("quickbooks_integration.tasks.sync_runs_requeue_task", sync=False)  # the 5-minute schedule

        def finished() -> bool:
            run.refresh_from_db()
            return run.status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.FAILED)

        assert _wait_for(finished, 90), second_log.read_text()[-3000:]
    finally:
        _stop(first, kill=True)
        if second is not None:
            _stop(second)

    assert run.status == SyncRun.Status.SUCCEEDED and run.attempts == 2, run.error
    assert page_queries(server) == ["count", PAGE_1, PAGE_2, PAGE_2]
    assert run.api_calls == 4
    assert_nothing_lost_or_doubled(connection)
    assert not SyncFailure.objects.filter(resolved_at__isnull=True).exists()
