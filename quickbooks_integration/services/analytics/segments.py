"""Customer segments: high-value customers, fast and slow payers, how often customers come back, revenue by area.

Each is one or two grouped queries over billed invoices (`common.invoices_billed`); the definitions, with their
reasons, are in docs/analytics.md.
"""

from __future__ import annotations

import datetime
import math
import statistics
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, F, Max, Min, Sum, Value
from django.db.models.functions import Coalesce, Substr, Trim

from crm.money import ZERO, q

from .common import DateRange, DaysBetween, contact_names, invoices_billed, invoices_in, mean, share

TOP_SHARE = Decimal("0.10")  # the default high-value segment: the top decile of customers by annual revenue
DAYS_IN_YEAR = 365


@dataclass(frozen=True)
class CustomerRevenue:
    contact_id: int
    name: str
    revenue: Decimal
    invoices: int


@dataclass(frozen=True)
class HighValueSegment:
    year_start: datetime.date
    year_end: datetime.date
    rule: str  # how the threshold was chosen, in words for the page
    threshold: Decimal | None  # a member's annual revenue is above it (configured) or at least it (the decile)
    customers: int  # customers with revenue in the year
    revenue: Decimal  # all customers' revenue in the year
    members: list[CustomerRevenue]

    @property
    def members_revenue(self) -> Decimal:
        return q(sum((m.revenue for m in self.members), ZERO))

    @property
    def members_share(self) -> Decimal | None:
        return share(self.members_revenue, self.revenue)


def high_value_customers(
    *, as_of: datetime.date, min_annual_revenue: Decimal | None = None, top_share: Decimal = TOP_SHARE
) -> HighValueSegment:
    """Customers whose revenue in the year ending `as_of` (the 365 days through it) is above `min_annual_revenue`,
    or, when no amount is configured, the top `top_share` of customers with revenue that year (at least one; ties at
    the cut-off are all in, so the segment never depends on the order of equal rows)."""
    year_start = as_of - datetime.timedelta(days=DAYS_IN_YEAR - 1)
    per_contact = (
        invoices_billed()
        .filter(issue_date__range=(year_start, as_of))
        .values("contact_id")
        .annotate(revenue=Sum("total_amount"), invoices=Count("id"))
        .filter(revenue__gt=0)
        .order_by("-revenue", "contact_id")
    )
    summary = invoices_billed().filter(issue_date__range=(year_start, as_of)).aggregate(s=Sum("total_amount"))
    customers = per_contact.count()
    if min_annual_revenue is not None:
        threshold, rule = q(min_annual_revenue), f"annual revenue above {q(min_annual_revenue):,}"
        members_qs = per_contact.filter(revenue__gt=threshold)
    else:
        size = max(1, math.ceil(customers * top_share)) if customers else 0
        threshold = q(per_contact.values_list("revenue", flat=True)[size - 1]) if size else None
        rule = f"the top {share(top_share, 1):.0f}% of customers by annual revenue"
        members_qs = per_contact.filter(revenue__gte=threshold) if size else per_contact.none()
    rows = list(members_qs)
    names = contact_names(row["contact_id"] for row in rows)
    return HighValueSegment(
        year_start=year_start,
        year_end=as_of,
        rule=rule,
        threshold=threshold,
        customers=customers,
        revenue=q(summary["s"]),
        members=[
            CustomerRevenue(
                contact_id=row["contact_id"],
                name=names.get(row["contact_id"], ""),
                revenue=q(row["revenue"]),
                invoices=row["invoices"],
            )
            for row in rows
        ],
    )


FAST, SLOW = "fast", "slow"


@dataclass(frozen=True)
class PayerSpeed:
    contact_id: int
    name: str
    paid_invoices: int
    average_days_to_pay: Decimal
    average_terms_days: Decimal
    average_days_late: Decimal  # negative: paid early on average
    speed: str  # FAST or SLOW


def payers_by_speed(*, period: DateRange, grace_days: int = 0) -> list[PayerSpeed]:
    """Each customer's average days to pay against their own terms, over the invoices paid off in the range.

    Days to pay run from the invoice date to `paid_date` (the day the last payment cleared it); terms from the
    invoice date to its due date (no due date: due on receipt). A customer is a slow payer when they pay on average
    more than `grace_days` after the due date, a fast payer otherwise. Slowest first."""
    due = Coalesce("due_date", "issue_date")
    rows = (
        invoices_billed()
        .filter(paid_date__range=(period.start, period.end))
        .values("contact_id")
        .annotate(
            n=Count("id"),
            days=Sum(DaysBetween(F("paid_date"), F("issue_date"))),
            terms=Sum(DaysBetween(due, F("issue_date"))),
            late=Sum(DaysBetween(F("paid_date"), due)),
        )
        .order_by()
    )
    rows = list(rows)
    names = contact_names(row["contact_id"] for row in rows)
    found = [
        PayerSpeed(
            contact_id=row["contact_id"],
            name=names.get(row["contact_id"], ""),
            paid_invoices=row["n"],
            average_days_to_pay=mean(row["days"], row["n"]),
            average_terms_days=mean(row["terms"], row["n"]),
            average_days_late=mean(row["late"], row["n"]),
            speed=SLOW if Decimal(row["late"]) / row["n"] > grace_days else FAST,
        )
        for row in rows
    ]
    return sorted(found, key=lambda p: (-p.average_days_late, p.name, p.contact_id))


@dataclass(frozen=True)
class CustomerFrequency:
    contact_id: int
    name: str
    invoices: int
    first: datetime.date
    last: datetime.date
    interval_days: Decimal  # (last - first) / (invoices - 1): the mean gap between visits


@dataclass(frozen=True)
class FrequencySummary:
    customers: int  # customers invoiced in the range
    repeat_customers: int  # of those, invoiced on two or more different days
    usual_interval_days: Decimal | None  # the median of the repeat customers' mean gaps
    repeat: list[CustomerFrequency]  # most frequent first

    @property
    def repeat_share(self) -> Decimal | None:
        return share(self.repeat_customers, self.customers)


def service_frequency(*, period: DateRange) -> FrequencySummary:
    """Who comes back, and how often: a repeat customer was invoiced on two or more different days in the range
    (two invoices on one day are one visit). Their interval is the mean gap, (last − first) / (visits − 1), which
    the database computes from three aggregates; the usual interval is the median over repeat customers, so one
    customer who came back after five years does not move it."""
    per_contact = (
        invoices_in(period)
        .values("contact_id")
        .annotate(
            visits=Count("issue_date", distinct=True),
            first=Min("issue_date"),
            last=Max("issue_date"),
            span=DaysBetween(Max("issue_date"), Min("issue_date")),
        )
        .order_by()
    )
    customers = per_contact.count()
    rows = list(per_contact.filter(visits__gte=2))
    names = contact_names(row["contact_id"] for row in rows)
    repeat = sorted(
        (
            CustomerFrequency(
                contact_id=row["contact_id"],
                name=names.get(row["contact_id"], ""),
                invoices=row["visits"],
                first=row["first"],
                last=row["last"],
                interval_days=mean(row["span"], row["visits"] - 1),
            )
            for row in rows
        ),
        key=lambda c: (c.interval_days, c.name, c.contact_id),
    )
    usual = statistics.median(c.interval_days for c in repeat) if repeat else None
    return FrequencySummary(
        customers=customers,
        repeat_customers=len(repeat),
        usual_interval_days=Decimal(usual).quantize(Decimal("0.1")) if usual is not None else None,
        repeat=repeat,
    )


CITY, ZIP = "city", "zip"
NO_AREA = "(none)"


@dataclass(frozen=True)
class AreaRevenue:
    area: str
    customers: int
    invoices: int
    revenue: Decimal


def revenue_by_area(*, period: DateRange, by: str = CITY) -> list[AreaRevenue]:
    """Revenue of the range by the customer's city (as typed, trimmed; "Boston" and "boston" are one) or by the
    five-digit ZIP (ZIP+4 folded in). Largest first; the rows add up to the range's invoiced total."""
    if by == CITY:
        area = Trim("contact__city")
    elif by == ZIP:
        area = Substr(Trim("contact__zip_code"), 1, 5)
    else:
        raise ValueError(f"revenue_by_area: by must be {CITY!r} or {ZIP!r}, not {by!r}")
    rows = (
        invoices_in(period)
        .annotate(area=Coalesce(area, Value("")))
        .values("area")
        .annotate(customers=Count("contact_id", distinct=True), invoices=Count("id"), revenue=Sum("total_amount"))
        .order_by()
    )
    merged: dict[str, dict] = {}
    for row in rows:  # case-folded in Python: the database's lower() differs on non-ASCII between the two engines
        key = row["area"].casefold()
        entry = merged.setdefault(key, {"area": row["area"] or NO_AREA, "invoices": 0, "revenue": ZERO, "c": 0})
        entry["invoices"] += row["invoices"]
        entry["revenue"] += q(row["revenue"])
        entry["c"] += row["customers"]
    found = [
        AreaRevenue(area=e["area"], customers=e["c"], invoices=e["invoices"], revenue=q(e["revenue"]))
        for e in merged.values()
    ]
    return sorted(found, key=lambda a: (-a.revenue, a.area))


__all__ = [
    "CITY",
    "FAST",
    "SLOW",
    "ZIP",
    "AreaRevenue",
    "CustomerFrequency",
    "CustomerRevenue",
    "FrequencySummary",
    "HighValueSegment",
    "PayerSpeed",
    "high_value_customers",
    "payers_by_speed",
    "revenue_by_area",
    "service_frequency",
]
