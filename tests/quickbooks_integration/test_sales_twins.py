"""Documents typed in both systems, estimate status, documents waiting for a contact, and the retry of a total QBO
disagreed with (services/sales_pull.py decisions 2, 5, 7, 8; services/sales_twins.py).

Against the emulator's sandbox company over real HTTP, with contacts linked by the real customers import: the CRM's
own rows are made first, as a business that typed its documents in both systems would have them.
"""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal

import pytest

from crm.models import Contact, Invoice, Payment, PaymentStatus, Quote, QuoteStatus
from quickbooks_integration.models import AuditEvent, QuickBooksSync, SyncFailure, SyncRun
from quickbooks_integration.qbo.client import qbo_create, qbo_query, qbo_read, qbo_update
from quickbooks_integration.services.customers import customers_import_run
from quickbooks_integration.services.estimates import estimate_marker, quote_status_pulled
from quickbooks_integration.services.failures import failure_retry
from quickbooks_integration.services.products import items_import_run
from quickbooks_integration.services.sales_pull import (
    DOUBT_ACTION,
    TWIN_ACTION,
    estimates_import_run,
    invoices_import_run,
    payments_import_run,
)
from tests.crm.factories import InvoiceFactory, PaymentFactory, QuoteFactory, UserFactory

pytestmark = pytest.mark.django_db

D = Decimal


def _link_everything(connected) -> None:
    assert customers_import_run(connection_id=connected.pk, full=True).status == SyncRun.Status.SUCCEEDED
    assert items_import_run(connection_id=connected.pk, full=True).status == SyncRun.Status.SUCCEEDED


def _run(run_import, connected, *, full: bool = True) -> SyncRun:
    run = run_import(connection_id=connected.pk, full=full)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    return run


def _qbo(connected, entity: str, customer: str) -> dict:
    """The customer's only document of `entity` in the sandbox."""
    rows = [
        row
        for row in qbo_query(connection=connected, sql=f"SELECT * FROM {entity} ORDERBY Id")  # noqa: S608
        if row["CustomerRef"]["value"] == customer
    ]
    assert len(rows) == 1, rows
    return rows[0]


def _contact(customer: str) -> Contact:
    return Contact.objects.get(quickbooks_customer_id=customer)


def _day(value: str) -> datetime.date:
    return datetime.date.fromisoformat(value[:10])


# ---------------------------------------------------------------------------------------------------- twins


def test_an_invoice_typed_in_both_systems_with_its_number_is_linked_not_copied(connected):
    _link_everything(connected)
    qbo = _qbo(connected, "Invoice", "16")  # 75.00, open
    mine = InvoiceFactory(
        contact=_contact("16"), invoice_number=f" {qbo['DocNumber']} ", items=[("2", "30")], tax_rate=D("0")
    )

    run = _run(invoices_import_run, connected)

    assert (run.stats["matched"], run.stats["created"]) == (1, 36)
    assert Invoice.objects.count() == 37  # QBO's 37, of which one is the CRM's own row
    mine.refresh_from_db()
    assert mine.quickbooks_invoice_id == qbo["Id"] and mine.invoice_number == qbo["DocNumber"]
    assert mine.total_amount == mine.balance_due == D(str(qbo["TotalAmt"])).quantize(D("0.01"))  # QBO's lines now
    audit = AuditEvent.objects.get(action=TWIN_ACTION)
    assert audit.object_id == str(mine.pk) and f"same number {qbo['DocNumber']} and customer" in audit.message
    assert QuickBooksSync.objects.get(entity_type="Invoice", entity_id=qbo["Id"]).local_id == mine.pk
    assert _run(invoices_import_run, connected).stats["matched"] == 0  # linked now: a second pull only compares


def test_the_same_contact_date_and_total_link_and_two_candidates_are_a_doubt(connected):
    _link_everything(connected)
    qbo_16, qbo_25 = _qbo(connected, "Invoice", "16"), _qbo(connected, "Invoice", "25")  # 75.00 and 160.00
    only = InvoiceFactory(
        contact=_contact("16"),
        invoice_number="CRM-7",
        issue_date=_day(qbo_16["TxnDate"]),
        items=[("1", "75")],
        tax_rate=D("0"),
    )
    doubts = [
        InvoiceFactory(
            contact=_contact("25"),
            invoice_number=f"CRM-{n}",
            issue_date=_day(qbo_25["TxnDate"]),
            items=[("1", "160")],
            tax_rate=D("0"),
        )
        for n in (8, 9)
    ]

    run = _run(invoices_import_run, connected)

    only.refresh_from_db()
    assert only.quickbooks_invoice_id == qbo_16["Id"] and run.stats["matched"] == 1
    assert all(Invoice.objects.get(pk=d.pk).quickbooks_invoice_id is None for d in doubts)
    created = Invoice.objects.get(quickbooks_invoice_id=qbo_25["Id"])
    assert created.pk not in {d.pk for d in doubts} and run.stats["doubtful"] == 1
    assert "date" in AuditEvent.objects.get(action=TWIN_ACTION).message
    warning = AuditEvent.objects.get(action=DOUBT_ACTION)  # on the new invoice's history, naming both candidates
    assert warning.object_id == str(created.pk) and warning.outcome == AuditEvent.Outcome.WARNING
    assert warning.after["candidates"] == [d.pk for d in doubts] and "CRM-8" in warning.message


def test_an_estimate_bearing_the_crms_marker_is_the_quote_whatever_its_number(connected):
    """The CRM pushed this quote and lost QBO's answer: the pull must not add a second quote."""
    _link_everything(connected)
    quote = QuoteFactory(contact=_contact("16"), quote_number="Q-LOST", items=[("1", "75")], tax_rate=D("0"))
    made = qbo_create(
        connection=connected,
        entity="Estimate",
        request_id=uuid.uuid4().hex,
        payload={
            "CustomerRef": {"value": "16"},
            "DocNumber": "9001",
            "PrivateNote": estimate_marker(quote),
            "Line": [
                {
                    "DetailType": "SalesItemLineDetail",
                    "Amount": "80.00",
                    "SalesItemLineDetail": {"ItemRef": {"value": "4"}, "Qty": 1, "UnitPrice": 80},
                }
            ],
        },
    )

    run = _run(estimates_import_run, connected)

    quote.refresh_from_db()
    assert quote.quickbooks_estimate_id == made["Id"] and run.stats["matched"] == 1
    assert Quote.objects.count() == 7  # the sandbox's 6 and this one, once
    assert quote.total_amount == D("80.00") and quote.status == QuoteStatus.SENT
    assert "marker" in AuditEvent.objects.get(action=TWIN_ACTION).message


def test_a_payment_typed_in_both_systems_is_linked_and_takes_qbos_applications(connected):
    _link_everything(connected)
    _run(invoices_import_run, connected)
    qbo = _qbo(connected, "Payment", "20")  # Red Rock Diner: 55.00 of a 71.00 invoice
    invoice = Invoice.objects.get(quickbooks_invoice_id=qbo["Line"][0]["LinkedTxn"][0]["TxnId"])
    mine = PaymentFactory(contact=_contact("20"), amount=D(str(qbo["TotalAmt"])), payment_date=_day(qbo["TxnDate"]))

    run = _run(payments_import_run, connected)

    mine.refresh_from_db()
    assert mine.quickbooks_payment_id == qbo["Id"] and run.stats["matched"] == 1
    assert Payment.objects.filter(contact=_contact("20")).count() == 1
    invoice.refresh_from_db()
    assert (invoice.amount_paid, invoice.balance_due, invoice.payment_status) == (
        D("55.00"),
        D("16.00"),
        PaymentStatus.OVERDUE,
    )


# ---------------------------------------------------------------------------------------------------- status


@pytest.mark.parametrize(
    ("current", "txn_status", "expected"),
    [
        (None, "Pending", QuoteStatus.SENT),
        (None, "Accepted", QuoteStatus.ACCEPTED),
        (QuoteStatus.DRAFT, "Pending", QuoteStatus.DRAFT),
        (QuoteStatus.ACCEPTED, "Pending", QuoteStatus.ACCEPTED),  # the CRM heard it by phone; QBO was not told
        (QuoteStatus.SENT, "Accepted", QuoteStatus.ACCEPTED),
        (QuoteStatus.SENT, "Rejected", QuoteStatus.DECLINED),
        (QuoteStatus.ACCEPTED, "Closed", QuoteStatus.CONVERTED),
        (QuoteStatus.CONVERTED, "Rejected", QuoteStatus.CONVERTED),  # its invoice exists
    ],
)
def test_quote_status_pulled(current, txn_status, expected):
    assert quote_status_pulled(current, txn_status) == expected


def test_an_estimate_accepted_in_quickbooks_accepts_the_quote(connected):
    _link_everything(connected)
    _run(estimates_import_run, connected)
    quote = Quote.objects.filter(status=QuoteStatus.SENT).order_by("pk").first()
    current = qbo_read(connection=connected, entity="Estimate", entity_id=quote.quickbooks_estimate_id)
    qbo_update(
        connection=connected,
        entity="Estimate",
        request_id=uuid.uuid4().hex,
        payload={"Id": current["Id"], "SyncToken": current["SyncToken"], "sparse": True, "TxnStatus": "Accepted"},
    )

    run = _run(estimates_import_run, connected, full=False)

    assert run.cursor["mode"] == "cdc" and run.stats["updated"] == 1
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.ACCEPTED


# ---------------------------------------------------------------------------------------------------- waiting


def test_a_changes_run_applies_documents_that_waited_for_their_contact(connected):
    """Skipped while their customers had no contact; CDC will not read them again, the run's last step does."""
    assert items_import_run(connection_id=connected.pk, full=True).status == SyncRun.Status.SUCCEEDED
    assert _run(invoices_import_run, connected).stats["unlinked_customer"] == 37
    assert customers_import_run(connection_id=connected.pk, full=True).status == SyncRun.Status.SUCCEEDED

    run = _run(invoices_import_run, connected, full=False)

    assert run.cursor["mode"] == "cdc" and run.stats["created"] == 37
    assert Invoice.objects.count() == 37
    assert _run(invoices_import_run, connected, full=False).stats["created"] == 0


def test_a_payment_of_an_invoice_pulled_later_is_completed_by_the_next_changes_run(connected):
    _link_everything(connected)
    first = _run(payments_import_run, connected)  # before any invoice: applied in part, a failure row each
    assert first.stats["failed"] == 21 and not Invoice.objects.exists()
    _run(invoices_import_run, connected)

    run = _run(payments_import_run, connected, full=False)

    assert run.cursor["mode"] == "cdc" and run.stats["failed"] == 0
    assert Invoice.objects.filter(payment_status=PaymentStatus.PAID).count() == 19
    assert not SyncFailure.objects.filter(kind="sales_pull", resolved_at__isnull=True).exists()
    assert not QuickBooksSync.objects.filter(entity_type="Payment", sync_status=QuickBooksSync.Status.ERROR).exists()


# ---------------------------------------------------------------------------------------------------- retry


def test_retrying_a_pulled_total_reads_the_invoice_again_and_resolves_once_they_agree(
    connected, django_capture_on_commit_callbacks
):
    _link_everything(connected)
    _run(invoices_import_run, connected)
    line = {
        "DetailType": "SalesItemLineDetail",
        "Amount": "100.00",
        "SalesItemLineDetail": {"ItemRef": {"value": "4"}, "Qty": 1, "UnitPrice": 100},
    }
    discount = {
        "DetailType": "DiscountLineDetail",
        "Amount": "10.00",
        "DiscountLineDetail": {"PercentBased": True, "DiscountPercent": 10},
    }
    made = qbo_create(
        connection=connected,
        entity="Invoice",
        request_id=uuid.uuid4().hex,
        payload={"CustomerRef": {"value": "16"}, "Line": [line, discount]},
    )
    _run(invoices_import_run, connected, full=False)
    failure = SyncFailure.objects.get(kind="invoice_total", resolved_at__isnull=True, entity_id=made["Id"])
    # The bookkeeper removes the discount in QuickBooks (no webhook, no sync yet), then presses Retry.
    current = qbo_read(connection=connected, entity="Invoice", entity_id=made["Id"])
    qbo_update(
        connection=connected,
        entity="Invoice",
        request_id=uuid.uuid4().hex,
        payload={
            "Id": made["Id"],
            "SyncToken": current["SyncToken"],
            "CustomerRef": {"value": "16"},
            "Line": [line],
        },
    )
    owner = UserFactory(username="owner", is_superuser=True, is_staff=True)

    with django_capture_on_commit_callbacks(execute=True):  # the re-read is a task, run inline in the tests
        message = failure_retry(failure=failure, actor=owner)

    assert message == f"invoice {made['Id']} will be read again from QuickBooks"
    failure.refresh_from_db()
    assert failure.resolved_at is not None and "100.00" in failure.resolution
    assert Invoice.objects.get(quickbooks_invoice_id=made["Id"]).total_amount == D("100.00")
