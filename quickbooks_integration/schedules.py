"""The integration's django-q2 schedules, in one place (STYLE §8); created idempotently by `schedules_ensure`."""

from __future__ import annotations

# name → (task function path, schedule type, minutes). One comment per schedule.
SCHEDULES = {
    # Keep-alive: refresh every connected company's tokens about every 12 h (the task skips a connection
    # refreshed within QUICKBOOKS_KEEPALIVE_MIN_AGE_HOURS), so an idle refresh token never reaches its
    # 100-day rolling expiry (API.md §1.5).
    "quickbooks-keepalive": ("quickbooks_integration.tasks.keepalive_task", "I", 720),
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
