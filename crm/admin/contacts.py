"""Contact admin: search by any phone format, CSV import/export, financial fields editable only by bookkeepers,
merging two contacts (`contact_merge.py`), and a warning when an imported row's phone or e-mail exists already."""

from functools import partial

from django.contrib import admin, messages
from django.urls import path

from crm.models import CONTACT_FINANCIAL_FIELDS, Contact
from crm.resources import ContactResource

from .base import CrmImportExportAdmin, PhoneSearchMixin
from .contact_merge import contact_merge_view, merge_two_contacts

IMPORT_WARNINGS_SHOWN = 10

# Written by the QuickBooks integration only; nobody edits them by hand.
QUICKBOOKS_FIELDS = ("quickbooks_customer_id", "quickbooks_sync_token")
# Derived from the contact's invoices and payments (`services.contact_financials_recalculate`) or from QBO: a typed
# figure would disagree with both, so these are read-only even for those who edit the other financial fields.
SUMMARY_FIELDS = ("total_sales", "outstanding_balance", "last_payment_date", "average_days_to_pay")


@admin.register(Contact)
class ContactAdmin(PhoneSearchMixin, CrmImportExportAdmin):
    resource_classes = [ContactResource]
    list_display = (
        "display_name",
        "company_name",
        "phone",
        "email",
        "city",
        "source",
        "customer_type",
        "outstanding_balance",
    )  # the QuickBooks integration adds its "QuickBooks" column (crm.admin.extensions)
    list_filter = ("source", "customer_type", "tax_exempt", "state")
    search_fields = ("first_name", "last_name", "company_name", "email", "phone", "mobile_phone", "zip_code")
    phone_search_fields = ("phone_e164", "mobile_phone_e164")
    date_hierarchy = "created_at"
    actions = [merge_two_contacts]
    readonly_fields = (
        "phone_e164",
        "mobile_phone_e164",
        *SUMMARY_FIELDS,
        *QUICKBOOKS_FIELDS,
        "created_at",
        "updated_at",
    )
    fieldsets = (
        (None, {"fields": ("first_name", "last_name", "company_name", "source")}),
        ("Phone and e-mail", {"fields": (("phone", "phone_e164"), ("mobile_phone", "mobile_phone_e164"), "email")}),
        ("Address", {"fields": ("address_line1", "address_line2", ("city", "state", "zip_code"))}),
        ("Financial", {"fields": CONTACT_FINANCIAL_FIELDS}),
        ("QuickBooks", {"fields": QUICKBOOKS_FIELDS, "classes": ("collapse",)}),
        ("History", {"fields": ("created_at", "updated_at"), "classes": ("collapse",)}),
    )

    @admin.display(description="Name", ordering="last_name")
    def display_name(self, obj: Contact) -> str:
        return obj.display_name

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.has_perm("crm.view_financials"):
            fields += [name for name in CONTACT_FINANCIAL_FIELDS if name not in fields]
        return fields

    def has_merge_contact_permission(self, request) -> bool:
        return request.user.has_perm("crm.merge_contact")

    def get_urls(self):
        merge = self.admin_site.admin_view(partial(contact_merge_view, self))
        return [path("merge/", merge, name="crm_contact_merge"), *super().get_urls()]

    def import_action(self, request, **kwargs):
        response = super().import_action(request, **kwargs)
        result = (getattr(response, "context_data", None) or {}).get("result")
        self._duplicate_warnings_show(request, result)
        return response

    def process_result(self, result, request):
        self._duplicate_warnings_show(request, result)
        return super().process_result(result, request)

    def _duplicate_warnings_show(self, request, result) -> None:
        """Rows whose phone or e-mail another contact has: a warning, not an error (households share numbers)."""
        lines = getattr(result, "duplicate_warnings", None) or []
        if not lines:
            return
        more = len(lines) - IMPORT_WARNINGS_SHOWN
        text = " ".join(lines[:IMPORT_WARNINGS_SHOWN]) + (f" …and {more} more rows." if more > 0 else "")
        self.message_user(
            request,
            f"{len(lines)} row{'s' if len(lines) != 1 else ''} share a phone or e-mail with an existing contact "
            f"(check for duplicates; merge them from the contact list): {text}",
            messages.WARNING,
        )
