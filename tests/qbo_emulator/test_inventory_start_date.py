"""6270: QBO refuses a sales transaction dated before the InvStartDate of an Inventory item on its lines."""

from __future__ import annotations

from decimal import Decimal

import pytest
from quickbooks.exceptions import QuickbooksException
from quickbooks.objects import Invoice
from quickbooks.objects.detailline import SalesItemLine, SalesItemLineDetail

DETAIL = "Transaction date is prior to start date for inventory item"


def inventory_item(api, start: str) -> dict:
    return api.create(
        "Item",
        {
            "Name": f"Widget {start}",
            "Type": "Inventory",
            "TrackQtyOnHand": True,
            "QtyOnHand": 10,
            "InvStartDate": start,
            "IncomeAccountRef": {"value": "79"},
            "AssetAccountRef": {"value": "81"},
            "ExpenseAccountRef": {"value": "80"},
        },
    )


def body(item_id: str, txn_date: str, *extra_items: str) -> dict:
    lines = [
        {"Amount": 10, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": i}}}
        for i in (item_id, *extra_items)
    ]
    return {"CustomerRef": {"value": "2"}, "TxnDate": txn_date, "Line": lines}


def assert_6270(response) -> None:
    assert response.status_code == 400, response.text
    fault = response.json()["Fault"]
    assert fault["type"] == "ValidationFault"
    assert len(fault["Error"]) == 1
    error = fault["Error"][0]
    assert error["code"] == "6270"
    assert error["Detail"] == DETAIL
    assert error["Message"]  # unconfirmed text (docs/emulator.md)


@pytest.mark.parametrize("entity", ["Invoice", "Estimate"])
def test_a_transaction_dated_before_the_inventory_start_date_is_refused(api, entity):
    item = inventory_item(api, "2026-03-10")
    assert_6270(api.post(f"/{entity.lower()}", body(item["Id"], "2026-03-09")))
    # a service item first on the lines does not hide the inventory line
    assert_6270(api.post(f"/{entity.lower()}", body("1", "2026-03-09", item["Id"])))
    assert api.post(f"/{entity.lower()}", body(item["Id"], "2026-03-10")).status_code == 200
    assert api.post(f"/{entity.lower()}", body(item["Id"], "2026-04-01")).status_code == 200


def test_non_inventory_items_have_no_start_date_rule(api):
    assert api.post("/invoice", body("1", "2001-01-01")).status_code == 200


def test_an_update_that_moves_the_date_back_is_refused(api):
    item = inventory_item(api, "2026-03-10")
    invoice = api.create("Invoice", body(item["Id"], "2026-03-15"))
    update = {**invoice, "TxnDate": "2026-03-01"}
    assert_6270(api.post("/invoice", update))
    sparse = {"Id": invoice["Id"], "SyncToken": invoice["SyncToken"], "sparse": True, "TxnDate": "2026-03-01"}
    assert_6270(api.post("/invoice", sparse))
    assert api.read("Invoice", invoice["Id"])["TxnDate"] == "2026-03-15"


def test_python_quickbooks_sees_a_validation_error_6270(qb, api):
    item = inventory_item(api, "2026-03-10")
    invoice = Invoice()
    invoice.CustomerRef = {"value": "2"}
    invoice.TxnDate = "2026-01-01"
    line = SalesItemLine()
    line.Amount = Decimal("10.00")
    line.SalesItemLineDetail = SalesItemLineDetail()
    line.SalesItemLineDetail.ItemRef = {"value": item["Id"]}
    invoice.Line = [line]
    with pytest.raises(QuickbooksException) as err:
        invoice.save(qb=qb)
    assert err.value.error_code == 6270
    assert DETAIL in err.value.detail
