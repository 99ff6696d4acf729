"""The failed-sync queue for the bookkeeper: what failed, QBO's own words, how often, and the two ways out.

Rows are written by services only (services/failures.py): nobody adds, edits or deletes one here. The actions
"Retry" (the retry the failing service registered for its kind) and "Mark resolved" each call one service per row,
in its own transaction, and report once (crm/admin/actions.py::objects_run); they need `retry_sync` (Bookkeeper),
asked again when they run and again by the services, which write the audit rows. The Owner reads the queue only.
Filters by kind, QBO code and age; each row links to its record in QuickBooks; the admin index shows how many are
open beside "Sync failures".
"""

from __future__ import annotations

import datetime
from urllib.parse import urlencode

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html

from crm.admin.actions import objects_run

from .. import conf
from ..models import SyncFailure
from ..services.failures import (
    RETRY_PERMISSION,
    FailureRetryError,
    failure_mark_resolved,
    failure_retry,
    failures_open_counts,
)
from .base import ReadOnlyAdmin

# QBO's web app: where a person opens a record by its Id (the URLs QBO's own screens use; no API documents them).
QBO_APP = {conf.PRODUCTION: "https://app.qbo.intuit.com", conf.SANDBOX: "https://app.sandbox.qbo.intuit.com"}
QBO_PAGES = {
    "Customer": ("/app/customerdetail", "nameId"),
    "Invoice": ("/app/invoice", "txnId"),
    "Estimate": ("/app/estimate", "txnId"),
    "Payment": ("/app/recvpayment", "txnId"),
    "Item": ("/app/item", "itemId"),
}


def qbo_record_url(*, entity_type: str, entity_id: str) -> str | None:
    """The record's page in QuickBooks' web app, or None when it has none (no Id, an entity without a page).

    The emulator has no web pages (only OAuth and the API), and it stands in for a sandbox company, so under it the
    link goes to the sandbox's app: the page a developer would open for the same Id.
    """
    page = QBO_PAGES.get(entity_type)
    if page is None or not str(entity_id).isdigit():
        return None
    host = QBO_APP.get(conf.environment(), QBO_APP[conf.SANDBOX])
    path, parameter = page
    return f"{host}{path}?{urlencode({parameter: entity_id})}"


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


class AgeFilter(admin.SimpleListFilter):
    """By when the thing first failed, in the office's days (TIME_ZONE): new today, this week, or older."""

    title = "first failed"
    parameter_name = "age"

    def lookups(self, request, model_admin):
        return (("today", "Today"), ("week", "This week"), ("older", "Older"))

    def queryset(self, request, queryset):
        today = timezone.localdate()
        midnight = timezone.make_aware(datetime.datetime.combine(today, datetime.time.min))
        monday = midnight - datetime.timedelta(days=today.weekday())
        if self.value() == "today":
            return queryset.filter(first_attempt_at__gte=midnight)
        if self.value() == "week":
            return queryset.filter(first_attempt_at__gte=monday)
        if self.value() == "older":
            return queryset.filter(first_attempt_at__lt=monday)
        return queryset


def _resolve(request: HttpRequest, failure: SyncFailure) -> str:
    if not failure.is_open:
        raise FailureRetryError("already resolved")
    failure_mark_resolved(failure=failure, actor=request.user)
    return ""


def _retry(request: HttpRequest, failure: SyncFailure) -> str:
    return failure_retry(failure=failure, actor=request.user)


@admin.register(SyncFailure)
class SyncFailureAdmin(ReadOnlyAdmin):
    list_display = (
        "last_attempt_at",
        "kind",
        "direction",
        "target",
        "qbo_link",
        "code",
        "message",
        "attempts",
        "is_open",
    )
    list_filter = (OpenFilter, "kind", "code", AgeFilter, "direction")
    search_fields = ("entity_id", "object_id", "message", "intuit_tid", "key")
    date_hierarchy = "last_attempt_at"
    actions = ("retry", "mark_resolved")
    readonly_fields = (
        "kind",
        "direction",
        "entity_type",
        "entity_id",
        "qbo_link",
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

    def has_retry_sync_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(RETRY_PERMISSION)

    @admin.action(description="Retry the selected failures", permissions=["retry_sync"])
    def retry(self, request: HttpRequest, queryset: QuerySet) -> None:
        objects_run(
            modeladmin=self,
            request=request,
            objects=queryset.order_by("pk"),
            operation=_retry,
            description="Retry the selected failures",
            permissions=["retry_sync"],
            done="queued again",
            errors=(FailureRetryError,),
            audit=False,  # failure_retry writes an AuditEvent, refusals included
        )

    @admin.action(description="Mark the selected failures resolved", permissions=["retry_sync"])
    def mark_resolved(self, request: HttpRequest, queryset: QuerySet) -> None:
        objects_run(
            modeladmin=self,
            request=request,
            objects=queryset.order_by("pk"),
            operation=_resolve,
            description="Mark the selected failures resolved",
            permissions=["retry_sync"],
            done="marked resolved",
            errors=(FailureRetryError,),
            audit=False,  # failure_mark_resolved writes an AuditEvent
        )

    @admin.display(description="Target")
    def target(self, failure: SyncFailure) -> str:
        qbo = f"{failure.entity_type} {failure.entity_id}".strip()
        crm = f"{failure.object_type} #{failure.object_id}" if failure.object_type else ""
        return " / ".join(part for part in (qbo, crm) if part) or failure.key

    @admin.display(description="In QuickBooks")
    def qbo_link(self, failure: SyncFailure) -> str:
        url = qbo_record_url(entity_type=failure.entity_type, entity_id=failure.entity_id)
        if url is None:
            return "-"
        return format_html('<a href="{}" target="_blank" rel="noopener noreferrer">Open in QuickBooks</a>', url)

    @admin.display(description="Open", boolean=True, ordering="resolved_at")
    def is_open(self, failure: SyncFailure) -> bool:
        return failure.is_open


# ---------------------------------------------------------------------------------------------------- admin index


def _open_failures(request: HttpRequest) -> int:
    """How many failures are open, counted once per request (the index and its sidebar both list the apps)."""
    if not hasattr(request, "_quickbooks_open_failures"):
        request._quickbooks_open_failures = sum(failures_open_counts().values())
    return request._quickbooks_open_failures


def _app_list_open_failures(site: admin.AdminSite) -> None:
    """ "Sync failures (3 open)" in the admin index and sidebar, for the users who may open the queue.

    Wrapping the site's `get_app_list` once (as admin/duplicates.py does) instead of overriding admin/index.html
    keeps every template Django's and costs one COUNT only where the queue is listed.
    """
    current = site.get_app_list
    if getattr(current, "open_failures", False):
        return

    def get_app_list(request: HttpRequest, app_label: str | None = None) -> list[dict]:
        app_list = current(request, app_label)
        for app in app_list:
            for entry in app["models"] if app["app_label"] == SyncFailure._meta.app_label else ():
                if entry.get("model") is SyncFailure and (count := _open_failures(request)):
                    entry["name"] = f"{entry['name']} ({count} open)"
        return app_list

    get_app_list.open_failures = True
    site.get_app_list = get_app_list


_app_list_open_failures(admin.site)
