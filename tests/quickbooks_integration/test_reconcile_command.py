"""`manage.py quickbooks_reconcile [--live]` against the emulator's sandbox company, after the real pulls."""

from __future__ import annotations

import uuid
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from crm.models import Contact, Invoice
from quickbooks_integration.models import QuickBooksSync, SyncRun
from quickbooks_integration.qbo.client import qbo_create
from quickbooks_integration.services.customers import customers_import_run
from quickbooks_integration.services.products import items_import_run
from quickbooks_integration.services.sales_pull import invoices_import_run, payments_import_run

pytestmark = pytest.mark.django_db


def _pulled(connected) -> None:
    """The sandbox's customers, items, invoices and payments pulled: the books agree to the cent."""
    assert customers_import_run(connection_id=connected.pk, full=True).status == SyncRun.Status.SUCCEEDED
    assert items_import_run(connection_id=connected.pk, full=True).status == SyncRun.Status.SUCCEEDED
    for run_import in (invoices_import_run, payments_import_run):
        assert run_import(connection_id=connected.pk, full=True).status == SyncRun.Status.SUCCEEDED


def _payment_in_quickbooks(connected, invoice: Invoice) -> None:
    """30.00 paid against `invoice` (of customer 16) in QuickBooks, which no pull has brought yet."""
    qbo_create(
        connection=connected,
        entity="Payment",
        request_id=uuid.uuid4().hex,
        payload={
            "CustomerRef": {"value": "16"},
            "TotalAmt": "30.00",
            "Line": [
                {"Amount": "30.00", "LinkedTxn": [{"TxnId": invoice.quickbooks_invoice_id, "TxnType": "Invoice"}]}
            ],
        },
    )


def _reconcile(*args: str) -> tuple[str, int]:
    out = StringIO()
    try:
        call_command("quickbooks_reconcile", *args, stdout=out)
    except CommandError as exc:
        return out.getvalue() + str(exc), exc.returncode
    return out.getvalue(), 0


def test_agreeing_books_print_no_difference_and_exit_0_without_api_calls(connected, emulator):
    _pulled(connected)
    emulator.control.clear_requests()

    output, code = _reconcile()

    assert code == 0
    assert "no differences" in output
    assert emulator.control.requests() == []


def test_each_difference_is_printed_and_exits_1(connected):
    _pulled(connected)  # the books agree; then QBO's last copy of invoice 130 says 10.00 more, and a contact owes more
    invoice = Invoice.objects.get(quickbooks_invoice_id="130")
    copy = QuickBooksSync.objects.get(connection=connected, entity_type="Invoice", entity_id="130")
    copy.payload = {**copy.payload, "TotalAmt": "372.07", "Balance": "372.07"}
    copy.save(update_fields=["payload"])
    contact = Contact.objects.get(quickbooks_customer_id="16")
    Contact.objects.filter(pk=contact.pk).update(outstanding_balance=Decimal("100.00"))

    output, code = _reconcile()

    assert code == 1
    assert f"invoice {invoice} (QuickBooks 130): total CRM 362.07, QuickBooks 372.07" in output
    assert f"invoice {invoice} (QuickBooks 130): balance CRM 362.07, QuickBooks 372.07" in output
    assert f"contact {contact} (QuickBooks customer 16): balance CRM 100.00, QuickBooks 75.00" in output
    invoices = Invoice.objects.exclude(quickbooks_invoice_id=None).count()
    contacts = Contact.objects.exclude(quickbooks_customer_id=None).count()
    assert f"{invoices} invoices and {contacts} contacts compared; 3 differences." in output
    assert "3 difference(s)" in output


def test_live_reads_qbo_once_per_1000_and_sees_what_no_pull_brought(connected, emulator):
    _pulled(connected)
    invoice = Invoice.objects.filter(balance_due__gt=0, contact__quickbooks_customer_id="16").get()
    _payment_in_quickbooks(connected, invoice)
    assert _reconcile()[1] == 0  # the ledger has not seen the payment yet
    emulator.control.clear_requests()

    output, code = _reconcile("--live")

    assert code == 1
    contact = Contact.objects.get(quickbooks_customer_id="16")
    assert output.splitlines()[:2] == [
        f"invoice {invoice} (QuickBooks {invoice.quickbooks_invoice_id}): balance CRM 75.00, QuickBooks 45.00",
        f"contact {contact} (QuickBooks customer 16): balance CRM 75.00, QuickBooks 45.00",
    ]
    assert emulator.control.count("/query") == 2  # 37 invoices, 29 customers: one page each

    assert payments_import_run(connection_id=connected.pk).status == SyncRun.Status.SUCCEEDED
    output, code = _reconcile("--live")
    assert output.splitlines()[0].startswith(f"contact {contact}")  # the invoice agrees; the contact waits for the
    assert code == 1  # customers import, which writes QBO's balance on a linked contact
    assert customers_import_run(connection_id=connected.pk).status == SyncRun.Status.SUCCEEDED
    assert _reconcile("--live")[1] == 0
