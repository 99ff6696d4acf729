"""The audit trail in the admin: read-only for everyone, superusers included (append-only, E5)."""

from __future__ import annotations

from django.contrib import admin

from ..models import AuditEvent
from .base import ReadOnlyAdmin


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "action", "outcome", "actor_label", "object_type", "object_id")
    list_filter = ("action", "outcome")
    search_fields = ("action", "actor_label", "object_id")
    readonly_fields = (
        "at",
        "actor",
        "actor_label",
        "action",
        "object_type",
        "object_id",
        "before",
        "after",
        "outcome",
        "message",
    )
