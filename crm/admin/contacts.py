"""Contact admin: search by any phone format, CSV import/export, financial fields editable only by bookkeepers."""

from django.contrib import admin

from crm.models import CONTACT_FINANCIAL_FIELDS, Contact
from crm.resources import ContactResource

from .base import CrmImportExportAdmin, PhoneSearchMixin

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
