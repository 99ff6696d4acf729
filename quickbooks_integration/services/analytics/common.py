"""What every analytics selector shares: the date range, the invoices that count as billed, day arithmetic that
runs in the database on PostgreSQL and SQLite alike, the headline totals and when QuickBooks data was last synced.

Selectors only read. Money is summed in the database and reaches Python as `Decimal` quantized to the cent; a
ratio is computed in Python from the integers and sums the database returns, so it is exact on both databases.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

from django.db import NotSupportedError, connection, transaction
from django.db.models import Count, Func, IntegerField, Max, QuerySet, Sum
from django.db.models.functions import TruncMonth

from crm.models import Contact, Invoice, InvoiceStatus, Payment, PaymentApplication
from crm.money import ZERO, q

from ...models import QuickBooksSync, SyncRun

ONE = Decimal(1)
PERCENT = Decimal("0.1")  # shares are shown to a tenth of a percent


@dataclass(frozen=True)
class DateRange:
    """An inclusive range of days: what the dashboards' filter selects."""

    start: datetime.date
    end: datetime.date

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise ValueError(f"the range starts ({self.start}) after it ends ({self.end})")

    @classmethod
    def last_months(cls, *, today: datetime.date, months: int = 12) -> DateRange:
        """The `months` calendar months ending with today's (the current one included, to today)."""
        first = month_add(today.replace(day=1), -(months - 1))
        return cls(start=first, end=today)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def months(self) -> list[datetime.date]:
        """The first day of each calendar month the range touches, in order."""
        found, month = [], self.start.replace(day=1)
        while month <= self.end:
            found.append(month)
            month = month_add(month, 1)
        return found


def month_add(month: datetime.date, count: int) -> datetime.date:
    """The first day of the month `count` months after `month`'s (negative goes back)."""
    index = month.year * 12 + month.month - 1 + count
    return datetime.date(index // 12, index % 12 + 1, 1)


def month_key(value: datetime.date | datetime.datetime) -> datetime.date:
    """A month as its first day: TruncMonth returns a date on one database and a datetime on another."""
    if isinstance(value, datetime.datetime):
        value = value.date()
    return value.replace(day=1)


def share(part: Decimal | int, whole: Decimal | int) -> Decimal | None:
    """part / whole as a percentage to a tenth, or None when there is nothing to divide by."""
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(PERCENT)


def mean(total: Decimal | int, count: int, places: Decimal = PERCENT) -> Decimal | None:
    return (Decimal(total) / count).quantize(places) if count else None


class DaysBetween(Func):
    """Whole days from `start` to `end` (two dates), as an integer, computed by the database.

    Django's date subtraction returns an interval on PostgreSQL and microseconds on SQLite, and its `Extract` refuses
    durations on SQLite; every day count here (days to pay, days late, tenure, quote age) is an integer instead, so
    comparisons, sums and bands run the same on both databases."""

    output_field = IntegerField()
    arity = 2

    def __init__(self, end, start, **extra) -> None:
        super().__init__(end, start, **extra)

    def as_sql(self, compiler, connection, **extra):
        end_sql, end_params = compiler.compile(self.source_expressions[0])
        start_sql, start_params = compiler.compile(self.source_expressions[1])
        if connection.vendor == "postgresql":
            sql = f"(CAST({end_sql} AS date) - CAST({start_sql} AS date))"
        elif connection.vendor == "sqlite":
            sql = f"CAST(ROUND(julianday({end_sql}) - julianday({start_sql})) AS INTEGER)"
        else:  # pragma: no cover - the project runs on these two
            raise NotSupportedError(f"DaysBetween has no SQL for {connection.vendor}")
        return sql, (*end_params, *start_params)


def invoices_billed() -> QuerySet[Invoice]:
    """Invoices that count as revenue: every invoice but a void one, drafts included (QBO has no draft invoice:
    what the CRM calls a draft is an invoice not yet e-mailed, and QBO books it when it is created)."""
    return Invoice.objects.exclude(status=InvoiceStatus.VOID)


def invoices_in(period: DateRange) -> QuerySet[Invoice]:
    return invoices_billed().filter(issue_date__range=(period.start, period.end))


def contact_names(ids: Iterable[int]) -> dict[int, str]:
    """Display names of the given contacts in one query (the only fields `Contact.display_name` reads)."""
    fields = ("first_name", "last_name", "company_name", "phone", "email")
    return {c.pk: c.display_name for c in Contact.objects.filter(pk__in=set(ids)).only(*fields)}


@dataclass(frozen=True)
class Totals:
    """The headline figures of a range, each the plain sum of rows the reconciliation test recomputes."""

    invoiced: Decimal  # Σ total_amount of billed invoices issued in the range (tax included, as QBO TotalAmt)
    invoices: int
    collected: Decimal  # Σ amount of payments dated in the range (QBO Payment.TotalAmt, unapplied money included)
    payments: int
    applied: Decimal  # Σ of those payments' applications to invoices
    open_balance: Decimal  # Σ balance_due today of the billed invoices issued in the range


def totals(*, period: DateRange) -> Totals:
    invoices = invoices_in(period).aggregate(
        invoiced=Sum("total_amount"), invoices=Count("id"), open_balance=Sum("balance_due")
    )
    payments = Payment.objects.filter(payment_date__range=(period.start, period.end)).aggregate(
        collected=Sum("amount"), payments=Count("id")
    )
    applied = PaymentApplication.objects.filter(payment__payment_date__range=(period.start, period.end)).aggregate(
        s=Sum("amount")
    )["s"]
    return Totals(
        invoiced=q(invoices["invoiced"]),
        invoices=invoices["invoices"],
        collected=q(payments["collected"]),
        payments=payments["payments"],
        applied=q(applied),
        open_balance=q(invoices["open_balance"]),
    )


@dataclass(frozen=True)
class MonthRevenue:
    month: datetime.date
    invoiced: Decimal
    collected: Decimal


def revenue_by_month(*, period: DateRange) -> list[MonthRevenue]:
    """Invoiced (by issue month) and collected (by payment month) for every month of the range, zero months kept,
    so the chart has no gaps and the months add up to `totals`."""
    invoiced = {
        month_key(row["month"]): q(row["s"])
        for row in invoices_in(period)
        .annotate(month=TruncMonth("issue_date"))
        .values("month")
        .annotate(s=Sum("total_amount"))
        .order_by()
    }
    collected = {
        month_key(row["month"]): q(row["s"])
        for row in Payment.objects.filter(payment_date__range=(period.start, period.end))
        .annotate(month=TruncMonth("payment_date"))
        .values("month")
        .annotate(s=Sum("amount"))
        .order_by()
    }
    return [
        MonthRevenue(month=m, invoiced=invoiced.get(m, ZERO), collected=collected.get(m, ZERO)) for m in period.months()
    ]


def quickbooks_last_synced() -> datetime.datetime | None:
    """When QuickBooks data last arrived: the later of the last successful sync run and the newest ledger row
    (webhooks write the ledger without a run). None when nothing was ever synced: the page says so, because every
    figure is then the CRM's own."""
    run = SyncRun.objects.filter(status=SyncRun.Status.SUCCEEDED).aggregate(at=Max("finished_at"))["at"]
    ledger = QuickBooksSync.objects.aggregate(at=Max("last_synced"))["at"]
    return max((moment for moment in (run, ledger) if moment is not None), default=None)


@contextmanager
def reporting() -> Iterator[None]:
    """Run a page's selectors in one read transaction with PostgreSQL's JIT compiler off.

    The correlated subqueries (attribution, a customer's record) make the planner's cost estimates large, which
    starts JIT compilation: measured over 50,000 invoices (bench/analytics_bench.py) it spent about 450 ms per query
    compiling queries that then ran in 10–150 ms. `SET LOCAL` lasts only to the end of this transaction, so a
    persistent connection keeps its settings. One transaction also gives the page one snapshot: its tables agree."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")
        yield
