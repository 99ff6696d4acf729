"""QBO estimates, invoices and payments → the CRM (services/sales_pull.py).

The mapping is proven on QBO's saved samples; the pulls run against the emulator's sandbox company over real HTTP
(its 6 estimates, 37 invoices and 21 payments, API.md §9), with contacts linked by the real customers import.
"""

from __future__ import annotations

import copy
import json
import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from crm.models import Contact, Invoice, InvoiceStatus, Payment, PaymentStatus, Quote, QuoteStatus
from crm.services.documents import document_totals
from qbo_emulator.webhooks import sign
from quickbooks_integration.models import QuickBooksSync, SyncFailure, SyncRun
from quickbooks_integration.qbo.client import qbo_batch, qbo_call, qbo_create, qbo_read, qbo_update
from quickbooks_integration.services.customers import customers_import_run
from quickbooks_integration.services.products import items_import_run
from quickbooks_integration.services.sales_mapping import (
    document_is_voided,
    document_lines_from_qbo,
    document_tax_rate,
    invoice_fields_from_qbo,
    payment_applications_from_qbo,
    payment_fields_from_qbo,
    quote_fields_from_estimate,
)
from quickbooks_integration.services.sales_pull import estimates_import_run, invoices_import_run, payments_import_run
from quickbooks_integration.tasks import webhook_events_process_task

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "qbo"


def sample(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


class _Line:
    def __init__(self, fields: dict) -> None:
        self.quantity, self.unit_price, self.taxable = fields["quantity"], fields["unit_price"], fields["taxable"]


# ---------------------------------------------------------------------------------------------------- mapping


def test_estimate_sample_maps_to_quote_fields_and_lines_without_touching_it():
    estimate = sample("estimate_read.json")["Estimate"]
    before = copy.deepcopy(estimate)

    fields = quote_fields_from_estimate(estimate)
    lines = document_lines_from_qbo(estimate)

    assert estimate == before
    assert fields["quote_number"] == "1001"
    assert fields["status"] == QuoteStatus.SENT  # TxnStatus Pending
    assert str(fields["issue_date"]) == "2015-03-26"
    assert fields["tax_rate"] == Decimal("0.0000")
    assert fields["quickbooks_estimate_id"] == "177"
    assert lines == [
        {
            "item_id": "10",
            "description": "Pest Control Services",
            "quantity": Decimal("1.0000"),
            "unit_price": Decimal("35.00000"),
            "taxable": False,
            "line_total": Decimal("35.00"),
            "position": 0,
            "quickbooks_line_id": "1",
        }
    ]
    # The sample's 10 % discount line has no CRM row: its TotalAmt (31.50) cannot be the CRM's 35.00.
    assert document_totals(lines=[_Line(f) for f in lines], tax_rate=fields["tax_rate"]).total_amount == Decimal(
        "35.00"
    )


def test_invoice_sample_totals_equal_qbo_to_the_cent():
    invoice = sample("invoice_read.json")["Invoice"]
    before = copy.deepcopy(invoice)

    fields = invoice_fields_from_qbo(invoice)
    lines = document_lines_from_qbo(invoice)

    assert invoice == before
    assert fields["invoice_number"] == "1037"
    assert fields["status"] == InvoiceStatus.SENT
    assert str(fields["due_date"]) == "2014-10-19"
    assert document_tax_rate(invoice) == Decimal("8.0000")
    assert [(line["item_id"], line["quantity"], line["line_total"]) for line in lines] == [
        ("5", Decimal("1.0000"), Decimal("275.00")),
        ("11", Decimal("1.0000"), Decimal("12.75")),
        ("3", Decimal("5.0000"), Decimal("47.50")),
    ]
    assert all(line["taxable"] for line in lines)
    totals = document_totals(lines=[_Line(f) for f in lines], tax_rate=fields["tax_rate"])
    assert (totals.subtotal, totals.tax_amount, totals.total_amount) == (
        Decimal("335.25"),
        Decimal("26.82"),
        Decimal("362.07"),
    )


def test_voided_invoice_sample_is_void_with_a_zero_total():
    invoice = sample("invoice_void_response.json")["Invoice"]

    fields = invoice_fields_from_qbo(invoice)
    lines = document_lines_from_qbo(invoice)

    assert document_is_voided(invoice)
    assert not document_is_voided(sample("invoice_create_minimal_response.json")["Invoice"])
    assert fields["status"] == InvoiceStatus.VOID
    assert [line["line_total"] for line in lines] == [Decimal("0.00")]
    assert document_totals(lines=[_Line(f) for f in lines], tax_rate=fields["tax_rate"]).total_amount == Decimal("0.00")


def test_payment_sample_maps_to_payment_and_its_applications():
    payment = sample("payment_read.json")["Payment"]
    before = copy.deepcopy(payment)

    fields = payment_fields_from_qbo(payment)

    assert payment == before
    assert fields["amount"] == Decimal("65.00")
    assert str(fields["payment_date"]) == "2015-01-16"
    assert fields["quickbooks_payment_id"] == "163"
    assert payment_applications_from_qbo(payment) == {"70": Decimal("55.00")}


# ---------------------------------------------------------------------------------------------------- the pulls


def _link_everything(connected) -> None:
    assert customers_import_run(connection_id=connected.pk, full=True).status == SyncRun.Status.SUCCEEDED
    assert items_import_run(connection_id=connected.pk, full=True).status == SyncRun.Status.SUCCEEDED


def _pull_all(connected, *, full: bool) -> dict[str, SyncRun]:
    runs = {}
    for name, run_import in (
        ("estimates", estimates_import_run),
        ("invoices", invoices_import_run),
        ("payments", payments_import_run),
    ):
        runs[name] = run_import(connection_id=connected.pk, full=full)
        assert runs[name].status == SyncRun.Status.SUCCEEDED, runs[name].error
    return runs


def _contact_of(customer_id: str) -> Contact:
    return Contact.objects.get(quickbooks_customer_id=customer_id)


def test_full_pull_links_documents_to_contacts_and_quotes_and_applies_payments(connected, emulator):
    _link_everything(connected)
    emulator.control.clear_requests()

    runs = _pull_all(connected, full=True)

    assert runs["invoices"].stats["documents"] == Invoice.objects.count() == 37
    assert runs["estimates"].stats["documents"] == Quote.objects.count() == 6
    assert runs["payments"].stats["documents"] == Payment.objects.count() == 21
    for run in runs.values():
        assert run.stats["api_minimum"] == 2  # COUNT + one page
        assert run.api_calls == 2
        assert run.stats["failed"] == 0 and run.stats["unlinked_customer"] == 0
    assert emulator.control.count("/query") == 6
    # Every CRM invoice and quote equals QBO's total (and balance) to the cent. The sandbox taxes customers whose
    # Taxable is false: that flag alone is no exemption (customer_links), so the CRM charges the same tax.
    ledger = {e.entity_id: e.payload for e in QuickBooksSync.objects.filter(entity_type__in=["Invoice", "Estimate"])}
    for invoice in Invoice.objects.select_related("contact"):
        data = ledger[invoice.quickbooks_invoice_id]
        assert invoice.total_amount == Decimal(str(data["TotalAmt"])).quantize(Decimal("0.01"))
        assert invoice.balance_due == Decimal(str(data["Balance"])).quantize(Decimal("0.01"))
    for quote in Quote.objects.all():
        assert quote.total_amount == Decimal(str(ledger[quote.quickbooks_estimate_id]["TotalAmt"])), quote
    assert runs["invoices"].stats["total_mismatch"] == runs["estimates"].stats["total_mismatch"] == 0
    assert not SyncFailure.objects.filter(resolved_at__isnull=True).exists()
    # Invoice 1037 (Sonnenschein, 362.07 in QBO) came from estimate 100: linked to its quote.
    invoice = Invoice.objects.get(quickbooks_invoice_id="130")
    quote = Quote.objects.get(quickbooks_estimate_id="100")
    assert invoice.quote_id == quote.pk and invoice.contact == _contact_of("24") == quote.contact
    assert invoice.subtotal == Decimal("335.25") and invoice.tax_rate == Decimal("8.0000")
    assert invoice.total_amount == Decimal("362.07")
    assert quote.status == QuoteStatus.CONVERTED and quote.subtotal  # Closed: invoice 1037 was made from it
    assert quote.subtotal == Decimal("325.75")
    assert invoice.items.filter(product__quickbooks_item_id="5").get().line_total == Decimal("275.00")
    # A job's invoice belongs to the parent's contact (customer 9 is a job of 7).
    job_invoice = Invoice.objects.get(quickbooks_invoice_id=ledger_id_of(customer="9"))
    assert job_invoice.contact == _contact_of("7")
    # Red Rock Diner's 71.00 invoice, 55.00 paid: partial money, overdue by date.
    partial = Invoice.objects.get(contact=_contact_of("20"), amount_paid=Decimal("55.00"))
    assert partial.total_amount == Decimal("71.00") and partial.balance_due == Decimal("16.00")
    assert partial.payment_status == PaymentStatus.OVERDUE and partial.paid_date is None
    paid = Invoice.objects.filter(payment_status=PaymentStatus.PAID)
    assert paid.count() == 19
    assert all(i.paid_date == i.payments.get().payment_date for i in paid)


def ledger_id_of(*, customer: str) -> str:
    for entry in QuickBooksSync.objects.filter(entity_type="Invoice"):
        if entry.payload["CustomerRef"]["value"] == customer:
            return entry.entity_id
    raise AssertionError(f"no invoice of customer {customer}")


def test_second_full_pull_changes_nothing(connected):
    _link_everything(connected)
    _pull_all(connected, full=True)
    before = list(Invoice.objects.order_by("pk").values_list("pk", "total_amount", "balance_due", "updated_at"))

    runs = _pull_all(connected, full=True)

    assert runs["invoices"].stats["unchanged"] == 37 and runs["invoices"].stats["updated"] == 0
    assert list(Invoice.objects.order_by("pk").values_list("pk", "total_amount", "balance_due", "updated_at")) == (
        before
    )


def _void(connected, invoice_id: str) -> dict:
    current = qbo_read(connection=connected, entity="Invoice", entity_id=invoice_id)
    body = json.dumps({"Id": invoice_id, "SyncToken": current["SyncToken"]})
    return qbo_call(
        connection=connected,
        operation=lambda qb: qb.create_object(
            "Invoice", body, request_id=uuid.uuid4().hex, params={"operation": "void"}
        ),
    )["Invoice"]


def test_cdc_pulls_new_payments_voids_and_deletes(connected):
    _link_everything(connected)
    _pull_all(connected, full=True)
    open_invoice = Invoice.objects.get(quickbooks_invoice_id=ledger_id_of(customer="16"))  # 75.00, open
    paid_invoice = Invoice.objects.get(contact=_contact_of("20"), amount_paid=Decimal("55.00"))
    doomed = Invoice.objects.get(quickbooks_invoice_id=ledger_id_of(customer="25"))  # 160.00, open
    # In QBO: a payment of the rest of Red Rock's invoice, a full payment of 75.00, a void, a delete.
    for customer, invoice, amount in (("20", paid_invoice, "16.00"), ("16", open_invoice, "75.00")):
        qbo_create(
            connection=connected,
            entity="Payment",
            request_id=uuid.uuid4().hex,
            payload={
                "CustomerRef": {"value": customer},
                "TotalAmt": amount,
                "Line": [
                    {"Amount": amount, "LinkedTxn": [{"TxnId": invoice.quickbooks_invoice_id, "TxnType": "Invoice"}]}
                ],
            },
        )
    paid_payment = paid_invoice.payments.get()
    voided = Invoice.objects.get(quickbooks_invoice_id=ledger_id_of(customer="12"))  # 81.00, open
    _void(connected, voided.quickbooks_invoice_id)
    stub = qbo_read(connection=connected, entity="Invoice", entity_id=doomed.quickbooks_invoice_id)
    answer = qbo_batch(
        connection=connected,
        request_id=uuid.uuid4().hex[:30],
        items=[{"bId": "d1", "operation": "delete", "Invoice": {"Id": stub["Id"], "SyncToken": stub["SyncToken"]}}],
    )
    assert "Fault" not in answer[0]

    runs = _pull_all(connected, full=False)

    assert all(run.cursor["mode"] == "cdc" for run in runs.values())
    assert runs["payments"].stats["created"] == 2
    paid_invoice.refresh_from_db()
    open_invoice.refresh_from_db()
    assert paid_invoice.balance_due == Decimal("0.00") and paid_invoice.payment_status == PaymentStatus.PAID
    assert paid_invoice.payments.count() == 2 and paid_payment in paid_invoice.payments.all()
    assert open_invoice.payment_status == PaymentStatus.PAID and open_invoice.paid_date is not None
    voided.refresh_from_db()
    assert voided.status == InvoiceStatus.VOID and voided.total_amount == Decimal("0.00")
    assert voided.balance_due == Decimal("0.00")
    doomed.refresh_from_db()
    assert doomed.status == InvoiceStatus.VOID and "Deleted in QuickBooks" in doomed.notes
    assert runs["invoices"].stats["deleted"] == 1 and runs["invoices"].stats["voided"] == 1
    assert not SyncFailure.objects.filter(resolved_at__isnull=True, kind="sales_pull").exists()


def test_voiding_a_paid_invoice_unapplies_its_payment(connected):
    _link_everything(connected)
    _pull_all(connected, full=True)
    invoice = Invoice.objects.filter(payment_status=PaymentStatus.PAID).order_by("pk").first()
    payment = invoice.payments.get()

    _void(connected, invoice.quickbooks_invoice_id)
    _pull_all(connected, full=False)

    invoice.refresh_from_db()
    payment.refresh_from_db()
    assert invoice.status == InvoiceStatus.VOID and invoice.amount_paid == Decimal("0.00")
    assert not payment.applications.exists()  # QBO left the payment unapplied; so does the CRM


def test_documents_of_unlinked_customers_are_skipped_counted_and_applied_once_linked(connected):
    assert items_import_run(connection_id=connected.pk, full=True).status == SyncRun.Status.SUCCEEDED

    run = invoices_import_run(connection_id=connected.pk, full=True)

    assert run.stats["unlinked_customer"] == 37 and run.stats["failed"] == 0
    assert not Invoice.objects.exists()
    assert QuickBooksSync.objects.filter(entity_type="Invoice", local_id__isnull=True).count() == 37
    assert not SyncFailure.objects.filter(entity_type="Invoice").exists()  # counted, not a failure row

    assert customers_import_run(connection_id=connected.pk, full=True).status == SyncRun.Status.SUCCEEDED
    run = invoices_import_run(connection_id=connected.pk, full=True)

    assert run.stats["created"] == 37 and Invoice.objects.count() == 37


def test_a_total_the_crm_cannot_reproduce_is_a_failure_row(connected):
    _link_everything(connected)
    _pull_all(connected, full=True)
    made = qbo_create(
        connection=connected,
        entity="Invoice",
        request_id=uuid.uuid4().hex,
        payload={
            "CustomerRef": {"value": "16"},
            "Line": [
                {
                    "DetailType": "SalesItemLineDetail",
                    "Amount": "100.00",
                    "SalesItemLineDetail": {"ItemRef": {"value": "4"}, "Qty": 1, "UnitPrice": 100},
                },
                {
                    "DetailType": "DiscountLineDetail",
                    "Amount": "10.00",
                    "DiscountLineDetail": {"PercentBased": True, "DiscountPercent": 10},
                },
            ],
        },
    )

    run = invoices_import_run(connection_id=connected.pk, full=False)

    assert run.stats["total_mismatch"] == 1
    failure = SyncFailure.objects.get(kind="invoice_total", resolved_at__isnull=True, entity_id=made["Id"])
    invoice = Invoice.objects.get(quickbooks_invoice_id=made["Id"])
    assert invoice.total_amount == Decimal("100.00")  # the CRM's own figures, QBO's 90.00 named in the failure
    assert "90.00" in failure.message and "100.00" in failure.message


def test_payment_webhooks_reach_the_invoice(connected, emulator, client):
    _link_everything(connected)
    _pull_all(connected, full=True)
    invoice = Invoice.objects.get(quickbooks_invoice_id=ledger_id_of(customer="16"))  # 75.00, open
    payment = qbo_create(
        connection=connected,
        entity="Payment",
        request_id=uuid.uuid4().hex,
        payload={
            "CustomerRef": {"value": "16"},
            "TotalAmt": "75.00",
            "Line": [
                {"Amount": "75.00", "LinkedTxn": [{"TxnId": invoice.quickbooks_invoice_id, "TxnType": "Invoice"}]}
            ],
        },
    )
    changes = [{"name": "Payment", "id": payment["Id"], "operation": "Create", "lastUpdated": "2026-12-01T10:00:00Z"}]
    body = json.dumps(
        {"eventNotifications": [{"realmId": connected.realm_id, "dataChangeEvent": {"entities": changes}}]}
    ).encode()

    response = client.post(
        "/webhooks/quickbooks/",
        data=body,
        content_type="application/json",
        HTTP_INTUIT_SIGNATURE=sign(body, emulator.verifier_token),
    )
    webhook_events_process_task(connected.realm_id)

    assert response.status_code == 200
    invoice.refresh_from_db()
    assert invoice.payment_status == PaymentStatus.PAID and invoice.balance_due == Decimal("0.00")
    assert Payment.objects.get(quickbooks_payment_id=payment["Id"]).amount == Decimal("75.00")


def test_an_update_in_qbo_keeps_a_crm_draft_a_draft_and_replaces_its_lines(connected):
    _link_everything(connected)
    _pull_all(connected, full=True)
    invoice = Invoice.objects.get(quickbooks_invoice_id=ledger_id_of(customer="16"))  # 75.00, one line
    Invoice.objects.filter(pk=invoice.pk).update(status=InvoiceStatus.DRAFT)
    current = qbo_read(connection=connected, entity="Invoice", entity_id=invoice.quickbooks_invoice_id)
    line = current["Line"][0]
    line["SalesItemLineDetail"]["Qty"] = 2
    line["Amount"] = "150.00"
    qbo_update(
        connection=connected,
        entity="Invoice",
        request_id=uuid.uuid4().hex,
        payload={"Id": current["Id"], "SyncToken": current["SyncToken"], "sparse": True, "Line": [line]},
    )

    run = invoices_import_run(connection_id=connected.pk)

    assert run.stats["updated"] == 1
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.DRAFT
    assert invoice.total_amount == invoice.balance_due == Decimal("150.00")
    assert list(invoice.items.values_list("quantity", "quickbooks_line_id")) == [(Decimal("2.0000"), line["Id"])]
