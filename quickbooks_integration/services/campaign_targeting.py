"""Building a campaign's recipient list from a revenue segment (issue 13): the high-value customers for an upsell,
without the contacts who owe more than a threshold. The audience is `analytics.campaigns.campaign_audience`, the
same selector the dashboard shows and exports, so the list staff build is the list the owner looked at."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.core.exceptions import PermissionDenied
from django.db import transaction

from crm.models import Campaign, CampaignRecipient

from .analytics.campaigns import campaign_audience
from .audit import audit_record

PERMISSION = "crm.change_campaign"


def campaign_recipients_add(
    *,
    campaign: Campaign,
    actor,
    as_of: datetime.date,
    segment: str,
    max_balance: Decimal | None = None,
    min_annual_revenue: Decimal | None = None,
) -> tuple[int, int]:
    """Add the segment's contacts (minus those owing more than `max_balance`) as recipients of `campaign`.

    Contacts already on the list are left as they are. Returns (added, already there); audited on the campaign.
    """
    if actor is not None and not actor.has_perm(PERMISSION):
        raise PermissionDenied("Building a campaign's recipients needs the permission to change campaigns.")
    _, members = campaign_audience(
        as_of=as_of, segment=segment, max_balance=max_balance, min_annual_revenue=min_annual_revenue
    )
    wanted = {member.contact_id for member in members}
    with transaction.atomic():
        present = set(
            CampaignRecipient.objects.filter(campaign=campaign, contact_id__in=wanted).values_list(
                "contact_id", flat=True
            )
        )
        CampaignRecipient.objects.bulk_create(
            [CampaignRecipient(campaign=campaign, contact_id=pk) for pk in sorted(wanted - present)],
            ignore_conflicts=True,
        )
        added = len(wanted - present)
        audit_record(
            action="campaign.recipients_add",
            actor=actor,
            obj=campaign,
            after={
                "segment": segment,
                "max_balance": str(max_balance) if max_balance is not None else None,
                "min_annual_revenue": str(min_annual_revenue) if min_annual_revenue is not None else None,
                "added": added,
            },
        )
    return added, len(present)
