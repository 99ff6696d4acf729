"""Behaviour the integration reaches through python-quickbooks: full/sparse update, deactivation, balance moves, CDC."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from quickbooks.cdc import change_data_capture
from quickbooks.exceptions import QuickbooksException
from quickbooks.objects import Customer, Invoice, Item
from quickbooks.objects.detailline import SalesItemLine, SalesItemLineDetail

from qbo_emulator.clock import COMPANY_TZ


def _invoice(qb, customer: Customer, amount: float) -> Invoice:
    invoice = Invoice()
    invoice.CustomerRef = customer.to_ref()
    line = SalesItemLine()
    line.Amount = amount
    line.SalesItemLineDetail = SalesItemLineDetail()
    line.SalesItemLineDetail.ItemRef = Item.get(1, qb=qb).to_ref()
    invoice.Line = [line]
    return invoice.save(qb=qb)


def test_full_update_through_the_library_nulls_omitted_fields(qb):
    made = Customer()
    made.DisplayName = "Full Update Person"
    made.CompanyName = "Keeps Co"
    made.Notes = "will vanish"
    made = made.save(qb=qb)
    assert made.CompanyName == "Keeps Co"
    rebuilt = Customer()  # a fresh object: every writable field not set here goes out as "" or not at all
    rebuilt.Id, rebuilt.SyncToken, rebuilt.DisplayName = made.Id, made.SyncToken, made.DisplayName
    rebuilt.CompanyName = "Keeps Co"
    saved = rebuilt.save(qb=qb)
    assert saved.SyncToken == "1"
    assert saved.CompanyName == "Keeps Co"
    assert not saved.Notes  # omitted on a full update -> null
    assert not Customer.get(made.Id, qb=qb).Notes


def test_sparse_update_through_update_object_touches_only_sent_fields(qb):
    customer = Customer.get(5, qb=qb)
    body = {"Id": customer.Id, "SyncToken": customer.SyncToken, "sparse": True, "Mobile": {"FreeFormNumber": "555"}}
    result = qb.update_object("Customer", json.dumps(body))["Customer"]
    assert result["Mobile"]["FreeFormNumber"] == "555"
    assert result["SyncToken"] == str(int(customer.SyncToken) + 1)
    again = Customer.get(5, qb=qb)
    assert again.DisplayName == customer.DisplayName and again.BillAddr.Line1 == customer.BillAddr.Line1


def test_deactivation_through_the_library_suffixes_and_hides(qb):
    made = Customer()
    made.DisplayName = "Short Lived"
    made = made.save(qb=qb)
    made.Active = False
    gone = made.save(qb=qb)
    assert gone.Active is False and gone.DisplayName == "Short Lived (deleted)"
    assert made.Id not in {c.Id for c in Customer.all(max_results=1000, qb=qb)}
    assert made.Id not in {c.Id for c in Customer.filter(DisplayName="Short Lived (deleted)", qb=qb)}
    assert [c.Id for c in Customer.filter(Active=False, DisplayName="Short Lived (deleted)", qb=qb)] == [made.Id]
    hidden_count = Customer.count(qb=qb)
    both = Customer.count("Active IN (true, false)", qb=qb)
    assert both == hidden_count + 1
    reborn = Customer()
    reborn.DisplayName = "Short Lived"  # the name is free again
    assert reborn.save(qb=qb).Id != made.Id


def test_a_balance_move_is_a_change_of_the_customer(qb, emulator):
    """QBO updates Customer.Balance; the stricter reading of the UNCONFIRMED rest: new SyncToken, LastUpdatedTime,
    and an Update for CDC and webhooks, for the customer and each parent whose BalanceWithJobs moved."""
    job = Customer.get(9, qb=qb)  # 55 Twin Lane, a job of 7 Freeman Sporting Goods
    parent = Customer.get(7, qb=qb)
    emulator.control.advance_clock(5)
    since = emulator.app.clock.now() - dt.timedelta(seconds=1)
    _invoice(qb, job, 12.5)
    job_after, parent_after = Customer.get(9, qb=qb), Customer.get(7, qb=qb)
    assert job_after.Balance == job.Balance + Decimal("12.5")
    assert job_after.SyncToken == str(int(job.SyncToken) + 1)
    assert job_after.MetaData["LastUpdatedTime"] > job.MetaData["LastUpdatedTime"]
    assert parent_after.BalanceWithJobs == parent.BalanceWithJobs + Decimal("12.5")
    assert parent_after.Balance == parent.Balance
    assert parent_after.SyncToken == str(int(parent.SyncToken) + 1)
    job.Notes = "edited from a stale copy"
    with pytest.raises(QuickbooksException) as err:
        job.save(qb=qb)
    assert err.value.error_code == 5010
    cdc = change_data_capture([Customer], since.astimezone(COMPANY_TZ).replace(tzinfo=None), qb=qb)
    assert sorted(c.Id for c in cdc.Customer) == ["7", "9"]
    changes = [(c["entity"], c["id"], c["op"]) for c in emulator.control.changes()][-3:]
    assert changes == [("Invoice", changes[0][1], "Create"), ("Customer", "9", "Update"), ("Customer", "7", "Update")]


def test_cdc_older_than_30_days_through_the_library(qb, emulator):
    old = (emulator.app.clock.now() - dt.timedelta(days=31)).astimezone(COMPANY_TZ).replace(tzinfo=None)
    with pytest.raises(QuickbooksException) as err:
        change_data_capture([Customer], old, qb=qb)
    assert type(err.value) is QuickbooksException and err.value.error_code == 6000
    assert "older than fixed days" in err.value.detail


def test_requestid_replay_through_the_library_survives_a_dropped_response(qb, emulator):
    import requests

    emulator.control.drop_response_next("/customer$", method="POST")
    first = Customer()
    first.DisplayName = "Dropped Via Lib"
    with pytest.raises(requests.ConnectionError):
        first.save(qb=qb, request_id="lib-drop-1")
    retry = Customer()
    retry.DisplayName = "Dropped Via Lib"
    saved = retry.save(qb=qb, request_id="lib-drop-1")
    assert saved.DisplayName == "Dropped Via Lib" and saved.SyncToken == "0"
    assert len(Customer.filter(DisplayName="Dropped Via Lib", qb=qb)) == 1
    assert [r["outcome"] for r in emulator.control.requests(path_contains="/customer", method="POST")] == [
        "dropped",
        "replayed",
    ]


def test_estimate_send_pdf_and_conversion_through_the_library(qb):
    from quickbooks.objects import Estimate
    from quickbooks.objects.base import LinkedTxn

    customer = Customer.get(2, qb=qb)
    estimate = Estimate()
    estimate.CustomerRef = customer.to_ref()
    line = SalesItemLine()
    line.Amount = 80
    line.SalesItemLineDetail = SalesItemLineDetail()
    line.SalesItemLineDetail.ItemRef = Item.get(1, qb=qb).to_ref()
    estimate.Line = [line]
    estimate = estimate.save(qb=qb)
    assert estimate.TxnStatus == "Pending" and estimate.TotalAmt == 80
    sent = estimate.send(qb=qb, send_to="quotes@example.com")["Estimate"]
    assert sent["EmailStatus"] == "EmailSent" and sent["DeliveryInfo"]["DeliveryType"] == "Email"
    pdf = Estimate.get(estimate.Id, qb=qb).download_pdf(qb=qb)
    assert pdf.startswith(b"%PDF-") and estimate.DocNumber.encode() in pdf
    invoice = Invoice()
    invoice.CustomerRef = customer.to_ref()
    invoice.Line = [line]
    link = LinkedTxn()
    link.TxnId, link.TxnType = estimate.Id, "Estimate"
    invoice.LinkedTxn = [link]
    invoice = invoice.save(qb=qb)
    assert [(x.TxnId, x.TxnType) for x in invoice.LinkedTxn] == [(estimate.Id, "Estimate")]
    converted = Estimate.get(estimate.Id, qb=qb)
    assert converted.TxnStatus == "Closed"
    assert [(x.TxnId, x.TxnType) for x in converted.LinkedTxn] == [(invoice.Id, "Invoice")]


def test_voiding_a_payment_through_the_library_reopens_the_invoice(qb):
    from quickbooks.objects import Payment
    from quickbooks.objects.base import LinkedTxn
    from quickbooks.objects.payment import PaymentLine

    customer = Customer.get(20, qb=qb)
    before = customer.Balance
    invoice = _invoice(qb, customer, 30)
    payment = Payment()
    payment.CustomerRef = customer.to_ref()
    payment.TotalAmt = 45
    applied = PaymentLine()
    applied.Amount = 30
    link = LinkedTxn()
    link.TxnId, link.TxnType = invoice.Id, "Invoice"
    applied.LinkedTxn = [link]
    payment.Line = [applied]
    payment = payment.save(qb=qb)
    assert payment.UnappliedAmt == 15
    assert Invoice.get(invoice.Id, qb=qb).Balance == 0
    assert Customer.get(20, qb=qb).Balance == before - 15  # the invoice is paid, 15 is credit
    payment.void(qb=qb)
    voided = Payment.get(payment.Id, qb=qb)
    assert voided.TotalAmt == 0 and voided.UnappliedAmt == 0 and voided.PrivateNote == "Voided"
    reopened = Invoice.get(invoice.Id, qb=qb)
    assert reopened.Balance == 30 and "Payment" not in {x.TxnType for x in reopened.LinkedTxn}
    assert Customer.get(20, qb=qb).Balance == before + 30


def test_renaming_a_parent_renames_its_jobs_fully_qualified_names(qb, api):
    parent = api.create("Customer", {"DisplayName": "Old Parent Co"})
    job = api.create("Customer", {"DisplayName": "Roof Job", "ParentRef": {"value": parent["Id"]}, "Job": True})
    sub = api.create("Customer", {"DisplayName": "Gutter Part", "ParentRef": {"value": job["Id"]}, "Job": True})
    assert sub["FullyQualifiedName"] == "Old Parent Co:Roof Job:Gutter Part"
    renamed = Customer.get(parent["Id"], qb=qb)
    renamed.DisplayName = "New Parent Co"
    renamed.save(qb=qb)
    assert Customer.get(job["Id"], qb=qb).FullyQualifiedName == "New Parent Co:Roof Job"
    deep = Customer.get(sub["Id"], qb=qb)
    assert deep.FullyQualifiedName == "New Parent Co:Roof Job:Gutter Part" and deep.SyncToken == "1"
    listing = [c.Id for c in Customer.filter(DisplayName="Roof Job", qb=qb)]
    assert listing == [job["Id"]]
    ids = "', '".join((parent["Id"], job["Id"], sub["Id"]))
    order = [c["Id"] for c in api.query(f"SELECT * FROM Customer WHERE Id IN ('{ids}')")["Customer"]]
    assert order == [parent["Id"], job["Id"], sub["Id"]]  # default order: by FullyQualifiedName, jobs after parents
