"""Quotes → QBO estimates against the running emulator over real HTTP: create, update, batches, and every failure
of issue 11 (customer missing, inactive item 610, stale 5010, duplicate number 6140, throttled, a batch where some
items fail), each a failure row that a retry clears without making anything twice."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from crm import services as crm_services
from crm.models import Contact, Product, Quote, QuoteItem, QuoteStatus
from crm.roles import BOOKKEEPER, STAFF
from quickbooks_integration.models import AuditEvent, QuickBooksSync, SyncFailure
from quickbooks_integration.qbo.client import qbo_query, qbo_read, qbo_update
from quickbooks_integration.services import estimates
from quickbooks_integration.services.failures import failure_retry
from tests.crm.factories import ContactFactory, QuoteFactory, QuoteItemFactory, UserFactory

CUSTOMER = "Amy's Bird Sanctuary"
FAST_FAILURES = {  # one attempt, no real waiting: a throttle or a lost answer fails at once
    "QUICKBOOKS_MAX_ATTEMPTS": 1,
    "QUICKBOOKS_THROTTLE_WAIT_SECONDS": 0.01,
    "QUICKBOOKS_BACKOFF_CAP_SECONDS": 0.01,
}


# ---------------------------------------------------------------------------------------------------- helpers


@pytest.fixture
def sandbox(connected) -> SimpleNamespace:
    """The emulator's sandbox company as ids, read through our own client (items by name, customers by name)."""
    items = {row["Name"]: row["Id"] for row in qbo_query(connection=connected, sql="SELECT * FROM Item ORDERBY Id")}
    customers = {
        row["DisplayName"]: row["Id"]
        for row in qbo_query(connection=connected, sql="SELECT * FROM Customer ORDERBY Id")
    }
    return SimpleNamespace(connection=connected, items=items, customers=customers)


@pytest.fixture
def staff(db):
    return UserFactory(username="staff-member", groups=[STAFF])


@pytest.fixture
def bookkeeper(db):
    return UserFactory(username="the-bookkeeper", groups=[BOOKKEEPER])


@pytest.fixture
def staff_client(staff) -> Client:
    client = Client()
    client.force_login(staff)
    return client


def contact_for(sandbox, customer: str = CUSTOMER, **fields) -> Contact:
    """The CRM contact linked to a sandbox customer (one contact per customer: the link is unique)."""
    customer_id = sandbox.customers[customer]
    return Contact.objects.filter(quickbooks_customer_id=customer_id).first() or ContactFactory(
        quickbooks_customer_id=customer_id, **fields
    )


def product_for(sandbox, item: str, *, price: str, taxable: bool) -> Product:
    product, _ = Product.objects.get_or_create(
        name=item,
        defaults={"quickbooks_item_id": sandbox.items[item], "unit_price": Decimal(price), "taxable": taxable},
    )
    return product


# (sandbox item, quantity, unit price, taxable): 2 × 75 + 3 × 22.50 taxed at the sandbox's 8 % = 222.90
LINES = (("Design", "2", "75", False), ("Rocks", "3", "22.50", True))


def quote_for(sandbox, *, lines=LINES, tax_rate: str = "8", contact: Contact | None = None, **fields) -> Quote:
    """A quote built from products linked to sandbox items, its totals computed by the CRM's own service."""
    quote = QuoteFactory(contact=contact or contact_for(sandbox), tax_rate=Decimal(tax_rate), **fields)
    for position, (item, qty, price, taxable) in enumerate(lines, 1):
        QuoteItemFactory(
            quote=quote,
            product=product_for(sandbox, item, price=price, taxable=taxable),
            description=f"{item} work",
            quantity=Decimal(qty),
            unit_price=Decimal(price),
            taxable=taxable,
            position=position,
        )
    return crm_services.quote_recalculate(quote=quote)


def estimates_in_qbo(sandbox) -> list[dict]:
    return list(qbo_query(connection=sandbox.connection, sql="SELECT * FROM Estimate ORDERBY Id"))


def marked(sandbox, quote: Quote) -> list[dict]:
    """The QBO estimates carrying this quote's marker: exactly one, whatever was retried."""
    return [row for row in estimates_in_qbo(sandbox) if row.get("PrivateNote") == estimates.estimate_marker(quote)]


def item_active_set(sandbox, item: str, active: bool) -> None:
    """Deactivate (or reactivate) a sandbox item in QBO, as the bookkeeper would in QuickBooks."""
    row = qbo_read(connection=sandbox.connection, entity="Item", entity_id=sandbox.items[item])
    qbo_update(
        connection=sandbox.connection,
        entity="Item",
        payload={"Id": row["Id"], "SyncToken": row["SyncToken"], "sparse": True, "Active": active},
        request_id=f"test-item-{item}-{row['SyncToken']}-{active}"[:50],
    )


def api_calls(emulator, fragment: str, method: str = "POST") -> list[dict]:
    return [r for r in emulator.control.requests(fragment, method) if "/v3/company/" in r["path"]]


def open_failure(key: str) -> SyncFailure | None:
    return SyncFailure.objects.filter(key=key, resolved_at__isnull=True).first()


# ---------------------------------------------------------------------------------------------------- create


@pytest.mark.django_db
def test_create_stores_id_token_line_ids_and_the_totals_agree_to_the_cent(sandbox, emulator, staff):
    quote = quote_for(sandbox)
    assert quote.total_amount == Decimal("222.90")
    emulator.control.clear_requests()

    result = estimates.estimate_push(quote=quote, actor=staff)

    assert (result.outcome, result.qbo_total, result.crm_total, result.total_differs) == (
        "created",
        Decimal("222.90"),
        Decimal("222.90"),
        False,
    )
    quote.refresh_from_db()
    estimate = qbo_read(connection=sandbox.connection, entity="Estimate", entity_id=quote.quickbooks_estimate_id)
    assert (quote.quickbooks_sync_token, estimate["SyncToken"]) == ("0", "0")
    assert estimate["DocNumber"] == quote.quote_number and estimate["PrivateNote"] == f"CRM-Q-{quote.pk}"
    assert estimate["CustomerRef"]["value"] == sandbox.customers[CUSTOMER]
    assert Decimal(str(estimate["TotalAmt"])) == Decimal("222.90")
    lines = [line for line in estimate["Line"] if line["DetailType"] == "SalesItemLineDetail"]
    assert [
        (
            line["SalesItemLineDetail"]["ItemRef"]["value"],
            Decimal(str(line["SalesItemLineDetail"]["Qty"])),
            Decimal(str(line["SalesItemLineDetail"]["UnitPrice"])),
            Decimal(str(line["Amount"])),
            line["SalesItemLineDetail"]["TaxCodeRef"]["value"],
            line["Description"],
        )
        for line in lines
    ] == [
        (sandbox.items["Design"], Decimal("2"), Decimal("75"), Decimal("150.00"), "NON", "Design work"),
        (sandbox.items["Rocks"], Decimal("3"), Decimal("22.50"), Decimal("67.50"), "TAX", "Rocks work"),
    ]
    assert list(quote.items.values_list("quickbooks_line_id", flat=True)) == [line["Id"] for line in lines]
    entry = QuickBooksSync.objects.get(entity_type="Estimate", entity_id=quote.quickbooks_estimate_id)
    assert entry.local_id == quote.pk and entry.sync_version == 0
    assert AuditEvent.objects.filter(action="estimate_push", object_id=str(quote.pk), actor=staff).count() == 1
    creates = api_calls(emulator, "/estimate")
    assert len(creates) == 1 and creates[0]["query"]["requestid"] == estimates.request_id_for(
        sandbox.connection, "Estimate", "create", quote.pk, 0
    )


@pytest.mark.django_db
def test_contact_not_linked_is_refused_with_what_to_do(sandbox, emulator, staff):
    quote = quote_for(sandbox, contact=ContactFactory(quickbooks_customer_id=None))
    emulator.control.clear_requests()

    result = estimates.estimate_push(quote=quote, actor=staff)

    assert result.outcome == "failed"
    assert "not linked to a QuickBooks customer" in result.message and "Create in QuickBooks" in result.message
    failure = open_failure(f"estimate_push:quote:{quote.pk}")
    assert failure.error_class == "CustomerNotLinkedError" and failure.object_id == str(quote.pk)
    assert api_calls(emulator, "/estimate") == [] and api_calls(emulator, "/batch") == []
    assert not Contact.objects.filter(quickbooks_customer_id__isnull=False).exclude(pk=quote.contact_id).exists()


@pytest.mark.django_db
def test_a_line_whose_product_has_no_quickbooks_item_is_a_clear_error(sandbox, emulator, staff):
    quote = quote_for(sandbox)
    local = Product.objects.create(name="Crack injection (per crack)", unit_price=Decimal("450"))
    QuoteItem.objects.create(quote=quote, product=local, quantity=Decimal("1"), unit_price=Decimal("450"), position=3)
    crm_services.quote_recalculate(quote=quote)
    emulator.control.clear_requests()

    result = estimates.estimate_push(quote=quote, actor=staff)

    assert result.outcome == "failed"
    assert "line 3 (Crack injection (per crack)) is not linked to a QuickBooks item" in result.message
    assert open_failure(f"estimate_push:quote:{quote.pk}").error_class == "ItemNotLinkedError"
    assert api_calls(emulator, "/estimate") == []


@pytest.mark.django_db
def test_the_service_rechecks_the_permission(sandbox, emulator, bookkeeper):
    """The Bookkeeper may not push estimates: the service refuses even when called directly (not from the admin)."""
    quote = quote_for(sandbox)
    emulator.control.clear_requests()

    with pytest.raises(estimates.PushNotAllowedError):
        estimates.estimate_push(quote=quote, actor=bookkeeper)

    assert api_calls(emulator, "/estimate") == []
    assert AuditEvent.objects.get(action="estimate_push", actor=bookkeeper).outcome == "failure"


# ---------------------------------------------------------------------------------------------------- idempotence


@pytest.mark.django_db
def test_a_double_click_makes_one_estimate_and_the_second_sends_nothing(sandbox, emulator, staff):
    quote = quote_for(sandbox)
    before = len(estimates_in_qbo(sandbox))
    emulator.control.clear_requests()

    first = estimates.estimate_push(quote=quote, actor=staff)
    second = estimates.estimate_push(quote=quote, actor=staff)

    assert (first.outcome, second.outcome) == ("created", "unchanged")
    assert second.estimate_id == first.estimate_id
    assert len(api_calls(emulator, "/estimate")) == 1
    assert len(estimates_in_qbo(sandbox)) == before + 1


@pytest.mark.django_db
def test_a_lost_answer_is_resent_with_the_same_requestid_and_replayed(sandbox, emulator, staff):
    """Commit, then drop the answer: the transport resends the same requestid and QBO replays the first create."""
    quote = quote_for(sandbox)
    before = len(estimates_in_qbo(sandbox))
    emulator.control.clear_requests()
    emulator.control.drop_response_next("/estimate$", method="POST")

    result = estimates.estimate_push(quote=quote, actor=staff)

    assert result.outcome == "created"
    sent = api_calls(emulator, "/estimate")
    assert [r["outcome"] for r in sent] == ["dropped", "replayed"]
    assert len({r["query"]["requestid"] for r in sent}) == 1
    assert len(estimates_in_qbo(sandbox)) == before + 1 and len(marked(sandbox, quote)) == 1


@pytest.mark.django_db
def test_a_retry_after_a_timeout_finds_the_estimate_by_its_marker_instead_of_creating_another(
    sandbox, emulator, staff, settings
):
    """QBO has been seen not to honour requestid after a timeout: the retry (a new requestid) looks first."""
    for name, value in FAST_FAILURES.items():
        setattr(settings, name, value)
    quote = quote_for(sandbox)
    emulator.control.drop_response_next("/estimate$", method="POST")

    lost = estimates.estimate_push(quote=quote, actor=staff)

    assert lost.outcome == "failed" and "QBO connection failed" in lost.message
    failure = open_failure(f"estimate_push:quote:{quote.pk}")
    assert failure.error_class == "TransientError" and failure.request_id
    assert len(marked(sandbox, quote)) == 1  # QBO did make it
    emulator.control.clear_requests()

    retried = estimates.estimate_push(quote=quote, actor=staff)

    assert api_calls(emulator, "/estimate") == []  # no second create
    assert len(api_calls(emulator, "/query")) == 1  # the one read a retry needs
    assert retried.outcome == "found" and retried.estimate_id == marked(sandbox, quote)[0]["Id"]
    assert len(marked(sandbox, quote)) == 1
    failure.refresh_from_db()
    assert failure.resolved_at is not None
    quote.refresh_from_db()
    assert quote.quickbooks_estimate_id == retried.estimate_id


# ---------------------------------------------------------------------------------------------------- update, 5010


def _edit_first_line(quote: Quote, quantity: str) -> Quote:
    item = quote.items.order_by("position").first()
    item.quantity = Decimal(quantity)
    item.save()
    return crm_services.quote_recalculate(quote=Quote.objects.get(pk=quote.pk))


@pytest.mark.django_db
def test_after_an_edit_the_estimate_is_updated_in_place(sandbox, emulator, staff):
    quote = quote_for(sandbox)
    estimates.estimate_push(quote=quote, actor=staff)
    line_ids = list(quote.items.values_list("quickbooks_line_id", flat=True))
    quote = _edit_first_line(quote, "4")

    result = estimates.estimate_push(quote=quote, actor=staff)

    assert result.outcome == "updated" and result.qbo_total == result.crm_total == Decimal("372.90")
    quote.refresh_from_db()
    estimate = qbo_read(connection=sandbox.connection, entity="Estimate", entity_id=quote.quickbooks_estimate_id)
    assert quote.quickbooks_sync_token == estimate["SyncToken"] == "1"
    assert [line["Id"] for line in estimate["Line"] if line["DetailType"] == "SalesItemLineDetail"] == line_ids
    assert list(quote.items.values_list("quickbooks_line_id", flat=True)) == line_ids


@pytest.mark.django_db
def test_stale_when_qbo_changed_other_fields_is_reapplied_and_both_changes_survive(sandbox, emulator, staff):
    quote = quote_for(sandbox)
    estimates.estimate_push(quote=quote, actor=staff)
    quote.refresh_from_db()
    current = qbo_read(connection=sandbox.connection, entity="Estimate", entity_id=quote.quickbooks_estimate_id)
    qbo_update(  # the bookkeeper adds a customer memo in QuickBooks
        connection=sandbox.connection,
        entity="Estimate",
        payload={
            "Id": current["Id"],
            "SyncToken": current["SyncToken"],
            "sparse": True,
            "CustomerMemo": {"value": "Gate code 4411"},
        },
        request_id="test-memo",
    )
    quote = _edit_first_line(quote, "4")
    emulator.control.clear_requests()

    result = estimates.estimate_push(quote=quote, actor=staff)

    assert result.outcome == "updated"
    assert [r["status"] for r in api_calls(emulator, "/estimate")] == [400, 200]  # 5010, then the re-applied update
    assert len(api_calls(emulator, "/estimate/", "GET")) == 1  # the re-read
    estimate = qbo_read(connection=sandbox.connection, entity="Estimate", entity_id=quote.quickbooks_estimate_id)
    assert estimate["CustomerMemo"]["value"] == "Gate code 4411"
    assert Decimal(str(estimate["Line"][0]["SalesItemLineDetail"]["Qty"])) == Decimal("4")
    assert Decimal(str(estimate["TotalAmt"])) == quote.total_amount
    assert open_failure(f"estimate_push:quote:{quote.pk}") is None


@pytest.mark.django_db
def test_stale_when_qbo_changed_the_same_lines_is_a_conflict_row_and_nothing_is_overwritten(sandbox, emulator, staff):
    quote = quote_for(sandbox)
    estimates.estimate_push(quote=quote, actor=staff)
    quote.refresh_from_db()
    current = qbo_read(connection=sandbox.connection, entity="Estimate", entity_id=quote.quickbooks_estimate_id)
    lines = [line for line in current["Line"] if line["DetailType"] == "SalesItemLineDetail"]
    lines[1]["SalesItemLineDetail"]["Qty"] = Decimal("5")
    lines[1]["Amount"] = Decimal("112.50")
    qbo_update(  # the bookkeeper changes a line in QuickBooks
        connection=sandbox.connection,
        entity="Estimate",
        payload={"Id": current["Id"], "SyncToken": current["SyncToken"], "sparse": True, "Line": lines},
        request_id="test-lines",
    )
    quote = _edit_first_line(quote, "4")

    result = estimates.estimate_push(quote=quote, actor=staff)

    assert result.outcome == "failed" and "nothing was overwritten" in result.message
    failure = open_failure(f"estimate_push:quote:{quote.pk}")
    assert (failure.code, failure.error_class) == ("5010", "StaleObjectError")
    estimate = qbo_read(connection=sandbox.connection, entity="Estimate", entity_id=quote.quickbooks_estimate_id)
    qtys = [Decimal(str(line["SalesItemLineDetail"]["Qty"])) for line in estimate["Line"][:2]]
    assert qtys == [Decimal("2"), Decimal("5")]  # QuickBooks' version stands

    again = estimates.estimate_push(quote=quote, actor=staff)  # after review, pushing again: the CRM's version wins

    assert again.outcome == "updated" and again.qbo_total == again.crm_total
    failure.refresh_from_db()
    assert failure.resolved_at is not None


@pytest.mark.django_db
def test_an_estimate_deleted_in_qbo_is_made_again_not_replayed(sandbox, emulator, staff):
    """Once the ledger knows QBO deleted the estimate (a pull saw the Delete), the next push makes a new one with a
    new requestid: the old one would replay the deleted estimate's id."""
    import requests

    quote = quote_for(sandbox)
    first = estimates.estimate_push(quote=quote, actor=staff)
    deleted = requests.post(
        f"{emulator.api_url}/company/{emulator.realm_id}/estimate",
        params={"operation": "delete"},
        json={"Id": first.estimate_id, "SyncToken": "0"},
        headers={"Authorization": f"Bearer {sandbox.connection.access_token}", "Accept": "application/json"},
        timeout=10,
    )
    assert deleted.json()["Estimate"]["status"] == "Deleted"
    QuickBooksSync.objects.filter(entity_type="Estimate", entity_id=first.estimate_id).update(deleted_at=timezone.now())

    again = estimates.estimate_push(quote=quote, actor=staff)

    assert again.outcome == "created" and again.estimate_id != first.estimate_id
    assert [row["Id"] for row in marked(sandbox, quote)] == [again.estimate_id]
    assert Quote.objects.get(pk=quote.pk).quickbooks_estimate_id == again.estimate_id


@pytest.mark.django_db
def test_the_customers_answer_taken_by_the_crm_goes_to_qbo_and_a_closed_estimate_is_left_closed(
    sandbox, emulator, staff
):
    quote = quote_for(sandbox, status=QuoteStatus.ACCEPTED)  # accepted by phone before anything was pushed

    created = estimates.estimate_push(quote=quote, actor=staff)

    assert qbo_read(connection=sandbox.connection, entity="Estimate", entity_id=created.estimate_id)["TxnStatus"] == (
        "Accepted"
    )
    Quote.objects.filter(pk=quote.pk).update(status=QuoteStatus.DECLINED)  # the customer changed their mind
    emulator.control.clear_requests()

    updated = estimates.estimate_push(quote=Quote.objects.get(pk=quote.pk), actor=staff)

    assert updated.outcome == "updated" and len(api_calls(emulator, "/estimate")) == 1
    current = qbo_read(connection=sandbox.connection, entity="Estimate", entity_id=created.estimate_id)
    assert current["TxnStatus"] == "Rejected"
    qbo_update(  # invoiced in QuickBooks meanwhile: Closed there
        connection=sandbox.connection,
        entity="Estimate",
        request_id=f"close-{current['Id']}",
        payload={"Id": current["Id"], "SyncToken": current["SyncToken"], "sparse": True, "TxnStatus": "Closed"},
    )
    Quote.objects.filter(pk=quote.pk).update(status=QuoteStatus.ACCEPTED)

    stale = estimates.estimate_push(quote=Quote.objects.get(pk=quote.pk), actor=staff)  # before any pull saw it

    assert stale.outcome == "failed" and "changed this estimate" in stale.message  # QBO changed it: no overwrite
    assert Quote.objects.get(pk=quote.pk).status == QuoteStatus.CONVERTED  # QBO's Closed reached the quote
    Quote.objects.filter(pk=quote.pk).update(status=QuoteStatus.ACCEPTED)  # staff set it back by mistake

    again = estimates.estimate_push(quote=Quote.objects.get(pk=quote.pk), actor=staff)

    assert again.outcome == "unchanged"  # an invoiced estimate's status is no longer the customer's answer
    assert qbo_read(connection=sandbox.connection, entity="Estimate", entity_id=created.estimate_id)["TxnStatus"] == (
        "Closed"
    )


# ---------------------------------------------------------------------------------------------------- QBO refusals


@pytest.mark.django_db
def test_inactive_item_610_is_a_failure_row_and_the_retry_after_reactivating_creates_once(
    sandbox, emulator, staff, bookkeeper, django_capture_on_commit_callbacks
):
    quote = quote_for(sandbox)
    item_active_set(sandbox, "Rocks", False)

    result = estimates.estimate_push(quote=quote, actor=staff)

    assert result.outcome == "failed" and result.message.startswith("QuickBooks error 610:")
    failure = open_failure(f"estimate_push:quote:{quote.pk}")
    assert (failure.code, failure.error_class, failure.http_status) == ("610", "NotFoundError", 400)
    assert "made inactive" in failure.detail
    assert marked(sandbox, quote) == []
    item_active_set(sandbox, "Rocks", True)
    bookkeeper.user_permissions.add(*_perms("quickbooks_integration.retry_sync"))
    bookkeeper = type(bookkeeper).objects.get(pk=bookkeeper.pk)

    with django_capture_on_commit_callbacks(execute=True):
        message = failure_retry(failure=failure, actor=bookkeeper)

    assert message == f"push of quote #{quote.pk} queued"
    failure.refresh_from_db()
    assert failure.resolved_at is not None
    assert len(marked(sandbox, quote)) == 1
    creates = api_calls(emulator, "/estimate")
    assert len({r["query"]["requestid"] for r in creates}) == 2  # the retry was not a replay of the 610


def _perms(*names: str):
    from django.contrib.auth.models import Permission

    return [Permission.objects.get(content_type__app_label=n.split(".")[0], codename=n.split(".")[1]) for n in names]


@pytest.mark.django_db
def test_duplicate_document_number_6140_is_a_failure_row_with_qbos_message(sandbox, emulator, staff):
    quote = quote_for(sandbox, quote_number="1001")  # a sandbox estimate already uses it

    result = estimates.estimate_push(quote=quote, actor=staff)

    assert result.outcome == "failed"
    failure = open_failure(f"estimate_push:quote:{quote.pk}")
    assert (failure.code, failure.error_class) == ("6140", "QuickBooksValidationError")
    assert "Duplicate Document Number" in failure.message
    assert marked(sandbox, quote) == []


@pytest.mark.django_db
def test_throttled_is_a_failure_row_and_the_next_push_creates_once(sandbox, emulator, staff, settings):
    for name, value in FAST_FAILURES.items():
        setattr(settings, name, value)
    quote = quote_for(sandbox)
    emulator.control.fail_next("/estimate$", status=429, method="POST")

    result = estimates.estimate_push(quote=quote, actor=staff)

    assert result.outcome == "failed"
    failure = open_failure(f"estimate_push:quote:{quote.pk}")
    assert (failure.code, failure.error_class, failure.http_status) == ("3001", "ThrottledError", 429)
    assert marked(sandbox, quote) == []

    again = estimates.estimate_push(quote=quote, actor=staff)

    assert again.outcome == "created" and len(marked(sandbox, quote)) == 1


@pytest.mark.django_db
def test_a_total_qbo_computes_differently_is_flagged_never_accepted(sandbox, emulator, staff):
    """The CRM taxed at 6.25 %, QuickBooks' tax code is 8 %: flagged, with both figures, until they agree."""
    quote = quote_for(sandbox, tax_rate="6.25")

    result = estimates.estimate_push(quote=quote, actor=staff)

    assert result.outcome == "created" and result.total_differs
    assert (result.qbo_total, result.crm_total) == (Decimal("222.90"), Decimal("221.72"))
    flag = open_failure(f"estimate_total:quote:{quote.pk}")
    assert "222.90 differs from the CRM's 221.72" in flag.message and flag.kind == "estimate_total"
    assert AuditEvent.objects.get(action="estimate_push", object_id=str(quote.pk)).outcome == "warning"

    quote.refresh_from_db()
    quote.tax_rate = Decimal("8")
    quote.save()
    agreed = estimates.estimate_push(quote=crm_services.quote_recalculate(quote=quote), actor=staff)

    assert (agreed.outcome, agreed.total_differs) == ("unchanged", False)
    flag.refresh_from_db()
    assert flag.resolved_at is not None


@pytest.mark.django_db
def test_connection_unusable_raises_before_anything_is_sent(sandbox, emulator, staff):
    type(sandbox.connection).objects.filter(pk=sandbox.connection.pk).update(status="needs_reconnect")
    quote = quote_for(sandbox)
    emulator.control.clear_requests()

    with pytest.raises(estimates.NotConnectedError):
        estimates.estimate_push(quote=quote, actor=staff)

    assert api_calls(emulator, "/estimate") == []


# ---------------------------------------------------------------------------------------------------- batches


@pytest.mark.django_db
def test_45_quotes_take_two_batch_calls_and_nothing_else(sandbox, emulator, staff):
    quotes = [quote_for(sandbox) for _ in range(45)]
    before = len(estimates_in_qbo(sandbox))
    emulator.control.clear_requests()

    results = estimates.estimates_push(quotes=quotes, actor=staff)

    assert [r.outcome for r in results] == ["created"] * 45
    calls = [r for r in emulator.control.requests() if "/v3/company/" in r["path"]]
    assert [r["path"].rsplit("/", 1)[-1] for r in calls] == ["batch", "batch"]  # ceil(45 / 30), no reads
    assert all(len(r["query"]["requestid"]) <= 36 for r in calls)
    assert all(r.qbo_total == r.crm_total == Decimal("222.90") for r in results)
    assert Quote.objects.filter(quickbooks_estimate_id__isnull=False).count() == 45
    assert QuoteItem.objects.filter(quickbooks_line_id="").count() == 0
    assert len(estimates_in_qbo(sandbox)) == before + 45
    emulator.control.clear_requests()

    again = estimates.estimates_push(quotes=quotes, actor=staff)  # a double click on 45 quotes

    assert [r.outcome for r in again] == ["unchanged"] * 45
    assert [r for r in emulator.control.requests() if "/v3/company/" in r["path"]] == []


@pytest.mark.django_db
def test_a_batch_where_some_items_fail_records_the_others_and_the_retry_makes_nothing_twice(sandbox, emulator, staff):
    good = [quote_for(sandbox) for _ in range(3)]
    inactive = [quote_for(sandbox, lines=(("Pest Control", "1", "35", False),)) for _ in range(2)]
    duplicate = quote_for(sandbox, quote_number="1002")
    item_active_set(sandbox, "Pest Control", False)
    emulator.control.clear_requests()

    results = estimates.estimates_push(quotes=[*good, *inactive, duplicate], actor=staff)

    assert [r.outcome for r in results] == ["created"] * 3 + ["failed"] * 3
    assert len(api_calls(emulator, "/batch")) == 1
    rows = {f.object_id: f for f in SyncFailure.objects.filter(kind="estimate_push", resolved_at__isnull=True)}
    assert {pk: (rows[str(pk)].code, rows[str(pk)].error_class) for pk in (q.pk for q in [*inactive, duplicate])} == {
        inactive[0].pk: ("610", "NotFoundError"),
        inactive[1].pk: ("610", "NotFoundError"),
        duplicate.pk: ("6140", "QuickBooksValidationError"),
    }
    assert all("QuickBooks error" in r.message for r in results[3:])
    assert all(Quote.objects.get(pk=q.pk).quickbooks_estimate_id for q in good)
    item_active_set(sandbox, "Pest Control", True)
    Quote.objects.filter(pk=duplicate.pk).update(quote_number="Q-DUP-FIXED")
    emulator.control.clear_requests()

    retried = estimates.estimates_push(quotes=[*good, *inactive, duplicate], actor=staff)

    assert [r.outcome for r in retried] == ["unchanged"] * 3 + ["created"] * 3
    assert len(api_calls(emulator, "/batch")) == 1 and len(api_calls(emulator, "/query")) == 1  # the retries' lookup
    for quote in [*good, *inactive, duplicate]:
        assert len(marked(sandbox, quote)) == 1
    assert not SyncFailure.objects.filter(kind="estimate_push", resolved_at__isnull=True).exists()


@pytest.mark.django_db
def test_a_throttled_batch_fails_each_quote_and_the_next_push_creates_each_once(sandbox, emulator, staff, settings):
    for name, value in FAST_FAILURES.items():
        setattr(settings, name, value)
    quotes = [quote_for(sandbox) for _ in range(3)]
    emulator.control.fail_next("/batch$", status=429, method="POST")

    results = estimates.estimates_push(quotes=quotes, actor=staff)

    assert [r.outcome for r in results] == ["failed"] * 3
    assert SyncFailure.objects.filter(kind="estimate_push", code="3001", resolved_at__isnull=True).count() == 3

    again = estimates.estimates_push(quotes=quotes, actor=staff)

    assert [r.outcome for r in again] == ["created"] * 3
    assert all(len(marked(sandbox, quote)) == 1 for quote in quotes)


# ---------------------------------------------------------------------------------------------------- admin


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.mark.django_db
def test_staff_push_from_the_quote_list(sandbox, emulator, staff_client):
    quotes = [quote_for(sandbox), quote_for(sandbox, contact=ContactFactory(quickbooks_customer_id=None))]
    page = staff_client.get("/admin/crm/quote/").content.decode()
    assert 'value="create_quickbooks_estimate"' in page and 'value="convert_to_invoice"' in page
    assert 'value="convert_to_crm_invoice"' not in page  # the CRM-only conversion stays the bookkeeper's

    response = staff_client.post(
        "/admin/crm/quote/",
        {"action": "create_quickbooks_estimate", "_selected_action": [q.pk for q in quotes]},
        follow=True,
    )

    [message] = _messages(response)
    assert message.startswith("1 quote sent to QuickBooks as estimates (1 created). 1 failed: ")
    assert f"{quotes[1]}: {quotes[1]}: the contact" in message and "Create in QuickBooks" in message
    assert Quote.objects.get(pk=quotes[0].pk).quickbooks_estimate_id
    change = staff_client.get(f"/admin/crm/quote/{quotes[0].pk}/change/").content.decode()
    assert "QuickBooks estimate" in change and "total in QuickBooks 222.90" in change


@pytest.mark.django_db
def test_the_quote_page_warns_while_the_totals_differ(sandbox, emulator, staff, staff_client):
    quote = quote_for(sandbox, tax_rate="6.25")

    response = staff_client.post(
        "/admin/crm/quote/", {"action": "create_quickbooks_estimate", "_selected_action": [quote.pk]}, follow=True
    )

    [message] = _messages(response)
    assert message.startswith("1 quote sent to QuickBooks as estimates (1 created). 1 to check: ")
    assert "222.90 differs from the CRM's 221.72" in message
    change = staff_client.get(f"/admin/crm/quote/{quote.pk}/change/").content.decode()
    assert "⚠" in change and "differs from the CRM" in change


@pytest.mark.django_db
def test_the_action_is_not_offered_without_the_permission_and_refused_if_posted(sandbox, emulator, bookkeeper):
    client = Client()
    client.force_login(bookkeeper)
    quote = quote_for(sandbox)
    page = client.get("/admin/crm/quote/").content.decode()
    assert 'value="create_quickbooks_estimate"' not in page and 'value="convert_to_crm_invoice"' in page
    emulator.control.clear_requests()

    client.post("/admin/crm/quote/", {"action": "create_quickbooks_estimate", "_selected_action": [quote.pk]})

    assert api_calls(emulator, "/estimate") == [] and not Quote.objects.get(pk=quote.pk).quickbooks_estimate_id


@pytest.mark.django_db
def test_the_action_asks_the_permission_again_when_it_runs(sandbox, emulator, bookkeeper):
    """Listed earlier, refused now (a permission withdrawn in between): nothing sent, said, audited per quote."""
    from django.contrib import admin as django_admin
    from django.contrib.messages.storage.fallback import FallbackStorage
    from django.test import RequestFactory

    from quickbooks_integration.admin import sales_actions

    quote = quote_for(sandbox)
    request = RequestFactory().post("/admin/crm/quote/")
    request.user, request.session = bookkeeper, {}
    request._messages = FallbackStorage(request)
    emulator.control.clear_requests()

    sales_actions.create_quickbooks_estimate(django_admin.site._registry[Quote], request, Quote.objects.all())

    assert [str(m) for m in request._messages] == ["You may not create or update QuickBooks estimates."]
    assert api_calls(emulator, "/estimate") == []
    denied = AuditEvent.objects.get(action="create_quickbooks_estimate", actor=bookkeeper)
    assert (denied.object_id, denied.outcome, denied.message) == (str(quote.pk), "failure", "denied")


@pytest.mark.django_db
def test_a_selection_larger_than_one_batch_is_queued(
    sandbox, emulator, staff_client, django_capture_on_commit_callbacks
):
    quotes = [quote_for(sandbox) for _ in range(31)]

    with django_capture_on_commit_callbacks(execute=True):  # the test settings run django-q tasks inline
        response = staff_client.post(
            "/admin/crm/quote/",
            {"action": "create_quickbooks_estimate", "_selected_action": [q.pk for q in quotes]},
            follow=True,
        )

    assert _messages(response)[0].startswith("Queued 31 quotes for QuickBooks")
    assert Quote.objects.filter(quickbooks_estimate_id__isnull=False).count() == 31
    assert len(api_calls(emulator, "/batch")) == 1 and len(api_calls(emulator, "/estimate")) == 1  # 30 + 1


# ---------------------------------------------------------------------------------------------------- totals property


money = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("2500"), places=2)
quantity = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("40"), places=4)


@pytest.mark.django_db
@hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.tuples(quantity, money, st.booleans()), min_size=1, max_size=6))
def test_random_line_sets_total_the_same_in_the_crm_and_qbo_to_the_cent(sandbox, staff, lines):
    items = ("Design", "Rocks", "Installation")
    quote = quote_for(
        sandbox,
        lines=[(items[i % 3], str(qty), str(price), taxable) for i, (qty, price, taxable) in enumerate(lines)],
    )

    result = estimates.estimate_push(quote=quote, actor=staff)

    assert result.outcome == "created", result.message
    assert result.qbo_total == quote.total_amount == result.crm_total
