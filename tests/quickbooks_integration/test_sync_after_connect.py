"""After Connect, nobody has to ask: the initial sync queues the customers and items imports (issue 10's "today,
after Connect, 0 of the contacts is linked"), then the estimates, invoices and payments (issue 11). The test settings
turn this off for every other test."""

from __future__ import annotations

import pytest

from crm.models import Contact, Invoice, Payment, Product, Quote
from quickbooks_integration.models import QuickBooksAuth, SyncRun

from .conftest import oauth_flow

pytestmark = pytest.mark.django_db


def test_connecting_imports_customers_items_then_sales(
    emulator, su_client, settings, django_capture_on_commit_callbacks
):
    settings.QUICKBOOKS_SYNC_AFTER_CONNECT = True

    with django_capture_on_commit_callbacks(execute=True):  # tasks run inline in the tests
        response, _ = oauth_flow(su_client, emulator)

    assert response.status_code == 302
    connection = QuickBooksAuth.objects.get(company_id=emulator.realm_id)
    runs = {run.kind: run for run in SyncRun.objects.filter(connection=connection)}
    assert set(runs) == {"initial", "customers", "items", "estimates", "invoices", "payments"}
    assert {run.status for run in runs.values()} == {SyncRun.Status.SUCCEEDED}
    order = ["customers", "items", "estimates", "invoices", "payments"]
    assert sorted(order, key=lambda kind: runs[kind].pk) == order
    top_level = connection.ledger.filter(entity_type="Customer", payload__Job=False, payload__Active=True).count()
    assert Contact.objects.filter(quickbooks_customer_id__isnull=False).count() == top_level > 0
    assert Product.objects.filter(quickbooks_item_id__isnull=False).exists()
    for model, field in (
        (Quote, "quickbooks_estimate_id"),
        (Invoice, "quickbooks_invoice_id"),
        (Payment, "quickbooks_payment_id"),
    ):
        assert model.objects.filter(**{f"{field}__isnull": False}).exists(), model.__name__
