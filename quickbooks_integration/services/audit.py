"""Writes the append-only audit trail (RELIABILITY E5): one row per connect, disconnect, refresh failure, rotation."""

from __future__ import annotations

from typing import Any

from django.db import models

from ..models import AuditEvent


def audit_record(
    *,
    action: str,
    actor=None,
    obj: models.Model | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    outcome: str = AuditEvent.Outcome.SUCCESS,
    message: str = "",
) -> AuditEvent:
    """Insert one audit row; `actor=None` means the system (a task or command). Never pass secrets in before/after."""
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    return AuditEvent.objects.create(
        action=action,
        actor=actor if is_user else None,
        actor_label=actor.get_username() if is_user else "system",
        object_type=obj._meta.label if obj is not None else "",
        object_id=str(obj.pk) if obj is not None and obj.pk is not None else "",
        before=before or {},
        after=after or {},
        outcome=outcome,
        message=message[:2000],
    )
