"""The QuickBooksSync ledger (services/mirror.py) on real QBO payloads: newer-only upserts, replays, deletes, and a
query count that does not grow with the page."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path

import pytest

from quickbooks_integration.models import QuickBooksAuth, QuickBooksSync
from quickbooks_integration.services.mirror import mirror_apply, mirror_link, qbo_time

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "qbo"
pytestmark = pytest.mark.django_db


@pytest.fixture
def connection() -> QuickBooksAuth:
    return QuickBooksAuth.objects.create(company_id="9341455649204247", company_name="Sandbox")


def _customer() -> dict:
    return json.loads((SAMPLES / "customer_read.json").read_text(), parse_float=Decimal)["Customer"]


def _version(data: dict, *, token: str, updated: str) -> dict:
    copied = copy.deepcopy(data)
    copied["SyncToken"] = token
    copied["MetaData"]["LastUpdatedTime"] = updated
    return copied


def test_a_new_entity_is_kept_with_its_json_token_and_time(connection):
    customer = _customer()

    result = mirror_apply(connection=connection, entity_type="Customer", rows=[customer])

    entry = QuickBooksSync.objects.get()
    assert [e.pk for e in result.created] == [entry.pk] and result.unchanged == 0
    assert entry.entity_id == customer["Id"] and entry.sync_version == int(customer["SyncToken"])
    assert entry.qbo_updated_at == qbo_time(customer["MetaData"]["LastUpdatedTime"])
    assert entry.sync_status == QuickBooksSync.Status.SYNCED
    assert entry.payload["DisplayName"] == customer["DisplayName"]
    assert Decimal(str(entry.payload["Balance"])) == customer["Balance"]  # money survives as an exact string


def test_only_a_newer_copy_changes_the_row_so_replays_and_late_events_are_harmless(connection):
    customer = _customer()
    v2 = _version(customer, token="2", updated="2026-11-02T10:00:00-08:00")
    v3 = _version(customer, token="3", updated="2026-11-03T10:00:00-08:00")
    v3["DisplayName"] = "Renamed in QuickBooks"

    mirror_apply(connection=connection, entity_type="Customer", rows=[v3])
    late = mirror_apply(connection=connection, entity_type="Customer", rows=[v2])  # an older event arrives late
    replay = mirror_apply(connection=connection, entity_type="Customer", rows=[v3])  # the same one again

    assert late.changed == [] and late.unchanged == 1
    assert replay.changed == [] and replay.unchanged == 1
    entry = QuickBooksSync.objects.get()
    assert entry.sync_version == 3 and entry.payload["DisplayName"] == "Renamed in QuickBooks"


def test_a_page_holding_one_entity_twice_keeps_its_newest_copy(connection):
    customer = _customer()
    old = _version(customer, token="4", updated="2026-11-04T10:00:00-08:00")
    new = _version(customer, token="5", updated="2026-11-05T10:00:00-08:00")

    result = mirror_apply(connection=connection, entity_type="Customer", rows=[new, old])

    assert len(result.created) == 1 and QuickBooksSync.objects.get().sync_version == 5


def test_a_cdc_deleted_stub_marks_the_row_deleted_and_keeps_the_last_json(connection):
    customer = _customer()
    mirror_apply(connection=connection, entity_type="Customer", rows=[customer])
    stub = json.loads((SAMPLES / "cdc_deleted_object_shape.json").read_text())
    stub = {**stub, "Id": customer["Id"], "status": "Deleted"}
    stub["MetaData"] = {"LastUpdatedTime": "2030-01-01T00:00:00-08:00"}

    mirror_apply(connection=connection, entity_type="Customer", rows=[stub])

    entry = QuickBooksSync.objects.get()
    assert entry.deleted_at == qbo_time("2030-01-01T00:00:00-08:00")
    assert entry.payload["DisplayName"] == customer["DisplayName"]


@pytest.mark.parametrize("size", [10, 60])
def test_queries_per_page_do_not_grow_with_the_page(connection, django_assert_num_queries, size):
    customer = _customer()
    rows = [{**customer, "Id": str(1000 + n)} for n in range(size)]
    mirror_apply(connection=connection, entity_type="Customer", rows=rows[: size // 2])
    newer = [_version(row, token="9", updated="2030-01-01T00:00:00-08:00") for row in rows]

    with django_assert_num_queries(3):  # read, bulk insert, bulk update: the same for 10 rows or 200
        result = mirror_apply(connection=connection, entity_type="Customer", rows=newer)

    assert len(result.created) == size - size // 2 and len(result.updated) == size // 2


def test_rows_are_linked_to_their_crm_row(connection):
    customer = _customer()
    mirror_apply(connection=connection, entity_type="Customer", rows=[customer])

    mirror_link(connection=connection, entity_type="Customer", links={customer["Id"]: 812})

    assert QuickBooksSync.objects.get().local_id == 812


def test_the_same_entity_id_in_another_realm_or_type_is_another_row(connection):
    other = QuickBooksAuth.objects.create(company_id="9130357766001234", status=QuickBooksAuth.Status.DISCONNECTED)
    customer = _customer()

    mirror_apply(connection=connection, entity_type="Customer", rows=[customer])
    mirror_apply(connection=other, entity_type="Customer", rows=[customer])
    mirror_apply(connection=connection, entity_type="Vendor", rows=[customer])

    assert QuickBooksSync.objects.count() == 3
