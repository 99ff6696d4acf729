"""Contact conflicts for the bookkeeper: a contact detail on which the CRM and QuickBooks disagree.

Owns the list (open ones by default), its two decisions, and the "QuickBooks conflicts" field on the contact's own
page (through `crm.admin.extensions`, so `crm` imports nothing of this). A conflict is never edited by a form: the
bookkeeper keeps the CRM's value or takes QuickBooks', one call to `contact_conflict_resolve` each, which audits it.
Reading needs `view_contactconflict` (Bookkeeper, Staff, Owner); deciding needs `change_contactconflict`
(Bookkeeper).
"""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import FieldDoesNotExist
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from crm.admin import extensions
from crm.admin.actions import objects_run
from crm.models import Contact

from ..models import ContactConflict
from ..services.customer_links import contact_conflict_resolve

RESOLVE_PERMISSION = "quickbooks_integration.change_contactconflict"
CONTACT_PAGE_LIMIT = 20


def field_label(name: str) -> str:
    """The contact field as the contact's page names it ("mobile_phone" → "Mobile phone")."""
    try:
        return str(Contact._meta.get_field(name).verbose_name).capitalize()
    except FieldDoesNotExist:  # a field since removed from Contact: show its name
        return name


class OpenFilter(admin.SimpleListFilter):
    """Open conflicts by default: they are the bookkeeper's to-do list."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return (("open", "Open"), ("resolved", "Resolved"), ("all", "All"))

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
            return queryset.filter(resolved_at__isnull=True)
        if value == "resolved":
            return queryset.filter(resolved_at__isnull=False)
        return queryset


class ContactFilter(admin.SimpleListFilter):
    """`?contact=<id>`: the conflicts of one contact (the link from the contact's page); no list of contacts."""

    title = "contact"
    parameter_name = "contact"

    def lookups(self, request, model_admin):
        value = self.value()
        contact = Contact.objects.filter(pk=value).first() if value and value.isdigit() else None
        return [(str(contact.pk), str(contact))] if contact else []

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        return queryset.filter(contact_id=value) if value.isdigit() else queryset.none()


@admin.register(ContactConflict)
class ContactConflictAdmin(admin.ModelAdmin):
    """The list and read-only pages; changes only through the two actions."""

    list_display = (
        "contact_link",
        "field_name",
        "crm_value",
        "qbo_value",
        "quickbooks_customer_id",
        "detected_at",
        "state",
        "resolved_by",
        "resolved_at",
    )
    list_filter = (OpenFilter, ContactFilter, "field", "resolution")
    search_fields = (
        "contact__first_name",
        "contact__last_name",
        "contact__company_name",
        "contact__email",
        "contact__phone",
        "crm_value",
        "qbo_value",
        "=quickbooks_customer_id",
    )
    list_select_related = ("contact", "resolved_by")
    list_per_page = 50
    show_full_result_count = False
    actions = ("keep_crm", "take_qbo")
    readonly_fields = (
        "contact",
        "field",
        "crm_value",
        "qbo_value",
        "quickbooks_customer_id",
        "detected_at",
        "resolved_at",
        "resolved_by",
        "resolution",
    )
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # the page is read-only; deciding is `has_resolve_permission`

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_resolve_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(RESOLVE_PERMISSION)

    @admin.display(description="Contact", ordering="contact__last_name")
    def contact_link(self, conflict: ContactConflict) -> str:
        url = reverse("admin:crm_contact_change", args=[conflict.contact_id])
        return format_html('<a href="{}">{}</a>', url, conflict.contact)

    @admin.display(description="Field", ordering="field")
    def field_name(self, conflict: ContactConflict) -> str:
        return field_label(conflict.field)

    @admin.display(description="State", ordering="resolved_at")
    def state(self, conflict: ContactConflict) -> str:
        return conflict.get_resolution_display() if conflict.resolved_at else "Open"

    def changelist_view(self, request: HttpRequest, extra_context=None):
        return super().changelist_view(request, {"title": "Contact conflicts", **(extra_context or {})})

    def _resolve_each(self, request: HttpRequest, queryset: QuerySet, *, take_qbo: bool, description: str, done: str):
        """One service call per conflict (an already resolved one is left as it is), reported once."""
        objects_run(
            modeladmin=self,
            request=request,
            objects=queryset.filter(resolved_at__isnull=True),
            operation=lambda request, conflict: (
                contact_conflict_resolve(conflict=conflict, take_qbo=take_qbo, actor=request.user) and None
            ),
            description=description,
            permissions=["resolve"],
            done=done,
            errors=(),
            audit=False,  # the service writes an AuditEvent on the contact
        )

    @admin.action(description="Keep the CRM's value", permissions=["resolve"])
    def keep_crm(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._resolve_each(
            request, queryset, take_qbo=False, description="Keep the CRM's value", done="kept as in the CRM"
        )

    @admin.action(description="Take QuickBooks' value", permissions=["resolve"])
    def take_qbo(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._resolve_each(
            request, queryset, take_qbo=True, description="Take QuickBooks' value", done="updated from QuickBooks"
        )


@admin.display(description="QuickBooks conflicts")
def quickbooks_conflicts(contact: Contact) -> str:
    """The contact's open conflicts, on its own page: what differs, both values, and where to decide."""
    if contact is None or contact.pk is None:
        return "—"
    conflicts = list(
        ContactConflict.objects.filter(contact=contact, resolved_at__isnull=True).order_by("field")[:CONTACT_PAGE_LIMIT]
    )
    if not conflicts:
        return "None"
    items = format_html_join(
        "",
        '<li><a href="{}">{}</a>: CRM “{}”, QuickBooks “{}”</li>',
        (
            (
                reverse("admin:quickbooks_integration_contactconflict_change", args=[conflict.pk]),
                field_label(conflict.field),
                conflict.crm_value,
                conflict.qbo_value,
            )
            for conflict in conflicts
        ),
    )
    decide = reverse("admin:quickbooks_integration_contactconflict_changelist") + f"?contact={contact.pk}"
    return format_html(
        '<ul class="qbo-contact-conflicts">{}</ul><a href="{}">Keep or take each value</a>', items, decide
    )


extensions.extend(Contact, readonly_fields=[quickbooks_conflicts])
