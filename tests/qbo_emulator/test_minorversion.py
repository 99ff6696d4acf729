"""minorversion: today every request is answered at 75 (API.md §3.1); before 2025-08-01 lower values were honoured."""

from __future__ import annotations

import datetime as dt

import pytest

from qbo_emulator import minorversions as mv

TODAY = dt.date(2026, 1, 1)
BEFORE = dt.date(2025, 7, 1)


@pytest.mark.parametrize(
    ("requested", "today", "expected"),
    [
        (None, TODAY, 75),
        ("", TODAY, 75),
        ("75", TODAY, 75),
        ("4", TODAY, 75),
        ("74", TODAY, 75),
        ("junk", TODAY, 75),
        ("80", TODAY, 75),
        (None, BEFORE, 0),
        ("24", BEFORE, 24),
        ("75", BEFORE, 75),
        (None, mv.CUTOFF, 75),
    ],
)
def test_effective_version(requested, today, expected):
    assert mv.effective(requested, today) == expected


def test_the_table_holds_only_sourced_versions():
    assert mv.hidden_fields("Customer", 24) == {"IsProject"}
    assert mv.hidden_fields("Customer", 25) == set()
    assert mv.hidden_fields("Item", 3) == {"Sku"}
    assert mv.hidden_fields("CompanyInfo", 74) == {"DefaultTimeZone"}
    assert mv.hidden_fields("Invoice", 35) == {"InvoiceLink", "ProjectRef"}
    assert all(1 <= since <= mv.LATEST for since in mv.FIELD_SINCE.values())


def _get(api, path, version):
    params = {} if version is None else {"minorversion": version}
    response = api.get(path, params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    body.pop("time")
    return body


def _query(api, sql, version):
    params = {} if version is None else {"minorversion": version}
    response = api.post("/query", sql, params=params)
    assert response.status_code == 200, response.text
    return response.json()["QueryResponse"]


def test_no_minorversion_and_any_lower_one_are_answered_as_75(api):
    realm = api.realm_id
    for path in ("/customer/1", f"/companyinfo/{realm}"):
        at_75 = _get(api, path, "75")
        assert _get(api, path, None) == at_75
        assert _get(api, path, "4") == at_75
        assert _get(api, path, "74") == at_75
    assert "IsProject" in _get(api, "/customer/1", None)["Customer"]
    assert "DefaultTimeZone" in _get(api, f"/companyinfo/{realm}", "24")["CompanyInfo"]
    assert _query(api, "SELECT * FROM Customer", None) == _query(api, "SELECT * FROM Customer", "75")


@pytest.fixture()
def before_cutoff(api):
    """The emulator clock moved to 2025-07-01, when Intuit still honoured versions below 75."""
    now = api.emu.app.clock.now()
    target = dt.datetime(2025, 7, 1, 12, tzinfo=dt.UTC)
    api.emu.app.clock.advance((target - now).total_seconds())
    return api


def test_before_the_cutoff_fields_newer_than_the_version_are_left_out(before_cutoff):
    api = before_cutoff
    realm = api.realm_id
    # reads
    assert "IsProject" in _get(api, "/customer/1", "75")["Customer"]
    assert "IsProject" in _get(api, "/customer/1", "25")["Customer"]
    assert "IsProject" not in _get(api, "/customer/1", "24")["Customer"]
    assert "IsProject" not in _get(api, "/customer/1", None)["Customer"]
    assert "DefaultTimeZone" in _get(api, f"/companyinfo/{realm}", "75")["CompanyInfo"]
    assert "DefaultTimeZone" not in _get(api, f"/companyinfo/{realm}", "74")["CompanyInfo"]
    # queries
    rows = _query(api, "SELECT * FROM Customer", "24")["Customer"]
    assert rows and not any("IsProject" in row for row in rows)
    assert all("IsProject" in row for row in _query(api, "SELECT * FROM Customer", "75")["Customer"])
    # writes
    created = api.post("/customer", {"DisplayName": "Minor Version"}, params={"minorversion": "24"})
    assert created.status_code == 200, created.text
    assert "IsProject" not in created.json()["Customer"]
    customer_id = created.json()["Customer"]["Id"]
    assert "IsProject" in _get(api, f"/customer/{customer_id}", "75")["Customer"]
    item = {"Name": "Versioned", "Type": "Service", "Sku": "V-1", "IncomeAccountRef": {"value": "79"}}
    made = api.post("/item", item, params={"minorversion": "3"})
    assert made.status_code == 200, made.text
    assert "Sku" not in made.json()["Item"]
    assert _get(api, f"/item/{made.json()['Item']['Id']}", "4")["Item"]["Sku"] == "V-1"
    # batch and CDC
    batch = api.post(
        "/batch",
        {"BatchItemRequest": [{"bId": "1", "Query": "SELECT * FROM Customer WHERE Id = '1'"}]},
        params={"minorversion": "24"},
    )
    assert batch.status_code == 200, batch.text
    assert "IsProject" not in batch.json()["BatchItemResponse"][0]["QueryResponse"]["Customer"][0]
    since = (api.emu.app.clock.now() - dt.timedelta(days=1)).isoformat(timespec="seconds")
    changes = api.get("/cdc", params={"entities": "Customer", "changedSince": since, "minorversion": "24"})
    assert changes.status_code == 200, changes.text
    cdc_rows = changes.json()["CDCResponse"][0]["QueryResponse"][0]["Customer"]
    assert cdc_rows and not any("IsProject" in row for row in cdc_rows)
