"""What every entity import shares (customers, items, and the documents after them): full or CDC, and since when.

A full import reads every row in pages of 1000 after a COUNT; later runs ask CDC for what changed since the last
successful run started (minus a margin). CDC reaches back 30 days at most and answers 1000 objects at most
(API.md §5): beyond either, the import falls back to a full one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from ..models import SyncRun
from ..qbo.client import qbo_cdc
from ..qbo.errors import QuickBooksValidationError
from .runs import RunContext

logger = logging.getLogger(__name__)

PAGE_SIZE = 1000  # QBO's MAXRESULTS maximum (API.md §3.2)
CDC_MAX_DAYS = 30  # CDC's look-back limit (API.md §5)
CDC_MAX_OBJECTS = 1000  # CDC's answer cap: at the cap, changes may be missing (API.md §5)
CDC_MARGIN = timedelta(minutes=5)  # overlap with the last run: clock skew, and changes made while it read


def cdc_since(moment: datetime) -> str:
    """`changedSince` as QBO must get it: ISO 8601 in UTC with its offset written out ("…T09:00:00+00:00").

    python-quickbooks formats a `datetime` without its offset and QBO reads a naive time in the company's zone
    (API.md §5), so the string is made here and passed through as is.
    """
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def import_mode_choose(run: RunContext, *, kind: str) -> dict[str, Any]:
    """Full the first time, on request, or when CDC cannot reach back to the last good run; CDC otherwise.

    Returns the cursor the import starts from: `{"mode": "full", "step": "count", "reason": …}` or
    `{"mode": "cdc", "step": "pull", "since": …}`.
    """
    if run.cursor.get("full"):
        return {"mode": "full", "step": "count", "reason": "requested"}
    last = (
        SyncRun.objects.filter(connection_id=run.run.connection_id, kind=kind, status=SyncRun.Status.SUCCEEDED)
        .exclude(pk=run.run.pk)
        .exclude(started_at=None)
        .order_by("-started_at")
        .first()
    )
    if last is None:
        return {"mode": "full", "step": "count", "reason": "first import"}
    since = last.started_at - CDC_MARGIN
    if since < timezone.now() - timedelta(days=CDC_MAX_DAYS) + CDC_MARGIN:
        return {"mode": "full", "step": "count", "reason": f"last import older than {CDC_MAX_DAYS} days"}
    return {"mode": "cdc", "step": "pull", "since": cdc_since(since)}


PageApply = Callable[[list[dict], dict[str, Any]], dict[str, Any]]


def cdc_pull(run: RunContext, *, entity: str, cursor: dict[str, Any], apply: PageApply, next_step: str) -> dict:
    """One CDC call for `entity` since `cursor["since"]`; `apply(rows, stats)` writes the answer and returns the
    stats, inside the transaction that checkpoints `next_step`. Returns the next cursor: that step, or a full
    import's first step when QBO refuses the window ("older than") or the answer sits at CDC's cap (it may be cut).
    """
    stats = {**run.stats, "api_minimum": run.stats.get("api_minimum", 0) + 1}
    try:
        changes = qbo_cdc(connection=run.connection, entities=[entity], changed_since=cursor["since"])
    except QuickBooksValidationError as exc:
        if "older than" not in f"{exc.message} {exc.detail}":
            raise
        logger.info("%s CDC window refused (%s); importing in full", entity, exc.detail or exc.message)
        run.stats = stats
        return {"mode": "full", "step": "count", "reason": "CDC window refused"}
    rows = changes.get(entity, [])
    if len(rows) >= CDC_MAX_OBJECTS:
        run.stats = stats
        return {"mode": "full", "step": "count", "reason": f"CDC answer at its {CDC_MAX_OBJECTS}-object cap"}
    with transaction.atomic():
        stats = apply(rows, stats)
        cursor = {**cursor, "step": next_step}
        run.checkpoint(cursor=cursor, stats=stats, progress=f"{len(rows)} changed since {cursor['since']}")
    return cursor
