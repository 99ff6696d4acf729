"""The owner's journey through the revenue dashboards in Chromium, on the demo data: from the admin index to each
dashboard, its charts drawn (SVG bars or points on screen, under the CSP with no violation), a date range applied
and a table exported as CSV. A full-page screenshot of each dashboard is saved as a test artifact: in
$E2E_ARTIFACTS_DIR when set, else in pytest's temporary directory (the path is printed).
"""

from __future__ import annotations

import csv
import datetime
import os
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone

from crm.models import Invoice, InvoiceStatus
from crm.roles import OWNER
from quickbooks_integration.admin.dashboards import PAGES
from tests.crm.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-owner-dashboards-1"
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI || "inline"}`);
});
"""


@pytest.fixture
def artifacts(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("E2E_ARTIFACTS_DIR") or tmp_path_factory.mktemp("artifacts")) / "dashboards"
    folder.mkdir(parents=True, exist_ok=True)
    print(f"dashboard screenshots: {folder}")
    return folder


def _invoiced(start: datetime.date, end: datetime.date) -> Decimal:
    billed = Invoice.objects.exclude(status=InvoiceStatus.VOID).filter(issue_date__range=(start, end))
    return billed.aggregate(s=Sum("total_amount"))["s"] or Decimal("0.00")


def test_owner_opens_each_dashboard_applies_a_range_and_exports_a_csv(page, live_server, artifacts):
    call_command("load_demo", stdout=StringIO())
    owner = UserFactory(username="dash-owner", groups=[OWNER])
    owner.set_password(PASSWORD)
    owner.save()
    errors: list[str] = []
    page.add_init_script(RECORD_VIOLATIONS)
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))

    page.goto(f"{live_server.url}{reverse('admin:login')}")
    page.fill("#id_username", "dash-owner")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}{reverse('admin:index')}")
    page.click("text=Revenue dashboards")  # linked from the admin index
    page.wait_for_selector("nav.qbo-dash-tabs")

    for spec in PAGES.values():
        page.click(f"nav.qbo-dash-tabs >> text={spec.title}")
        page.wait_for_selector("#dashboard-period")
        assert page.locator("h1").inner_text() == spec.title
        charts = page.locator("svg.qbo-chart")
        assert charts.count() >= 1, spec.slug
        marks = page.locator("svg.qbo-chart rect.qbo-bar, svg.qbo-chart circle.qbo-point")
        assert marks.count() > 0, spec.slug
        box = charts.first.bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 60, (spec.slug, box)  # drawn, styled
        assert page.locator("#last-synced").inner_text().startswith("QuickBooks data")
        assert page.evaluate("window.__cspViolations") == [], spec.slug
        page.screenshot(path=str(artifacts / f"{spec.slug}.png"), full_page=True)
        assert (artifacts / f"{spec.slug}.png").stat().st_size > 10_000

    # A date range: the last 90 days, through the form.
    today = timezone.localdate()
    start = today - datetime.timedelta(days=90)
    page.click("nav.qbo-dash-tabs >> text=Revenue overview")
    page.fill("#id_start", start.isoformat())
    page.fill("#id_end", today.isoformat())
    page.click("#dashboard-filter input[type=submit]")
    page.wait_for_url(f"**start={start.isoformat()}**")
    expected = _invoiced(start, today)
    assert page.locator("#total-invoiced").inner_text() == f"{expected:,.2f}"
    page.screenshot(path=str(artifacts / "overview-90-days.png"), full_page=True)

    # The revenue table as CSV, for the same range.
    with page.expect_download() as download_info:
        page.click("#table-revenue a.qbo-csv")
    download = download_info.value
    assert download.suggested_filename == f"overview-revenue-{start.isoformat()}-{today.isoformat()}.csv"
    saved = artifacts / download.suggested_filename
    download.save_as(saved)
    rows = list(csv.reader(saved.read_text(encoding="utf-8").splitlines()))
    assert rows[0] == ["Month", "Invoiced", "Collected"]
    assert rows[-1][0] == "Total" and Decimal(rows[-1][1]) == expected
    assert errors == []
