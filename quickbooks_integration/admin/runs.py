"""Sync runs in the admin: read-only history."""

from __future__ import annotations

from django.contrib import admin

from ..models import SyncRun
from .base import ReadOnlyAdmin


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "status", "connection", "started_at", "finished_at", "api_calls")
    list_filter = ("kind", "status")
    list_select_related = ("connection",)
    readonly_fields = ("connection", "kind", "status", "started_at", "finished_at", "api_calls", "stats", "error")

    def get_queryset(self, request):
        return super().get_queryset(request).defer("connection__access_token", "connection__refresh_token")
