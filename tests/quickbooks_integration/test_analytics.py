"""Every analytics metric on a small hand-built data set whose answers are worked out in the test, by hand.

Dates are fixed (AS_OF is a Monday in June 2026) and passed to the selectors, so the answers do not move with the
calendar. Amounts are chosen tax-free (tax_rate 0) so a quote's or invoice's total is the sum of its lines.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from crm import services
from crm.models import Contact, InvoiceStatus, Quote, QuoteStatus
from quickbooks_integration.services import analytics
from quickbooks_integration.services.analytics import charts
from quickbooks_integration.services.analytics.campaigns import attributed_campaign
from quickbooks_integration.services.analytics.common import DateRange, month_add
from quickbooks_integration.services.analytics.lifetime import _active
from quickbooks_integration.services.analytics.prediction import late_probability
from tests.crm.factories import (
    ActivityFactory,
    CampaignFactory,
    CampaignRecipientFactory,
    ContactFactory,
    InvoiceFactory,
    InvoiceItemFactory,
    PaymentFactory,
    ProductFactory,
    QuoteFactory,
    QuoteItemFactory,
)

pytestmark = pytest.mark.django_db

AS_OF = datetime.date(2026, 6, 29)
LOCAL = ZoneInfo("America/New_York")
D = Decimal


def day(text: str) -> datetime.date:
    return datetime.date.fromisoformat(text)


def at(text: str, hour: int = 10) -> datetime.datetime:
    return datetime.datetime.combine(day(text), datetime.time(hour), tzinfo=LOCAL)


def invoice(contact: Contact, issued: str, amount: str, *, due: str | None = None, quote=None, status=None, **kw):
    """A tax-free invoice of one line of `amount`, due 30 days after its date unless `due` says otherwise."""
    issue = day(issued)
    return InvoiceFactory(
        contact=contact,
        issue_date=issue,
        due_date=day(due) if due else issue + datetime.timedelta(days=30),
        tax_rate=D(0),
        quote=quote,
        status=status or InvoiceStatus.SENT,
        items=[("1", amount)],
        **kw,
    )


def pay(inv, paid_on: str, amount: str | None = None):
    """A payment dated `paid_on` applying `amount` (default: the whole balance) to `inv`."""
    amount = D(amount) if amount else inv.balance_due
    payment = PaymentFactory(contact=inv.contact, amount=amount, payment_date=day(paid_on))
    services.payment_applications_set(payment=payment, rows=[(inv, amount)])
    inv.refresh_from_db()
    return payment


def quote(contact: Contact, issued: str, amount: str, *, status=QuoteStatus.SENT, campaign=None, expires=None):
    issue = day(issued)
    return QuoteFactory(
        contact=contact,
        issue_date=issue,
        expiration_date=day(expires) if expires else issue + datetime.timedelta(days=30),
        tax_rate=D(0),
        status=status,
        campaign=campaign,
        items=[("1", amount)],
    )


# ---------------------------------------------------------------------------------------------------- common


def test_date_range_defaults_to_twelve_calendar_months_and_lists_them():
    period = DateRange.last_months(today=AS_OF)
    assert (period.start, period.end) == (day("2025-07-01"), AS_OF)
    assert period.months()[0] == day("2025-07-01") and period.months()[-1] == day("2026-06-01")
    assert len(period.months()) == 12
    assert month_add(day("2026-11-01"), 3) == day("2027-02-01")
    with pytest.raises(ValueError):
        DateRange(start=AS_OF, end=day("2026-01-01"))


def test_totals_and_months_sum_billed_invoices_and_payments_of_the_range():
    a, b = ContactFactory(), ContactFactory()
    jan = invoice(a, "2026-01-10", "1000.00")
    invoice(b, "2026-02-03", "250.50")
    invoice(b, "2026-02-04", "999.00", status=InvoiceStatus.VOID)  # void: not revenue
    invoice(a, "2025-12-31", "400.00")  # before the range
    pay(jan, "2026-01-20", "600.00")
    pay(jan, "2026-03-02")  # the remaining 400
    PaymentFactory(contact=b, amount=D("50.00"), payment_date=day("2026-02-10"))  # unapplied money is collected too

    period = DateRange(start=day("2026-01-01"), end=day("2026-03-31"))
    totals = analytics.totals(period=period)
    assert totals.invoiced == D("1250.50") and totals.invoices == 2
    assert totals.collected == D("1050.00") and totals.payments == 3
    assert totals.applied == D("1000.00")
    assert totals.open_balance == D("250.50")
    months = analytics.revenue_by_month(period=period)
    assert [(m.month, m.invoiced, m.collected) for m in months] == [
        (day("2026-01-01"), D("1000.00"), D("600.00")),
        (day("2026-02-01"), D("250.50"), D("50.00")),
        (day("2026-03-01"), D("0.00"), D("400.00")),
    ]


# ---------------------------------------------------------------------------------------------------- segments


def test_high_value_is_the_top_decile_of_the_year_with_ties_or_a_configured_amount():
    customers = [ContactFactory(first_name=f"C{n}", last_name="Test") for n in range(1, 11)]
    for n, contact in enumerate(customers, 1):
        invoice(contact, "2026-03-01", f"{n * 100}.00")  # 100 … 1000 in the year
    invoice(customers[0], "2025-06-01", "9000.00")  # 393 days before AS_OF: outside the year
    invoice(customers[1], "2026-04-01", "5000.00", status=InvoiceStatus.VOID)

    segment = analytics.high_value_customers(as_of=AS_OF)
    assert segment.customers == 10 and segment.revenue == D("5500.00")
    assert [(m.name, m.revenue) for m in segment.members] == [("C10 Test", D("1000.00"))]
    assert segment.threshold == D("1000.00") and segment.members_share == D("18.2")

    invoice(customers[8], "2026-05-01", "100.00")  # C9 now also has 1000: a tie at the cut-off is in
    assert {m.name for m in analytics.high_value_customers(as_of=AS_OF).members} == {"C9 Test", "C10 Test"}

    above = analytics.high_value_customers(as_of=AS_OF, min_annual_revenue=D("700"))
    assert [m.revenue for m in above.members] == [D("1000.00"), D("1000.00"), D("800.00")]  # above, not at, 700
    assert analytics.high_value_customers(as_of=day("2020-01-01")).members == []


def test_payers_are_fast_or_slow_against_their_own_terms():
    fast, slow, unpaid = ContactFactory(first_name="Fast"), ContactFactory(first_name="Slow"), ContactFactory()
    pay(invoice(fast, "2026-01-01", "100.00"), "2026-01-21")  # 20 days on net 30: 10 early
    pay(invoice(fast, "2026-02-01", "100.00", due="2026-02-16"), "2026-02-11")  # 10 days on net 15: 5 early
    pay(invoice(slow, "2026-01-05", "100.00"), "2026-02-19")  # 45 days on net 30: 15 late
    invoice(unpaid, "2026-01-05", "100.00")  # never paid: not in the averages
    pay(invoice(slow, "2025-01-05", "100.00"), "2025-12-30")  # paid before the range

    period = DateRange(start=day("2026-01-01"), end=AS_OF)
    rows = {p.name.split()[0]: p for p in analytics.payers_by_speed(period=period)}
    assert set(rows) == {"Fast", "Slow"}
    assert rows["Fast"].paid_invoices == 2
    assert (rows["Fast"].average_days_to_pay, rows["Fast"].average_terms_days) == (D("15.0"), D("22.5"))
    assert (rows["Fast"].average_days_late, rows["Fast"].speed) == (D("-7.5"), "fast")
    assert (rows["Slow"].average_days_late, rows["Slow"].speed) == (D("15.0"), "slow")
    assert [p.name.split()[0] for p in analytics.payers_by_speed(period=period)] == ["Slow", "Fast"]  # slowest first
    assert {p.speed for p in analytics.payers_by_speed(period=period, grace_days=15)} == {"fast"}


def test_frequency_counts_visits_on_different_days_and_the_median_interval():
    regular, twice_a_day, quick, once = (ContactFactory(first_name=n) for n in ("Regular", "Twice", "Quick", "Once"))
    for issued in ("2026-01-01", "2026-03-01", "2026-05-01"):  # 59 and 61 days apart: 120 / 2 = 60
        invoice(regular, issued, "100.00")
    invoice(twice_a_day, "2026-02-02", "100.00")
    invoice(twice_a_day, "2026-02-02", "50.00")  # same day: one visit
    invoice(quick, "2026-01-10", "100.00")
    invoice(quick, "2026-01-20", "100.00")
    invoice(once, "2026-04-04", "100.00")
    invoice(once, "2026-04-09", "100.00", status=InvoiceStatus.VOID)

    summary = analytics.service_frequency(period=DateRange(start=day("2026-01-01"), end=AS_OF))
    assert (summary.customers, summary.repeat_customers, summary.repeat_share) == (4, 2, D("50.0"))
    assert [(c.name.split()[0], c.invoices, c.interval_days) for c in summary.repeat] == [
        ("Quick", 2, D("10.0")),
        ("Regular", 3, D("60.0")),
    ]
    assert summary.usual_interval_days == D("35.0")  # the median of 10 and 60


def test_revenue_by_city_folds_case_and_spaces_and_by_zip_folds_zip4():
    cases = [("Boston", "02108", "100.00"), (" boston ", "02108-1234", "200.00"), ("Quincy", "02169", "50.00")]
    for city, zip_code, amount in cases:
        invoice(ContactFactory(city=city, zip_code=zip_code), "2026-02-01", amount)
    invoice(ContactFactory(city="", zip_code=""), "2026-02-01", "7.00")
    period = DateRange(start=day("2026-01-01"), end=AS_OF)

    cities = analytics.revenue_by_area(period=period, by="city")
    assert [(a.area, a.customers, a.invoices, a.revenue) for a in cities] == [
        ("Boston", 2, 2, D("300.00")),
        ("Quincy", 1, 1, D("50.00")),
        ("(none)", 1, 1, D("7.00")),
    ]
    zips = analytics.revenue_by_area(period=period, by="zip")
    assert [(a.area, a.revenue) for a in zips] == [("02108", D("300.00")), ("02169", D("50.00")), ("(none)", D("7.00"))]
    assert sum(a.revenue for a in zips) == analytics.totals(period=period).invoiced
    with pytest.raises(ValueError):
        analytics.revenue_by_area(period=period, by="state")


# ---------------------------------------------------------------------------------------------------- campaigns


def _attributed(window: int = 30) -> dict[int, int | None]:
    return dict(Quote.objects.annotate(cid=attributed_campaign(window_days=window)).values_list("pk", "cid"))


def test_attribution_names_the_quotes_campaign_else_the_last_touch_within_the_window():
    spring, fall, web = CampaignFactory(name="Spring"), CampaignFactory(name="Fall"), CampaignFactory(name="Web")
    named, touched, too_old, responded_late, later_send, old_send_recent_reply = (ContactFactory() for _ in range(6))

    q_named = quote(named, "2026-05-01", "100.00", campaign=fall)
    CampaignRecipientFactory(campaign=spring, contact=named, sent_at=at("2026-04-28"))  # the named campaign wins

    CampaignRecipientFactory(campaign=spring, contact=touched, sent_at=at("2026-04-21"))  # 10 days before
    q_touched = quote(touched, "2026-05-01", "100.00")

    CampaignRecipientFactory(campaign=spring, contact=too_old, sent_at=at("2026-03-31"))  # 31 days before
    q_too_old = quote(too_old, "2026-05-01", "100.00")

    # Fall reached them first; Web later; they answered Fall only after the quote: Web was the last touch.
    CampaignRecipientFactory(
        campaign=fall, contact=responded_late, sent_at=at("2026-04-06"), responded_at=at("2026-05-02")
    )
    CampaignRecipientFactory(campaign=web, contact=responded_late, sent_at=at("2026-04-21"))
    q_responded_late = quote(responded_late, "2026-05-01", "100.00")

    # Spring reached them 40 days before (outside the window) but they answered it 5 days before: attributed;
    # and that answer is later than Web's send 10 days before.
    CampaignRecipientFactory(
        campaign=spring, contact=old_send_recent_reply, sent_at=at("2026-03-22"), responded_at=at("2026-04-26")
    )
    CampaignRecipientFactory(campaign=web, contact=old_send_recent_reply, sent_at=at("2026-04-21"))
    q_reply = quote(old_send_recent_reply, "2026-05-01", "100.00")

    CampaignRecipientFactory(campaign=fall, contact=later_send, sent_at=at("2026-05-02"))  # after the quote
    q_before_send = quote(later_send, "2026-05-01", "100.00")

    found = _attributed()
    assert found[q_named.pk] == fall.pk
    assert found[q_touched.pk] == spring.pk
    assert found[q_too_old.pk] is None
    assert found[q_responded_late.pk] == web.pk
    assert found[q_reply.pk] == spring.pk
    assert found[q_before_send.pk] is None
    assert _attributed(window=31)[q_too_old.pk] == spring.pk
    assert _attributed(window=9)[q_touched.pk] is None


def test_campaign_roi_follows_quotes_to_invoices_and_money_against_cost():
    mailing = CampaignFactory(name="Mailing", cost=D("500.00"), starts_on=day("2026-03-01"), ends_on=day("2026-03-31"))
    CampaignFactory(name="Idle", cost=D("0.00"), starts_on=day("2026-02-01"), ends_on=None)
    CampaignFactory(name="Long ago", starts_on=day("2020-01-01"), ends_on=day("2020-02-01"))  # not listed
    replied, called, silent, walk_in = (ContactFactory() for _ in range(4))
    CampaignRecipientFactory(campaign=mailing, contact=replied, sent_at=at("2026-03-02"), responded_at=at("2026-03-04"))
    CampaignRecipientFactory(campaign=mailing, contact=called, sent_at=at("2026-03-02"))
    CampaignRecipientFactory(campaign=mailing, contact=silent, sent_at=at("2026-03-02"))
    ActivityFactory(contact=called, direction="inbound", occurred_at=at("2026-03-07"))  # a response
    ActivityFactory(contact=silent, direction="outbound", occurred_at=at("2026-03-07"))  # we called: not one
    ActivityFactory(contact=silent, direction="inbound", occurred_at=at("2026-05-07"))  # 66 days later: not one

    won = quote(replied, "2026-03-10", "1000.00", campaign=mailing, status=QuoteStatus.CONVERTED)
    quote(called, "2026-03-12", "2000.00")  # attributed by the touch on March 2
    paid = invoice(replied, "2026-03-15", "1000.00", quote=won)
    pay(paid, "2026-04-01", "600.00")
    direct = quote(walk_in, "2026-03-20", "300.00", status=QuoteStatus.CONVERTED)
    pay(invoice(walk_in, "2026-03-25", "300.00", quote=direct), "2026-03-30")
    invoice(walk_in, "2026-03-26", "80.00")  # no quote: in no campaign's figures, nor in the unattributed row

    report = analytics.campaign_roi(period=DateRange(start=day("2026-03-01"), end=AS_OF))
    rows = {c.name: c for c in report.campaigns}
    assert set(rows) == {"Mailing", "Idle"}
    m = rows["Mailing"]
    assert (m.recipients, m.responses, m.response_rate) == (3, 2, D("66.7"))
    assert (m.quotes, m.quoted, m.invoices, m.invoiced, m.collected) == (2, D("3000.00"), 1, D("1000.00"), D("600.00"))
    assert m.roi == D("20.0")  # (600 − 500) / 500
    assert rows["Idle"].quotes == 0 and rows["Idle"].roi is None  # free: no ROI to divide
    none = report.unattributed
    assert (none.quotes, none.quoted, none.invoices, none.invoiced, none.collected) == (
        1,
        D("300.00"),
        1,
        D("300.00"),
        D("300.00"),
    )


def test_seasonal_timing_finds_the_busy_months_and_the_month_before():
    sealing = ProductFactory(name="Sealing", unit_price=D("100"), cost=None)
    for issued, paid_on in (("2026-03-03", "2026-04-02"), ("2026-03-20", "2026-04-15"), ("2026-04-01", None)):
        inv = InvoiceFactory(contact=ContactFactory(), issue_date=day(issued), tax_rate=D(0))
        InvoiceItemFactory(invoice=inv, product=sealing, quantity=D(1), unit_price=D(100))
        InvoiceItemFactory(invoice=inv, product=sealing, quantity=D(2), unit_price=D(100))  # one invoice, once
        services.invoice_recalculate(invoice=inv)
        if paid_on:
            pay(inv, paid_on)
    [season] = analytics.seasonal_timing(period=DateRange(start=day("2026-01-01"), end=AS_OF))
    assert season.name == "Sealing"
    assert season.ordered == [0, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0]
    assert season.paid == [0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0]
    assert (season.peak_order_months, season.peak_paid_months, season.campaign_month) == ([3, 4], [4], 2)
    january = analytics.campaigns.ServiceSeason(1, "x", [5] + [0] * 11, [0] * 12)
    assert january.campaign_month == 12  # a month before January is December


def test_campaign_audience_is_a_segment_without_those_who_owe_more_than_the_threshold():
    rich, owing, prospect = (ContactFactory(last_name=n, customer_type="customer") for n in ("Rich", "Owing", "Lead"))
    prospect.customer_type = "prospect"
    prospect.save()
    pay(invoice(rich, "2026-05-01", "5000.00"), "2026-05-10")
    invoice(owing, "2026-05-01", "4000.00")  # 4,000 still owed
    invoice(ContactFactory(last_name="Small", customer_type="customer"), "2026-05-01", "10.00")
    # The summary column the sync (or the CRM) keeps: unlinked contacts carry their open invoices.
    assert Contact.objects.get(pk=owing.pk).outstanding_balance == D("4000.00")

    size, members = analytics.campaign_audience(as_of=AS_OF, segment="high_value", min_annual_revenue=D("1000"))
    assert (size, [m.name.split()[-1] for m in members]) == (2, ["Owing", "Rich"])
    size, members = analytics.campaign_audience(
        as_of=AS_OF, segment="high_value", min_annual_revenue=D("1000"), max_balance=D("0")
    )
    assert (size, [m.name.split()[-1] for m in members]) == (1, ["Rich"])
    assert analytics.campaign_audience(as_of=AS_OF, segment="customers", max_balance=D("100"))[0] == 2  # Rich, Small
    size, first = analytics.campaign_audience(as_of=AS_OF, limit=2)
    assert size == 4 and [m.name.split()[-1] for m in first] == ["Lead", "Owing"]
    with pytest.raises(ValueError):
        analytics.campaign_audience(as_of=AS_OF, segment="vip")


# ---------------------------------------------------------------------------------------------------- forecast


@pytest.fixture
def pipeline():
    """History: six decided quotes under 1,000 (invoiced 5, 5, 5 and 40 days after; two expired at 30 days), every
    history invoice paid the day it was issued; an accepted quote not yet invoiced; two open quotes. Customers:
    F paid two invoices in 60 and 100 days (average 80), G never paid one."""
    history, opener, f, g = ContactFactory(), ContactFactory(), ContactFactory(), ContactFactory()
    for n, lag in enumerate((5, 5, 5, 40)):
        issued = day("2026-01-05") + datetime.timedelta(days=10 * n)
        won = quote(history, issued.isoformat(), "500.00", status=QuoteStatus.CONVERTED)
        billed = invoice(history, (issued + datetime.timedelta(days=lag)).isoformat(), "500.00", quote=won)
        pay(billed, billed.issue_date.isoformat())
    for issued in ("2026-02-01", "2026-02-10"):
        quote(history, issued, "500.00", status=QuoteStatus.EXPIRED)
    quote(opener, "2026-06-28", "200.00", status=QuoteStatus.ACCEPTED)  # won (history, age 0) and open in full
    quote(opener, "2026-06-26", "800.00")  # age 3
    quote(opener, "2026-06-19", "500.00")  # age 10
    quote(opener, "2026-06-01", "20000.00", status=QuoteStatus.DRAFT, expires="2026-07-01")  # 10,000+ band, age 28

    pay(invoice(f, "2026-01-01", "100.00"), "2026-03-02")  # 60 days
    pay(invoice(f, "2026-01-10", "100.00"), "2026-04-20")  # 100 days
    partly = invoice(f, "2026-04-01", "400.00")
    pay(partly, "2026-04-10", "150.00")  # balance 250, not paid off: no effect on F's average
    invoice(f, "2026-05-15", "700.00")
    invoice(f, "2026-06-20", "1000.00")
    invoice(g, "2026-05-01", "300.00")
    return {"f": f, "g": g}


def test_win_rates_are_survival_rates_by_amount_and_age_with_a_pooled_fallback(pipeline):
    rates = analytics.win_rates(as_of=AS_OF)
    fresh = rates["under 1,000", "0–7 days"]
    assert (fresh.decided, fresh.won, fresh.rate, fresh.pooled) == (7, 5, D("0.714"), False)
    week_old = rates["under 1,000", "8–30 days"]  # decided at 8+ days: invoiced at 40 (won), expired at 30 (×2)
    assert (week_old.decided, week_old.won, week_old.rate, week_old.pooled) == (3, 1, D("0.333"), True)
    assert rates["under 1,000", "over 60 days"].rate == D("0")  # no quote was still open at 60 days
    assert rates["10,000 and over", "0–7 days"].pooled and rates["10,000 and over", "0–7 days"].rate == D("0.714")


def test_forecast_weights_open_quotes_and_places_open_balances_by_payment_behaviour(pipeline):
    forecast = analytics.revenue_forecast(as_of=AS_OF)
    assert forecast.quote_to_invoice_days == 5  # median of 5, 5, 5, 40
    assert forecast.fallback_days_to_pay == D("26.7")  # (0 × 4 + 60 + 100) / 6
    # Quotes: 500 aged 10 × 0.333 = 166.50 expected now (June 24 has passed); 20,000 aged 28 (10,000+ band, pooled
    # rate of 8–30 days: 0.333) = 6,660.00 now; 800 aged 3 × 0.714 = 571.20 on July 1; accepted 200 in full on July 3.
    # Invoices: G's 300 on May 28 (27 days) and F's 250 on June 20 (80 days) have passed: now; F's 700 on Aug 3;
    # F's 1,000 on Sep 8: after the three months.
    assert [(m.month, m.from_quotes, m.from_invoices) for m in forecast.months] == [
        (day("2026-06-01"), D("6826.50"), D("550.00")),
        (day("2026-07-01"), D("771.20"), D("0.00")),
        (day("2026-08-01"), D("0.00"), D("700.00")),
    ]
    assert (forecast.later_quotes, forecast.later_invoices) == (D("0.00"), D("1000.00"))
    assert forecast.open_invoices == D("2250.00") == sum(m.from_invoices for m in forecast.months) + D("1000.00")
    assert forecast.open_quotes == D("21500.00")
    assert [(b.amount_band, b.age_band, b.quotes, b.expected) for b in forecast.pipeline] == [
        ("under 1,000", "0–7 days", 1, D("571.20")),
        ("under 1,000", "8–30 days", 1, D("166.50")),
        ("10,000 and over", "8–30 days", 1, D("6660.00")),
    ]


# ---------------------------------------------------------------------------------------------------- prediction


@pytest.fixture
def record():
    """Customer A: i1 paid 20 days late, i2 paid on time, i3 unpaid and past due, i4 open and not yet due.
    Customer B: one open invoice, no record. Known on AS_OF: i1 late, i2 on time, i3 late, so p₀ = 2/3."""
    a, b = ContactFactory(first_name="A"), ContactFactory(first_name="B")
    i1 = invoice(a, "2026-01-01", "100.00")  # due Jan 31
    pay(i1, "2026-02-20")
    i2 = invoice(a, "2026-02-01", "100.00")  # due Mar 3
    pay(i2, "2026-03-01")
    i3 = invoice(a, "2026-04-01", "300.00")  # due May 1
    i4 = invoice(a, "2026-06-01", "400.00")  # due Jul 1
    ib = invoice(b, "2026-06-10", "500.00")
    return {"i1": i1, "i2": i2, "i3": i3, "i4": i4, "b": ib}


def test_late_probability_is_the_smoothed_rate():
    assert late_probability(late=0, known=0, base_rate=D("0.4")) == D("0.400")
    assert late_probability(late=2, known=3, base_rate=D("0.667")) == D("0.667")  # (2 + 1.334) / 5
    assert late_probability(late=0, known=8, base_rate=D("0.5")) == D("0.100")  # (0 + 1) / 10


def test_open_invoices_get_their_customers_chance_of_paying_late(record):
    predictions = analytics.open_invoice_predictions(as_of=AS_OF)
    found = {p.invoice_id: p for p in predictions}
    assert set(found) == {record["i3"].pk, record["i4"].pk, record["b"].pk}
    i4, i3, b = found[record["i4"].pk], found[record["i3"].pk], found[record["b"].pk]
    assert (i4.late_known, i4.known, i4.probability, i4.overdue) == (2, 3, D("0.667"), False)
    assert (i3.late_known, i3.known, i3.probability, i3.overdue) == (
        1,
        2,
        D("0.584"),
        True,
    )  # its own lateness not used
    assert (b.known, b.probability) == (0, D("0.667"))  # no record: p₀
    assert [p.invoice_id for p in predictions] == [record["b"].pk, record["i4"].pk, record["i3"].pk]  # ties: balance
    assert all(p.predicted_late for p in predictions)
    for limit in (1, 2, 3):  # the database's ranking picks the same first rows
        assert analytics.open_invoice_predictions(as_of=AS_OF, limit=limit) == predictions[:limit]


def test_backtest_predicts_each_known_invoice_from_what_was_known_on_its_date(record):
    test = analytics.payment_backtest(period=DateRange(start=day("2026-01-01"), end=AS_OF), as_of=AS_OF)
    # i1 on Jan 1: nothing known → p₀ 0.667, late: right. i2 on Feb 1: i1 known late → 0.778, on time: wrong.
    # i3 on Apr 1: i1 late, i2 on time → 0.584, late: right. i4 and B's: outcome not known yet, left out.
    assert test.base_rate == D("0.667")
    assert (test.invoices, test.correct, test.accuracy, test.baseline_accuracy) == (3, 2, D("66.7"), D("66.7"))
    assert (test.true_late, test.false_late, test.true_on_time, test.false_on_time) == (2, 1, 0, 0)
    assert test.brier == D("0.296")  # ((1 − .667)² + .778² + (1 − .584)²) / 3
    bands = {band.label: band for band in test.calibration}
    assert (bands["50–75%"].invoices, bands["50–75%"].predicted, bands["50–75%"].actual) == (2, D("62.6"), D("100.0"))
    assert (bands["75% and over"].invoices, bands["75% and over"].actual) == (1, D("0.0"))
    assert bands["under 25%"].invoices == 0 and bands["under 25%"].actual is None


# ---------------------------------------------------------------------------------------------------- margins


def test_margins_use_line_totals_and_product_costs_and_keep_uncosted_revenue_apart():
    strap = ProductFactory(name="Strap", item_type="non_inventory", unit_price=D("250"), cost=D("100"))
    epoxy = ProductFactory(name="Epoxy", item_type="inventory", unit_price=D("80"), cost=None)
    inv = InvoiceFactory(contact=ContactFactory(), issue_date=day("2026-03-01"), tax_rate=D("6.25"))
    InvoiceItemFactory(invoice=inv, product=strap, quantity=D(2), unit_price=D(250))
    InvoiceItemFactory(invoice=inv, product=strap, quantity=D("1.5"), unit_price=D("249.99"))  # 374.985 → 374.99
    InvoiceItemFactory(invoice=inv, product=epoxy, quantity=D(1), unit_price=D(80))
    InvoiceItemFactory(invoice=inv, product=None, description="Travel", unit_price=D(30), taxable=False)
    services.invoice_recalculate(invoice=inv)
    void = InvoiceFactory(contact=ContactFactory(), issue_date=day("2026-03-02"), status=InvoiceStatus.VOID)
    InvoiceItemFactory(invoice=void, product=strap, quantity=D(10), unit_price=D(250))

    period = DateRange(start=day("2026-01-01"), end=AS_OF)
    rows = {m.key: m for m in analytics.margins_by_service(period=period)}
    s = rows["Strap"]
    assert (s.lines, s.quantity, s.revenue, s.cost, s.margin, s.margin_share) == (
        2,
        D("3.50"),
        D("874.99"),
        D("350.00"),
        D("524.99"),
        D("60.0"),
    )
    e = rows["Epoxy"]
    assert (e.revenue, e.costed_revenue, e.margin, e.margin_share, e.uncosted_revenue) == (
        D("80.00"),
        D("0.00"),
        D("0.00"),
        None,
        D("80.00"),
    )
    assert rows["(typed lines, no product)"].revenue == D("30.00")
    assert sum(m.revenue for m in rows.values()) == inv.subtotal  # lines add up to the invoice before tax
    by_type = {m.key: m.margin for m in analytics.margins_by_service(period=period, by="type")}
    assert by_type == {"Non-inventory": D("524.99"), "Inventory": D("0.00"), "(typed lines, no product)": D("0.00")}


# ---------------------------------------------------------------------------------------------------- lifetime value


def test_lifetime_value_adds_expected_revenue_from_frequency_over_tenure_unless_lapsed():
    loyal, new, lapsed = (ContactFactory(first_name=n) for n in ("Loyal", "New", "Lapsed"))
    for days_back in (1461, 1096, 731, 30):  # four invoices over exactly four years (4 × 365.25 days)
        invoice(loyal, (AS_OF - datetime.timedelta(days=days_back)).isoformat(), "1000.00")
    invoice(new, "2026-03-01", "500.00")  # 120 days: tenure counts as one year
    invoice(lapsed, "2024-01-01", "5000.00")  # one invoice 2.5 years ago: stopped buying

    values = analytics.customer_lifetime_values(as_of=AS_OF)
    assert [(v.name.split()[0], v.revenue, v.expected, v.lifetime_value) for v in values] == [
        ("Loyal", D("4000.00"), D("3000.00"), D("7000.00")),  # 4,000 × 3 / 4 years
        ("Lapsed", D("5000.00"), D("0.00"), D("5000.00")),
        ("New", D("500.00"), D("1500.00"), D("2000.00")),  # 500 × 3 / 1
    ]
    assert values[0].tenure_years == D("4.00") and values[0].active and not values[1].active
    assert [v.name.split()[0] for v in analytics.customer_lifetime_values(as_of=AS_OF, limit=2)] == ["Loyal", "Lapsed"]
    assert analytics.customer_lifetime_values(as_of=AS_OF, horizon_years=1)[0].expected == D("1000.00")


@pytest.mark.parametrize(
    ("n", "span", "since_last", "active"),
    [(1, 0, 365, True), (1, 0, 366, False), (3, 100, 365, True), (3, 1000, 999, True), (3, 1000, 1001, False)],
)
def test_still_buying_means_within_twice_the_usual_interval_or_a_year(n, span, since_last, active):
    assert _active(n, span, since_last) is active


# ---------------------------------------------------------------------------------------------------- business metrics


def test_business_metrics_per_month():
    linked = ContactFactory(quickbooks_customer_id="58", customer_type="customer")
    prospect = ContactFactory(customer_type="prospect")
    gap = ContactFactory(customer_type="customer")  # a customer the CRM has not linked: not covered
    Contact.objects.filter(pk__in=[linked.pk, prospect.pk, gap.pk]).update(created_at=at("2026-02-10"))
    Contact.objects.filter(pk=gap.pk).update(created_at=at("2026-03-10"))

    item = ProductFactory(name="Injection", quickbooks_item_id="7")
    local = ProductFactory(name="Local only")
    q1 = quote(prospect, "2026-02-15", "0.00")
    q1.items.all().delete()
    QuoteItemFactory(quote=q1, product=item)
    QuoteItemFactory(quote=q1, product=local)
    QuoteItemFactory(quote=q1, product=None, description="Typed by hand", unit_price=D(10), taxable=False)

    campaign = CampaignFactory(name="Postcards")
    from_campaign = quote(linked, "2026-02-01", "1000.00", campaign=campaign, status=QuoteStatus.CONVERTED)
    pay(invoice(linked, "2026-02-05", "1000.00", quote=from_campaign), "2026-02-25")  # 20 days
    pay(invoice(gap, "2026-02-06", "500.00"), "2026-03-18")  # 40 days, paid in March

    metrics = analytics.business_metrics(period=DateRange(start=day("2026-02-01"), end=day("2026-03-31")))
    feb, mar = metrics.months
    assert (feb.contacts, feb.contacts_covered, feb.coverage) == (2, 2, D("100.0"))
    assert (mar.contacts, mar.contacts_covered, mar.coverage) == (1, 0, D("0.0"))
    assert (feb.quote_lines, feb.lines_from_items, feb.items_share) == (4, 1, D("25.0"))  # + the campaign quote's line
    assert (feb.invoices_paid, feb.average_days_to_pay, mar.average_days_to_pay) == (1, D("20.0"), D("40.0"))
    assert (feb.invoiced, feb.attributed, feb.attributed_share) == (D("1500.00"), D("1000.00"), D("66.7"))
    assert mar.attributed_share is None  # nothing invoiced in March
    assert (metrics.contacts, metrics.contacts_covered, metrics.coverage) == (3, 2, D("66.7"))
    assert (metrics.average_days_to_pay, metrics.attributed_share) == (D("30.0"), D("66.7"))


def test_last_synced_is_none_until_quickbooks_data_arrives():
    assert analytics.quickbooks_last_synced() is None


# ---------------------------------------------------------------------------------------------------- charts


def test_nice_ticks_cover_the_values_with_round_steps():
    assert charts.nice_ticks(0, 870) == [0, 250, 500, 750, 1000]
    assert charts.nice_ticks(-30, 45) == [-40, -20, 0, 20, 40, 60]
    assert charts.nice_ticks(0, 0) == [0, 0.25, 0.5, 0.75, 1]


def test_bar_chart_heights_are_proportional_and_inside_the_plot():
    chart = charts.bar_chart(
        title="t", labels=["Jan", "Feb"], series=[("Invoiced", [D("100"), D("50")]), ("Collected", [0, D("25")])]
    )
    heights = [bar.height for bar in chart.bars]
    assert heights[0] == 2 * heights[2] == 4 * heights[3] and heights[1] == 0
    assert all(chart.top <= bar.y and bar.y + bar.height <= chart.bottom + 0.1 for bar in chart.bars)
    assert chart.bars[0].title == "Jan · Invoiced: $100" and chart.legend == [(0, "Invoiced"), (1, "Collected")]
    stacked = charts.bar_chart(title="t", labels=["Q"], series=[("a", [1]), ("b", [3])], stacked=True, unit="count")
    low, high = stacked.bars
    assert low.y == high.y + high.height and high.height == 3 * low.height


def test_line_chart_breaks_at_missing_values_and_hbar_handles_negatives():
    chart = charts.line_chart(title="t", labels=["a", "b", "c", "d"], series=[("s", [10, 20, None, 5])])
    assert len(chart.lines) == 1 and len(chart.points) == 3  # a–b joined; d alone is a point
    ranking = charts.hbar_chart(title="t", labels=["up", "down"], values=[D("100"), D("-50")])
    up, down = ranking.bars
    assert up.x == ranking.zero and down.x + down.width == pytest.approx(ranking.zero)
    assert up.width == pytest.approx(2 * down.width, abs=0.2) and down.title == "down: −$50"
    assert charts.hbar_chart(title="t", labels=[], values=[]).empty
    assert charts.value_label(D("12500"), "money") == "$12k" and charts.value_label(D("1250"), "money") == "$1.2k"
