"""Activity admin: the calls, texts, voicemails and e-mails fed in by the phone system, with CSV import."""

from django.contrib import admin

from crm.models import Activity
from crm.resources import ActivityResource

from .base import CrmImportExportAdmin, PhoneSearchMixin


@admin.register(Activity)
class ActivityAdmin(PhoneSearchMixin, CrmImportExportAdmin):
    resource_classes = [ActivityResource]
    list_display = ("occurred_at", "kind", "direction", "contact", "phone_number", "duration_seconds")
    list_filter = ("kind", "direction")
    list_select_related = ("contact",)
    search_fields = ("summary", "phone_number", "contact__first_name", "contact__last_name", "contact__company_name")
    phone_search_fields = ("phone_number_e164",)
    date_hierarchy = "occurred_at"
    autocomplete_fields = ("contact",)
    readonly_fields = ("phone_number_e164", "created_at", "updated_at")
