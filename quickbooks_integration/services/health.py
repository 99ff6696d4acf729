"""Health selectors of the QuickBooks integration, read by `/readyz/` (crm_project/health.py) and the alerts.

Each returns a small JSON-safe dict with a `status` of "ok", "warn" or "fail" and facts a monitor can graph; none
carries a token, realm secret or error text from QBO (a QBO message can quote request data). QBO trouble is "warn",
never "fail": a load balancer must keep serving the CRM while QuickBooks needs reconnecting.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.utils import timezone

from ..models import QuickBooksAuth, SyncRun, WebhookEvent

OK, WARN, FAIL = "ok", "warn", "fail"


def _age_seconds(moment: datetime | None, *, now: datetime) -> int | None:
    return None if moment is None else max(0, int((now - moment).total_seconds()))


def connection_health() -> dict:
    """The current connection's status: connected is ok, anything else (or none) is a warning."""
    row = (
        QuickBooksAuth.objects.exclude(status=QuickBooksAuth.Status.DISCONNECTED)
        .order_by("-connected_at", "-pk")
        .values("status")
        .first()
    )
    if row is None:
        return {"status": WARN, "connection": "not_connected"}
    return {"status": OK if row["status"] == QuickBooksAuth.Status.CONNECTED else WARN, "connection": row["status"]}


def sync_health(*, now: datetime | None = None) -> dict:
    """Age of the last successful sync run; older than HEALTH_SYNC_MAX_AGE_HOURS (or never, once connected) warns."""
    now = now or timezone.now()
    last_ok = (
        SyncRun.objects.filter(status=SyncRun.Status.SUCCEEDED, finished_at__isnull=False)
        .order_by("-finished_at")
        .values_list("finished_at", flat=True)
        .first()
    )
    age = _age_seconds(last_ok, now=now)
    limit = settings.HEALTH_SYNC_MAX_AGE_HOURS * 3600
    connected = QuickBooksAuth.objects.filter(status=QuickBooksAuth.Status.CONNECTED).exists()
    stale = connected and (age is None or age > limit)
    return {"status": WARN if stale else OK, "last_success_age_seconds": age, "max_age_seconds": limit}


def webhook_oldest_pending_age_seconds(*, now: datetime) -> int | None:
    """The age of the oldest webhook event still waiting for processing, or None when none waits.

    A growing age means the worker, the broker or the sweeper is not keeping up (or the connection needs
    reconnecting, which keeps events pending on purpose); failed events are not counted, they are failure rows.
    """
    oldest = (
        WebhookEvent.objects.filter(status=WebhookEvent.Status.PENDING)
        .order_by("received_at")
        .values_list("received_at", flat=True)
        .first()
    )
    return _age_seconds(oldest, now=now)


def webhook_health(*, now: datetime | None = None) -> dict:
    now = now or timezone.now()
    age = webhook_oldest_pending_age_seconds(now=now)
    limit = settings.HEALTH_WEBHOOK_MAX_AGE_MINUTES * 60
    return {
        "status": WARN if age is not None and age > limit else OK,
        "oldest_pending_age_seconds": age,
        "max_age_seconds": limit,
    }
