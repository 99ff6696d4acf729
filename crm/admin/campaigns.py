"""Campaign admin: campaigns with their recipient and response counts, and the recipients themselves."""

from django.contrib import admin
from django.db.models import Count, Q

from crm.models import Campaign, CampaignRecipient

from .base import CrmModelAdmin


class CampaignRecipientInline(admin.TabularInline):
    """Who received the campaign, read-only here: a campaign has hundreds of recipients, and an editable row
    costs a query per row for its contact widget. Recipients are added and edited on their own admin page."""

    model = CampaignRecipient
    fields = ("contact", "sent_at", "responded_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("contact", "campaign")  # __str__ shows both

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Campaign)
class CampaignAdmin(CrmModelAdmin):
    list_display = ("name", "channel", "starts_on", "ends_on", "cost", "recipient_count", "response_count")
    list_filter = ("channel",)
    search_fields = ("name",)
    date_hierarchy = "starts_on"
    inlines = [CampaignRecipientInline]

    def get_queryset(self, request):
        # Counted in the changelist's one query, not once per row.
        return (
            super()
            .get_queryset(request)
            .annotate(
                _recipients=Count("campaign_recipients"),
                _responses=Count("campaign_recipients", filter=~Q(campaign_recipients__responded_at=None)),
            )
        )

    @admin.display(description="Recipients", ordering="_recipients")
    def recipient_count(self, obj: Campaign) -> int:
        return obj._recipients

    @admin.display(description="Responses", ordering="_responses")
    def response_count(self, obj: Campaign) -> int:
        return obj._responses


@admin.register(CampaignRecipient)
class CampaignRecipientAdmin(CrmModelAdmin):
    list_display = ("campaign", "contact", "sent_at", "responded_at")
    list_filter = ("campaign", "campaign__channel")
    list_select_related = ("campaign", "contact")
    search_fields = ("contact__first_name", "contact__last_name", "contact__company_name", "campaign__name")
    date_hierarchy = "sent_at"
    autocomplete_fields = ("campaign", "contact")
