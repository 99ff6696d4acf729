"""The QuickBooks connection page: company, realm, status, expiry times (never tokens), runs, and the buttons.

The changelist of `QuickBooksAuth` is replaced by one status page; rows load with the token columns deferred, so a
key that cannot decrypt them never breaks the page (F2). Buttons post (CSRF) to the views in views.py, which
check superuser themselves; "Test connection" needs `manage_connection`.
"""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from ..models import QuickBooksAuth, SyncRun
from ..services.connection import connection_current
from ..services.customers import KIND as CUSTOMERS
from ..services.failures import failures_open_counts
from .base import ReadOnlyAdmin

RECENT_RUNS = 10
CUSTOMER_FIGURES = (  # (stats key, label) of the last customers import, as `quickbooks_sync customers` prints them
    ("linked", "linked"),
    ("created", "created"),
    ("queued", "queued for review"),
    ("updated", "updated"),
    ("unlinked", "unlinked"),
    ("unchanged", "unchanged"),
    ("failed", "failed"),
)


@admin.register(QuickBooksAuth)
class QuickBooksAuthAdmin(ReadOnlyAdmin):
    """One status page instead of a list; no add, change or delete (the OAuth flow owns the row)."""

    fields = ("company_name", "company_id", "status", "expires_at", "refresh_expires_at", "last_error")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).defer("access_token", "refresh_token")

    def has_manage_connection_permission(self, request) -> bool:
        return request.user.has_perm("quickbooks_integration.manage_connection")

    def change_view(self, request: HttpRequest, object_id, form_url="", extra_context=None):
        return HttpResponseRedirect(reverse("admin:quickbooks_integration_quickbooksauth_changelist"))

    def changelist_view(self, request: HttpRequest, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        connection = connection_current()
        runs = (
            SyncRun.objects.filter(connection=connection).order_by("-created_at", "-id")[:RECENT_RUNS]
            if connection
            else []
        )
        customers_run = (
            SyncRun.objects.filter(connection=connection, kind=CUSTOMERS).order_by("-created_at", "-id").first()
            if connection
            else None
        )
        customers_stats = (customers_run.stats or {}) if customers_run else {}
        context = {
            **self.admin_site.each_context(request),
            "customers_run": customers_run,
            "customers_figures": [(label, customers_stats.get(key, 0)) for key, label in CUSTOMER_FIGURES],
            "title": "QuickBooks connection",
            "opts": self.model._meta,
            "connection": connection,
            "runs": runs,
            "failures_open": failures_open_counts(connection_id=connection.pk) if connection else {},
            "failures_url": reverse("admin:quickbooks_integration_syncfailure_changelist") + "?open=yes",
            "Status": QuickBooksAuth.Status,
            "can_connect": request.user.is_superuser,
            "can_test": self.has_manage_connection_permission(request),
            "connect_url": reverse("quickbooks:connect"),
            "disconnect_url": reverse("quickbooks:disconnect"),
            "test_url": reverse("quickbooks:test"),
        }
        return TemplateResponse(request, "admin/quickbooks_integration/connection.html", context)
