"""The server's query path (cached row orders, lazy filters, heap-picked pages) answers exactly as a plain sort does."""

from __future__ import annotations

import pytest

from qbo_emulator.query import run_query
from qbo_emulator.seeds import load_seed
from qbo_emulator.store import RealmState, Table

SQL = [
    "SELECT * FROM Customer",
    "SELECT * FROM Customer STARTPOSITION 11 MAXRESULTS 7",
    "SELECT * FROM Customer WHERE Active IN (true, false) STARTPOSITION 200 MAXRESULTS 30",
    "SELECT * FROM Customer ORDERBY Balance DESC STARTPOSITION 1 MAXRESULTS 25",  # many ties (0)
    "SELECT * FROM Customer ORDERBY Balance STARTPOSITION 40 MAXRESULTS 25",
    "SELECT * FROM Customer ORDERBY FamilyName, GivenName DESC MAXRESULTS 50",
    "SELECT * FROM Customer WHERE DisplayName LIKE '%a%' ORDERBY Id STARTPOSITION 3 MAXRESULTS 9",
    "SELECT * FROM Customer ORDER BY MetaData.LastUpdatedTime DESC MAXRESULTS 5",
    "SELECT Id, DisplayName FROM Customer WHERE Balance > 0 ORDERBY DisplayName",
    "SELECT COUNT(*) FROM Customer",
    "SELECT COUNT(*) FROM Customer WHERE Active = false",
    "SELECT COUNT(*) FROM Invoice WHERE Balance > 0",
    "SELECT * FROM Invoice ORDERBY TotalAmt DESC STARTPOSITION 2 MAXRESULTS 10",
    "SELECT * FROM Invoice WHERE CustomerRef IN ('1', '2', '3')",
    "SELECT * FROM Invoice STARTPOSITION 1000",
    "SELECT *, Sku FROM Item",
]


@pytest.fixture(scope="module")
def demo_rows() -> dict[str, list[dict]]:
    return load_seed("demo", customers=600)["entities"]


def _cached_realm(entities: dict[str, list[dict]]) -> RealmState:
    realm = RealmState("1", "Demo")
    for entity, rows in entities.items():
        realm.objects[entity] = Table({row["Id"]: row for row in rows})
    return realm


@pytest.mark.parametrize("sql", SQL)
def test_cached_order_answers_like_a_full_sort(demo_rows, sql):
    realm = _cached_realm(demo_rows)

    def plain(entity: str) -> list[dict]:
        return list(demo_rows.get(entity, []))

    def stored(entity: str) -> list[dict]:
        return list(realm.table(entity).values())

    expected = run_query(sql, plain, now=None)
    for _ in range(2):  # the second answer comes from the cache
        assert run_query(sql, stored, cached_order=realm.in_order)["QueryResponse"] == expected["QueryResponse"]


def test_every_page_of_the_default_order_partitions_the_rows(demo_rows):
    realm = _cached_realm(demo_rows)

    def stored(entity: str) -> list[dict]:
        return list(realm.table(entity).values())

    seen: list[str] = []
    for start in range(1, 700, 100):
        page = run_query(
            f"SELECT * FROM Customer STARTPOSITION {start} MAXRESULTS 100", stored, cached_order=realm.in_order
        )
        seen += [c["Id"] for c in page["QueryResponse"].get("Customer", [])]
    active = [c["Id"] for c in demo_rows["Customer"] if c.get("Active") is not False]
    assert sorted(seen) == sorted(active) and len(seen) == len(set(seen))


def test_writes_invalidate_the_cached_order(api, emulator):
    first_page = api.query("SELECT * FROM Customer MAXRESULTS 3")["Customer"]
    made = api.create("Customer", {"DisplayName": "!!! Sorts First"})
    assert api.query("SELECT * FROM Customer MAXRESULTS 3")["Customer"][0]["Id"] == made["Id"]
    renamed = api.post(
        "/customer", {"Id": made["Id"], "SyncToken": "0", "sparse": True, "DisplayName": "zzz Sorts Last"}
    ).json()["Customer"]
    assert [c["Id"] for c in api.query("SELECT * FROM Customer MAXRESULTS 3")["Customer"]] == [
        c["Id"] for c in first_page
    ]
    by_id = api.query("SELECT * FROM Customer ORDERBY Id DESC MAXRESULTS 1")["Customer"][0]
    assert by_id["Id"] == made["Id"] and by_id["DisplayName"] == "zzz Sorts Last"
    api.post("/customer", {"Id": made["Id"], "SyncToken": renamed["SyncToken"], "sparse": True, "Active": False})
    assert api.query("SELECT * FROM Customer ORDERBY Id DESC MAXRESULTS 1")["Customer"][0]["Id"] != made["Id"]
    emulator.control.reset()
    fresh = emulator.control.issue_tokens()["access_token"]
    api.access_token = fresh
    assert made["Id"] not in {
        c["Id"] for c in api.query("SELECT * FROM Customer WHERE Active IN (true, false)")["Customer"]
    }


def test_voided_rows_never_show_internal_keys(api):
    invoice = api.create(
        "Invoice",
        {"CustomerRef": {"value": "2"}, "Line": [{"Amount": 5, "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}]},
    )
    api.post("/invoice?operation=void", {"Id": invoice["Id"], "SyncToken": invoice["SyncToken"]})
    row = api.query(f"SELECT * FROM Invoice WHERE Id = '{invoice['Id']}'")["Invoice"][0]
    assert row["PrivateNote"] == "Voided" and not [key for key in row if key.startswith("_")]
    assert api.post("/query", "SELECT * FROM Invoice WHERE _voided = true").status_code == 400


def test_in_place_edits_invalidate_cached_orders(api):
    """A balance moved by an invoice (an in-place edit of the customer) reorders ORDERBY Balance at once."""
    top = api.query("SELECT * FROM Customer ORDERBY Balance DESC MAXRESULTS 1")["Customer"][0]
    low = api.query("SELECT * FROM Customer WHERE Balance = '0' ORDERBY Id MAXRESULTS 1")["Customer"][0]
    amount = float(top["Balance"]) + 100
    line = {"Amount": amount, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}
    invoice = api.create("Invoice", {"CustomerRef": {"value": low["Id"]}, "Line": [line]})
    assert api.query("SELECT * FROM Customer ORDERBY Balance DESC MAXRESULTS 1")["Customer"][0]["Id"] == low["Id"]
    by_balance = api.query("SELECT * FROM Invoice ORDERBY Balance DESC MAXRESULTS 1")["Invoice"][0]
    assert by_balance["Id"] == invoice["Id"]
    api.create(
        "Payment",
        {
            "CustomerRef": {"value": low["Id"]},
            "TotalAmt": amount,
            "Line": [{"Amount": amount, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}],
        },
    )
    assert api.query("SELECT * FROM Invoice ORDERBY Balance DESC MAXRESULTS 1")["Invoice"][0]["Id"] != invoice["Id"]
    assert api.query("SELECT * FROM Customer ORDERBY Balance DESC MAXRESULTS 1")["Customer"][0]["Id"] == top["Id"]
