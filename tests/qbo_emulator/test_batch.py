"""Batch: independent items, per-item Faults inside a 200, bId echoed, 30-item limit, python-quickbooks helpers."""

from __future__ import annotations

from quickbooks.batch import batch_create, batch_delete
from quickbooks.objects import Customer


def test_mixed_batch_like_the_real_sample(api):
    customer = api.read("Customer", "2")
    response = api.post(
        "/batch",
        {
            "BatchItemRequest": [
                {"bId": "bid1", "operation": "create", "Vendor": {"DisplayName": "Boraski Family Store"}},
                {"bId": "bid2", "operation": "delete", "Invoice": {"Id": "129999", "SyncToken": "0"}},
                {
                    "bId": "bid3",
                    "operation": "update",
                    "Customer": {"sparse": True, "Id": "2", "SyncToken": "7", "Notes": "x"},
                },
                {"bId": "bid4", "Query": "select * from Term"},
                {
                    "bId": "bid5",
                    "operation": "update",
                    "Customer": {"sparse": True, "Id": "2", "SyncToken": customer["SyncToken"], "Notes": "ok"},
                },
            ]
        },
    )
    assert response.status_code == 200
    items = response.json()["BatchItemResponse"]
    assert [item["bId"] for item in items] == ["bid1", "bid2", "bid3", "bid4", "bid5"]
    assert items[0]["Vendor"]["DisplayName"] == "Boraski Family Store"
    assert items[1]["Fault"]["Error"][0]["code"] == "610"
    assert items[2]["Fault"]["Error"][0]["code"] == "5010"
    assert items[3]["QueryResponse"]["Term"]
    assert items[4]["Customer"]["Notes"] == "ok"
    assert "time" in response.json()


def test_items_are_independent(api):
    response = api.post(
        "/batch",
        {
            "BatchItemRequest": [
                {"bId": "a", "operation": "create", "Customer": {"DisplayName": "Batch One"}},
                {"bId": "b", "operation": "create", "Customer": {"DisplayName": "Batch One"}},
                {"bId": "c", "operation": "create", "Customer": {"DisplayName": "Batch Two"}},
            ]
        },
    )
    items = response.json()["BatchItemResponse"]
    assert "Customer" in items[0] and items[1]["Fault"]["Error"][0]["code"] == "6240" and "Customer" in items[2]


def test_more_than_30_items_is_a_400(api):
    items = [{"bId": str(i), "Query": "select * from Term"} for i in range(31)]
    response = api.post("/batch", {"BatchItemRequest": items})
    assert response.status_code == 400
    assert response.json()["Fault"]["Error"][0]["code"].isdigit()
    assert api.post("/batch", {"BatchItemRequest": items[:30]}).status_code == 200


def test_python_quickbooks_batch_create_and_delete(qb, api):
    customers = []
    for i in range(35):
        customer = Customer()
        customer.DisplayName = f"Bulk {i}"
        customers.append(customer)
    result = batch_create(customers, qb=qb)
    assert len(result.successes) == 35 and not result.faults
    invoices = [
        api.create(
            "Invoice",
            {
                "CustomerRef": {"value": "2"},
                "Line": [
                    {
                        "Amount": 1,
                        "DetailType": "SalesItemLineDetail",
                        "SalesItemLineDetail": {"ItemRef": {"value": "1"}},
                    }
                ],
            },
        )
        for _ in range(2)
    ]
    from quickbooks.objects import Invoice

    objs = [Invoice.get(x["Id"], qb=qb) for x in invoices]
    deleted = batch_delete(objs, qb=qb)
    assert not deleted.faults


def test_batch_fault_item_through_python_quickbooks(qb):
    one = Customer()
    one.DisplayName = "Amy's Bird Sanctuary"
    result = batch_create([one], qb=qb)
    assert result.faults and result.faults[0].Error[0].code == "6240"


def test_batch_query_errors_are_item_faults(api):
    items = api.post("/batch", {"BatchItemRequest": [{"bId": "q", "Query": "select * from Custmoer"}]}).json()[
        "BatchItemResponse"
    ]
    assert items[0]["Fault"]["Error"][0]["code"] == "4001"
