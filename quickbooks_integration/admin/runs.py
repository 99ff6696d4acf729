"""Sync runs in the admin: read-only history."""

from __future__ import annotations

from django.contrib import admin

from ..models import SyncRun
from .base import ReadOnlyAdmin


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "status", "connection", "started_at", "finished_at", "api_calls")
    list_filter = ("kind", "status")
    readonly_fields = ("connection", "kind", "status", "started_at", "finished_at", "api_calls", "stats", "error")

    def get_queryset(self, request):
        # The connection is joined with its token columns deferred, on the change page too: a lazy `run.connection`
        # would load (and try to decrypt) the tokens, and a wrong FERNET_KEYS would 500 the page (fault 27).
        return (
            super()
            .get_queryset(request)
            .select_related("connection")
            .defer("connection__access_token", "connection__refresh_token")
        )
