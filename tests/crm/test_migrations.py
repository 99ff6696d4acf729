"""The plan-schema migration keeps every row's data: renamed columns keep their values and the old combined invoice
status splits into lifecycle and payment status."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("crm", "0002_roles")]
AFTER = [("crm", "0003_plan_schema")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def migrated_back_to_latest():
    """Going back to crm 0002 also unapplies every migration that depends on the CRM (the integration's included):
    leave the database fully migrated for the tests after this one."""
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_plan_schema_migration_preserves_data(migrated_back_to_latest):
    old = _migrate(BEFORE)
    contact = old.get_model("crm", "Contact").objects.create(first_name="Ada")
    product = old.get_model("crm", "Product").objects.create(name="Epoxy", unit_cost=Decimal("12.50000"))
    quote = old.get_model("crm", "Quote").objects.create(
        contact=contact, total=Decimal("106.25"), terms="Net 15", expiry_date=datetime.date(2025, 7, 1)
    )
    old.get_model("crm", "QuoteItem").objects.create(quote=quote, product=product, line_amount=Decimal("100.00"))
    Invoice = old.get_model("crm", "Invoice")
    statuses = ["draft", "sent", "partially_paid", "paid", "overdue", "void"]
    invoices = {s: Invoice.objects.create(contact=contact, status=s, total=Decimal("100.00")) for s in statuses}
    payment = old.get_model("crm", "Payment").objects.create(
        contact=contact, amount=Decimal("100.00"), payment_date=datetime.date(2025, 6, 3)
    )
    old.get_model("crm", "PaymentApplication").objects.create(
        payment=payment, invoice=invoices["paid"], amount=Decimal("100.00")
    )

    new = _migrate(AFTER)
    assert new.get_model("crm", "Product").objects.get(pk=product.pk).cost == Decimal("12.50000")
    quote = new.get_model("crm", "Quote").objects.get(pk=quote.pk)
    assert (quote.total_amount, quote.payment_terms, quote.expiration_date) == (
        Decimal("106.25"),
        "Net 15",
        datetime.date(2025, 7, 1),
    )
    assert new.get_model("crm", "QuoteItem").objects.get(quote=quote).line_total == Decimal("100.00")
    Invoice = new.get_model("crm", "Invoice")
    split = {
        s: (Invoice.objects.get(pk=i.pk).status, Invoice.objects.get(pk=i.pk).payment_status)
        for s, i in invoices.items()
    }
    assert split == {
        "draft": ("draft", "unpaid"),
        "sent": ("sent", "unpaid"),
        "partially_paid": ("sent", "partial"),
        "paid": ("sent", "paid"),
        "overdue": ("sent", "overdue"),
        "void": ("void", "unpaid"),
    }
    assert Invoice.objects.get(pk=invoices["paid"].pk).paid_date == datetime.date(2025, 6, 3)

    old = _migrate(BEFORE)  # and back
    assert old.get_model("crm", "Invoice").objects.get(pk=invoices["overdue"].pk).status == "overdue"
    _migrate(AFTER)
