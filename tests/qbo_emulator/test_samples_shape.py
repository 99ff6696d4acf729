"""Replays the saved real requests and checks each answer has the shape (keys, JSON types) of the real one."""

from __future__ import annotations

import copy
import datetime as dt

import pytest
import requests

from .conftest import assert_same_shape, sample


def test_customer_create_minimal(api):
    response = api.post("/customer", sample("customer_create_minimal_request.json"))
    assert response.status_code == 200
    assert_same_shape(sample("customer_create_minimal_response.json"), response.json())


def test_customer_create_official(api):
    response = api.post("/customer", sample("customer_create_request.json"))
    assert response.status_code == 200, response.text
    assert_same_shape(sample("customer_create_response.json"), response.json())


def test_customer_full_update(api):
    created = api.create("Customer", {"DisplayName": "Jack Moe Original"})
    request = sample("customer_update_request.json")
    request.update({"Id": created["Id"], "SyncToken": created["SyncToken"]})
    response = api.post("/customer", request)
    assert response.status_code == 200, response.text
    assert_same_shape(sample("customer_update_response.json"), response.json())
    assert response.json()["Customer"]["SyncToken"] == "1"


def test_customer_sparse_update(api):
    current = api.read("Customer", "2")
    request = sample("customer_sparse_update_request.json")
    request["SyncToken"] = current["SyncToken"]
    response = api.post("/customer", request)
    assert response.status_code == 200, response.text
    assert_same_shape(sample("customer_sparse_update_response.json"), response.json())


def test_customer_read(api):
    assert_same_shape(sample("customer_read_sandbox_id5.json"), api.get("/customer/5").json())


def test_invoice_create_minimal(api):
    response = api.post("/invoice", sample("invoice_create_minimal_request.json"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert_same_shape(sample("invoice_create_minimal_response.json"), body)
    invoice = body["Invoice"]
    assert invoice["DueDate"] == (dt.date.fromisoformat(invoice["TxnDate"]) + dt.timedelta(days=30)).isoformat()
    assert invoice["Balance"] == invoice["TotalAmt"] == 100


@pytest.mark.parametrize("operation", ["delete", "void"])
def test_invoice_delete_and_void(api, operation):
    created = api.create("Invoice", sample("invoice_create_minimal_request.json"))
    request = sample(f"invoice_{operation}_request.json")
    request.update({"Id": created["Id"], "SyncToken": created["SyncToken"]})
    response = api.post(f"/invoice?operation={operation}", request)
    assert response.status_code == 200, response.text
    assert_same_shape(sample(f"invoice_{operation}_response.json"), response.json())


def test_batch(api):
    """The real batch, with its SalesReceipt items (not emulated) swapped for Invoice items of the same kind."""
    request = copy.deepcopy(sample("batch_request.json"))
    invoice = api.create("Invoice", sample("invoice_create_minimal_request.json"))
    request["BatchItemRequest"][1]["Invoice"]["Id"] = "999999"  # unknown -> 610 like the recording
    request["BatchItemRequest"][2] = {
        "bId": "bid3",
        "operation": "update",
        "Invoice": {
            "domain": "QBO",
            "sparse": True,
            "Id": invoice["Id"],
            "SyncToken": "9",
            "PrivateNote": "A private note.",
        },
    }
    request["BatchItemRequest"][3] = {"bId": "bid4", "Query": "select * from Invoice where TotalAmt > '300.00'"}
    response = api.post("/batch", request)
    assert response.status_code == 200
    real = copy.deepcopy(sample("batch_response.json"))
    real["BatchItemResponse"][3]["QueryResponse"] = {
        "Invoice": [invoice | {"TotalAmt": 1.0}],
        "startPosition": 1,
        "maxResults": 1,
    }
    ours = response.json()
    assert [item["bId"] for item in ours["BatchItemResponse"]] == ["bid1", "bid2", "bid3", "bid4"]
    for real_item, our_item in zip(real["BatchItemResponse"], ours["BatchItemResponse"], strict=True):
        assert set(real_item) == set(our_item)
    assert_same_shape(real["BatchItemResponse"][0], ours["BatchItemResponse"][0])
    assert_same_shape(sample("fault_stale_object_batch_item.json"), {"Fault": ours["BatchItemResponse"][2]["Fault"]})


def test_query_shapes(api):
    count = api.post("/query", "select count(*) from Customer").json()
    assert_same_shape(sample("query_count_response.json"), count)
    empty = api.post("/query", "select * from Customer where DisplayName = 'Nobody At All'").json()
    assert_same_shape(sample("query_empty_response.json"), empty)
    assert empty["QueryResponse"] == {}
    listing = api.post("/query", "select * from Term").json()
    assert_same_shape(sample("term_query.json"), listing)


def test_read_shapes(api):
    assert_same_shape(sample("term_read.json"), api.get("/term/3").json())
    realm = api.realm_id
    info = api.get(f"/companyinfo/{realm}").json()
    assert set(sample("companyinfo_read.json")["CompanyInfo"]) <= set(info["CompanyInfo"]) | {
        "CustomerCommunicationAddr",
        "WebAddr",
        "LegalAddr",
    }


def test_invoice_and_estimate_read_shapes(api):
    estimate = api.create(
        "Estimate",
        {
            "CustomerRef": {"value": "3"},
            "BillEmail": {"Address": "Cool_Cars@intuit.com"},
            "CustomerMemo": {"value": "Thanks"},
            "TxnStatus": "Pending",
            "Line": [
                {
                    "Amount": 35,
                    "Description": "Pest Control Services",
                    "DetailType": "SalesItemLineDetail",
                    "SalesItemLineDetail": {
                        "ItemRef": {"value": "10"},
                        "Qty": 1,
                        "UnitPrice": 35,
                        "TaxCodeRef": {"value": "NON"},
                    },
                },
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
    real = sample("estimate_read.json")
    real["Estimate"].pop("ShipAddr", None)
    real["Estimate"].pop("BillAddr", None)
    ours = api.get(f"/estimate/{estimate['Id']}").json()
    assert_same_shape(real, ours)
    invoice = api.create(
        "Invoice",
        {
            "CustomerRef": {"value": "24"},
            "BillEmail": {"Address": "Familiystore@intuit.com"},
            "CustomerMemo": {"value": "Thanks"},
            "SalesTermRef": {"value": "3"},
            "Deposit": 0,
            "CustomField": [{"DefinitionId": "1", "Name": "Crew #", "Type": "StringType", "StringValue": "102"}],
            "LinkedTxn": [{"TxnId": "100", "TxnType": "Estimate"}],
            "Line": [
                {
                    "Amount": 275,
                    "Description": "Rock Fountain",
                    "DetailType": "SalesItemLineDetail",
                    "SalesItemLineDetail": {
                        "ItemRef": {"value": "5"},
                        "Qty": 1,
                        "UnitPrice": 275,
                        "TaxCodeRef": {"value": "TAX"},
                    },
                }
            ],
        },
    )
    real_invoice = sample("invoice_read.json")
    real_invoice["Invoice"].pop("Deposit", None)  # QBO omits a zero deposit on create (invoice_create_minimal_response)
    for key in ("ShipAddr", "BillAddr"):
        real_invoice["Invoice"].pop(key, None)
    assert_same_shape(real_invoice, api.get(f"/invoice/{invoice['Id']}").json())


def test_payment_shape(api):
    invoice = api.create(
        "Invoice",
        {
            "CustomerRef": {"value": "20"},
            "Line": [
                {"Amount": 71, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}
            ],
        },
    )
    payment = api.create(
        "Payment",
        {
            "CustomerRef": {"value": "20"},
            "TotalAmt": 65,
            "Line": [{"Amount": 55, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}],
        },
    )
    real = sample("payment_read.json")
    for line in real["Payment"]["Line"]:
        line.pop("LineEx", None)  # the noisy LineEx block is not emulated
    assert_same_shape(real, api.get(f"/payment/{payment['Id']}").json())


def test_cdc_shapes(api, emulator):
    since = (emulator.app.clock.now() - dt.timedelta(seconds=5)).isoformat()
    api.create(
        "Estimate",
        {
            "CustomerRef": {"value": "18"},
            "Line": [
                {
                    "Amount": 300,
                    "Description": "Custom Design",
                    "DetailType": "SalesItemLineDetail",
                    "SalesItemLineDetail": {"ItemRef": {"value": "4"}, "Qty": 4, "UnitPrice": 75},
                }
            ],
        },
    )
    body = api.get("/cdc", params={"entities": "estimate", "changedSince": since}).json()
    real = sample("cdc_response.json")
    for estimate in real["CDCResponse"][0]["QueryResponse"][0]["Estimate"]:
        for key in ("LinkedTxn", "BillAddr", "ShipAddr", "CustomerMemo", "BillEmail", "DeliveryInfo"):
            estimate.pop(key, None)
    assert_same_shape(real, body)
    emulator.control.advance_clock(5)
    later = emulator.app.clock.now().isoformat()
    api.access_token = emulator.control.issue_tokens()["access_token"]
    assert_same_shape(
        sample("cdc_empty_response.json"),
        api.get("/cdc", params={"entities": "Estimate", "changedSince": later}).json(),
    )


def test_fault_shapes(api, emulator):
    bad = api.post("/invoice", {"BadJson": "x", "CustomerRef": {"value": "1"}}).json()
    assert_same_shape(sample("fault_unrecognized_property_400.json"), bad)
    dup = api.post("/customer", {"DisplayName": "Amy's Bird Sanctuary"}).json()
    assert_same_shape(sample("fault_duplicate_name_400.json"), dup)
    assert_same_shape(sample("fault_invalid_id_400.json"), api.get("/customer/1.5").json())
    assert_same_shape(sample("fault_invalid_query_400.json"), api.post("/query", "select * from Custmoer").json())
    assert_same_shape(sample("fault_unsupported_operation_400.json"), api.get("/customer/1/5").json())
    expired = requests.get(
        f"{api.base}/customer/1", headers={"Authorization": "Bearer " + "x" * 900}, timeout=10
    ).json()
    real_401 = sample("fault_auth_token_expired_401.json")
    assert_same_shape(real_401, expired)
    forbidden = requests.get(f"{emulator.url}/v3/company/1/customer/1", headers=api.headers(), timeout=10).json()
    assert_same_shape(sample("fault_authorization_3100_403.json"), forbidden)


def test_token_shapes(emulator):
    assert_same_shape(sample("token_response.json"), emulator.control.issue_tokens())
    assert_same_shape(sample("discovery_sandbox.json"), requests.get(emulator.discovery_url, timeout=10).json())


def test_numbers_are_written_as_qbo_writes_them(api):
    """Whole non-zero amounts as 100.0, zero as 0, Qty/UnitPrice as plain 2 and 50 (invoice_create_minimal_response,
    cdc_response); clients without use_decimal then get the same Python types as from QBO."""
    line = {
        "Amount": 100,
        "DetailType": "SalesItemLineDetail",
        "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "Qty": 2, "UnitPrice": 50},
    }
    response = api.post("/invoice", {"CustomerRef": {"value": "2"}, "Line": [line]})
    text = response.text
    assert '"TotalAmt":100.0' in text and '"Balance":100.0' in text and '"Amount":100.0' in text
    assert '"Qty":2,' in text and '"UnitPrice":50' in text and '"TotalTax":0' in text
    invoice = response.json()["Invoice"]
    assert isinstance(invoice["TotalAmt"], float) and isinstance(invoice["Line"][0]["SalesItemLineDetail"]["Qty"], int)
    real = sample("invoice_create_minimal_response.json")["Invoice"]
    assert type(real["TotalAmt"]) is type(invoice["TotalAmt"]) and type(real["Balance"]) is type(invoice["Balance"])
