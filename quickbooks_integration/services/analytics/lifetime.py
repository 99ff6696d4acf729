"""Customer lifetime value: revenue to date plus the revenue expected over the next few years, from how often the
customer has bought (frequency over tenure) and whether they are still buying. Ranked in the database.

The model (docs/analytics.md): with R the customer's revenue to date, n their invoices, T their tenure in years
(from the first invoice to `as_of`, at least one year so a new customer's first invoice is not read as a monthly
habit), their yearly frequency is n / T and their average invoice R / n, so the revenue expected over H years is
R × H / T. A customer counts as lapsed, and expects nothing more, when their last invoice is older than twice their
usual interval, or a year, whichever is longer (the interval of a one-time customer: a year).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Case, Count, F, FloatField, Max, Min, Q, Sum, Value, When
from django.db.models.functions import Cast, Greatest

from crm.money import q

from .common import DaysBetween, contact_names, invoices_billed

HORIZON_YEARS = 3
YEAR_DAYS = Decimal("365.25")
LAPSE_FLOOR_DAYS = 365


@dataclass(frozen=True)
class CustomerValue:
    contact_id: int
    name: str
    invoices: int
    revenue: Decimal  # to date
    first: datetime.date
    last: datetime.date
    tenure_years: Decimal  # at least 1
    active: bool
    expected: Decimal  # over the horizon

    @property
    def lifetime_value(self) -> Decimal:
        return q(self.revenue + self.expected)


def _active(n: int, span: int, since_last: int) -> bool:
    """Bought within max(2 × usual interval, a year): with the interval span / (n − 1), in integers (as the SQL)."""
    if n < 2:
        return since_last <= LAPSE_FLOOR_DAYS
    return since_last * (n - 1) <= max(2 * span, LAPSE_FLOOR_DAYS * (n - 1))


def customer_lifetime_values(
    *, as_of: datetime.date, horizon_years: int = HORIZON_YEARS, limit: int | None = None
) -> list[CustomerValue]:
    """Customers with revenue to date, highest lifetime value first (one query, ordered and cut in the database;
    the money is then computed exactly in Python from the same sums)."""
    rows = (
        invoices_billed()
        .filter(issue_date__lte=as_of, total_amount__gt=0)
        .values("contact_id")
        .annotate(
            n=Count("id"),
            revenue=Sum("total_amount"),
            first=Min("issue_date"),
            last=Max("issue_date"),
            span=DaysBetween(Max("issue_date"), Min("issue_date")),
            tenure=Greatest(
                Cast(DaysBetween(Value(as_of), Min("issue_date")), FloatField()) / Value(float(YEAR_DAYS)), Value(1.0)
            ),
            since_last=DaysBetween(Value(as_of), Max("issue_date")),
        )
        .annotate(
            active=Case(
                When(Q(n__lt=2) & Q(since_last__lte=LAPSE_FLOOR_DAYS), then=Value(1)),
                When(
                    Q(n__gte=2) & Q(since_last__lte=Greatest(2 * F("span") / (F("n") - 1), Value(LAPSE_FLOOR_DAYS))),
                    then=Value(1),
                ),
                default=Value(0),
            )
        )
        .annotate(score=Cast("revenue", FloatField()) * (1 + F("active") * Value(float(horizon_years)) / F("tenure")))
        .order_by("-score", "contact_id")
    )
    if limit is not None:
        rows = rows[:limit]
    rows = list(rows)
    names = contact_names(row["contact_id"] for row in rows)
    found = []
    for row in rows:
        revenue = q(row["revenue"])
        since_last = (as_of - row["last"]).days
        tenure_years = max(Decimal((as_of - row["first"]).days) / YEAR_DAYS, Decimal(1))
        active = _active(row["n"], (row["last"] - row["first"]).days, since_last)
        found.append(
            CustomerValue(
                contact_id=row["contact_id"],
                name=names.get(row["contact_id"], ""),
                invoices=row["n"],
                revenue=revenue,
                first=row["first"],
                last=row["last"],
                tenure_years=tenure_years.quantize(Decimal("0.01")),
                active=active,
                expected=q(revenue * horizon_years / tenure_years) if active else q(0),
            )
        )
    return found
