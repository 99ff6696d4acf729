"""The `QuickBooksSync` ledger in the admin: what the CRM last saw of each QBO entity, read-only."""

from __future__ import annotations

from django.contrib import admin

from ..models import QuickBooksSync
from .base import ReadOnlyAdmin


@admin.register(QuickBooksSync)
class QuickBooksSyncAdmin(ReadOnlyAdmin):
    list_display = ("entity_type", "entity_id", "local_id", "sync_version", "sync_status", "qbo_updated_at")
    list_display += ("last_synced", "deleted_at")
    list_filter = ("entity_type", "sync_status")
    search_fields = ("entity_id",)
    readonly_fields = (
        "entity_type",
        "entity_id",
        "local_id",
        "sync_version",
        "sync_status",
        "error_message",
        "qbo_updated_at",
        "last_synced",
        "deleted_at",
        "payload",
    )
