"""The revenue dashboards in the admin: overview, customers, campaigns, forecast, services.

Each page is a date-range form, server-drawn SVG charts and tables, every table exportable as CSV (`?export=<key>`
with the same filter). The numbers come from `services/analytics` selectors only; this module turns them into
tables and charts. Who may open them: `quickbooks_integration.view_dashboards` (Owner and Bookkeeper, migration
0009); anyone else gets 403. Nothing here writes, so "read-only for the bookkeeper" holds for everyone.

The `Dashboard` model has no table: its admin exposes only these pages (no add, change, delete or history URL,
which would query the missing table), and the admin index lists it as "Revenue dashboards".
"""

from __future__ import annotations

import csv
import datetime
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import urlencode

from ..models import Dashboard
from ..services import analytics
from ..services.analytics import charts
from ..services.analytics.campaigns import HIGH_VALUE, SEGMENTS
from ..services.analytics.common import DateRange, reporting, share
from ..services.analytics.forecast import AGE_BANDS, AMOUNT_BANDS
from ..services.analytics.segments import CITY, SLOW, ZIP

PERMISSION = "quickbooks_integration.view_dashboards"
SHOWN = 50  # rows of a long table on the page; its CSV has them all
TOP = 15  # bars in a ranking chart
MAX_YEARS = 10


# ---------------------------------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class Column:
    header: str
    get: Callable[[Any], Any]
    kind: str = "text"  # text, money, percent, number, days, date


@dataclass
class Table:
    """A table shown on a page and exported as CSV from the same rows (so the two never disagree)."""

    key: str
    title: str
    columns: Sequence[Column]
    items: Sequence[Any]
    footer: Any = None  # one more item, shown last and exported last (totals)
    note: str = ""
    export_url: str = ""

    def raw_rows(self) -> list[list[Any]]:
        items = [*self.items, self.footer] if self.footer is not None else list(self.items)
        return [[column.get(item) for column in self.columns] for item in items]

    def shown_rows(self) -> list[list[tuple[str, str]]]:
        items = list(self.items[:SHOWN])
        return [[(_cell(column.get(item), column.kind), column.kind) for column in self.columns] for item in items]

    def footer_row(self) -> list[tuple[str, str]] | None:
        if self.footer is None:
            return None
        return [(_cell(column.get(self.footer), column.kind), column.kind) for column in self.columns]

    @property
    def more(self) -> int:
        return max(len(self.items) - SHOWN, 0)


def _cell(value: Any, kind: str) -> str:
    if value is None or value == "":
        return "–"
    if kind == "money":
        return f"{Decimal(value):,.2f}"
    if kind == "percent":
        return f"{value}%"
    if kind == "days":
        return f"{value} d"
    if kind == "number" and isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _csv_value(value: Any) -> Any:
    """Plain values; text that a spreadsheet would run as a formula is quoted with an apostrophe (CSV injection)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def csv_response(table: Table, *, page: str, period: DateRange) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    filename = f"{page}-{table.key}-{period.start}-{period.end}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow([column.header for column in table.columns])
    for row in table.raw_rows():
        writer.writerow([_csv_value(value) for value in row])
    return response


def _month(value: datetime.date) -> str:
    """ "Jan ’26": short enough for twelve of them under a chart's bars."""
    return value.strftime("%b ’%y")


MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _months_text(months: Sequence[int]) -> str:
    return ", ".join(MONTH_NAMES[m - 1] for m in months)


# ---------------------------------------------------------------------------------------------------- the filter


class RangeForm(forms.Form):
    """The date range (default: the last twelve months to today) and each page's own settings."""

    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end:
            if start > end:
                raise forms.ValidationError("The range must start before it ends.")
            if (end - start).days > 366 * MAX_YEARS:
                raise forms.ValidationError(f"Choose a range of at most {MAX_YEARS} years.")
        return data

    def period(self, today: datetime.date) -> DateRange:
        default = DateRange.last_months(today=today)
        if not self.is_valid():
            return default
        end = self.cleaned_data.get("end") or default.end
        start = self.cleaned_data.get("start") or DateRange.last_months(today=end).start
        return DateRange(start=min(start, end), end=end)


class CustomersForm(RangeForm):
    high_value_min = forms.DecimalField(
        required=False,
        min_value=0,
        max_digits=12,
        decimal_places=2,
        label="High value: annual revenue above",
        help_text="Empty: the top 10% of customers.",
    )
    grace = forms.IntegerField(
        required=False, min_value=0, max_value=365, initial=0, label="Slow payer: days past due above"
    )
    horizon = forms.IntegerField(
        required=False, min_value=1, max_value=10, initial=3, label="Lifetime value: years ahead"
    )
    audience = forms.ChoiceField(
        required=False, choices=list(SEGMENTS.items()), initial=HIGH_VALUE, label="Campaign list: send to"
    )
    max_balance = forms.DecimalField(
        required=False, min_value=0, max_digits=12, decimal_places=2, initial=0, label="owing at most"
    )


class CampaignsForm(RangeForm):
    window = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=365,
        initial=analytics.ATTRIBUTION_WINDOW_DAYS,
        label="Attribution window (days)",
    )


def _option(form: forms.Form, name: str, default):
    value = form.cleaned_data.get(name) if form.is_valid() else None
    return default if value is None else value


# ---------------------------------------------------------------------------------------------------- the pages


@dataclass
class PageContent:
    tables: dict[str, Table] = field(default_factory=dict)
    charts: dict[str, charts.Chart] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def add(self, table: Table) -> Table:
        self.tables[table.key] = table
        return table


class _Row:
    """A footer or summary row: attributes by keyword."""

    def __init__(self, **values) -> None:
        self.__dict__.update(values)


def overview_page(*, period: DateRange, form: forms.Form, today: datetime.date, full: bool) -> PageContent:
    page = PageContent()
    totals = analytics.totals(period=period)
    months = analytics.revenue_by_month(period=period)
    metrics = analytics.business_metrics(period=period)
    page.extra.update(totals=totals, metrics=metrics)
    labels = [_month(m.month) for m in months]
    page.charts["revenue"] = charts.bar_chart(
        title="Invoiced and collected by month",
        labels=labels,
        series=[("Invoiced", [m.invoiced for m in months]), ("Collected", [m.collected for m in months])],
    )
    page.add(
        Table(
            "revenue",
            "Revenue by month",
            [
                Column("Month", lambda m: m.month if isinstance(m.month, str) else _month(m.month)),
                Column("Invoiced", lambda m: m.invoiced, "money"),
                Column("Collected", lambda m: m.collected, "money"),
            ],
            months,
            footer=_Row(month="Total", invoiced=totals.invoiced, collected=totals.collected),
        )
    )
    page.charts["shares"] = charts.line_chart(
        title="The plan's metrics by month",
        labels=labels,
        series=[
            ("Contacts covered", [m.coverage for m in metrics.months]),
            ("Quote lines from QBO items", [m.items_share for m in metrics.months]),
            ("Revenue attributed to a campaign", [m.attributed_share for m in metrics.months]),
        ],
    )
    page.charts["days_to_pay"] = charts.line_chart(
        title="Average days to pay, by month paid",
        labels=labels,
        series=[("Days to pay", [m.average_days_to_pay for m in metrics.months])],
        unit=charts.DAYS,
    )
    page.add(
        Table(
            "metrics",
            "The plan's business metrics by month",
            [
                Column("Month", lambda m: m.month if isinstance(m.month, str) else _month(m.month)),
                Column("New contacts", lambda m: m.contacts, "number"),
                Column("Covered (linked or prospect)", lambda m: m.coverage, "percent"),
                Column("Quote lines", lambda m: m.quote_lines, "number"),
                Column("From QBO items", lambda m: m.items_share, "percent"),
                Column("Invoices paid", lambda m: m.invoices_paid, "number"),
                Column("Average days to pay", lambda m: m.average_days_to_pay, "days"),
                Column("Invoiced", lambda m: m.invoiced, "money"),
                Column("Attributed to a campaign", lambda m: m.attributed, "money"),
                Column("Attributed share", lambda m: m.attributed_share, "percent"),
            ],
            metrics.months,
            footer=_Row(
                month="Whole range",
                contacts=sum(m.contacts for m in metrics.months),
                coverage=share(
                    sum(m.contacts_covered for m in metrics.months), sum(m.contacts for m in metrics.months)
                ),
                quote_lines=sum(m.quote_lines for m in metrics.months),
                items_share=metrics.items_share,
                invoices_paid=sum(m.invoices_paid for m in metrics.months),
                average_days_to_pay=metrics.average_days_to_pay,
                invoiced=sum((m.invoiced for m in metrics.months), Decimal(0)),
                attributed=sum((m.attributed for m in metrics.months), Decimal(0)),
                attributed_share=metrics.attributed_share,
            ),
        )
    )
    return page


def customers_page(*, period: DateRange, form: forms.Form, today: datetime.date, full: bool) -> PageContent:
    page = PageContent()
    segment = analytics.high_value_customers(as_of=period.end, min_annual_revenue=_option(form, "high_value_min", None))
    payers = analytics.payers_by_speed(period=period, grace_days=_option(form, "grace", 0))
    frequency = analytics.service_frequency(period=period)
    cities = analytics.revenue_by_area(period=period, by=CITY)
    zips = analytics.revenue_by_area(period=period, by=ZIP)
    horizon = _option(form, "horizon", 3)
    values = analytics.customer_lifetime_values(as_of=period.end, horizon_years=horizon, limit=None if full else SHOWN)
    slow = [p for p in payers if p.speed == SLOW]
    page.extra.update(
        segment=segment, payers=payers, slow=len(slow), fast=len(payers) - len(slow), frequency=frequency,
        horizon=horizon,
    )  # fmt: skip
    page.charts["high_value"] = charts.hbar_chart(
        title="High-value customers: revenue in the year",
        labels=[m.name for m in segment.members[:TOP]],
        values=[m.revenue for m in segment.members[:TOP]],
    )
    page.add(
        Table(
            "high_value",
            "High-value customers",
            [
                Column("Customer", lambda m: m.name),
                Column("Revenue in the year", lambda m: m.revenue, "money"),
                Column("Invoices", lambda m: m.invoices, "number"),
            ],
            segment.members,
        )
    )
    page.charts["slow_payers"] = charts.hbar_chart(
        title="Slowest payers: average days past due",
        labels=[p.name for p in slow[:TOP]],
        values=[p.average_days_late for p in slow[:TOP]],
        unit=charts.DAYS,
    )
    page.add(
        Table(
            "payers",
            "Fast and slow payers",
            [
                Column("Customer", lambda p: p.name),
                Column("Speed", lambda p: p.speed),
                Column("Invoices paid", lambda p: p.paid_invoices, "number"),
                Column("Average days to pay", lambda p: p.average_days_to_pay, "days"),
                Column("Average terms", lambda p: p.average_terms_days, "days"),
                Column("Average days past due", lambda p: p.average_days_late, "days"),
            ],
            payers,
        )
    )
    page.add(
        Table(
            "frequency",
            "Repeat customers",
            [
                Column("Customer", lambda c: c.name),
                Column("Visits", lambda c: c.invoices, "number"),
                Column("First", lambda c: c.first, "date"),
                Column("Last", lambda c: c.last, "date"),
                Column("Usual interval", lambda c: c.interval_days, "days"),
            ],
            frequency.repeat,
        )
    )
    area_columns = [
        Column("Area", lambda a: a.area),
        Column("Customers", lambda a: a.customers, "number"),
        Column("Invoices", lambda a: a.invoices, "number"),
        Column("Revenue", lambda a: a.revenue, "money"),
    ]
    page.charts["cities"] = charts.hbar_chart(
        title="Revenue by city", labels=[a.area for a in cities[:TOP]], values=[a.revenue for a in cities[:TOP]]
    )
    page.add(Table("cities", "Revenue by city", area_columns, cities))
    page.add(Table("zips", "Revenue by ZIP", area_columns, zips))
    page.charts["lifetime"] = charts.hbar_chart(
        title="Highest lifetime value",
        labels=[v.name for v in values[:TOP]],
        values=[v.lifetime_value for v in values[:TOP]],
    )
    page.add(
        Table(
            "lifetime",
            "Customer lifetime value",
            [
                Column("Customer", lambda v: v.name),
                Column("Invoices", lambda v: v.invoices, "number"),
                Column("Revenue to date", lambda v: v.revenue, "money"),
                Column("First invoice", lambda v: v.first, "date"),
                Column("Last invoice", lambda v: v.last, "date"),
                Column("Tenure (years)", lambda v: v.tenure_years),
                Column("Still buying", lambda v: v.active),
                Column(f"Expected over {horizon} years", lambda v: v.expected, "money"),
                Column("Lifetime value", lambda v: v.lifetime_value, "money"),
            ],
            values,
            note="" if full else f"The {SHOWN} highest; the CSV lists every customer.",
        )
    )
    audience = _option(form, "audience", "") or HIGH_VALUE
    max_balance = _option(form, "max_balance", Decimal("0.00"))
    size, members = analytics.campaign_audience(
        as_of=period.end,
        segment=audience,
        max_balance=max_balance,
        min_annual_revenue=_option(form, "high_value_min", None),
        limit=None if full else SHOWN,
    )
    page.extra.update(audience=SEGMENTS[audience], audience_size=size, max_balance=max_balance)
    page.add(
        Table(
            "audience",
            "Campaign list",
            [
                Column("Contact", lambda m: m.name),
                Column("E-mail", lambda m: m.email),
                Column("Phone", lambda m: m.phone),
                Column("City", lambda m: m.city),
                Column("Balance", lambda m: m.balance, "money"),
            ],
            members,
            note="" if full or size <= SHOWN else f"The first {SHOWN} of {size:,} by name; the CSV lists them all.",
        )
    )
    return page


def campaigns_page(*, period: DateRange, form: forms.Form, today: datetime.date, full: bool) -> PageContent:
    page = PageContent()
    window = _option(form, "window", analytics.ATTRIBUTION_WINDOW_DAYS)
    report = analytics.campaign_roi(period=period, window_days=window)
    seasons = analytics.seasonal_timing(period=period)
    rows = [*report.campaigns, report.unattributed]
    page.extra.update(report=report, window=window)
    page.charts["roi"] = charts.bar_chart(
        title="Cost and money collected per campaign",
        labels=[c.name for c in report.campaigns],
        series=[("Cost", [c.cost for c in report.campaigns]), ("Collected", [c.collected for c in report.campaigns])],
    )
    page.add(
        Table(
            "roi",
            "Return per campaign",
            [
                Column("Campaign", lambda c: c.name),
                Column("Channel", lambda c: c.channel),
                Column("Cost", lambda c: c.cost, "money"),
                Column("Recipients", lambda c: c.recipients, "number"),
                Column("Responses", lambda c: c.responses, "number"),
                Column("Response rate", lambda c: c.response_rate, "percent"),
                Column("Quotes", lambda c: c.quotes, "number"),
                Column("Quoted", lambda c: c.quoted, "money"),
                Column("Invoices", lambda c: c.invoices, "number"),
                Column("Invoiced", lambda c: c.invoiced, "money"),
                Column("Collected", lambda c: c.collected, "money"),
                Column("ROI", lambda c: c.roi, "percent"),
            ],
            rows,
        )
    )
    top = seasons[:5]
    page.charts["seasons"] = charts.bar_chart(
        title="When customers order: invoices by calendar month (busiest services)",
        labels=list(MONTH_NAMES),
        series=[(s.name, s.ordered) for s in top],
        unit=charts.COUNT,
        stacked=True,
    )
    month_columns = [
        Column(name, functools.partial(_ordered_in, index=i), "number") for i, name in enumerate(MONTH_NAMES)
    ]
    page.add(
        Table(
            "seasons",
            "Seasonal timing per service",
            [
                Column("Service", lambda s: s.name),
                *month_columns,
                Column("Busiest ordering months", lambda s: _months_text(s.peak_order_months)),
                Column("Busiest paying months", lambda s: _months_text(s.peak_paid_months)),
                Column("Send a campaign in", lambda s: MONTH_NAMES[s.campaign_month - 1] if s.campaign_month else ""),
            ],
            seasons,
        )
    )
    return page


def forecast_page(*, period: DateRange, form: forms.Form, today: datetime.date, full: bool) -> PageContent:
    page = PageContent()
    as_of = min(period.end, today)
    forecast = analytics.revenue_forecast(as_of=as_of)
    backtest = analytics.payment_backtest(period=period, as_of=as_of)
    predictions = analytics.open_invoice_predictions(as_of=as_of, limit=None if full else SHOWN)
    page.extra.update(forecast=forecast, backtest=backtest, as_of=as_of)
    month_rows = [
        *forecast.months,
        _Row(month="Later", from_quotes=forecast.later_quotes, from_invoices=forecast.later_invoices,
             total=forecast.later_quotes + forecast.later_invoices),
    ]  # fmt: skip
    page.charts["forecast"] = charts.bar_chart(
        title="Expected revenue by month",
        labels=[_month(m.month) for m in forecast.months] + ["Later"],
        series=[
            ("From open quotes (to invoice)", [m.from_quotes for m in month_rows]),
            ("From open invoices (to collect)", [m.from_invoices for m in month_rows]),
        ],
        stacked=True,
    )
    page.add(
        Table(
            "forecast",
            "Expected revenue by month",
            [
                Column("Month", lambda m: m.month if isinstance(m.month, str) else _month(m.month)),
                Column("From open quotes", lambda m: m.from_quotes, "money"),
                Column("From open invoices", lambda m: m.from_invoices, "money"),
                Column("Total", lambda m: m.total, "money"),
            ],
            month_rows,
        )
    )
    page.add(
        Table(
            "pipeline",
            "Open quotes by amount and age",
            [
                Column("Amount", lambda b: b.amount_band),
                Column("Age", lambda b: b.age_band),
                Column("Quotes", lambda b: b.quotes, "number"),
                Column("Open amount", lambda b: b.amount, "money"),
                Column("Win rate", lambda b: (b.win_rate * 100).quantize(Decimal("0.1")), "percent"),
                Column("Expected", lambda b: b.expected, "money"),
            ],
            forecast.pipeline,
        )
    )
    ages = [label for label, _ in AGE_BANDS]
    matrix = [_Row(amount=a, cells=[forecast.win_rates[a, g] for g in ages]) for a, _ in AMOUNT_BANDS]
    page.add(
        Table(
            "win_rates",
            "Historical win rate of a quote still open at each age",
            [
                Column("Amount", lambda r: r.amount),
                *[Column(g, functools.partial(_rate_cell, index=i)) for i, g in enumerate(ages)],
            ],
            matrix,
        )
    )
    page.charts["calibration"] = charts.bar_chart(
        title="Back-test: predicted chance of paying late against what happened",
        labels=[band.label for band in backtest.calibration],
        series=[
            ("Predicted", [band.predicted if band.invoices else None for band in backtest.calibration]),
            ("Actually late", [band.actual for band in backtest.calibration]),
        ],
        unit=charts.PERCENT,
    )
    page.add(
        Table(
            "calibration",
            "Back-test by predicted chance",
            [
                Column("Predicted chance", lambda b: b.label),
                Column("Invoices", lambda b: b.invoices, "number"),
                Column("Mean predicted", lambda b: b.predicted if b.invoices else None, "percent"),
                Column("Actually late", lambda b: b.actual, "percent"),
            ],
            backtest.calibration,
        )
    )
    page.add(
        Table(
            "late_risk",
            "Open invoices: chance of being paid late",
            [
                Column("Invoice", lambda p: p.invoice_number),
                Column("Customer", lambda p: p.name),
                Column("Date", lambda p: p.issue_date, "date"),
                Column("Due", lambda p: p.due_date, "date"),
                Column("Balance", lambda p: p.balance_due, "money"),
                Column("Customer's late / known", lambda p: f"{p.late_known} / {p.known}"),
                Column("Chance late", lambda p: (p.probability * 100).quantize(Decimal("0.1")), "percent"),
                Column("Already overdue", lambda p: p.overdue),
            ],
            predictions,
            note="" if full else f"The {SHOWN} likeliest to be paid late; the CSV lists every open invoice.",
        )
    )
    return page


def _ordered_in(season, *, index: int) -> int:
    return season.ordered[index]


def _rate_cell(row: _Row, *, index: int) -> str:
    return _rate_text(row.cells[index])


def _rate_text(rate) -> str:
    text = f"{(rate.rate * 100).quantize(Decimal('0.1'))}% of {rate.decided}"
    return text + " (all amounts)" if rate.pooled else text


def services_page(*, period: DateRange, form: forms.Form, today: datetime.date, full: bool) -> PageContent:
    page = PageContent()
    by_product = analytics.margins_by_service(period=period)
    by_type = analytics.margins_by_service(period=period, by="type")
    costed = [m for m in by_product if m.costed_revenue][:TOP]  # no cost known: no margin to draw, not a zero one
    page.charts["margins"] = charts.hbar_chart(
        title="Margin per service (known costs)", labels=[m.key for m in costed], values=[m.margin for m in costed]
    )
    by_revenue = sorted(by_product, key=lambda m: -m.revenue)[:TOP]
    page.charts["revenue"] = charts.hbar_chart(
        title="Revenue per service (before tax)",
        labels=[m.key for m in by_revenue],
        values=[m.revenue for m in by_revenue],
    )
    columns = [
        Column("Service", lambda m: m.key),
        Column("Lines", lambda m: m.lines, "number"),
        Column("Quantity", lambda m: m.quantity),
        Column("Revenue (before tax)", lambda m: m.revenue, "money"),
        Column("Revenue with a known cost", lambda m: m.costed_revenue, "money"),
        Column("Cost", lambda m: m.cost, "money"),
        Column("Margin", lambda m: m.margin, "money"),
        Column("Margin %", lambda m: m.margin_share, "percent"),
        Column("Revenue without a cost", lambda m: m.uncosted_revenue, "money"),
    ]
    page.add(Table("by_service", "Margins by service", columns, by_product))
    page.add(Table("by_type", "Margins by item type", [Column("Type", lambda m: m.key), *columns[1:]], by_type))
    page.extra["uncosted"] = sum((m.uncosted_revenue for m in by_product), Decimal(0))
    return page


@dataclass(frozen=True)
class Page:
    slug: str
    title: str
    form: type[RangeForm]
    build: Callable[..., PageContent]


PAGES = {
    page.slug: page
    for page in (
        Page("overview", "Revenue overview", RangeForm, overview_page),
        Page("customers", "Customers", CustomersForm, customers_page),
        Page("campaigns", "Campaigns", CampaignsForm, campaigns_page),
        Page("forecast", "Forecast and late payments", RangeForm, forecast_page),
        Page("services", "Services and margins", RangeForm, services_page),
    )
}
PRESETS = (("Last 3 months", 3), ("Last 12 months", 12), ("Last 24 months", 24))


def _page_url(slug: str) -> str:
    return reverse("admin:quickbooks_integration_dashboard_page", kwargs={"page": slug})


def dashboard_view(model_admin: DashboardAdmin, request: HttpRequest, page: str = "overview") -> HttpResponse:
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    spec = PAGES.get(page)
    if spec is None:
        raise Http404("No such dashboard.")
    today = timezone.localdate()
    default = DateRange.last_months(today=today)
    form = spec.form(request.GET or None, initial={"start": default.start, "end": default.end})
    period = form.period(today) if form.is_bound else default
    export = request.GET.get("export")
    with reporting():
        content = spec.build(period=period, form=form, today=today, full=bool(export))
    if export:
        table = content.tables.get(export)
        if table is None:
            raise Http404("No such table.")
        return csv_response(table, page=page, period=period)
    query = {key: value for key, value in request.GET.items() if key != "export"}
    for table in content.tables.values():
        table.export_url = "?" + urlencode({**query, "export": table.key})
    presets = [
        (label, "?" + urlencode({"start": DateRange.last_months(today=today, months=n).start, "end": today}))
        for label, n in PRESETS
    ]
    context = {
        **model_admin.admin_site.each_context(request),
        "title": spec.title,
        "opts": model_admin.opts,
        "page": spec,
        "pages": [(p, _page_url(p.slug)) for p in PAGES.values()],
        "form": form,
        "period": period,
        "presets": presets,
        "last_synced": analytics.quickbooks_last_synced(),
        "tables": content.tables,
        "charts": content.charts,
        **content.extra,
    }
    return TemplateResponse(request, f"admin/quickbooks_integration/dashboards/{page}.html", context)


@admin.register(Dashboard)
class DashboardAdmin(admin.ModelAdmin):
    """The dashboards' pages in place of a change list; no object pages (the model has no table)."""

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.has_perm(PERMISSION)

    def has_module_permission(self, request) -> bool:
        return self.has_view_permission(request)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        wrap = self.admin_site.admin_view
        return [
            path("", wrap(lambda request: dashboard_view(self, request)), name=f"{prefix}_changelist"),
            path(
                "<slug:page>/",
                wrap(lambda request, page: dashboard_view(self, request, page)),
                name=f"{prefix}_page",
            ),
        ]
