"""Health probes: `/healthz/` (this process answers) and `/readyz/` (it can do its work), both JSON, no secrets.

`/readyz/` answers 503 when the database, the task broker or the workers are down, because then the CRM cannot
work; QuickBooks trouble (needs reconnecting, an old last sync, a webhook backlog) is reported as "warn" with a 200,
so a load balancer keeps serving the office while a monitor still sees it (docs/operations.md, "Health").

Worker heartbeat: on Redis every `qcluster` writes a django-q2 `Stat` that expires after 3 s, so a fresh one means a
cluster is alive. The ORM broker keeps those stats in each process's local cache, invisible here; there the
signals are a queue that drains (no task waiting longer than HEALTH_WORKER_STALE_SECONDS) and schedules that fire.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

OK, WARN, FAIL = "ok", "warn", "fail"


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: no database, no broker; if this answers, the process is up."""
    return JsonResponse({"status": OK})


def _guard(check) -> dict[str, Any]:
    """A failing check is a `fail` with the exception's class only (its text can hold a DSN or a password)."""
    try:
        return check()
    except Exception as exc:  # noqa: BLE001  (a probe reports every failure; it never raises)
        return {"status": FAIL, "error": type(exc).__name__}


def database_check() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"status": OK, "vendor": connection.vendor}


def broker_check() -> dict[str, Any]:
    from django_q.brokers import get_broker

    broker = get_broker()
    if not broker.ping():
        return {"status": FAIL, "broker": "redis" if settings.REDIS_URL else "orm"}
    return {"status": OK, "broker": "redis" if settings.REDIS_URL else "orm"}


def worker_check() -> dict[str, Any]:
    from django_q.brokers import get_broker
    from django_q.models import OrmQ, Schedule, Task
    from django_q.status import Stat

    now = timezone.now()
    stale = timedelta(seconds=settings.HEALTH_WORKER_STALE_SECONDS)
    last_task = Task.objects.order_by("-stopped").values_list("stopped", flat=True).first()
    facts: dict[str, Any] = {
        "last_task_age_seconds": None if last_task is None else int((now - last_task).total_seconds()),
    }
    overdue = (
        Schedule.objects.exclude(repeats=0)
        .filter(next_run__lt=now - stale)
        .order_by("next_run")
        .values_list("name", "next_run")
        .first()
    )
    if overdue:
        facts["overdue_schedule"] = overdue[0]
        facts["overdue_seconds"] = int((now - overdue[1]).total_seconds())
    if settings.REDIS_URL:
        clusters = Stat.get_all(broker=get_broker())
        facts["clusters"] = len(clusters)
        facts["workers"] = sum(len(stat.workers) for stat in clusters)
        return {"status": OK if clusters and not overdue else FAIL, **facts}
    waiting = OrmQ.objects.filter(lock__lt=now - stale).count()
    facts["tasks_waiting_too_long"] = waiting
    return {"status": FAIL if waiting or overdue else OK, **facts}


def quickbooks_checks() -> dict[str, dict[str, Any]]:
    from quickbooks_integration.services import health

    return {
        "quickbooks": _guard(health.connection_health),
        "sync": _guard(health.sync_health),
        "webhooks": _guard(health.webhook_health),
    }


def readiness() -> tuple[int, dict[str, Any]]:
    """Every check's result, the overall status and the HTTP status a probe should see."""
    checks = {"database": _guard(database_check)}
    checks["broker"] = _guard(broker_check)
    if checks["database"]["status"] == OK:
        checks["worker"] = _guard(worker_check)
        checks.update(quickbooks_checks())
    else:
        checks["worker"] = {"status": FAIL, "error": "database unavailable"}
    statuses = {check["status"] for check in checks.values()}
    overall = "unavailable" if FAIL in statuses else ("degraded" if WARN in statuses else OK)
    return (503 if overall == "unavailable" else 200), {"status": overall, "checks": checks}


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    status, body = readiness()
    return JsonResponse(body, status=status)
