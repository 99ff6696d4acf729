"""The plan's business metrics, measured per month: customer data coverage, quote lines built from QuickBooks items
(manual entry avoided), days to pay (payment collection) and the share of revenue attributed to a campaign (ROI
tracking). One grouped query each; every month of the range is present, zero months included.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import TruncMonth

from crm.models import Contact, CustomerType, QuoteItem
from crm.money import ZERO, q

from .campaigns import ATTRIBUTION_WINDOW_DAYS, attributed_campaign
from .common import DateRange, DaysBetween, invoices_billed, invoices_in, mean, month_key, share

# A contact is covered when the CRM knows what it is to QuickBooks: linked to a QBO customer, or knowingly a
# prospect (no customer in QuickBooks yet, on purpose). A "customer" that is not linked is the gap to close.
COVERED = Q(quickbooks_customer_id__isnull=False) | Q(customer_type=CustomerType.PROSPECT)
FROM_QBO_ITEM = Q(product__quickbooks_item_id__isnull=False)


@dataclass(frozen=True)
class MonthMetrics:
    month: datetime.date
    contacts: int = 0  # contacts created in the month
    contacts_covered: int = 0
    quote_lines: int = 0  # lines of quotes dated in the month
    lines_from_items: int = 0  # of those, on a product linked to a QBO item
    invoices_paid: int = 0  # invoices paid off in the month
    days_to_pay_total: int = 0
    invoiced: Decimal = ZERO  # billed in the month
    attributed: Decimal = ZERO  # of which, invoices whose quote is attributed to a campaign

    @property
    def coverage(self) -> Decimal | None:
        return share(self.contacts_covered, self.contacts)

    @property
    def items_share(self) -> Decimal | None:
        return share(self.lines_from_items, self.quote_lines)

    @property
    def average_days_to_pay(self) -> Decimal | None:
        return mean(self.days_to_pay_total, self.invoices_paid)

    @property
    def attributed_share(self) -> Decimal | None:
        return share(self.attributed, self.invoiced)


@dataclass(frozen=True)
class BusinessMetrics:
    months: list[MonthMetrics]
    contacts: int  # every contact, today
    contacts_covered: int

    @property
    def coverage(self) -> Decimal | None:
        return share(self.contacts_covered, self.contacts)

    def _sum(self, name: str):
        return sum(getattr(m, name) for m in self.months)

    @property
    def items_share(self) -> Decimal | None:
        return share(self._sum("lines_from_items"), self._sum("quote_lines"))

    @property
    def average_days_to_pay(self) -> Decimal | None:
        return mean(self._sum("days_to_pay_total"), self._sum("invoices_paid"))

    @property
    def attributed_share(self) -> Decimal | None:
        return share(self._sum("attributed"), self._sum("invoiced"))


def business_metrics(*, period: DateRange, window_days: int = ATTRIBUTION_WINDOW_DAYS) -> BusinessMetrics:
    """The four metrics for each month of the range (contacts by the month they were created, quote lines by
    their quote's date, days to pay by the month the invoice was paid off, revenue by the invoice's date), and the
    coverage of every contact today."""
    span = (period.start, period.end)
    by_month: dict[datetime.date, dict] = {m: {} for m in period.months()}

    def merge(rows, **fields) -> None:
        for row in rows:
            entry = by_month.get(month_key(row["month"]))
            if entry is not None:
                entry.update({name: convert(row[source]) for name, (source, convert) in fields.items()})

    merge(
        Contact.objects.filter(created_at__date__range=span)
        .annotate(month=TruncMonth("created_at"))
        .values("month")
        .annotate(n=Count("id"), covered=Count("id", filter=COVERED))
        .order_by(),
        contacts=("n", int),
        contacts_covered=("covered", int),
    )
    merge(
        QuoteItem.objects.filter(quote__issue_date__range=span)
        .annotate(month=TruncMonth("quote__issue_date"))
        .values("month")
        .annotate(n=Count("id"), items=Count("id", filter=FROM_QBO_ITEM))
        .order_by(),
        quote_lines=("n", int),
        lines_from_items=("items", int),
    )
    merge(
        invoices_billed()
        .filter(paid_date__range=span)
        .annotate(month=TruncMonth("paid_date"))
        .values("month")
        .annotate(n=Count("id"), days=Sum(DaysBetween(F("paid_date"), F("issue_date"))))
        .order_by(),
        invoices_paid=("n", int),
        days_to_pay_total=("days", int),
    )
    merge(
        invoices_in(period)
        .annotate(cid=attributed_campaign(quote="quote__", window_days=window_days))
        .annotate(month=TruncMonth("issue_date"))
        .values("month")
        .annotate(s=Sum("total_amount"), attributed=Sum("total_amount", filter=Q(cid__isnull=False)))
        .order_by(),
        invoiced=("s", q),
        attributed=("attributed", q),
    )
    everyone = Contact.objects.aggregate(n=Count("id"), covered=Count("id", filter=COVERED))
    return BusinessMetrics(
        months=[MonthMetrics(month=m, **fields) for m, fields in by_month.items()],
        contacts=everyone["n"],
        contacts_covered=everyone["covered"],
    )
