"""Sync runs in the admin: read-only history with state (interrupted shown as such), progress, calls and cursor."""

from __future__ import annotations

from django.contrib import admin

from ..models import SyncRun
from .base import ReadOnlyAdmin


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "state_display", "progress", "connection", "started_at", "finished_at", "attempts")
    list_display += ("api_calls",)
    list_filter = ("kind", "status")
    readonly_fields = (
        "connection",
        "kind",
        "state_display",
        "progress",
        "attempts",
        "started_at",
        "heartbeat_at",
        "lease_expires_at",
        "finished_at",
        "api_calls",
        "cursor",
        "stats",
        "error",
    )

    def get_queryset(self, request):
        # The connection is joined with its token columns deferred, on the change page too: a lazy `run.connection`
        # would load (and try to decrypt) the tokens, and a wrong FERNET_KEYS would 500 the page (fault 27).
        return (
            super()
            .get_queryset(request)
            .select_related("connection")
            .defer("connection__access_token", "connection__refresh_token")
        )

    @admin.display(description="Status", ordering="status")
    def state_display(self, run: SyncRun) -> str:
        """A running run whose lease has lapsed (its worker died) reads "Interrupted": the next task resumes it."""
        return SyncRun.Status(run.state).label

    @admin.display(description="Progress")
    def progress(self, run: SyncRun) -> str:
        return str((run.stats or {}).get("progress", ""))
