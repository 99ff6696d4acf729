"""The admin works under its Content-Security-Policy in Chromium: the pages people use most raise no CSP violation
and log no console error.

The header alone (tests/ops/test_pages.py) cannot show that a page works under it: only a browser reports what the
policy refused (an inline script, a `javascript:` link, an inline handler, a style or image from elsewhere). An init
script records every `securitypolicyviolation` event on `window` before the page's own scripts run; console errors
and uncaught exceptions are collected beside them.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.crm.factories import ContactFactory, InvoiceFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(
    `${event.violatedDirective} blocked ${event.blockedURI || "inline"} at ${event.sourceFile}:${event.lineNumber}`
    + (event.sample ? ` (${event.sample})` : "")
  );
});
"""


@pytest.fixture
def browsing(page):
    """The page with the recorder installed, and the list its console errors and uncaught exceptions arrive in."""
    errors: list[str] = []
    page.add_init_script(RECORD_VIOLATIONS)
    page.on(
        "console",
        lambda message: (
            errors.append(f"{message.text} ({message.location['url']}, on {page.url})")
            if message.type == "error"
            else None
        ),
    )
    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
    return page, errors


def _visit(page, url: str) -> None:
    response = page.goto(url)
    assert response.status == 200, url
    assert "script-src 'self'" in response.headers["content-security-policy"]  # the policy is really in force
    page.wait_for_load_state("networkidle")  # scripts loaded, ran, and fetched what they fetch


def _violations(page) -> list[str]:
    return page.evaluate("window.__cspViolations")


def test_admin_pages_raise_no_csp_violation_in_chromium(browsing, live_server, django_user_model):
    page, errors = browsing
    django_user_model.objects.create_superuser("admin", "admin@example.com", "pw-admin-12345")
    contact = ContactFactory(first_name="Ada", last_name="Lovelace", phone="(617) 555-0134")
    invoice = InvoiceFactory(contact=contact, items=[("2", "450")])

    _visit(page, f"{live_server.url}{reverse('admin:login')}")
    violations = {"login": _violations(page)}
    page.fill("#id_username", "admin")
    page.fill("#id_password", "pw-admin-12345")
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}{reverse('admin:index')}")
    pages = {
        "admin index": reverse("admin:index"),
        "contact list": reverse("admin:crm_contact_changelist"),
        "contact list, searched": reverse("admin:crm_contact_changelist") + "?q=617-555-0134",
        "contact change page": reverse("admin:crm_contact_change", args=[contact.pk]),
        "invoice list": reverse("admin:crm_invoice_changelist"),
        "invoice change page": reverse("admin:crm_invoice_change", args=[invoice.pk]),
        "QuickBooks connection": reverse("admin:quickbooks_integration_quickbooksauth_changelist"),
        "Reconcile with QuickBooks": reverse("admin:quickbooks_integration_reconcile"),
    }
    for name, path in pages.items():
        _visit(page, f"{live_server.url}{path}")
        if name == "contact list":
            page.check("#action-toggle")  # actions.js: selecting every row
            assert page.inner_text(".action-counter").startswith("1 of 1 selected")
        if name == "invoice change page":
            page.click("#calendarlink0")  # the date widget builds its calendar from script
            page.wait_for_selector(".calendarbox", state="visible")
        violations[name] = _violations(page)

    assert {name: found for name, found in violations.items() if found} == {}
    assert errors == []
