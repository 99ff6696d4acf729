"""The webhook inbox in the admin: every stored event, what processing made of it and why; read-only.

Pending, processed, ignored (unknown realm, entity not synced), unparseable (signed but unreadable: kept so it is
seen, and acknowledged so it never blocked Intuit's queue) and failed (its SyncFailure row carries the retry).
Importing the service registers its failure retry in the web process too.
"""

from __future__ import annotations

from django.contrib import admin

from ..models import WebhookEvent
from ..services import webhooks  # noqa: F401  (registers the "webhook_events" failure retry)
from .base import ReadOnlyAdmin


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "entity_type", "entity_id", "operation", "status", "attempts", "last_updated")
    list_display += ("realm_id", "connection", "processed_at")
    list_filter = ("status", "entity_type", "operation", "format")
    search_fields = ("entity_id", "deleted_id", "realm_id", "cloud_event_id", "delivery_id")
    date_hierarchy = "received_at"
    list_select_related = ("connection",)
    readonly_fields = (
        "status",
        "error",
        "connection",
        "realm_id",
        "entity_type",
        "entity_id",
        "operation",
        "deleted_id",
        "last_updated",
        "received_at",
        "processed_at",
        "attempts",
        "next_attempt_at",
        "format",
        "cloud_event_id",
        "delivery_id",
        "event_key",
        "payload",
    )

    def get_queryset(self, request):
        # The connection's token columns stay deferred: loading them would decrypt, and a wrong FERNET_KEYS would
        # 500 the page (fault 27); the list shows only its name and realm.
        return super().get_queryset(request).defer("connection__access_token", "connection__refresh_token")
