"""Derived fields as QBO computes them: amounts, 6070, tax, totals, DocNumbers, due dates, balances, links."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from quickbooks.exceptions import QuickbooksException
from quickbooks.objects import Customer, Estimate, Invoice, Item, Payment
from quickbooks.objects.detailline import SalesItemLine, SalesItemLineDetail
from quickbooks.objects.payment import PaymentLine

from qbo_emulator.entities import q


def line(amount, item="1", qty=None, price=None, tax=None, description=None):
    detail = {"ItemRef": {"value": item}}
    if qty is not None:
        detail["Qty"] = qty
    if price is not None:
        detail["UnitPrice"] = price
    if tax:
        detail["TaxCodeRef"] = {"value": tax}
    out = {"Amount": amount, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": detail}
    if description:
        out["Description"] = description
    return out


def dec(text):
    """Parse a response body keeping exact decimals."""
    return json.loads(text, parse_float=Decimal)


def test_amount_must_equal_qty_times_unit_price(api):
    response = api.post("/invoice", {"CustomerRef": {"value": "2"}, "Line": [line(100, qty=3, price=33.33)]})
    assert response.status_code == 400
    error = response.json()["Fault"]["Error"][0]
    assert error["code"] == "6070"
    assert error["Message"] == "Amount is not equal to UnitPrice * Qty"
    ok = api.post("/invoice", {"CustomerRef": {"value": "2"}, "Line": [line(99.99, qty=3, price=33.33)]})
    assert ok.status_code == 200


def test_amount_rounding_is_half_up_to_cents(api):
    # 0.125 * 1 -> 0.13 (half-up), not 0.12 (banker's)
    ok = api.post("/invoice", {"CustomerRef": {"value": "2"}, "Line": [line(0.13, qty=1, price=0.125)]})
    assert ok.status_code == 200, ok.text
    bad = api.post("/invoice", {"CustomerRef": {"value": "2"}, "Line": [line(0.12, qty=1, price=0.125)]})
    assert bad.json()["Fault"]["Error"][0]["code"] == "6070"
    assert q(Decimal("2.675")) == Decimal("2.68")


def test_python_quickbooks_zero_qty_and_price_defaults_are_accepted(qb):
    invoice = Invoice()
    invoice.CustomerRef = Customer.get(2, qb=qb).to_ref()
    sales = SalesItemLine()
    sales.Amount = 100
    sales.SalesItemLineDetail = SalesItemLineDetail()  # Qty 0, UnitPrice 0 by default
    sales.SalesItemLineDetail.ItemRef = Item.get(1, qb=qb).to_ref()
    invoice.Line = [sales]
    saved = invoice.save(qb=qb)
    assert saved.TotalAmt == Decimal("100")


def test_decimal_strings_from_use_decimal_are_accepted(api):
    response = api.post(
        "/invoice", {"CustomerRef": {"value": "2"}, "Line": [line("10.10", qty="3", price="3.3666666")]}
    )
    # 3 * 3.3666666 = 10.0999998 -> 10.10
    assert response.status_code == 200, response.text


def test_subtotal_line_totals_and_no_float_noise(api):
    response = api.post(
        "/invoice",
        {
            "CustomerRef": {"value": "2"},
            "Line": [
                line(0.1, qty=1, price=0.1),
                line(0.2, qty=1, price=0.2),
                line(337.5, item="4", qty=4.5, price=75),
            ],
        },
    )
    assert response.status_code == 200, response.text
    assert "0.30000000000000004" not in response.text
    invoice = dec(response.text)["Invoice"]
    subtotal = [x for x in invoice["Line"] if x["DetailType"] == "SubTotalLineDetail"]
    assert len(subtotal) == 1 and subtotal[0]["Amount"] == Decimal("337.8")
    assert "Id" not in subtotal[0]
    assert invoice["TotalAmt"] == Decimal("337.8") and invoice["Balance"] == Decimal("337.8")
    assert [x["LineNum"] for x in invoice["Line"] if x["DetailType"] == "SalesItemLineDetail"] == [1, 2, 3]
    assert [x["Id"] for x in invoice["Line"] if x["DetailType"] == "SalesItemLineDetail"] == ["1", "2", "3"]
    assert invoice["Line"][0]["SalesItemLineDetail"]["TaxCodeRef"] == {"value": "NON"}
    assert invoice["CustomerRef"]["name"] == "Bill's Windsurf Shop"
    assert invoice["Line"][0]["SalesItemLineDetail"]["ItemRef"]["name"] == "Services"


def test_input_subtotal_lines_are_recomputed(api):
    response = api.post(
        "/invoice",
        {
            "CustomerRef": {"value": "2"},
            "Line": [
                line(10, qty=1, price=10),
                {"Amount": 999, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}},
            ],
        },
    )
    invoice = response.json()["Invoice"]
    assert invoice["TotalAmt"] == 10


def test_tax_on_taxable_lines_at_the_company_rate(api):
    response = api.post(
        "/invoice",
        {
            "CustomerRef": {"value": "24"},
            "TxnTaxDetail": {"TxnTaxCodeRef": {"value": "2"}},
            "Line": [
                line(275, item="5", qty=1, price=275, tax="TAX"),
                line(12.75, item="11", qty=1, price=12.75, tax="TAX"),
                line(47.5, item="3", qty=5, price=9.5, tax="TAX"),
                line(100, tax="NON"),
            ],
        },
    )
    invoice = dec(response.text)["Invoice"]
    detail = invoice["TxnTaxDetail"]
    assert detail["TxnTaxCodeRef"]["value"] == "2"
    assert detail["TotalTax"] == Decimal("26.82")  # 8 % of 335.25 = 26.82
    assert detail["TaxLine"][0]["TaxLineDetail"]["TaxPercent"] == 8
    assert detail["TaxLine"][0]["TaxLineDetail"]["NetAmountTaxable"] == Decimal("335.25")
    assert invoice["TotalAmt"] == Decimal("462.07")


def test_tax_rounds_to_the_nearest_cent(api):
    """8 % can never land exactly on half a cent, so check rounding to nearest (not truncation) on both sides."""
    cases = [("1.19", "0.1"), ("0.81", "0.06"), ("18.75", "1.5"), ("6.31", "0.5")]  # 0.0952, 0.0648, 1.50, 0.5048
    for amount, tax in cases:
        response = api.post(
            "/invoice", {"CustomerRef": {"value": "1"}, "Line": [line(amount, qty=1, price=amount, tax="TAX")]}
        )
        invoice = dec(response.text)["Invoice"]
        assert invoice["TxnTaxDetail"]["TotalTax"] == Decimal(tax), amount
        assert invoice["TotalAmt"] == Decimal(amount) + Decimal(tax)


def test_discount_line_percent(api):
    response = api.post(
        "/estimate",
        {
            "CustomerRef": {"value": "3"},
            "Line": [
                line(35, item="10", qty=1, price=35),
                {
                    "Amount": 3.5,
                    "DetailType": "DiscountLineDetail",
                    "DiscountLineDetail": {
                        "PercentBased": True,
                        "DiscountPercent": 10,
                        "DiscountAccountRef": {"value": "86"},
                    },
                },
            ],
        },
    )
    estimate = dec(response.text)["Estimate"]
    assert estimate["TotalAmt"] == Decimal("31.5")
    assert [x["DetailType"] for x in estimate["Line"]] == [
        "SalesItemLineDetail",
        "SubTotalLineDetail",
        "DiscountLineDetail",
    ]


def test_doc_number_sequence_per_entity_and_duplicates(api):
    highest_invoice = max(int(x["DocNumber"]) for x in api.query("select * from Invoice maxresults 1000")["Invoice"])
    first = api.create("Invoice", {"CustomerRef": {"value": "2"}, "Line": [line(5)]})
    second = api.create("Invoice", {"CustomerRef": {"value": "2"}, "Line": [line(5)]})
    assert int(first["DocNumber"]) == highest_invoice + 1
    assert int(second["DocNumber"]) == highest_invoice + 2
    highest_estimate = max(int(x["DocNumber"]) for x in api.query("select * from Estimate")["Estimate"])
    estimate = api.create("Estimate", {"CustomerRef": {"value": "2"}, "Line": [line(5)]})
    assert int(estimate["DocNumber"]) == highest_estimate + 1
    duplicate = api.post(
        "/invoice", {"CustomerRef": {"value": "2"}, "DocNumber": first["DocNumber"], "Line": [line(5)]}
    )
    assert duplicate.status_code == 400
    assert duplicate.json()["Fault"]["Error"][0]["code"] == "6140"
    custom = api.create("Invoice", {"CustomerRef": {"value": "2"}, "DocNumber": "INV-77", "Line": [line(5)]})
    assert custom["DocNumber"] == "INV-77"


def test_due_date_from_company_default_net_30(api, emulator):
    invoice = api.create("Invoice", {"CustomerRef": {"value": "2"}, "TxnDate": "2026-01-10", "Line": [line(5)]})
    assert invoice["DueDate"] == "2026-02-09"


def test_due_date_from_the_customers_terms(api):
    customer = api.create("Customer", {"DisplayName": "Net Fifteen", "SalesTermRef": {"value": "2"}})
    invoice = api.create(
        "Invoice", {"CustomerRef": {"value": customer["Id"]}, "TxnDate": "2026-01-10", "Line": [line(5)]}
    )
    assert invoice["DueDate"] == "2026-01-25"
    explicit = api.create(
        "Invoice",
        {
            "CustomerRef": {"value": customer["Id"]},
            "TxnDate": "2026-01-10",
            "SalesTermRef": {"value": "4"},
            "Line": [line(5)],
        },
    )
    assert explicit["DueDate"] == "2026-03-11"


def test_txn_date_defaults_to_today_and_addresses_copy_from_customer(api, emulator):
    invoice = api.create("Invoice", {"CustomerRef": {"value": "1"}, "Line": [line(5)]})
    assert invoice["TxnDate"] == emulator.app.clock.today().isoformat()
    assert invoice["BillAddr"]["Line1"] == api.read("Customer", "1")["BillAddr"]["Line1"]
    assert invoice["PrintStatus"] == "NeedToPrint" and invoice["EmailStatus"] == "NotSet"


def test_customer_balance_follows_invoices_payments_and_jobs(api):
    parent = api.create("Customer", {"DisplayName": "Parent Co"})
    job = api.create("Customer", {"DisplayName": "Job One", "ParentRef": {"value": parent["Id"]}, "Job": True})
    assert job["FullyQualifiedName"] == "Parent Co:Job One" and job["Level"] == 1
    api.create("Invoice", {"CustomerRef": {"value": parent["Id"]}, "Line": [line(100)]})
    job_invoice = api.create("Invoice", {"CustomerRef": {"value": job["Id"]}, "Line": [line(40)]})
    assert api.read("Customer", parent["Id"])["Balance"] == 100
    assert api.read("Customer", parent["Id"])["BalanceWithJobs"] == 140
    assert api.read("Customer", job["Id"])["Balance"] == 40
    api.create(
        "Payment",
        {
            "CustomerRef": {"value": job["Id"]},
            "TotalAmt": 50,
            "Line": [{"Amount": 40, "LinkedTxn": [{"TxnId": job_invoice["Id"], "TxnType": "Invoice"}]}],
        },
    )
    assert api.read("Customer", job["Id"])["Balance"] == -10  # 10 unapplied credit
    assert api.read("Customer", parent["Id"])["BalanceWithJobs"] == 90


def test_payment_applies_to_invoice_both_links_and_unapplied(qb, api):
    invoice = api.create("Invoice", {"CustomerRef": {"value": "20"}, "Line": [line(71)]})
    payment = Payment()
    payment.CustomerRef = Customer.get(20, qb=qb).to_ref()
    payment.TotalAmt = Decimal("65.00")
    applied = PaymentLine()
    applied.Amount = Decimal("55.00")
    applied.LinkedTxn = [Invoice.get(invoice["Id"], qb=qb).to_linked_txn()]
    payment.Line = [applied]
    saved = payment.save(qb=qb)
    assert saved.UnappliedAmt == Decimal("10")
    assert saved.DepositToAccountRef.value == "4"
    after = api.read("Invoice", invoice["Id"])
    assert after["Balance"] == 16
    assert {"TxnId": saved.Id, "TxnType": "Payment"} in after["LinkedTxn"]
    assert after["SyncToken"] == "1"
    # deleting the payment restores the balance and removes the link
    api.post("/payment?operation=delete", {"Id": saved.Id, "SyncToken": saved.SyncToken})
    restored = api.read("Invoice", invoice["Id"])
    assert restored["Balance"] == 71 and not [x for x in restored["LinkedTxn"] if x["TxnType"] == "Payment"]


def test_overpaying_an_invoice_or_the_payment_is_rejected(api):
    invoice = api.create("Invoice", {"CustomerRef": {"value": "20"}, "Line": [line(10)]})
    over = api.post(
        "/payment",
        {
            "CustomerRef": {"value": "20"},
            "TotalAmt": 50,
            "Line": [{"Amount": 20, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}],
        },
    )
    assert over.status_code == 400
    too_much = api.post(
        "/payment",
        {
            "CustomerRef": {"value": "20"},
            "TotalAmt": 5,
            "Line": [{"Amount": 10, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}],
        },
    )
    assert too_much.status_code == 400
    missing_total = api.post("/payment", {"CustomerRef": {"value": "20"}})
    assert missing_total.json()["Fault"]["Error"][0]["code"] == "2020"


def test_voiding_a_paid_invoice_frees_the_payment(api):
    invoice = api.create("Invoice", {"CustomerRef": {"value": "20"}, "Line": [line(30)]})
    payment = api.create(
        "Payment",
        {
            "CustomerRef": {"value": "20"},
            "TotalAmt": 30,
            "Line": [{"Amount": 30, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}],
        },
    )
    current = api.read("Invoice", invoice["Id"])
    api.post("/invoice?operation=void", {"Id": invoice["Id"], "SyncToken": current["SyncToken"]})
    assert api.read("Payment", payment["Id"])["UnappliedAmt"] == 30


def test_estimate_to_invoice_links_both_ways_and_closes_the_estimate(qb, api):
    estimate = api.create("Estimate", {"CustomerRef": {"value": "3"}, "Line": [line(35, item="10", qty=1, price=35)]})
    assert estimate["TxnStatus"] == "Pending"
    invoice = api.create(
        "Invoice",
        {
            "CustomerRef": {"value": "3"},
            "Line": [line(35, item="10", qty=1, price=35)],
            "LinkedTxn": [{"TxnId": estimate["Id"], "TxnType": "Estimate"}],
        },
    )
    assert invoice["LinkedTxn"] == [{"TxnId": estimate["Id"], "TxnType": "Estimate"}]
    closed = Estimate.get(estimate["Id"], qb=qb)
    assert closed.TxnStatus == "Closed"
    assert closed.LinkedTxn[0].TxnId == invoice["Id"] and closed.LinkedTxn[0].TxnType == "Invoice"
    assert closed.SyncToken == "1"
    api.post("/invoice?operation=delete", {"Id": invoice["Id"], "SyncToken": invoice["SyncToken"]})
    reopened = api.read("Estimate", estimate["Id"])
    assert reopened["TxnStatus"] == "Pending" and not reopened.get("LinkedTxn")


def test_linking_a_missing_estimate_fails(api):
    response = api.post(
        "/invoice",
        {"CustomerRef": {"value": "3"}, "Line": [line(5)], "LinkedTxn": [{"TxnId": "75", "TxnType": "Estimate"}]},
    )
    assert response.status_code == 400
    assert "does not exist" in response.json()["Fault"]["Error"][0]["Detail"]


def test_full_update_of_an_invoice_recomputes(qb, api):
    invoice = api.create("Invoice", {"CustomerRef": {"value": "2"}, "Line": [line(10, qty=1, price=10)]})
    fetched = Invoice.get(invoice["Id"], qb=qb)  # round trip through python-quickbooks objects
    fetched.Line[0].Amount = Decimal("20")
    fetched.Line[0].SalesItemLineDetail.Qty = Decimal("2")
    updated = fetched.save(qb=qb)
    assert updated.TotalAmt == Decimal("20") and updated.Balance == Decimal("20") and updated.SyncToken == "1"
    assert updated.DocNumber == invoice["DocNumber"]


def test_seed_transactions_went_through_derivation(api):
    for invoice in api.query("select * from Invoice maxresults 1000")["Invoice"]:
        sales = sum(Decimal(str(x["Amount"])) for x in invoice["Line"] if x["DetailType"] == "SalesItemLineDetail")
        subtotal = [Decimal(str(x["Amount"])) for x in invoice["Line"] if x["DetailType"] == "SubTotalLineDetail"]
        assert subtotal == [q(sales)], invoice["Id"]
        assert Decimal(str(invoice["Balance"])) <= Decimal(str(invoice["TotalAmt"]))
    customers = {c["Id"]: c for c in api.query("select * from Customer maxresults 1000")["Customer"]}
    open_by_customer: dict[str, Decimal] = {}
    for invoice in api.query("select * from Invoice maxresults 1000")["Invoice"]:
        cid = invoice["CustomerRef"]["value"]
        open_by_customer[cid] = open_by_customer.get(cid, Decimal(0)) + Decimal(str(invoice["Balance"]))
    for payment in api.query("select * from Payment maxresults 1000").get("Payment", []):
        cid = payment["CustomerRef"]["value"]
        open_by_customer[cid] = open_by_customer.get(cid, Decimal(0)) - Decimal(str(payment.get("UnappliedAmt", 0)))
    for cid, amount in open_by_customer.items():
        assert Decimal(str(customers[cid]["Balance"])) == amount, cid


def test_stale_and_6070_through_python_quickbooks(qb):
    invoice = Invoice()
    invoice.CustomerRef = Customer.get(2, qb=qb).to_ref()
    sales = SalesItemLine()
    sales.Amount = 50
    sales.SalesItemLineDetail = SalesItemLineDetail()
    sales.SalesItemLineDetail.ItemRef = Item.get(1, qb=qb).to_ref()
    sales.SalesItemLineDetail.Qty = 2
    sales.SalesItemLineDetail.UnitPrice = 20
    invoice.Line = [sales]
    with pytest.raises(QuickbooksException) as err:
        invoice.save(qb=qb)
    assert err.value.error_code == 6070


def test_clock_offset_moves_txn_date_and_metadata(api, emulator):
    emulator.control.advance_clock(400 * 86400)
    api.access_token = emulator.control.issue_tokens()["access_token"]  # the old one expired with the move
    invoice = api.create("Invoice", {"CustomerRef": {"value": "2"}, "Line": [line(5)]})
    later = (dt.date.today() + dt.timedelta(days=400)).isoformat()
    assert abs((dt.date.fromisoformat(invoice["TxnDate"]) - dt.date.fromisoformat(later)).days) <= 1
    assert invoice["MetaData"]["CreateTime"][:10] == invoice["TxnDate"]
