"""The integration's django-q2 schedules, in one place (STYLE §8); created idempotently by `schedules_ensure`."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

TASKS = "quickbooks_integration.tasks"

# name → (task function path, schedule type, minutes). One comment per schedule.
SCHEDULES = {
    # Keep-alive: refresh every connected company's tokens about every 12 h (the task skips a connection
    # refreshed within QUICKBOOKS_KEEPALIVE_MIN_AGE_HOURS), so an idle refresh token never reaches its
    # 100-day rolling expiry (API.md §1.5).
    "quickbooks-keepalive": (f"{TASKS}.keepalive_task", "I", 720),
    # Interrupted runs: every 5 minutes, queue again the runs whose lease expired (worker killed) or whose task
    # the broker lost; they continue from their cursor (services/runs.py).
    "quickbooks-requeue-runs": (f"{TASKS}.sync_runs_requeue_task", "I", 5),
    # Alerts: every 5 minutes, mail new incidents (needs reconnecting, a failed sync, failures piling up) once to
    # the owner, the bookkeeper and ADMINS, and close the ones that ended (services/alerts.py).
    "quickbooks-alerts": (f"{TASKS}.alerts_check_task", "I", 5),
    # Webhook sweeper: every 2 minutes, queue again each realm whose webhook events are still pending a minute
    # after they arrived (the Redis broker loses a task whose worker dies; the inbox rows are the record).
    "quickbooks-webhook-sweep": (f"{TASKS}.webhook_events_sweep_task", "I", 2),
    # Webhook pruning: daily, delete processed, ignored and unparseable events older than
    # QUICKBOOKS_WEBHOOK_RETENTION_DAYS (30); pending and failed events stay until settled.
    "quickbooks-webhook-prune": (f"{TASKS}.webhook_events_prune_task", "I", 1440),
    # CDC: every 15 minutes, queue a customers, items, estimates, invoices and payments sync for each connected
    # company unless one of that kind is already queued, running or interrupted; each asks CDC for what changed
    # since its last good run, so a webhook that never came is caught within 15 minutes (services/schedules_jobs.py).
    "quickbooks-sync-changes": (f"{TASKS}.syncs_changes_task", "I", 15),
    # Full reconciliation: nightly (NIGHTLY), a full pull of every synced kind: what CDC cannot see (its 30-day
    # window, its 1000-object cap) is read again, and matching is planned again over every customer.
    "quickbooks-sync-full": (f"{TASKS}.syncs_full_task", "D", None),
    # Financial summaries: nightly, after the reconciliation: sent invoices now past due are stored as overdue,
    # and every contact summary is recalculated (a linked contact's balance stays QBO's).
    "quickbooks-financials-refresh": (f"{TASKS}.financials_refresh_task", "D", None),
    # Follow-ups: nightly, after the financials refresh: raise the work that time made due (invoices overdue by a
    # rule's days, balances above credit limits) and what a webhook hook missed (services/followups.py); each
    # event raises once, so a rerun adds nothing.
    "quickbooks-followups": (f"{TASKS}.followups_evaluate_task", "D", None),
}

# Daily schedules run at a quiet local hour (TIME_ZONE), not 24 h after whenever the migration happened to run;
# django-q2 keeps a daily schedule at its local hour across daylight-saving changes.
NIGHTLY = {"quickbooks-sync-full": (2, 30), "quickbooks-financials-refresh": (3, 30), "quickbooks-followups": (4, 0)}


def schedules_ensure(*, schedule_model=None) -> int:
    """Create or update every schedule by name; safe to run many times. Returns how many exist."""
    if schedule_model is None:
        from django_q.models import Schedule as schedule_model
    for name, (func, schedule_type, minutes) in SCHEDULES.items():
        schedule_model.objects.update_or_create(
            name=name,
            defaults={"func": func, "schedule_type": schedule_type, "minutes": minutes, "repeats": -1},
        )
    return len(SCHEDULES)


def schedules_nightly_align(*, schedule_model=None, now: datetime | None = None) -> int:
    """Move each NIGHTLY schedule's next run to its next local hour and minute; returns how many it moved.

    Separate from `schedules_ensure`, which later migrations call again: that one leaves `next_run` alone, so the
    time set here sticks, and django-q2 then adds a day after every run.
    """
    if schedule_model is None:
        from django_q.models import Schedule as schedule_model
    local = timezone.localtime(now)
    moved = 0
    for name, (hour, minute) in NIGHTLY.items():
        at = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if at <= local:
            at += timedelta(days=1)
        moved += schedule_model.objects.filter(name=name).update(next_run=at)
    return moved
