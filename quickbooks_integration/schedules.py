"""The integration's django-q2 schedules, in one place (STYLE §8); created idempotently by `schedules_ensure`."""

from __future__ import annotations

# name → (task function path, schedule type, minutes). One comment per schedule.
SCHEDULES = {
    # Keep-alive: refresh every connected company's tokens about every 12 h (the task skips a connection
    # refreshed within QUICKBOOKS_KEEPALIVE_MIN_AGE_HOURS), so an idle refresh token never reaches its
    # 100-day rolling expiry (API.md §1.5).
    "quickbooks-keepalive": ("quickbooks_integration.tasks.keepalive_task", "I", 720),
    # Interrupted runs: every 5 minutes, queue again the runs whose lease expired (worker killed) or whose task
    # the broker lost; they continue from their cursor (services/runs.py).
    "quickbooks-requeue-runs": ("quickbooks_integration.tasks.sync_runs_requeue_task", "I", 5),
}


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

# Alerts: every 5 minutes, mail new incidents (needs reconnecting, a failed sync, failures piling up) once to the
# owner, the bookkeeper and ADMINS, and close the ones that ended (services/alerts.py).
SCHEDULES["quickbooks-alerts"] = ("quickbooks_integration.tasks.alerts_check_task", "I", 5)
