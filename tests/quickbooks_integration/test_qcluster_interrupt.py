"""A run interrupted the hard way: django-q's timeout kills the worker mid-call in a real `qcluster`, the broker
delivers the task again (or the sweeper queues it), and the next attempt takes the run over and finishes it from its
cursor, with every QBO call counted once. PostgreSQL only: the worker process must see the test's database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection as db_connection
from django_q.tasks import async_task

from quickbooks_integration.models import SyncRun
from quickbooks_integration.services.runs import TASK, sync_run_queue
from quickbooks_integration.services.sync import INITIAL

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _database_url() -> str:
    params = db_connection.settings_dict
    return f"postgres://{params['USER']}@{params['HOST'] or '127.0.0.1'}:{params['PORT'] or 5432}/{params['NAME']}"


def _wait_for(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.25)
    return False


def test_worker_killed_by_the_task_timeout_is_resumed_by_the_redelivered_task(connected, emulator, tmp_path):
    run = sync_run_queue(connection_id=connected.pk, kind=INITIAL)
    emulator.control.clear_requests()
    emulator.control.delay_next("/query", 30)  # the first COUNT hangs past django-q's 3-second timeout
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.support.qcluster_settings",
        "DATABASE_URL": _database_url(),
        "QUICKBOOKS_ENVIRONMENT": "emulator",
        "QUICKBOOKS_EMULATOR_URL": emulator.url,
        "QUICKBOOKS_CLIENT_ID": emulator.client_id,
        "QUICKBOOKS_CLIENT_SECRET": emulator.client_secret,
    }
    log = (tmp_path / "qcluster.log").open("w")
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        async_task(TASK, run.pk, task_name=f"qbo-initial-{run.pk}", sync=False)

        def interrupted() -> bool:
            run.refresh_from_db()
            return run.state == SyncRun.Status.INTERRUPTED or run.status == SyncRun.Status.SUCCEEDED

        assert _wait_for(interrupted, 60), (tmp_path / "qcluster.log").read_text()[-3000:]
        # the schedule's sweeper, run by the cluster as the scheduler would (a redelivery may get there first)
        async_task("quickbooks_integration.tasks.sync_runs_requeue_task", sync=False)

        def finished() -> bool:
            run.refresh_from_db()
            return run.status == SyncRun.Status.SUCCEEDED

        assert _wait_for(finished, 90), (tmp_path / "qcluster.log").read_text()[-3000:]
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        log.close()

    assert run.attempts == 2  # killed once, taken over once
    assert run.cursor == {"step": 3} and run.stats["customer_count"] == 29
    calls = emulator.control.requests("/v3/company/")
    # CompanyInfo, the COUNT the worker died in, then both COUNTs again: each counted once, the killed one too
    assert run.api_calls == len(calls) == 4
    assert "after timeout" in (tmp_path / "qcluster.log").read_text()
