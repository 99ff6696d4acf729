"""The revenue forecast for the next months: open quotes weighted by the historical win rate of quotes of their
amount and age, and open invoice balances placed on the day each customer usually pays.

Two different kinds of money, kept apart on the page: quotes become *invoiced* revenue, invoices become *cash*.
The model and its reasons are in docs/analytics.md; here each step says what it assumes.
"""

from __future__ import annotations

import datetime
import statistics
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Case, CharField, Count, Exists, F, OuterRef, Q, QuerySet, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce
from django.db.models.lookups import GreaterThanOrEqual

from crm.models import Quote, QuoteStatus
from crm.money import ZERO, q

from .common import DaysBetween, invoices_billed, mean, month_add

# Bands: (label, lowest value in the band). Amounts in dollars of the quote's total, ages in days since its date.
AMOUNT_BANDS = (("under 1,000", Decimal(0)), ("1,000–2,999", Decimal(1000)), ("3,000–9,999", Decimal(3000)),
                ("10,000 and over", Decimal(10000)))  # fmt: skip
AGE_BANDS = (("0–7 days", 0), ("8–30 days", 8), ("31–60 days", 31), ("over 60 days", 61))
MIN_SAMPLE = 5  # fewer decided quotes than this in a cell: use every amount band's quotes of that age instead
WON = (QuoteStatus.ACCEPTED, QuoteStatus.CONVERTED)
LOST = (QuoteStatus.DECLINED, QuoteStatus.EXPIRED)
OPEN = (QuoteStatus.DRAFT, QuoteStatus.SENT)


def _band(expression, bands) -> Case:
    """The label of the band an expression's value falls in (bands in ascending order of their lowest value)."""
    whens = [When(GreaterThanOrEqual(expression, Value(low)), then=Value(label)) for label, low in reversed(bands[1:])]
    return Case(*whens, default=Value(bands[0][0]), output_field=CharField())


def _banded(qs: QuerySet, *, age) -> QuerySet:
    """`qs` with `amount_band` (of its total) and `age_band` (of `age`, in days) annotated, to group by."""
    return qs.annotate(amount_band=_band(F("total_amount"), AMOUNT_BANDS), age_band=_band(age, AGE_BANDS))


def _invoiced() -> Exists:
    return Exists(invoices_billed().filter(quote_id=OuterRef("pk")))


@dataclass(frozen=True)
class WinRate:
    amount_band: str
    age_band: str
    decided: int  # decided quotes of the amount band still undecided at this age (the sample)
    won: int
    rate: Decimal  # won / decided, as a fraction (0–1), after the small-sample fallback
    pooled: bool  # True when the cell had fewer than MIN_SAMPLE and the age's pooled rate is used


def win_rates(*, as_of: datetime.date) -> dict[tuple[str, str], WinRate]:
    """The chance that a quote still open at a given age ends up won, per amount band and age band.

    From decided quotes dated on or before `as_of`: won if accepted, converted or invoiced; lost if declined or
    expired. A won quote was decided on its first invoice's date, or on its own date when it is accepted but not
    invoiced yet (the day of the yes is not recorded); a lost quote on its expiration date (declined quotes record no
    decision day: the expiration is the latest it can have been), else on its own date. A quote still open at age A
    can only be won by quotes decided at A or later, so a cell's rate is won / decided over the quotes of its amount
    band decided in its age band or any later one (a survival estimate, from one grouped query). A cell with fewer
    than MIN_SAMPLE quotes uses the same count over every amount band."""
    first_invoice = invoices_billed().filter(quote_id=OuterRef("pk")).order_by("issue_date").values("issue_date")[:1]
    decided = Quote.objects.filter(issue_date__lte=as_of).filter(Q(status__in=WON + LOST) | Q(_invoiced()))
    won = Q(status__in=WON) | Q(_invoiced())
    decided = decided.annotate(
        won=Case(When(won, then=Value(1)), default=Value(0)),
        decided_on=Case(
            When(won, then=Coalesce(Subquery(first_invoice), F("issue_date"))),
            default=Coalesce(F("expiration_date"), F("issue_date")),
        ),
    )
    age = DaysBetween(F("decided_on"), F("issue_date"))
    counts = (
        _banded(decided, age=age)
        .values("amount_band", "age_band")
        .annotate(decided=Count("id"), won=Sum("won"))
        .order_by()
    )
    cells: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for row in counts:
        cell = cells[row["amount_band"], row["age_band"]]
        cell[0] += row["decided"]
        cell[1] += row["won"] or 0
    ages = [label for label, _ in AGE_BANDS]

    def at_or_after(amount_labels: list[str], age_index: int) -> tuple[int, int]:
        later = ages[age_index:]
        return (
            sum(cells[a, g][0] for a in amount_labels for g in later),
            sum(cells[a, g][1] for a in amount_labels for g in later),
        )

    all_amounts = [label for label, _ in AMOUNT_BANDS]
    rates = {}
    for amount_label in all_amounts:
        for index, age_label in enumerate(ages):
            n, won = at_or_after([amount_label], index)
            pooled = n < MIN_SAMPLE
            if pooled:
                n, won = at_or_after(all_amounts, index)
            rate = (Decimal(won) / n).quantize(Decimal("0.001")) if n else Decimal(0)
            rates[amount_label, age_label] = WinRate(amount_label, age_label, n, won, rate, pooled)
    return rates


def quote_to_invoice_days(*, as_of: datetime.date) -> int:
    """The median days from a won quote's date to its first invoice (0 when no quote was ever invoiced): when a
    quote that will be won is expected to be billed."""
    first_invoice = invoices_billed().filter(quote_id=OuterRef("pk")).order_by("issue_date").values("issue_date")[:1]
    lags = list(
        Quote.objects.filter(issue_date__lte=as_of)
        .annotate(first=Subquery(first_invoice))
        .filter(first__isnull=False)
        .annotate(lag=DaysBetween(F("first"), F("issue_date")))
        .values("lag")
        .annotate(n=Count("id"))
        .values_list("lag", "n")
        .order_by()
    )
    expanded = sorted(lag for lag, n in lags for _ in range(n))  # one row per distinct lag: a few hundred at most
    return int(statistics.median_low(expanded)) if expanded else 0


@dataclass(frozen=True)
class PipelineBand:
    amount_band: str
    age_band: str
    quotes: int
    amount: Decimal
    win_rate: Decimal
    expected: Decimal


@dataclass(frozen=True)
class ForecastMonth:
    month: datetime.date
    from_quotes: Decimal  # expected to be invoiced in the month
    from_invoices: Decimal  # expected to be collected in the month

    @property
    def total(self) -> Decimal:
        return q(self.from_quotes + self.from_invoices)


@dataclass(frozen=True)
class Forecast:
    as_of: datetime.date
    months: list[ForecastMonth]
    later_quotes: Decimal  # expected from quotes after the last month shown
    later_invoices: Decimal
    pipeline: list[PipelineBand]
    open_quotes: Decimal  # Σ total of open quotes (unweighted)
    open_invoices: Decimal  # Σ balance_due of open invoices: equals the invoice months plus `later_invoices`
    quote_to_invoice_days: int
    fallback_days_to_pay: Decimal | None  # the all-customer average, for customers with no paid invoice yet
    win_rates: dict

    @property
    def expected_from_quotes(self) -> Decimal:
        return q(sum((m.from_quotes for m in self.months), self.later_quotes))


def _place(day: datetime.date, months: list[datetime.date]) -> int | None:
    """Index of the month `day` falls in, or None after the last one (days before the first are in the first)."""
    for index, month in enumerate(months):
        if day < month_add(month, 1):
            return index
    return None


def customer_days_to_pay(*, as_of: datetime.date) -> tuple[dict[int, Decimal], Decimal | None]:
    """Each customer's average days from invoice date to paid-off date over invoices paid by `as_of`, and the
    average over all of them (for customers who never paid one yet). One grouped query."""
    rows = (
        invoices_billed()
        .filter(paid_date__lte=as_of)
        .values("contact_id")
        .annotate(n=Count("id"), days=Sum(DaysBetween(F("paid_date"), F("issue_date"))))
        .order_by()
    )
    per_contact, total_days, total_n = {}, 0, 0
    for row in rows:
        per_contact[row["contact_id"]] = mean(row["days"], row["n"])
        total_days, total_n = total_days + row["days"], total_n + row["n"]
    return per_contact, mean(total_days, total_n)


def revenue_forecast(*, as_of: datetime.date, months: int = 3) -> Forecast:
    """Expected revenue per calendar month for `months` months starting with `as_of`'s.

    Quotes: open quotes (draft or sent, not invoiced) count their total × the win rate of their amount and age
    band; accepted quotes not yet invoiced count in full. Each is expected to be billed `quote_to_invoice_days`
    after its date, or on `as_of` when that day has passed. Invoices: every open balance (billed, balance due) is
    expected on its date plus the customer's average days to pay (the all-customer average for a customer who has
    not paid one yet; its due date when nobody has), or on `as_of` when that day has passed (it is late: expected
    now). Grouped in the database by the few columns the placement needs; placed into months in Python."""
    month_starts = [month_add(as_of.replace(day=1), i) for i in range(months)]
    rates = win_rates(as_of=as_of)
    lag = quote_to_invoice_days(as_of=as_of)
    quote_money = [ZERO] * months
    later_quotes, open_quotes = ZERO, ZERO
    pipeline: dict[tuple[str, str], list] = {}
    open_rows = (
        _banded(
            Quote.objects.filter(issue_date__lte=as_of, status__in=OPEN + (QuoteStatus.ACCEPTED,)).exclude(_invoiced()),
            age=DaysBetween(Value(as_of), F("issue_date")),
        )
        .values("amount_band", "age_band", "issue_date", "status")
        .annotate(n=Count("id"), s=Sum("total_amount"))
        .order_by()
    )
    for row in open_rows:
        amount = q(row["s"])
        accepted = row["status"] == QuoteStatus.ACCEPTED
        rate = Decimal(1) if accepted else rates[row["amount_band"], row["age_band"]].rate
        expected = q(amount * rate)
        open_quotes += amount
        if not accepted:
            band = pipeline.setdefault((row["amount_band"], row["age_band"]), [0, ZERO, rate, ZERO])
            band[0], band[1], band[3] = band[0] + row["n"], band[1] + amount, band[3] + expected
        day = max(as_of, row["issue_date"] + datetime.timedelta(days=lag))
        index = _place(day, month_starts)
        if index is None:
            later_quotes += expected
        else:
            quote_money[index] += expected

    per_contact, fallback = customer_days_to_pay(as_of=as_of)
    invoice_money = [ZERO] * months
    later_invoices, open_invoices = ZERO, ZERO
    balances = (
        invoices_billed()
        .filter(balance_due__gt=0, issue_date__lte=as_of)
        .values("contact_id", "issue_date", "due_date")
        .annotate(s=Sum("balance_due"))
        .order_by()
    )
    for row in balances:
        amount = q(row["s"])
        open_invoices += amount
        days = per_contact.get(row["contact_id"], fallback)
        if days is not None:
            expected_on = row["issue_date"] + datetime.timedelta(days=int(days.to_integral_value()))
        else:
            expected_on = row["due_date"] or row["issue_date"]
        index = _place(max(as_of, expected_on), month_starts)
        if index is None:
            later_invoices += amount
        else:
            invoice_money[index] += amount

    order = {label: i for bands in (AMOUNT_BANDS, AGE_BANDS) for i, (label, _) in enumerate(bands)}
    return Forecast(
        as_of=as_of,
        months=[
            ForecastMonth(month=m, from_quotes=q(quote_money[i]), from_invoices=q(invoice_money[i]))
            for i, m in enumerate(month_starts)
        ],
        later_quotes=q(later_quotes),
        later_invoices=q(later_invoices),
        pipeline=[
            PipelineBand(amount_band=a, age_band=g, quotes=v[0], amount=q(v[1]), win_rate=v[2], expected=q(v[3]))
            for (a, g), v in sorted(pipeline.items(), key=lambda item: (order[item[0][0]], order[item[0][1]]))
        ],
        open_quotes=q(open_quotes),
        open_invoices=q(open_invoices),
        quote_to_invoice_days=lag,
        fallback_days_to_pay=fallback,
        win_rates=rates,
    )
