"""Sync runs: the initial sync queued after connecting (for now: CompanyInfo plus item/customer counts).

Later issues replace `sync_initial`'s body with the full pulls; the SyncRun bookkeeping (claim, calls made,
outcome) stays. Failures become the run's `error`, never an exception out of the task (a failed sync is a row).
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from ..errors import QuickBooksError
from ..models import QuickBooksAuth, SyncRun
from .client import qbo_count, qbo_read_company_info
from .http import call_counts
from .tokens import connection_load

logger = logging.getLogger(__name__)

INITIAL = "initial"


def sync_run_queue(*, connection_id: int, kind: str) -> SyncRun:
    """Record a queued run (before the task is enqueued, so the page shows it at once)."""
    return SyncRun.objects.create(connection_id=connection_id, kind=kind, status=SyncRun.Status.QUEUED)


def _claim(*, connection_id: int, kind: str, run_id: int | None) -> SyncRun | None:
    """Claim the queued run by status under a row lock, so a task delivered twice runs once (STYLE §8)."""
    with transaction.atomic():
        runs = SyncRun.objects.select_for_update().filter(connection_id=connection_id, kind=kind)
        run = runs.filter(pk=run_id).first() if run_id else None
        if run is None and run_id is None:
            run = SyncRun(connection_id=connection_id, kind=kind)
        if run is None or run.status not in (SyncRun.Status.QUEUED, ""):
            return None
        run.status = SyncRun.Status.RUNNING
        run.started_at = timezone.now()
        run.save()
        return run


def sync_initial(*, connection_id: int, run_id: int | None = None) -> SyncRun | None:
    """Read CompanyInfo and count items and customers (COUNT(*) queries); record them on a SyncRun."""
    run = _claim(connection_id=connection_id, kind=INITIAL, run_id=run_id)
    if run is None:
        return None
    realm_key, calls_before = "", 0
    try:
        connection = connection_load(connection_id=connection_id)
        realm_key = f"api:{connection.company_id}"
        calls_before = call_counts().get(realm_key, 0)
        info = qbo_read_company_info(connection=connection)
        stats = {
            "company_name": info.get("CompanyName", ""),
            "item_count": qbo_count(connection=connection, entity="Item"),
            "customer_count": qbo_count(connection=connection, entity="Customer"),
        }
        if stats["company_name"]:
            QuickBooksAuth.objects.filter(pk=connection_id).update(company_name=stats["company_name"])
        run.stats = stats
        run.status = SyncRun.Status.SUCCEEDED
    except QuickBooksError as exc:
        logger.warning("initial sync of connection %s failed: %s", connection_id, type(exc).__name__)
        run.status = SyncRun.Status.FAILED
        run.error = str(exc)
    if realm_key:
        run.api_calls = call_counts().get(realm_key, 0) - calls_before
    run.finished_at = timezone.now()
    run.save()
    return run
