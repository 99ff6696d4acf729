"""The campaign list's action "Add recipients from a segment…": asks the segment and the balance threshold on an
intermediate page (as Django's delete confirmation does, previewing high-value customers who owe nothing), then
calls `campaign_recipients_add` per campaign."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from crm.admin import extensions
from crm.models import Campaign

from ..services.analytics.campaigns import HIGH_VALUE, SEGMENTS, campaign_audience
from ..services.campaign_targeting import campaign_recipients_add


class SegmentForm(forms.Form):
    segment = forms.ChoiceField(choices=list(SEGMENTS.items()), initial=HIGH_VALUE)
    max_balance = forms.DecimalField(
        label="Leave out contacts owing more than",
        required=False,
        min_value=0,
        decimal_places=2,
        initial=0,
        help_text="Blank: owing anything is fine. 0: only contacts who owe nothing.",
    )
    min_annual_revenue = forms.DecimalField(
        label="High-value: yearly revenue above",
        required=False,
        min_value=0,
        decimal_places=2,
        help_text="Blank: the top tenth of customers by revenue in the last year.",
    )


@admin.action(description="Add recipients from a segment…", permissions=["change"])
def add_recipients_from_segment(modeladmin, request: HttpRequest, queryset) -> HttpResponse | None:
    campaigns = list(queryset)
    form = SegmentForm(request.POST if "segment" in request.POST else None)
    today = timezone.localdate()
    if form.is_bound and form.is_valid():
        options = form.cleaned_data
        for campaign in campaigns:
            added, present = campaign_recipients_add(campaign=campaign, actor=request.user, as_of=today, **options)
            modeladmin.message_user(
                request,
                f"{campaign}: {added} recipient{'s' if added != 1 else ''} added"
                + (f", {present} already on the list." if present else "."),
                messages.SUCCESS,
            )
        return None
    count, sample = campaign_audience(as_of=today, segment=HIGH_VALUE, max_balance=Decimal("0"), limit=20)
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Add recipients from a segment",
        "opts": modeladmin.opts,
        "form": form if form.is_bound else SegmentForm(),
        "campaigns": campaigns,
        "count": count,
        "sample": sample,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "action_name": "add_recipients_from_segment",
    }
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(request, "admin/quickbooks_integration/campaign/add_recipients.html", context)


extensions.extend(Campaign, actions=[add_recipients_from_segment])
