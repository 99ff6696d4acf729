"""Items → products and products → items (services/products.py and the product list's admin action).

The mapping is proven on QBO's saved item samples; everything else runs against the emulator's sandbox company over
real HTTP (its 18 seeded items, API.md §9), with the call counts the emulator and the run record.
"""

from __future__ import annotations

import copy
import json
import math
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import reverse

from crm.models import ItemType, Product
from crm.roles import BOOKKEEPER, OWNER, STAFF
from qbo_emulator.webhooks import sign
from quickbooks_integration.models import AuditEvent, QuickBooksSync, SyncFailure, SyncRun
from quickbooks_integration.qbo.client import qbo_create, qbo_query, qbo_read, qbo_update
from quickbooks_integration.services import products as items
from quickbooks_integration.services.failures import failure_retry
from quickbooks_integration.services.products import (
    NotSellableError,
    item_is_sellable,
    item_payload_from_product,
    items_import_run,
    product_fields_from_item,
)
from quickbooks_integration.services.products_push import products_push
from quickbooks_integration.tasks import webhook_events_process_task
from tests.crm.factories import UserFactory

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "qbo"


def sample(name: str) -> dict:
    """A saved QBO sample (copies of the real payloads live in tests/fixtures/qbo/)."""
    return json.loads((FIXTURES / name).read_text())


# ---------------------------------------------------------------------------------------------------- mapping


def test_service_sample_maps_to_the_plan_fields_without_touching_it():
    item = sample("item_service_concrete.json")
    before = copy.deepcopy(item)

    fields = product_fields_from_item(item)

    assert item == before
    assert fields == {
        "name": "Concrete",
        "description": "Concrete for fountain installation",
        "item_type": ItemType.SERVICE,
        "unit_price": Decimal("0.00000"),
        "cost": Decimal("0.00000"),
        "quantity_on_hand": None,
        "reorder_point": None,
        "taxable": True,
        "active": True,
        "sku": "",
        "income_account": "Landscaping Services:Job Materials:Fountains and Garden Lighting",
        "income_account_id": "48",
        "expense_account": "",
        "expense_account_id": "",
        "quickbooks_item_id": "3",
        "quickbooks_sync_token": "1",
    }


def test_inventory_sample_keeps_quantity_and_both_accounts():
    item = {**sample("item_inventory_create_request.json"), "Id": "30", "SyncToken": "0", "UnitPrice": 12.755}

    fields = product_fields_from_item(item)

    assert fields["item_type"] == ItemType.INVENTORY
    assert fields["quantity_on_hand"] == Decimal("10")
    assert fields["unit_price"] == Decimal("12.75500")  # a float from JSON becomes its exact decimal text
    assert (fields["income_account"], fields["income_account_id"]) == ("Sales of Product Income", "79")
    assert (fields["expense_account"], fields["expense_account_id"]) == ("Cost of Goods Sold", "80")


def test_category_sample_is_a_grouping_not_a_product():
    category = sample("item_read_category.json")["Item"]

    assert not item_is_sellable(category)
    with pytest.raises(NotSellableError):
        product_fields_from_item(category)


def test_push_payload_has_the_create_request_shape_and_maps_back():
    product = Product(
        name="Crack injection",
        item_type=ItemType.SERVICE,
        unit_price=Decimal("450.00000"),
        cost=Decimal("112.50000"),
        description="Per crack, guaranteed 10 years.",
        taxable=True,
    )
    income = {"value": "1", "name": "Services"}

    payload = item_payload_from_product(product, income_account=income)

    assert payload == {
        "Name": "Crack injection",
        "Type": "Service",
        "UnitPrice": Decimal("450"),
        "Taxable": True,
        "TrackQtyOnHand": False,
        "IncomeAccountRef": {"value": "1", "name": "Services"},
        "Description": "Per crack, guaranteed 10 years.",
        "PurchaseCost": Decimal("112.5"),
    }
    request_sample = sample("item_inventory_create_request.json")
    assert set(payload["IncomeAccountRef"]) == set(request_sample["IncomeAccountRef"])  # {"name", "value"}
    back = product_fields_from_item({**payload, "Id": "31", "SyncToken": "0"})
    assert (back["name"], back["unit_price"], back["cost"], back["taxable"]) == (
        "Crack injection",
        Decimal("450.00000"),
        Decimal("112.50000"),
        True,
    )


# ---------------------------------------------------------------------------------------------------- pull

# The sandbox seed's items (qbo_emulator/seeds/sandbox.py, API.md §9):
# Id, Name, type, UnitPrice, PurchaseCost, QtyOnHand, Taxable, IncomeAccountRef value
SANDBOX_ITEMS = [
    ("1", "Services", ItemType.SERVICE, "0", "0", None, False, "1"),
    ("2", "Hours", ItemType.SERVICE, "0", "0", None, False, "1"),
    ("3", "Concrete", ItemType.SERVICE, "0", "0", None, True, "48"),
    ("4", "Design", ItemType.SERVICE, "75", "0", None, False, "82"),
    ("5", "Rock Fountain", ItemType.INVENTORY, "275", "125", "2", True, "79"),
    ("6", "Gardening", ItemType.SERVICE, "0", "0", None, False, "45"),
    ("7", "Installation", ItemType.SERVICE, "50", "0", None, False, "53"),
    ("8", "Lighting", ItemType.SERVICE, "0", "0", None, True, "48"),
    ("9", "Maintenance & Repair", ItemType.SERVICE, "0", "0", None, False, "52"),
    ("10", "Pest Control", ItemType.SERVICE, "35", "0", None, False, "54"),
    ("11", "Pump", ItemType.INVENTORY, "15", "10", "25", True, "79"),
    ("12", "Refunds & Allowances", ItemType.NON_INVENTORY, "0", "0", None, False, "85"),
    ("13", "Rocks", ItemType.SERVICE, "22.50", "0", None, True, "48"),
    ("14", "Sod", ItemType.SERVICE, "0", "0", None, True, "49"),
    ("15", "Soil", ItemType.SERVICE, "10", "0", None, True, "49"),
    ("16", "Sprinkler Heads", ItemType.INVENTORY, "2", "0.75", "25", True, "79"),
    ("17", "Sprinkler Pipes", ItemType.INVENTORY, "4", "2.50", "31", True, "79"),
    ("18", "Trimming", ItemType.SERVICE, "35", "0", None, False, "45"),
]


def _snapshot() -> dict[str, tuple]:
    return {
        p.quickbooks_item_id: (p.pk, p.name, p.unit_price, p.cost, p.quantity_on_hand, p.active, p.updated_at)
        for p in Product.objects.all()
    }


def _request_id() -> str:
    return uuid.uuid4().hex


def _sparse(connection, item_id: str, **changes) -> dict:
    token = qbo_read(connection=connection, entity="Item", entity_id=item_id)["SyncToken"]
    payload = {"Id": item_id, "SyncToken": token, "sparse": True, **changes}
    return qbo_update(connection=connection, entity="Item", payload=payload, request_id=_request_id())


def test_full_import_maps_every_sandbox_item_exactly(connected):
    run = items_import_run(connection_id=connected.pk)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert run.cursor["mode"] == "full"
    assert run.api_calls == math.ceil(len(SANDBOX_ITEMS) / 1000) + 1 == 2  # COUNT, then one page
    assert run.stats["created"] == 18 and run.stats["failed"] == 0
    products = {p.quickbooks_item_id: p for p in Product.objects.all()}
    assert len(products) == 18
    for item_id, name, item_type, price, cost, qty, taxable, income in SANDBOX_ITEMS:
        product = products[item_id]
        assert (product.name, product.item_type, product.taxable, product.active) == (name, item_type, taxable, True)
        assert product.unit_price == Decimal(price) and product.cost == Decimal(cost), name
        assert product.quantity_on_hand == (Decimal(qty) if qty else None), name
        assert product.income_account_id == income and product.quickbooks_sync_token == "0"
    assert products["13"].unit_price == Decimal("22.50") and str(products["16"].cost) == "0.75000"
    concrete = QuickBooksSync.objects.get(connection=connected, entity_type="Item", entity_id="3").payload
    # the account's name as QBO sent it (the saved sample shows the full "Parent:Sub" name; the emulator the leaf)
    assert products["3"].income_account == concrete["IncomeAccountRef"]["name"]
    assert products["3"].income_account.endswith("Fountains and Garden Lighting")
    assert (products["5"].expense_account, products["5"].expense_account_id) == ("Cost of Goods Sold", "80")
    ledger = QuickBooksSync.objects.filter(connection=connected, entity_type="Item")
    assert {row.entity_id: row.local_id for row in ledger} == {k: p.pk for k, p in products.items()}


def test_a_second_run_changes_nothing_full_or_cdc(connected, emulator):
    items_import_run(connection_id=connected.pk)
    before = _snapshot()

    full = items_import_run(connection_id=connected.pk, full=True)
    cdc = items_import_run(connection_id=connected.pk)

    assert full.cursor["mode"] == "full" and full.api_calls == 2
    assert (full.stats["created"], full.stats["updated"], full.stats["unchanged"]) == (0, 0, 18)
    assert cdc.cursor["mode"] == "cdc" and cdc.api_calls == 1 and cdc.stats["items"] == 0
    assert _snapshot() == before


def test_full_import_pages_by_the_count_with_no_trailing_empty_page(connected, emulator, monkeypatch):
    monkeypatch.setattr(items, "PAGE_SIZE", 6)  # 18 items: exactly 3 pages
    emulator.control.clear_requests()

    run = items_import_run(connection_id=connected.pk)

    calls = emulator.control.requests("/query")
    assert run.api_calls == len(calls) == 3 + 1
    assert calls[0]["method"] == "POST"  # the COUNT(*) (its statement is the body)
    pages = [call["query"]["query"] for call in calls[1:]]
    assert all("Active IN (true, false) ORDERBY Id" in page for page in pages)
    assert [page.split("STARTPOSITION ")[1] for page in pages] == [
        "1 MAXRESULTS 6",
        "7 MAXRESULTS 6",
        "13 MAXRESULTS 6",
    ]
    assert Product.objects.count() == 18


def test_cdc_picks_up_a_changed_and_a_deactivated_item(connected, emulator):
    items_import_run(connection_id=connected.pk)
    _sparse(connected, "4", UnitPrice="80.25")
    _sparse(connected, "11", Active=False)
    emulator.control.clear_requests()

    run = items_import_run(connection_id=connected.pk)

    assert run.cursor["mode"] == "cdc" and run.api_calls == 1
    assert (run.stats["items"], run.stats["updated"]) == (2, 2)
    since = emulator.control.requests("/cdc")[0]["query"]["changedSince"]
    assert since.endswith("+00:00")  # the offset is sent, not left for QBO to read in the company's zone
    design = Product.objects.get(quickbooks_item_id="4")
    pump = Product.objects.get(quickbooks_item_id="11")
    assert design.unit_price == Decimal("80.25") and design.quickbooks_sync_token == "1"
    assert (pump.active, pump.name) == (False, "Pump (deleted)")  # QBO's rename of an inactive item (API.md §3.4)
    assert Product.objects.filter(active=True).count() == 17


def test_categories_stay_in_the_ledger_and_their_items_become_products(connected):
    trees = qbo_create(
        connection=connected, entity="Item", payload={"Name": "Trees", "Type": "Category"}, request_id=_request_id()
    )
    maple = qbo_create(
        connection=connected,
        entity="Item",
        payload={
            "Name": "Maple",
            "Type": "Service",
            "UnitPrice": "149.99",
            "ParentRef": {"value": trees["Id"]},
            "IncomeAccountRef": {"value": "49"},
        },
        request_id=_request_id(),
    )

    run = items_import_run(connection_id=connected.pk)

    assert run.stats["groupings"] == 1 and run.stats["created"] == 19
    assert not Product.objects.filter(name="Trees").exists()
    ledger = QuickBooksSync.objects.get(connection=connected, entity_type="Item", entity_id=trees["Id"])
    assert ledger.local_id is None and ledger.payload["Type"] == "Category"
    product = Product.objects.get(quickbooks_item_id=maple["Id"])
    assert (product.name, product.unit_price) == ("Maple", Decimal("149.99"))


def test_an_unlinked_product_of_the_same_name_is_taken_as_that_item(connected):
    mine = Product.objects.create(name="design", unit_price=Decimal("10.00"))

    items_import_run(connection_id=connected.pk)

    mine.refresh_from_db()
    assert (mine.quickbooks_item_id, mine.name, mine.unit_price) == ("4", "Design", Decimal("75"))
    assert Product.objects.count() == 18
    assert AuditEvent.objects.get(action="item.link", object_id=str(mine.pk)).after["quickbooks_item_id"] == "4"


def _service(connection, name: str, price: str) -> dict:
    payload = {"Name": name, "Type": "Service", "UnitPrice": price, "IncomeAccountRef": {"value": "1"}}
    return qbo_create(connection=connection, entity="Item", payload=payload, request_id=_request_id())


def test_two_items_both_renamed_on_deactivation_keep_distinct_product_names(connected):
    first = _service(connected, "Temp", "1")
    _sparse(connected, first["Id"], Active=False)
    second = _service(connected, "Temp", "2")  # the deactivation freed the name (API.md §3.4)
    _sparse(connected, second["Id"], Active=False)

    items_import_run(connection_id=connected.pk)

    names = dict(Product.objects.filter(name__startswith="Temp").values_list("quickbooks_item_id", "name"))
    assert names == {first["Id"]: "Temp (deleted)", second["Id"]: f"Temp (deleted) [QBO item {second['Id']}]"}


def test_an_item_the_crm_refuses_is_a_failure_row_until_qbo_fixes_it(connected):
    mansion = _service(connected, "Whole-house underpinning", "2000000")  # past the CRM's 1,000,000 price limit

    run = items_import_run(connection_id=connected.pk)

    assert run.status == SyncRun.Status.SUCCEEDED and (run.stats["created"], run.stats["failed"]) == (18, 1)
    ledger = QuickBooksSync.objects.get(connection=connected, entity_type="Item", entity_id=mansion["Id"])
    assert ledger.sync_status == QuickBooksSync.Status.ERROR and "unit_price" in ledger.error_message
    failure = SyncFailure.objects.get(kind="item_pull", entity_id=mansion["Id"], resolved_at__isnull=True)
    assert not Product.objects.filter(quickbooks_item_id=mansion["Id"]).exists()

    _sparse(connected, mansion["Id"], UnitPrice="200000")
    items_import_run(connection_id=connected.pk)

    assert Product.objects.get(quickbooks_item_id=mansion["Id"]).unit_price == Decimal("200000")
    failure.refresh_from_db()
    assert failure.resolved_at is not None


def test_item_webhooks_reach_the_products(connected, emulator, client):
    items_import_run(connection_id=connected.pk)
    _sparse(connected, "10", UnitPrice="37.5")
    _sparse(connected, "18", Active=False)
    changes = [
        {"name": "Item", "id": item_id, "operation": "Update", "lastUpdated": "2026-12-01T10:00:00-0800"}
        for item_id in ("10", "18")
    ]
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
    assert Product.objects.get(quickbooks_item_id="10").unit_price == Decimal("37.5")
    trimming = Product.objects.get(quickbooks_item_id="18")
    assert (trimming.active, trimming.name) == (False, "Trimming (deleted)")


# ---------------------------------------------------------------------------------------------------- push


@pytest.fixture
def staff(db):
    return UserFactory(username="staff-member", groups=[STAFF])


def _items_named(connection, name: str) -> list[dict]:
    return list(qbo_query(connection=connection, sql=f"SELECT * FROM Item WHERE Name = '{name}'"))


def test_push_creates_a_service_item_with_the_company_income_account(connected, emulator, staff):
    product = Product.objects.create(
        name="Crack injection", unit_price=Decimal("450.00"), taxable=True, description="Per crack."
    )
    emulator.control.clear_requests()

    result = products_push(connection=connected, products=[product], actor=staff)

    [outcome] = result.outcomes
    assert outcome.status == "created", outcome.message
    # one Account query (IncomeAccountRef), one batch
    assert [r["path"].rsplit("/", 1)[1] for r in emulator.control.requests("/v3/company/")] == ["query", "batch"]
    item = qbo_read(connection=connected, entity="Item", entity_id=outcome.item_id)
    assert (item["Type"], item["Name"], Decimal(item["UnitPrice"])) == ("Service", "Crack injection", Decimal("450"))
    assert item["IncomeAccountRef"] == {"value": "1", "name": "Services"}
    product.refresh_from_db()
    assert product.quickbooks_item_id == outcome.item_id and product.quickbooks_sync_token == "0"
    assert (product.income_account, product.income_account_id) == ("Services", "1")
    assert QuickBooksSync.objects.get(entity_type="Item", entity_id=outcome.item_id).local_id == product.pk


def test_many_products_go_in_batches_of_thirty(connected, emulator, staff):
    products = [Product.objects.create(name=f"Anchor {n:02d}", unit_price=Decimal("595")) for n in range(31)]
    emulator.control.clear_requests()

    result = products_push(connection=connected, products=products, actor=staff)

    assert [o.status for o in result.outcomes] == ["created"] * 31
    assert emulator.control.count("/batch") == 2
    assert Product.objects.filter(name__startswith="Anchor", quickbooks_item_id__isnull=False).count() == 31


def test_a_retry_replays_the_stored_requestid_and_makes_one_item(connected, emulator, staff, settings):
    settings.QUICKBOOKS_MAX_ATTEMPTS = 1  # the transport gives up at once: the push itself fails
    product = Product.objects.create(name="Wall crack repair", unit_price=Decimal("650.00"))
    emulator.control.drop_response_next("/batch$")  # QBO makes the item, the answer is lost

    first = products_push(connection=connected, products=[product], actor=staff)

    assert first.outcomes[0].status == "failed"
    failure = SyncFailure.objects.get(kind="item_push", resolved_at__isnull=True)
    assert len(_items_named(connected, "Wall crack repair")) == 1

    message = failure_retry(failure=failure, actor=UserFactory(username="bk", groups=[BOOKKEEPER]))

    batches = emulator.control.requests("/batch")
    assert [b["outcome"] for b in batches] == ["dropped", "replayed"]
    assert batches[0]["query"]["requestid"] == batches[1]["query"]["requestid"] == failure.request_id
    assert "created" in message
    assert len(_items_named(connected, "Wall crack repair")) == 1
    product.refresh_from_db()
    assert product.quickbooks_item_id == _items_named(connected, "Wall crack repair")[0]["Id"]
    failure.refresh_from_db()
    assert failure.resolved_at is not None


def test_a_duplicate_name_of_the_same_product_links_it(connected, staff):
    made = qbo_create(
        connection=connected,
        entity="Item",
        payload={
            "Name": "Inspection fee",
            "Type": "Service",
            "UnitPrice": "150",
            "Description": "Visit and report.",
            "IncomeAccountRef": {"value": "1"},
        },
        request_id=_request_id(),
    )
    product = Product.objects.create(
        name="Inspection fee", unit_price=Decimal("150.00"), description="Visit and report."
    )

    [outcome] = products_push(connection=connected, products=[product], actor=staff).outcomes

    assert (outcome.status, outcome.item_id) == ("linked", made["Id"])
    product.refresh_from_db()
    assert product.quickbooks_item_id == made["Id"]
    assert len(_items_named(connected, "Inspection fee")) == 1


def test_a_duplicate_name_of_another_item_is_a_failure_row(connected, staff):
    product = Product.objects.create(name="Design", unit_price=Decimal("99.00"))  # QBO's item 4 costs 75

    [outcome] = products_push(connection=connected, products=[product], actor=staff).outcomes

    assert outcome.status == "failed"
    failure = SyncFailure.objects.get(kind="item_push", resolved_at__isnull=True)
    assert failure.code == "6240" and "item 4" in failure.message and failure.object_id == str(product.pk)
    product.refresh_from_db()
    assert product.quickbooks_item_id is None


def test_a_batch_with_a_failing_item_records_the_rest(connected, emulator, staff):
    good = Product.objects.create(name="Carbon-fiber strap", unit_price=Decimal("325"))
    bad = Product.objects.create(name="Bowed-wall anchor", unit_price=Decimal("595"), income_account_id="5")  # inactive
    emulator.control.clear_requests()

    outcomes = {
        o.product_id: o for o in products_push(connection=connected, products=[good, bad], actor=staff).outcomes
    }

    assert emulator.control.count("/batch") == 1
    assert outcomes[good.pk].status == "created" and outcomes[bad.pk].status == "failed"
    failure = SyncFailure.objects.get(kind="item_push", object_id=str(bad.pk))
    assert failure.code == "610" and failure.http_status == 400
    assert Product.objects.get(pk=good.pk).quickbooks_item_id == outcomes[good.pk].item_id


def test_products_that_cannot_be_sent_are_skipped_with_the_reason(connected, emulator, staff):
    stock = Product.objects.create(name="Epoxy paste", item_type=ItemType.INVENTORY, unit_price=Decimal("24.75"))
    old = Product.objects.create(name="Old fee", unit_price=Decimal("1"), active=False)
    emulator.control.clear_requests()

    result = products_push(connection=connected, products=[stock, old], actor=staff)

    assert [o.status for o in result.outcomes] == ["skipped", "skipped"]
    assert emulator.control.count("/v3/company/") == 0


def test_the_service_rechecks_the_push_permission(connected):
    owner = UserFactory(username="the-owner", groups=[OWNER])
    product = Product.objects.create(name="Sump pump installation", unit_price=Decimal("1495"))

    with pytest.raises(PermissionDenied):
        products_push(connection=connected, products=[product], actor=owner)


# ---------------------------------------------------------------------------------------------------- admin


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _actions(client: Client) -> list[str]:
    page = client.get(reverse("admin:crm_product_changelist"))
    assert page.status_code == 200
    form = page.context["action_form"]  # None when the user has no action at all
    return [name for name, _ in form.fields["action"].choices] if form else []


def test_staff_and_bookkeeper_can_push_from_the_product_list_and_the_owner_cannot(connected, staff):
    product = Product.objects.create(name="Crack injection", unit_price=Decimal("450"))
    owner = _client(UserFactory(username="the-owner", groups=[OWNER]))
    staff_client = _client(staff)

    assert "create_in_quickbooks" in _actions(staff_client)
    assert "create_in_quickbooks" in _actions(_client(UserFactory(username="bk", groups=[BOOKKEEPER])))
    assert "create_in_quickbooks" not in _actions(owner)

    url = reverse("admin:crm_product_changelist")
    owner.post(url, {"action": "create_in_quickbooks", "_selected_action": [product.pk]}, follow=True)
    product.refresh_from_db()
    assert product.quickbooks_item_id is None

    response = staff_client.post(url, {"action": "create_in_quickbooks", "_selected_action": [product.pk]}, follow=True)

    product.refresh_from_db()
    assert product.quickbooks_item_id
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["1 product created in QuickBooks."]
    assert AuditEvent.objects.filter(action="item.push", object_id=str(product.pk), actor=staff).exists()
