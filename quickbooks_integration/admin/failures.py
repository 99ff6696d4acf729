"""Failed syncs for the bookkeeper: what failed, QBO's own words, how often; read-only here.

Retry and "mark resolved" actions come with the background-sync work (issue 12) and call
services/failures.py; the rows are written by services only.
"""

from __future__ import annotations

from django.contrib import admin

from ..models import SyncFailure
from .base import ReadOnlyAdmin


class OpenFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "open"

    def lookups(self, request, model_admin):
        return (("yes", "Open"), ("no", "Resolved"))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(resolved_at__isnull=True)
        if self.value() == "no":
            return queryset.filter(resolved_at__isnull=False)
        return queryset


@admin.register(SyncFailure)
class SyncFailureAdmin(ReadOnlyAdmin):
    list_display = ("last_attempt_at", "kind", "direction", "target", "code", "message", "attempts", "is_open")
    list_filter = (OpenFilter, "kind", "direction", "code")
    search_fields = ("entity_id", "object_id", "message", "intuit_tid", "key")
    date_hierarchy = "last_attempt_at"
    readonly_fields = (
        "kind",
        "direction",
        "entity_type",
        "entity_id",
        "object_type",
        "object_id",
        "code",
        "error_class",
        "message",
        "detail",
        "element",
        "http_status",
        "intuit_tid",
        "request_id",
        "attempts",
        "first_attempt_at",
        "last_attempt_at",
        "resolved_at",
        "resolved_by",
        "resolution",
    )
    list_select_related = ("resolved_by",)

    @admin.display(description="Target")
    def target(self, failure: SyncFailure) -> str:
        qbo = f"{failure.entity_type} {failure.entity_id}".strip()
        crm = f"{failure.object_type} #{failure.object_id}" if failure.object_type else ""
        return " / ".join(part for part in (qbo, crm) if part) or failure.key

    @admin.display(description="Open", boolean=True, ordering="resolved_at")
    def is_open(self, failure: SyncFailure) -> bool:
        return failure.is_open
