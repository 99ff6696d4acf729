"""The revenue dashboards through the real admin: who may open them, the date filter, CSV exports, the index link,
"last synced", and a number of queries per page that does not grow with the data."""

from __future__ import annotations

import csv
import datetime
import io
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from crm import services
from crm.models import QuoteStatus
from crm.roles import BOOKKEEPER, OWNER, STAFF
from quickbooks_integration.admin.dashboards import PAGES, _csv_value
from quickbooks_integration.models import QuickBooksAuth, SyncRun
from tests.crm.factories import (
    CampaignFactory,
    CampaignRecipientFactory,
    ContactFactory,
    InvoiceFactory,
    PaymentFactory,
    QuoteFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

TABLES = {
    "overview": ["revenue", "metrics"],
    "customers": ["high_value", "payers", "frequency", "cities", "zips", "lifetime", "audience"],
    "campaigns": ["roi", "seasons"],
    "forecast": ["forecast", "pipeline", "win_rates", "calibration", "late_risk"],
    "services": ["by_service", "by_type"],
}


def page_url(page: str) -> str:
    return reverse("admin:quickbooks_integration_dashboard_page", kwargs={"page": page})


def client_for(role: str | None = None, **user) -> Client:
    client = Client()
    client.force_login(UserFactory(username=f"u-{role or 'root'}", groups=[role] if role else [], **user))
    return client


@pytest.fixture
def owner() -> Client:
    return client_for(OWNER)


def sales(n: int = 1, *, start: datetime.date | None = None) -> None:
    """`n` customers, each with a campaign touch, a converted quote, an invoice half paid, and an open quote."""
    today = timezone.localdate()
    start = start or today - datetime.timedelta(days=90)
    campaign = CampaignFactory(starts_on=start, ends_on=None)
    for i in range(n):
        contact = ContactFactory()
        CampaignRecipientFactory(campaign=campaign, contact=contact)
        won = QuoteFactory(contact=contact, issue_date=start, status=QuoteStatus.CONVERTED, items=[("1", "800")])
        invoice = InvoiceFactory(  # tax-free: a total of 900.00 whichever product the factory picks
            contact=contact,
            quote=won,
            issue_date=start + datetime.timedelta(days=i % 20),
            tax_rate=Decimal(0),
            items=[("2", "450")],
        )
        payment = PaymentFactory(contact=contact, amount=Decimal("400.00"), payment_date=today)
        services.payment_applications_set(payment=payment, rows=[(invoice, Decimal("400.00"))])
        QuoteFactory(contact=contact, issue_date=today, items=[("1", "1200")])


def csv_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode("utf-8"))))


@pytest.mark.parametrize("page", list(PAGES))
@pytest.mark.parametrize("role", [OWNER, BOOKKEEPER])
def test_owner_and_bookkeeper_open_every_dashboard_with_charts(page, role):
    sales(3)
    response = client_for(role).get(page_url(page))
    assert response.status_code == 200
    html = response.content.decode()
    assert '<svg class="qbo-chart"' in html and "<rect" in html
    assert "QuickBooks data has not been synced yet" in html
    assert all(f'id="table-{key}"' in html for key in TABLES[page])
    assert "<script" not in html.split('<div id="content-main">', 1)[1]  # the page itself runs no script


@pytest.mark.parametrize("page", list(PAGES))
def test_staff_gets_403_and_anonymous_the_login_page(page):
    staff = client_for(STAFF)
    assert staff.get(page_url(page)).status_code == 403
    assert staff.get(page_url(page) + f"?export={TABLES[page][0]}").status_code == 403
    response = Client().get(page_url(page))
    assert response.status_code == 302 and reverse("admin:login") in response["Location"]


def test_the_admin_index_links_the_dashboards_for_those_who_may_open_them(owner):
    changelist = reverse("admin:quickbooks_integration_dashboard_changelist")
    index = owner.get(reverse("admin:index")).content.decode()
    assert "Revenue dashboards" in index and f'href="{changelist}"' in index
    assert owner.get(changelist).status_code == 200  # the overview
    assert "Revenue dashboards" not in client_for(STAFF).get(reverse("admin:index")).content.decode()
    assert client_for(None, is_superuser=True).get(changelist).status_code == 200
    with pytest.raises(NoReverseMatch):  # no object pages: the model has no table
        reverse("admin:quickbooks_integration_dashboard_add")


def test_unknown_pages_and_tables_are_404(owner):
    assert owner.get(page_url("nope")).status_code == 404
    assert owner.get(page_url("overview") + "?export=nope").status_code == 404


def test_the_date_range_filters_every_figure_and_a_bad_range_says_so(owner):
    today = timezone.localdate()
    sales(1, start=today - datetime.timedelta(days=200))
    sales(1, start=today - datetime.timedelta(days=20))
    old = (today - datetime.timedelta(days=200)).replace(day=1)
    recent = owner.get(page_url("overview"), {"start": today - datetime.timedelta(days=60), "end": today})
    everything = owner.get(page_url("overview"), {"start": old, "end": today})
    assert recent.context["totals"].invoiced == Decimal("900.00")  # one invoice of 2 × 450
    assert everything.context["totals"].invoiced == Decimal("1800.00")
    assert 'id="total-invoiced">900.00<' in recent.content.decode()

    backwards = owner.get(page_url("overview"), {"start": today, "end": today - datetime.timedelta(days=5)})
    assert backwards.status_code == 200
    assert "The range must start before it ends." in backwards.content.decode()
    assert backwards.context["period"].end == today  # the default range is shown instead
    nonsense = owner.get(page_url("customers"), {"start": "yesterday", "high_value_min": "-5"})
    assert nonsense.status_code == 200 and nonsense.context["period"].end == today


def test_each_table_exports_as_csv_with_the_rows_of_the_page(owner):
    sales(2)
    for page, keys in TABLES.items():
        shown = owner.get(page_url(page))
        for key in keys:
            response = owner.get(page_url(page), {"export": key})
            assert response.status_code == 200, (page, key)
            assert response["Content-Type"] == "text/csv; charset=utf-8"
            assert response["Content-Disposition"].startswith(f'attachment; filename="{page}-{key}-')
            rows = csv_rows(response)
            table = shown.context["tables"][key]
            assert rows[0] == [column.header for column in table.columns]
            assert len(rows) - 1 == len(table.items) + (table.footer is not None), (page, key)


def test_csv_money_is_plain_decimals_and_the_total_row_matches(owner):
    sales(2)
    period = {"start": timezone.localdate() - datetime.timedelta(days=365), "end": timezone.localdate()}
    rows = csv_rows(owner.get(page_url("overview"), {**period, "export": "revenue"}))
    total = rows[-1]
    assert total[0] == "Total" and Decimal(total[1]) == Decimal("1800.00") and Decimal(total[2]) == Decimal("800.00")
    assert sum(Decimal(row[1]) for row in rows[1:-1]) == Decimal(total[1])


def test_csv_quotes_text_a_spreadsheet_would_run(owner):
    contact = ContactFactory(first_name='=HYPERLINK("http://evil")', last_name="", company_name="")
    InvoiceFactory(contact=contact, items=[("1", "100")])
    rows = csv_rows(owner.get(page_url("customers"), {"export": "high_value"}))
    assert rows[1][0].startswith("'=HYPERLINK")
    assert [_csv_value(v) for v in ("+1", "-2", "@x", "ok", Decimal("-5.00"), None)] == [
        "'+1",
        "'-2",
        "'@x",
        "ok",
        Decimal("-5.00"),
        "",
    ]


def test_page_settings_change_the_figures(owner):
    sales(3)
    all_in = owner.get(page_url("customers"), {"high_value_min": "0"})
    assert len(all_in.context["segment"].members) == 3
    assert "annual revenue above 0.00" in all_in.content.decode()
    assert all_in.context["audience_size"] == 0  # all three owe half their invoice: none on the default list
    owing = owner.get(page_url("customers"), {"high_value_min": "0", "max_balance": "1000"})
    assert owing.context["audience_size"] == 3
    rows = csv_rows(owner.get(page_url("customers"), {"audience": "all", "max_balance": "0", "export": "audience"}))
    assert rows[0] == ["Contact", "E-mail", "Phone", "City", "Balance"] and len(rows) == 1
    narrow = owner.get(page_url("campaigns"), {"window": "1"})
    assert narrow.context["window"] == 1 and "within 1 day before" in narrow.content.decode()


def test_last_synced_is_shown_when_quickbooks_data_arrived(owner):
    connection_row = QuickBooksAuth.objects.create(company_id="9130357766001234", company_name="Attack-a-Crack")
    finished = timezone.now() - datetime.timedelta(hours=2)
    SyncRun.objects.create(connection=connection_row, kind="customers", status="succeeded", finished_at=finished)
    SyncRun.objects.create(connection=connection_row, kind="items", status="failed", finished_at=timezone.now())
    response = owner.get(page_url("overview"))
    assert response.context["last_synced"] == finished
    assert "QuickBooks data last synced" in response.content.decode()


@pytest.mark.parametrize("page", list(PAGES))
def test_queries_per_page_do_not_grow_with_the_data(owner, page):
    sales(2)

    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert owner.get(page_url(page)).status_code == 200
        return len(captured)

    small = count()
    sales(15)
    assert count() == small
