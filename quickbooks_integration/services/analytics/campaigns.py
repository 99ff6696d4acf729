"""Campaigns against revenue: the attribution rule, ROI per campaign (recipients → responses → quotes → invoices →
payments, against its cost) and seasonal timing per service.

The attribution rule (docs/analytics.md): a quote belongs to the campaign it names; a quote that names none belongs
to the campaign that last touched its contact within `window_days` days before the quote (a touch is the campaign
reaching the contact, or the contact responding to it, whichever is later and not after the quote's day); otherwise
it belongs to no campaign. Invoices and payments follow their quote. It is one SQL expression
(`attributed_campaign`), so every figure that uses it groups in the database.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, replace
from decimal import Decimal

from django.db.models import Case, Count, Exists, F, IntegerField, OuterRef, Q, Subquery, Sum, When
from django.db.models.functions import Coalesce, ExtractMonth, TruncDate
from django.db.models.lookups import GreaterThanOrEqual, IsNull

from crm.models import (
    Activity,
    Campaign,
    CampaignRecipient,
    Contact,
    CustomerType,
    Direction,
    InvoiceItem,
    PaymentApplication,
    Quote,
)
from crm.money import ZERO, q

from .common import DateRange, DaysBetween, invoices_billed, share
from .segments import high_value_customers

ATTRIBUTION_WINDOW_DAYS = 30


def attributed_campaign(*, quote: str = "", window_days: int = ATTRIBUTION_WINDOW_DAYS) -> Coalesce:
    """The campaign id a quote is attributed to, as an expression on any model that reaches the quote through the
    `quote` path ("" on Quote itself, "quote__" on Invoice, "invoice__quote__" on PaymentApplication).

    The last touch is the later of the last send and the last response in the window (a response wins a tie: the
    contact acted). They are looked up separately, each ordered by its own column, because SQLite refuses an outer
    column in a correlated subquery's ORDER BY, which a single "order by touch day" would need."""
    quote_day = OuterRef(f"{quote}issue_date")
    recipients = CampaignRecipient.objects.filter(contact_id=OuterRef(f"{quote}contact_id"))

    def last(moment: str) -> tuple[Subquery, Subquery]:
        touches = (
            recipients.annotate(day=TruncDate(moment))
            .filter(day__lte=quote_day)
            .annotate(age=DaysBetween(quote_day, F("day")))
            .filter(age__lte=window_days)
            .order_by(f"-{moment}", "-id")
        )
        return Subquery(touches.values("day")[:1]), Subquery(touches.values("campaign_id")[:1])

    sent_day, sent_campaign = last("sent_at")
    response_day, response_campaign = last("responded_at")
    last_touch = Case(
        When(IsNull(response_day, True), then=sent_campaign),
        When(Q(IsNull(sent_day, True)) | Q(GreaterThanOrEqual(response_day, sent_day)), then=response_campaign),
        default=sent_campaign,
        output_field=IntegerField(),
    )
    return Coalesce(F(f"{quote}campaign_id"), last_touch, output_field=IntegerField())


def responded(*, window_days: int = ATTRIBUTION_WINDOW_DAYS) -> Q:
    """A recipient responded when the response is recorded on the recipient, or when the contact called, texted or
    wrote in (an inbound activity) within `window_days` days after the campaign reached them. For a query of
    CampaignRecipient annotated with `sent_day` (the day it was sent, in the site's time zone)."""
    inbound = (
        Activity.objects.filter(contact_id=OuterRef("contact_id"), direction=Direction.INBOUND)
        .filter(occurred_at__gte=OuterRef("sent_at"))
        .annotate(age=DaysBetween(TruncDate("occurred_at"), OuterRef("sent_day")))
        .filter(age__lte=window_days)
    )
    return Q(responded_at__isnull=False) | Q(Exists(inbound))


@dataclass(frozen=True)
class CampaignReturn:
    campaign_id: int
    name: str
    channel: str
    starts_on: datetime.date | None
    cost: Decimal
    recipients: int = 0
    responses: int = 0
    quotes: int = 0
    quoted: Decimal = ZERO
    invoices: int = 0
    invoiced: Decimal = ZERO
    collected: Decimal = ZERO

    @property
    def response_rate(self) -> Decimal | None:
        return share(self.responses, self.recipients)

    @property
    def roi(self) -> Decimal | None:
        """(collected − cost) / cost as a percentage; None for a free campaign."""
        return share(self.collected - self.cost, self.cost)


@dataclass(frozen=True)
class CampaignReport:
    window_days: int
    campaigns: list[CampaignReturn]
    unattributed: CampaignReturn  # the quotes, invoices and money of the range no campaign earned


def campaign_roi(*, period: DateRange, window_days: int = ATTRIBUTION_WINDOW_DAYS) -> CampaignReport:
    """Per campaign, for the range: recipients reached in it and how many responded; quotes issued in it that are
    attributed to the campaign, their invoices (billed), and the money applied to those invoices so far; and ROI
    against the campaign's cost. Campaigns running in the range are listed even with nothing attributed.

    Five grouped queries whatever the size; quotes, invoices and money of the range that no campaign earned are
    the `unattributed` row, so the rows add up to the range's quotes (and their invoices and payments)."""
    span = (period.start, period.end)
    reached = (
        CampaignRecipient.objects.annotate(sent_day=TruncDate("sent_at"))
        .filter(sent_day__range=span)
        .values("campaign_id")
        .annotate(n=Count("id"), responses=Count("id", filter=responded(window_days=window_days)))
        .order_by()
    )
    quotes = (
        Quote.objects.filter(issue_date__range=span)
        .annotate(cid=attributed_campaign(window_days=window_days))
        .values("cid")
        .annotate(n=Count("id"), s=Sum("total_amount"))
        .order_by()
    )
    invoices = (
        invoices_billed()
        .filter(quote__issue_date__range=span)
        .annotate(cid=attributed_campaign(quote="quote__", window_days=window_days))
        .values("cid")
        .annotate(n=Count("id"), s=Sum("total_amount"))
        .order_by()
    )
    collected = (
        PaymentApplication.objects.filter(invoice__in=invoices_billed(), invoice__quote__issue_date__range=span)
        .annotate(cid=attributed_campaign(quote="invoice__quote__", window_days=window_days))
        .values("cid")
        .annotate(s=Sum("amount"))
        .order_by()
    )
    figures: dict[int | None, dict] = {}
    for row in reached:
        figures.setdefault(row["campaign_id"], {}).update(recipients=row["n"], responses=row["responses"])
    for row in quotes:
        figures.setdefault(row["cid"], {}).update(quotes=row["n"], quoted=q(row["s"]))
    for row in invoices:
        figures.setdefault(row["cid"], {}).update(invoices=row["n"], invoiced=q(row["s"]))
    for row in collected:
        figures.setdefault(row["cid"], {}).update(collected=q(row["s"]))
    running = Q(starts_on__lte=period.end) & (Q(ends_on__isnull=True) | Q(ends_on__gte=period.start))
    listed = Campaign.objects.filter(running | Q(pk__in=[pk for pk in figures if pk is not None]))
    campaigns = [
        CampaignReturn(
            campaign_id=c.pk,
            name=c.name,
            channel=c.get_channel_display(),
            starts_on=c.starts_on,
            cost=q(c.cost),
            **figures.get(c.pk, {}),
        )
        for c in listed.only("name", "channel", "starts_on", "cost")
    ]
    campaigns.sort(key=lambda c: (-c.collected, c.name))
    unattributed = replace(
        CampaignReturn(campaign_id=0, name="No campaign", channel="", starts_on=None, cost=ZERO),
        **figures.get(None, {}),
    )
    return CampaignReport(window_days=window_days, campaigns=campaigns, unattributed=unattributed)


MONTHS = range(1, 13)


@dataclass(frozen=True)
class ServiceSeason:
    product_id: int
    name: str
    ordered: list[int]  # invoices with the service, by the month they were issued (January first)
    paid: list[int]  # invoices with the service, by the month they were paid off

    @property
    def peak_order_months(self) -> list[int]:
        return _peaks(self.ordered)

    @property
    def peak_paid_months(self) -> list[int]:
        return _peaks(self.paid)

    @property
    def campaign_month(self) -> int | None:
        """A month before the first peak ordering month: when a campaign for the service should go out."""
        peaks = self.peak_order_months
        return (peaks[0] - 2) % 12 + 1 if peaks else None


def _peaks(counts: list[int], size: int = 3) -> list[int]:
    """The (up to) `size` busiest months, busiest first, January before December on ties; none when all zero."""
    ranked = sorted((m for m in MONTHS if counts[m - 1]), key=lambda m: (-counts[m - 1], m))
    return ranked[:size]


def seasonal_timing(*, period: DateRange) -> list[ServiceSeason]:
    """For each service sold in the range: in which calendar months customers order it (invoices issued) and pay
    for it (invoices paid off), counting each invoice once per service. Two grouped queries; busiest first."""
    lines = InvoiceItem.objects.filter(invoice__in=invoices_billed(), product__isnull=False)
    ordered = (
        lines.filter(invoice__issue_date__range=(period.start, period.end))
        .annotate(month=ExtractMonth("invoice__issue_date"))
        .values("product_id", "product__name", "month")
        .annotate(n=Count("invoice_id", distinct=True))
        .order_by()
    )
    paid = (
        lines.filter(invoice__paid_date__range=(period.start, period.end))
        .annotate(month=ExtractMonth("invoice__paid_date"))
        .values("product_id", "product__name", "month")
        .annotate(n=Count("invoice_id", distinct=True))
        .order_by()
    )
    table: dict[int, dict] = {}
    for key, rows in (("ordered", ordered), ("paid", paid)):
        for row in rows:
            entry = table.setdefault(
                row["product_id"], {"name": row["product__name"], "ordered": [0] * 12, "paid": [0] * 12}
            )
            entry[key][row["month"] - 1] = row["n"]
    seasons = [ServiceSeason(product_id=pk, **entry) for pk, entry in table.items()]
    return sorted(seasons, key=lambda s: (-sum(s.ordered), s.name))


EVERYONE, CUSTOMERS, HIGH_VALUE = "all", "customers", "high_value"
SEGMENTS = {EVERYONE: "Every contact", CUSTOMERS: "Customers", HIGH_VALUE: "High-value customers"}


@dataclass(frozen=True)
class AudienceMember:
    contact_id: int
    name: str
    email: str
    phone: str
    city: str
    balance: Decimal


def campaign_audience(
    *,
    as_of: datetime.date,
    segment: str = EVERYONE,
    max_balance: Decimal | None = None,
    min_annual_revenue: Decimal | None = None,
    limit: int | None = None,
) -> tuple[int, list[AudienceMember]]:
    """Who a campaign should go to: the contacts of `segment` (every contact, customers, or the high-value segment
    of the year ending `as_of`, see `segments.high_value_customers`), without those whose outstanding balance is
    above `max_balance` (no upsell to someone who owes us). The balance is the contact's own summary column, which
    is QuickBooks' Balance for a linked customer and the CRM's open invoices otherwise (crm.services.contacts).
    Returns (how many, the first `limit` by name): a count and one page query whatever the size."""
    contacts = Contact.objects.all()
    if segment == CUSTOMERS:
        contacts = contacts.filter(customer_type=CustomerType.CUSTOMER)
    elif segment == HIGH_VALUE:
        members = high_value_customers(as_of=as_of, min_annual_revenue=min_annual_revenue).members
        contacts = contacts.filter(pk__in=[m.contact_id for m in members])
    elif segment != EVERYONE:
        raise ValueError(f"campaign_audience: unknown segment {segment!r}")
    if max_balance is not None:
        contacts = contacts.filter(outstanding_balance__lte=max_balance)
    fields = ("first_name", "last_name", "company_name", "phone", "email", "city", "outstanding_balance")
    page = contacts.only(*fields).order_by("last_name", "first_name", "company_name", "id")
    found = [
        AudienceMember(c.pk, c.display_name, c.email, c.phone, c.city, q(c.outstanding_balance))
        for c in (page[:limit] if limit is not None else page)
    ]
    return contacts.count(), found
