"""The dashboards reconcile with the books: on the demo data (`load_demo`), every total a dashboard shows equals
the sum of the invoices, payments and lines it covers, recomputed here row by row in Python, not by the database.

The demo is loaded once for the module inside a transaction rolled back at the end (as tests/crm/test_demo.py).
"""

from __future__ import annotations

import datetime
from collections import Counter
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from crm.models import Invoice, InvoiceItem, InvoiceStatus, Payment, PaymentApplication, Quote
from crm.roles import OWNER
from quickbooks_integration.services import analytics
from quickbooks_integration.services.analytics.common import DateRange
from tests.crm.factories import UserFactory

ZERO = Decimal("0.00")


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), transaction.atomic():
        call_command("load_demo", stdout=StringIO())
        yield
        transaction.set_rollback(True)


@pytest.fixture
def period(demo, db) -> DateRange:
    """The whole demo (two years back, and a margin)."""
    today = timezone.localdate()
    return DateRange(start=today - datetime.timedelta(days=800), end=today)


def billed(period: DateRange) -> list[Invoice]:
    return [
        invoice
        for invoice in Invoice.objects.all()
        if invoice.status != InvoiceStatus.VOID and period.start <= invoice.issue_date <= period.end
    ]


def test_totals_equal_the_invoices_and_payments(period):
    invoices = billed(period)
    payments = [p for p in Payment.objects.all() if period.start <= p.payment_date <= period.end]
    totals = analytics.totals(period=period)
    assert totals.invoices == len(invoices) > 50
    assert totals.invoiced == sum((i.total_amount for i in invoices), ZERO)
    assert totals.open_balance == sum((i.balance_due for i in invoices), ZERO)
    assert totals.collected == sum((p.amount for p in payments), ZERO)
    assert totals.payments == len(payments)
    assert totals.applied == sum(
        (a.amount for a in PaymentApplication.objects.select_related("payment") if a.payment in payments), ZERO
    )
    months = analytics.revenue_by_month(period=period)
    assert sum((m.invoiced for m in months), ZERO) == totals.invoiced
    assert sum((m.collected for m in months), ZERO) == totals.collected
    metrics = analytics.business_metrics(period=period)
    assert [m.invoiced for m in metrics.months] == [m.invoiced for m in months]


def test_every_breakdown_adds_up_to_the_total(period):
    invoiced = analytics.totals(period=period).invoiced
    for by in ("city", "zip"):
        assert sum((a.revenue for a in analytics.revenue_by_area(period=period, by=by)), ZERO) == invoiced
    lines = [
        line
        for line in InvoiceItem.objects.select_related("invoice")
        if line.invoice.status != InvoiceStatus.VOID and period.start <= line.invoice.issue_date <= period.end
    ]
    margins = analytics.margins_by_service(period=period)
    assert sum((m.revenue for m in margins), ZERO) == sum((line.line_total for line in lines), ZERO)
    assert sum((m.revenue for m in margins), ZERO) == sum((i.subtotal for i in billed(period)), ZERO)
    orders = Counter(line.product_id for line in {(line.invoice_id, line.product_id): line for line in lines}.values())
    assert {s.product_id: sum(s.ordered) for s in analytics.seasonal_timing(period=period)} == {
        pk: n for pk, n in orders.items() if pk is not None
    }


def test_campaign_rows_plus_the_unattributed_row_are_all_the_quotes_of_the_range(period):
    report = analytics.campaign_roi(period=period)
    rows = [*report.campaigns, report.unattributed]
    quotes = [q for q in Quote.objects.all() if period.start <= q.issue_date <= period.end]
    invoices = [i for i in billed(DateRange(datetime.date(2000, 1, 1), period.end)) if i.quote in quotes]
    assert sum(r.quotes for r in rows) == len(quotes)
    assert sum((r.quoted for r in rows), ZERO) == sum((q.total_amount for q in quotes), ZERO)
    assert sum(r.invoices for r in rows) == len(invoices)
    assert sum((r.invoiced for r in rows), ZERO) == sum((i.total_amount for i in invoices), ZERO)
    assert sum((r.collected for r in rows), ZERO) == sum((i.amount_paid for i in invoices), ZERO)
    assert sum(r.quotes for r in report.campaigns) > 0  # the demo's campaigns earned quotes


def test_forecast_places_every_open_balance_exactly_once(period):
    forecast = analytics.revenue_forecast(as_of=period.end)
    open_balances = sum((i.balance_due for i in Invoice.objects.all() if i.status != InvoiceStatus.VOID), ZERO)
    assert forecast.open_invoices == open_balances > 0
    assert sum((m.from_invoices for m in forecast.months), forecast.later_invoices) == open_balances
    open_ids = {i.pk for i in Invoice.objects.all() if i.status != InvoiceStatus.VOID and i.balance_due > 0}
    assert {p.invoice_id for p in analytics.open_invoice_predictions(as_of=period.end)} == open_ids


def test_customer_figures_cover_every_customer_once(period):
    values = analytics.customer_lifetime_values(as_of=period.end)
    everything = [i for i in Invoice.objects.all() if i.status != InvoiceStatus.VOID and i.issue_date <= period.end]
    assert sum((v.revenue for v in values), ZERO) == sum((i.total_amount for i in everything), ZERO)
    assert len({v.contact_id for v in values}) == len(values)
    paid = [i for i in billed(period) if i.paid_date and period.start <= i.paid_date <= period.end]
    assert sum(p.paid_invoices for p in analytics.payers_by_speed(period=period)) == len(paid)
    year = DateRange(start=period.end - datetime.timedelta(days=364), end=period.end)
    assert analytics.high_value_customers(as_of=period.end).revenue == sum((i.total_amount for i in billed(year)), ZERO)


def test_the_overview_page_and_its_csv_show_the_same_totals(period):
    client = Client()
    client.force_login(UserFactory(username="recon-owner", groups=[OWNER]))
    url = reverse("admin:quickbooks_integration_dashboard_page", kwargs={"page": "overview"})
    query = {"start": period.start.isoformat(), "end": period.end.isoformat()}
    response = client.get(url, query)
    invoiced = sum((i.total_amount for i in billed(period)), ZERO)
    html = response.content.decode()
    assert f'id="total-invoiced">{invoiced:,.2f}<' in html
    csv_text = client.get(url, {**query, "export": "revenue"}).content.decode()
    total_line = csv_text.strip().splitlines()[-1].split(",")
    assert total_line[0] == "Total" and Decimal(total_line[1]) == invoiced
