"""CDC from the one change log: full objects, Deleted stubs, 30-day window, 1000 cap, python-quickbooks parsing."""

from __future__ import annotations

import datetime as dt

from quickbooks.cdc import change_data_capture
from quickbooks.objects import Customer, Invoice, Term


def _line(amount=5):
    return {"Amount": amount, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}


def _since(emulator, seconds_ago=1):
    now = emulator.app.clock.now() - dt.timedelta(seconds=seconds_ago)
    return now.isoformat()


def test_cdc_returns_changed_and_deleted_objects(api, emulator):
    emulator.control.advance_clock(60)
    api.access_token = emulator.control.issue_tokens()["access_token"]
    since = _since(emulator)
    customer = api.create("Customer", {"DisplayName": "CDC Person"})
    invoice = api.create("Invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [_line()]})
    gone = api.create("Invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [_line()]})
    api.post("/invoice?operation=delete", {"Id": gone["Id"], "SyncToken": "0"})
    body = api.get("/cdc", params={"entities": "customer,Invoice", "changedSince": since}).json()
    responses = body["CDCResponse"][0]["QueryResponse"]
    by_entity = {next(k for k in r if k not in ("startPosition", "maxResults", "totalCount")): r for r in responses}
    assert set(by_entity) == {"Customer", "Invoice"}
    assert [c["Id"] for c in by_entity["Customer"]["Customer"]] == [customer["Id"]]
    invoices = {x["Id"]: x for x in by_entity["Invoice"]["Invoice"]}
    assert invoices[invoice["Id"]]["TotalAmt"] == 5
    assert invoices[gone["Id"]] == {
        "domain": "QBO",
        "status": "Deleted",
        "Id": gone["Id"],
        "MetaData": {"LastUpdatedTime": invoices[gone["Id"]]["MetaData"]["LastUpdatedTime"]},
    }
    assert by_entity["Invoice"]["maxResults"] == 2


def test_cdc_empty_shape(api, emulator):
    emulator.control.advance_clock(60)
    api.access_token = emulator.control.issue_tokens()["access_token"]
    body = api.get("/cdc", params={"entities": "Vendor", "changedSince": _since(emulator)}).json()
    assert body["CDCResponse"] == [{"QueryResponse": [{}]}]


def test_cdc_window_is_30_days(api, emulator):
    old = (emulator.app.clock.now() - dt.timedelta(days=31)).date().isoformat()
    response = api.get("/cdc", params={"entities": "Customer", "changedSince": old})
    assert response.status_code == 400
    assert "older than fixed days" in response.json()["Fault"]["Error"][0]["Detail"]
    assert api.get("/cdc", params={"entities": "Customer"}).json()["Fault"]["Error"][0]["code"] == "2020"
    assert api.get("/cdc", params={"entities": "Nope", "changedSince": _since(emulator)}).status_code == 400


def test_cdc_caps_at_1000_objects(api, emulator):
    since = _since(emulator, 5)
    for start in range(0, 1010, 30):
        items = [
            {"bId": str(i), "operation": "create", "Customer": {"DisplayName": f"Many {i}"}}
            for i in range(start, min(start + 30, 1010))
        ]
        emulator.control.throttle(per_minute=10000, batch_per_minute=10000)
        assert api.post("/batch", {"BatchItemRequest": items}).status_code == 200
    body = api.get("/cdc", params={"entities": "Customer", "changedSince": since}).json()
    rows = body["CDCResponse"][0]["QueryResponse"][0]["Customer"]
    assert len(rows) == 1000


def test_cdc_through_python_quickbooks(qb, api, emulator):
    since = emulator.app.clock.now() - dt.timedelta(seconds=5)
    created = api.create("Invoice", {"CustomerRef": {"value": "2"}, "Line": [_line()]})
    deleted = api.create("Invoice", {"CustomerRef": {"value": "2"}, "Line": [_line()]})
    api.post("/invoice?operation=delete", {"Id": deleted["Id"], "SyncToken": "0"})
    from qbo_emulator.clock import COMPANY_TZ

    result = change_data_capture([Customer, Invoice], since.astimezone(COMPANY_TZ).replace(tzinfo=None), qb=qb)
    statuses = {inv.Id: getattr(inv, "status", None) for inv in result.Invoice}
    assert statuses[deleted["Id"]] == "Deleted"
    assert created["Id"] in statuses
    # the customer's Balance moved, so it is a changed object (the stricter reading of an UNCONFIRMED point)
    assert [c.Id for c in result.Customer] == ["2"]
    result = change_data_capture([Term], since.astimezone(COMPANY_TZ).replace(tzinfo=None), qb=qb)
    assert not hasattr(result, "Term")  # an entity without changes is absent


def test_seeded_recent_history_is_visible(api, emulator):
    since = (emulator.app.clock.now() - dt.timedelta(days=29)).isoformat()
    body = api.get("/cdc", params={"entities": "Customer,Invoice,Estimate,Payment", "changedSince": since}).json()
    assert body["CDCResponse"][0]["QueryResponse"]
