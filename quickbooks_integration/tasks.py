"""django-q2 tasks of the integration: thin (load by id, call a service), idempotent, never given tokens."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.utils import timezone
from django_q.tasks import async_task

from . import conf
from .errors import QuickBooksError
from .models import QuickBooksAuth
from .services.sync import INITIAL, sync_initial, sync_run_queue
from .services.tokens import connection_refresh

logger = logging.getLogger(__name__)


def initial_sync_enqueue(*, connection_id: int) -> None:
    """Record a queued initial SyncRun and enqueue its task (called on commit after connecting)."""
    run = sync_run_queue(connection_id=connection_id, kind=INITIAL)
    async_task(
        "quickbooks_integration.tasks.initial_sync_task", connection_id, run.pk, task_name=f"qbo-initial-{run.pk}"
    )


def initial_sync_task(connection_id: int, run_id: int | None = None) -> None:
    sync_initial(connection_id=connection_id, run_id=run_id)


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
