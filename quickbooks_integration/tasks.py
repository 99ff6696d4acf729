"""django-q2 tasks of the integration: thin (load by id, call a service), idempotent, never given tokens."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.utils import timezone
from django_q.tasks import async_task

from . import conf
from .models import QuickBooksAuth, SyncRun
from .qbo.errors import QuickBooksError
from .qbo.tokens import connection_refresh
from .services.runs import TASK, sync_run_execute, sync_run_queue, sync_runs_requeue_stale
from .services.sync import INITIAL

logger = logging.getLogger(__name__)


def initial_sync_enqueue(*, connection_id: int) -> None:
    """Record a queued initial SyncRun and enqueue its task (called on commit after connecting)."""
    run = sync_run_queue(connection_id=connection_id, kind=INITIAL)
    async_task(TASK, run.pk, task_name=f"qbo-initial-{run.pk}")


def sync_run_task(run_id: int) -> None:
    """Run (or resume) one sync run; a second delivery of the same task finds it claimed or finished."""
    run = SyncRun.objects.filter(pk=run_id).values("connection_id", "kind").first()
    if run is not None:
        sync_run_execute(connection_id=run["connection_id"], kind=run["kind"], run_id=run_id)


def initial_sync_task(connection_id: int, run_id: int | None = None) -> None:
    sync_run_execute(connection_id=connection_id, kind=INITIAL, run_id=run_id)


def sync_runs_requeue_task() -> int:
    """Queue again the runs whose worker died or whose task was lost (the schedule's safety net)."""
    return len(sync_runs_requeue_stale())


def keepalive_task() -> int:
    """Refresh every connected company whose last refresh is older than the keep-alive age; returns how many."""
    cutoff = timezone.now() - timedelta(hours=conf.keepalive_min_age_hours())
    due = QuickBooksAuth.objects.filter(status=QuickBooksAuth.Status.CONNECTED).values_list("pk", "last_refreshed_at")
    refreshed = 0
    for connection_id, last in due:
        if last is not None and last > cutoff:
            continue
        try:
            connection_refresh(connection_id=connection_id, force=True)
            refreshed += 1
        except QuickBooksError as exc:
            logger.warning("keep-alive refresh of connection %s failed: %s", connection_id, type(exc).__name__)
    return refreshed


def alerts_check_task() -> dict:
    """Mail new alert incidents once and close ended ones (services/alerts.py); returns the keys it touched."""
    from .services.alerts import alerts_check

    result = alerts_check()
    return {"opened": result.opened, "notified": result.notified, "resolved": result.resolved}
