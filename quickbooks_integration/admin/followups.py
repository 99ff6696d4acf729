"""Follow-ups in the admin: the rules (the bookkeeper edits them), the work they raised (staff mark it done), and the
"Follow-ups" field and history entries on the contact's own page (through `crm.admin.extensions`).

Rules: add and change need `add_followuprule`/`change_followuprule` (Bookkeeper); the owner reads them; a rule's
trigger is fixed once saved (its follow-ups' keys mean that trigger), and only a superuser may delete a rule, and only
one that raised nothing (PROTECT): switching it off is the way to stop it. Follow-ups are never edited by a form nor
deleted (the key is what keeps an event from raising twice); "Mark done" needs `change_followup` (Staff,
Bookkeeper) and calls `followup_complete` once per row.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from crm.admin import extensions
from crm.admin.actions import objects_run
from crm.models import Contact

from ..models import FollowUp, FollowUpRule
from ..services.followups import CHANGE_PERMISSION, followup_complete
from .conflicts import ContactFilter

CONTACT_PAGE_LIMIT = 10


@admin.register(FollowUpRule)
class FollowUpRuleAdmin(admin.ModelAdmin):
    list_display = ("name", "trigger", "days", "assign_to", "activity_kind", "active", "active_since", "raised")
    list_filter = ("trigger", "active")
    search_fields = ("name", "summary_template")
    list_select_related = ("assign_to",)
    fields = ("name", "trigger", "days", "summary_template", "activity_kind", "assign_to", "active", "active_since")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(raised_count=Count("followups"))

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return ("trigger", "active_since") if obj is not None else ("active_since",)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_superuser

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "assign_to":  # people who can open the admin, not every account
            kwargs["queryset"] = get_user_model().objects.filter(is_active=True, is_staff=True).order_by("username")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description="Raised", ordering="raised_count")
    def raised(self, rule: FollowUpRule) -> str:
        url = reverse("admin:quickbooks_integration_followup_changelist") + f"?rule__id__exact={rule.pk}&state=all"
        return format_html('<a href="{}">{}</a>', url, rule.raised_count)


class StateFilter(admin.SimpleListFilter):
    """Open follow-ups by default: they are the staff's to-do list."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return (("open", "Open"), ("done", "Done"), ("cleared", "No longer needed"), ("all", "All"))

    def choices(self, changelist):
        current = self.value() or "open"
        for value, label in self.lookup_choices:
            yield {
                "selected": current == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request, queryset):
        value = self.value() or "open"
        if value == "open":
            return queryset.filter(done_at__isnull=True, cleared_at__isnull=True)
        if value == "done":
            return queryset.filter(done_at__isnull=False)
        if value == "cleared":
            return queryset.filter(done_at__isnull=True, cleared_at__isnull=False)
        return queryset


class AssignedFilter(admin.SimpleListFilter):
    """Mine or unassigned; no list of every user."""

    title = "assigned to"
    parameter_name = "assigned"

    def lookups(self, request, model_admin):
        return (("me", "Me"), ("nobody", "Nobody"))

    def queryset(self, request, queryset):
        if self.value() == "me":
            return queryset.filter(assigned_to=request.user)
        if self.value() == "nobody":
            return queryset.filter(assigned_to__isnull=True)
        return queryset


@admin.register(FollowUp)
class FollowUpAdmin(admin.ModelAdmin):
    """The list and read-only pages; the only change is "Mark done"."""

    list_display = ("created_at", "contact_link", "summary", "rule", "assigned_to", "state_display", "done_by")
    list_filter = (StateFilter, AssignedFilter, "rule__trigger", "rule", ContactFilter)
    search_fields = ("summary", "reference", "contact__first_name", "contact__last_name", "contact__company_name")
    list_select_related = ("contact", "rule", "assigned_to", "done_by")
    list_per_page = 50
    show_full_result_count = False
    date_hierarchy = "created_at"
    actions = ("mark_done",)
    readonly_fields = (
        "contact",
        "rule",
        "summary",
        "reference",
        "assigned_to",
        "created_at",
        "state_display",
        "done_at",
        "done_by",
        "activity",
        "cleared_at",
    )
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # read-only pages; marking done is `has_done_permission`

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # a deleted follow-up would free its key and be raised again

    def has_done_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(CHANGE_PERMISSION)

    @admin.display(description="Contact", ordering="contact__last_name")
    def contact_link(self, followup: FollowUp) -> str:
        url = reverse("admin:crm_contact_change", args=[followup.contact_id])
        return format_html('<a href="{}">{}</a>', url, followup.contact)

    @admin.display(description="State", ordering="done_at")
    def state_display(self, followup: FollowUp) -> str:
        return followup.state

    def changelist_view(self, request: HttpRequest, extra_context=None):
        return super().changelist_view(request, {"title": "Follow-ups", **(extra_context or {})})

    @admin.action(description="Mark done", permissions=["done"])
    def mark_done(self, request: HttpRequest, queryset: QuerySet) -> None:
        objects_run(
            modeladmin=self,
            request=request,
            objects=queryset.filter(done_at__isnull=True).select_related("contact", "rule"),
            operation=lambda request, followup: followup_complete(followup=followup, actor=request.user) and None,
            description="Mark done",
            permissions=["done"],
            done="marked done",
            errors=(PermissionDenied,),
        )


# ---------------------------------------------------------------------------------------------------- the contact


def _state(followup: FollowUp) -> str:
    if followup.done_at:
        who = followup.done_by.get_username() if followup.done_by else "someone"
        return f"done by {who} on {followup.done_at:%Y-%m-%d}"
    if followup.cleared_at:
        return f"no longer needed since {followup.cleared_at:%Y-%m-%d}"
    return "open" + (f", for {followup.assigned_to.get_username()}" if followup.assigned_to else "")


@admin.display(description="Follow-ups")
def contact_followups(contact: Contact) -> str:
    """The contact's latest follow-ups, newest first, on its own page: what, when, and whether it was done."""
    if contact is None or contact.pk is None:
        return "—"
    followups = list(
        FollowUp.objects.filter(contact=contact)
        .select_related("assigned_to", "done_by")
        .order_by("-created_at", "-id")[:CONTACT_PAGE_LIMIT]
    )
    if not followups:
        return "None"
    items = format_html_join(
        "",
        '<li>{} <a href="{}">{}</a> ({})</li>',
        (
            (
                f"{followup.created_at:%Y-%m-%d}",
                reverse("admin:quickbooks_integration_followup_change", args=[followup.pk]),
                followup.summary,
                _state(followup),
            )
            for followup in followups
        ),
    )
    every = reverse("admin:quickbooks_integration_followup_changelist") + f"?contact={contact.pk}&state=all"
    return format_html('<ul class="qbo-contact-followups">{}</ul><a href="{}">All follow-ups</a>', items, every)


def followup_history(*, obj: Contact) -> list[extensions.HistoryEntry]:
    """Each follow-up on the contact's history page: raised (by the system), then done or no longer needed."""
    entries = []
    for followup in FollowUp.objects.filter(contact=obj).select_related("done_by").order_by("created_at", "id"):
        entries.append(
            extensions.HistoryEntry(
                at=followup.created_at,
                actor="system",
                action="followup.raised",
                source="Follow-ups",
                message=followup.summary,
            )
        )
        if followup.done_at:
            entries.append(
                extensions.HistoryEntry(
                    at=followup.done_at,
                    actor=followup.done_by.get_username() if followup.done_by else "",
                    action="followup.done",
                    source="Follow-ups",
                    message=followup.summary,
                )
            )
        elif followup.cleared_at:
            entries.append(
                extensions.HistoryEntry(
                    at=followup.cleared_at,
                    actor="system",
                    action="followup.cleared",
                    source="Follow-ups",
                    message=followup.summary,
                )
            )
    return entries


extensions.extend(Contact, readonly_fields=[contact_followups], history=[followup_history])
