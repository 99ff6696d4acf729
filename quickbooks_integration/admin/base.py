"""Admin building blocks of the integration: pages that show what happened and let nobody edit it."""

from __future__ import annotations

from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    """No add, change or delete for anyone, superusers included: these rows are written by services only
    (the OAuth flow, sync runs, the append-only audit trail, RELIABILITY E5)."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
