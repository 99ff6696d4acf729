"""The webhook endpoint, inbox and processing (issue 12; RELIABILITY B1-B10, faults 18-22).

Bodies are signed with the emulator's own `sign()` (what it sends is what the endpoint must accept), entities are
changed through the real client against the emulator, and processing reads them back over HTTP; the only stand-in
is the database refusing an insert (B4), which no real part of the suite can make happen on demand.
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.db import OperationalError
from django.db import connection as db_connection
from django.db.models.query import QuerySet
from django.test import Client
from django.utils import timezone
from django_q.models import Schedule
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from qbo_emulator.webhooks import sign
from quickbooks_integration.models import QuickBooksAuth, QuickBooksSync, SyncFailure, SyncRun, WebhookEvent
from quickbooks_integration.qbo.client import qbo_call, qbo_create, qbo_read, qbo_update
from quickbooks_integration.services import webhooks
from quickbooks_integration.services.failures import failure_retry
from quickbooks_integration.services.health import webhook_health
from quickbooks_integration.services.mirror import mirror_apply
from quickbooks_integration.services.webhooks import (
    webhook_entity_register,
    webhook_events_parse,
    webhook_signature_valid,
)
from quickbooks_integration.tasks import (
    webhook_events_process_task,
    webhook_events_prune_task,
    webhook_events_sweep_task,
)

pytestmark = pytest.mark.django_db

URL = "/webhooks/quickbooks/"
TOKEN = "test-verifier-token"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "qbo"
SAMPLES = {"webhook_legacy.json": 1, "webhook_legacy_multi.json": 2, "webhook_cloudevents.json": 1}
CONTENT_TYPES = (
    "application/json",
    "application/json; charset=utf-8",
    "application/cloudevents-batch+json",
    "application/cloudevents+json",
)


# ---------------------------------------------------------------------------------------------------- helpers


@pytest.fixture
def verifier(settings) -> str:
    settings.QUICKBOOKS_WEBHOOK_VERIFIER_TOKEN = TOKEN
    return TOKEN


def deliver(client, body: bytes, *, token: str | None = None, signature: str | None = None, content_type=None):
    """POST as Intuit does: the raw body, `intuit-signature` over exactly those bytes (unless one is given)."""
    from django.conf import settings

    headers = {"HTTP_INTUIT_T_ID": str(uuid.uuid4())}
    signature = sign(body, token or settings.QUICKBOOKS_WEBHOOK_VERIFIER_TOKEN) if signature is None else signature
    if signature:
        headers["HTTP_INTUIT_SIGNATURE"] = signature
    return client.post(URL, data=body, content_type=content_type or "application/json; charset=utf-8", **headers)


def change(name: str, entity_id: str, operation: str = "Update", when: str = "2026-12-01T10:00:00-0800", **extra):
    return {"name": name, "id": entity_id, "operation": operation, "lastUpdated": when, **extra}


def legacy(realm_id: str, *entities: dict) -> bytes:
    notification = {"realmId": realm_id, "dataChangeEvent": {"entities": list(entities)}}
    return json.dumps({"eventNotifications": [notification]}).encode()


def cloud_event(realm_id: str, entity: str, entity_id: str, action: str = "updated", **fields) -> dict:
    return {
        "specversion": "1.0",
        "id": fields.pop("id", str(uuid.uuid4())),
        "source": "intuit.test",
        "type": f"qbo.{entity.lower()}.{action}.v1",
        "datacontenttype": "application/json",
        "time": fields.pop("time", "2026-12-01T18:00:00.123Z"),
        "intuitentityid": entity_id,
        "intuitaccountid": realm_id,
        "data": fields.pop("data", {}),
    }


@pytest.fixture
def customer_hook():
    """A Customer hook in place of the customers service's (tested in test_customers_webhooks.py); records what it
    was handed, so these tests see the webhook mechanics alone."""
    calls: list[dict] = []

    def hook(connection, rows, deleted_ids, *, merged):
        calls.append({"ids": [row["Id"] for row in rows], "deleted": list(deleted_ids), "merged": dict(merged)})

    saved = list(webhooks._HOOKS["Customer"])
    webhooks._HOOKS["Customer"] = []
    webhook_entity_register("Customer", wants_merges=True)(hook)
    yield calls
    webhooks._HOOKS["Customer"] = saved


def process(connection: QuickBooksAuth) -> int:
    """What the queued task does (run inline here, so an exception would surface in the test)."""
    return webhook_events_process_task(connection.realm_id)


def customer_rename(connection: QuickBooksAuth, customer_id: str, name: str) -> dict:
    current = qbo_read(connection=connection, entity="Customer", entity_id=customer_id)
    payload = {"Id": customer_id, "SyncToken": current["SyncToken"], "sparse": True, "DisplayName": name}
    return qbo_update(connection=connection, entity="Customer", payload=payload, request_id=str(uuid.uuid4()))


def query_calls(emulator) -> int:
    return emulator.control.count("/query")


# ---------------------------------------------------------------------------------------------------- the endpoint


def test_a_public_test_vector_verifies():
    """python-quickbooks' unit-test vector (tests/unit/test_client.py): token, body and signature."""
    signature = "nfPLN16u3vMvv08ghDs+dOkLuirEVDy5wAeG/lmM2OA="
    assert webhook_signature_valid(body=b'{"stuff":"5"}', signature=signature, verifier_token="verify_me")
    assert not webhook_signature_valid(body=b"", signature=signature, verifier_token="verify_me")
    assert not webhook_signature_valid(body=b'{"stuff":"5"}', signature=signature, verifier_token="")


@pytest.mark.parametrize("sample", sorted(SAMPLES))
@pytest.mark.parametrize("content_type", CONTENT_TYPES)
def test_signed_samples_are_stored_and_acknowledged(client, verifier, sample, content_type):
    body = (FIXTURES / sample).read_bytes()

    response = deliver(client, body, content_type=content_type)

    assert response.status_code == 200
    assert response.json() == {"received": SAMPLES[sample], "stored": SAMPLES[sample], "duplicates": 0}
    rows = list(WebhookEvent.objects.order_by("id"))
    assert len(rows) == SAMPLES[sample]
    first = rows[0]
    assert (first.entity_type, first.entity_id, first.operation) == (
        "Customer",
        "1234" if "cloud" in sample else "1",
        "Create",
    )
    assert first.realm_id in ("310687", "1185883450") and first.last_updated is not None
    # The samples' realms are not this CRM's: recorded, and ignored (fault 20)
    assert {row.status for row in rows} == {WebhookEvent.Status.IGNORED}
    assert "unknown realm" in first.error and first.connection is None


@pytest.mark.parametrize(
    "case",
    ["missing", "wrong token", "body re-serialized", "signature of another body", "no verifier token configured"],
)
def test_a_bad_or_missing_signature_is_401_and_stores_nothing(client, settings, verifier, caplog, case):
    body = (FIXTURES / "webhook_legacy.json").read_bytes()
    signature = {
        "missing": "",
        "wrong token": sign(body, "an-old-verifier-token"),
        "body re-serialized": sign(json.dumps(json.loads(body)).encode(), TOKEN),
        "signature of another body": sign(b"{}", TOKEN),
        "no verifier token configured": sign(body, TOKEN),
    }[case]
    if case == "no verifier token configured":
        settings.QUICKBOOKS_WEBHOOK_VERIFIER_TOKEN = ""

    response = deliver(client, body, signature=signature)

    assert response.status_code == 401
    assert WebhookEvent.objects.count() == 0
    assert "webhook rejected" in caplog.text
    assert "Customer" not in caplog.text and (not signature or signature not in caplog.text)  # no body, no header


def test_a_duplicate_delivery_and_duplicates_inside_one_are_stored_once(client, verifier):
    body = legacy(
        "1185883450",
        change("Customer", "1", when="2026-12-01T10:00:00-0800"),
        change("Customer", "1", when="2026-12-01T10:00:00-0800"),  # the same event twice in one delivery
        change("Customer", "1", when="2026-12-01T10:00:05-0800"),  # a later change of the same entity
    )
    first = deliver(client, body)
    again = deliver(client, body)  # Intuit re-delivers the same signed body (fault 18)
    cloud = json.dumps([cloud_event("1185883450", "Customer", "1", id="ce-1")] * 2).encode()
    ce_first, ce_again = deliver(client, cloud), deliver(client, cloud)

    assert first.json() == {"received": 2, "stored": 2, "duplicates": 0}
    assert again.status_code == 200 and again.json() == {"received": 2, "stored": 0, "duplicates": 2}
    assert ce_first.json()["stored"] == 1 and ce_again.json() == {"received": 1, "stored": 0, "duplicates": 1}
    assert WebhookEvent.objects.count() == 3
    assert WebhookEvent.objects.get(cloud_event_id="ce-1").format == WebhookEvent.Format.CLOUDEVENTS


@pytest.mark.parametrize(
    "body",
    [
        b"this is not JSON",
        b"\xff\xfe\x00",
        b'{"eventNotifications": 5}',
        b"[]",
        b'"a string"',
        b'[{"specversion": "1.0", "type": "not-a-qbo-type"}]',
        b'{"eventNotifications": [{"realmId": "1", "dataChangeEvent": {"entities": [{"name": "Customer"}]}}]}',
    ],
    ids=["text", "binary", "bad-legacy", "empty-array", "string", "bad-cloudevent", "entity-without-id"],
)
def test_a_signed_body_that_cannot_be_read_is_recorded_and_acknowledged(client, verifier, body):
    """Decision: a signed but unreadable delivery gets 200 and one `unparseable` row, so it is seen in the admin
    and never blocks Intuit's queue (B3, fault 20); a re-delivery of the same bytes adds nothing."""
    first = deliver(client, body)
    again = deliver(client, body)

    assert first.status_code == 200 and again.status_code == 200
    row = WebhookEvent.objects.get()
    assert row.status == WebhookEvent.Status.UNPARSEABLE and row.error and row.processed_at is not None


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)
FIELD = JSON_VALUES | st.sampled_from(["1", "Customer", "Update", "Merge", "2026-12-01T10:00:00-0800", "\x00", ""])
LEGACY_LIKE = st.builds(
    lambda realm, name, entity_id, operation, when, extra: {
        "eventNotifications": [
            {
                "realmId": realm,
                "dataChangeEvent": {
                    "entities": [{"name": name, "id": entity_id, "operation": operation, "lastUpdated": when, **extra}]
                },
            }
        ]
    },
    FIELD,
    FIELD,
    FIELD,
    FIELD,
    FIELD | st.just("9999-12-31T23:59:59-1200"),
    st.dictionaries(st.sampled_from(["deletedId", "deletedID", "x"]), FIELD, max_size=2),
)
CLOUD_LIKE = st.lists(
    st.fixed_dictionaries(
        {"id": FIELD, "type": FIELD | st.just("qbo.customer.merged.v1"), "intuitaccountid": FIELD},
        optional={"intuitentityid": FIELD, "time": FIELD, "data": JSON_VALUES, "specversion": FIELD},
    ),
    max_size=4,
)
BODIES = st.one_of(
    st.binary(max_size=200),
    JSON_VALUES.map(lambda value: json.dumps(value).encode()),
    LEGACY_LIKE.map(lambda value: json.dumps(value).encode()),
    CLOUD_LIKE.map(lambda value: json.dumps(value).encode()),
)


@hypothesis_settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=BODIES)
def test_any_signed_body_is_acknowledged_and_leaves_a_row_and_an_unsigned_one_none(client, verifier, body):
    """RELIABILITY §5 fuzzing: never a 5xx; signed gives 200 and a row (new or already there), unsigned 401 and none."""
    before = WebhookEvent.objects.count()
    assert deliver(client, body, signature=sign(body, "not-the-token")).status_code == 401
    assert WebhookEvent.objects.count() == before

    response = deliver(client, body)

    assert response.status_code == 200
    assert response.json()["stored"] + response.json()["duplicates"] >= 1
    assert WebhookEvent.objects.count() == before + response.json()["stored"]


def test_values_the_database_refuses_are_kept_as_one_unparseable_row(client, verifier):
    """NaN is read by Python's JSON but refused by PostgreSQL's jsonb, and NUL by any PostgreSQL text: the event is
    never answered 5xx (it would block Intuit's queue for good); the NUL is dropped, the NaN delivery kept whole."""
    nul = json.dumps([cloud_event("1185883450", "customer", "1", id="nul\u0000id")]).encode()
    nan = b'[{"specversion": "1.0", "id": "nan-1", "type": "qbo.customer.updated.v1", "intuitaccountid": "1",'
    nan += b' "intuitentityid": "1", "data": {"x": NaN}}]'

    assert deliver(client, nul).status_code == 200 and deliver(client, nan).status_code == 200

    assert WebhookEvent.objects.filter(cloud_event_id="nulid").count() == 1
    assert WebhookEvent.objects.count() == 2


def test_an_oversize_body_is_413_before_anything_else(client, settings, verifier):
    settings.QUICKBOOKS_WEBHOOK_MAX_BYTES = 1000
    body = legacy("1185883450", *[change("Customer", str(i)) for i in range(1, 40)])
    assert len(body) > 1000

    assert deliver(client, body).status_code == 413
    assert deliver(client, body, signature="").status_code == 413  # unsigned too: the body is never read
    assert WebhookEvent.objects.count() == 0


def test_post_only_and_no_csrf_token_needed(verifier):
    client = Client(enforce_csrf_checks=True)
    body = (FIXTURES / "webhook_legacy.json").read_bytes()

    assert client.get(URL).status_code == 405
    assert client.put(URL, data=body, content_type="application/json").status_code == 405
    assert client.generic("TRACE", URL).status_code == 405
    assert deliver(client, body).status_code == 200


def test_503_only_when_the_event_could_not_be_stored(client, verifier, monkeypatch):
    """The database refusing the insert (B4): 503 so Intuit retries, and no row; the retry then stores it once."""

    def refuse(self, *args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    body = (FIXTURES / "webhook_legacy.json").read_bytes()
    with monkeypatch.context() as patch:
        patch.setattr(QuerySet, "bulk_create", refuse)
        assert deliver(client, body).status_code == 503
    assert WebhookEvent.objects.count() == 0
    assert deliver(client, body).status_code == 200 and WebhookEvent.objects.count() == 1


def test_cloudevents_parsing_names_merges_and_nanosecond_times():
    body = json.dumps(
        [
            cloud_event("310687", "salesreceipt", "7", "voided", id="a", time="2025-09-10T21:31:25.179851517Z"),
            cloud_event("310687", "customer", "5", "merged", id="b", data={"deletedid": "27"}),
            cloud_event("310687", "account", "1234", "created", id="c"),
        ]
    ).encode()

    voided, merged, account = webhook_events_parse(body)

    assert (voided.entity_type, voided.operation, voided.last_updated.microsecond) == ("SalesReceipt", "Void", 179851)
    assert (merged.entity_type, merged.operation, merged.entity_id, merged.deleted_id) == (
        "Customer",
        "Merge",
        "5",
        "27",
    )
    assert (account.entity_type, account.operation, account.cloud_event_id) == ("Account", "Create", "c")
    # a single structured-mode event (application/cloudevents+json) is read as a one-event batch
    (single,) = webhook_events_parse(json.dumps(cloud_event("310687", "invoice", "9", "emailed")).encode())
    assert (single.entity_type, single.operation) == ("Invoice", "Emailed")


# ---------------------------------------------------------------------------------------------------- processing


def test_the_request_calls_no_qbo_and_queues_processing_on_commit(
    client, connected, emulator, customer_hook, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    emulator.control.clear_requests()
    body = legacy(connected.realm_id, change("Customer", "1"), change("Customer", "2"))

    with django_assert_max_num_queries(6):  # connections, known keys, one insert (+ savepoint)
        response = deliver(client, body)
    assert response.status_code == 200
    assert emulator.control.count("/v3/") == 0  # acknowledged without calling QBO (B2)
    assert WebhookEvent.objects.filter(status=WebhookEvent.Status.PENDING).count() == 2

    with django_capture_on_commit_callbacks(execute=True):  # the commit queues the task (inline in the tests)
        deliver(client, legacy(connected.realm_id, change("Customer", "3")))

    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {WebhookEvent.Status.PROCESSED}
    assert set(connected.ledger.filter(entity_type="Customer").values_list("entity_id", flat=True)) == {"1", "2", "3"}
    (call,) = customer_hook  # one hook call, the rows oldest change first
    assert sorted(call["ids"]) == ["1", "2", "3"] and call["deleted"] == []
    assert query_calls(emulator) == 1  # three customers, one `Id IN` query


def test_n_changed_customers_are_read_in_ceil_n_over_chunk_calls(client, connected, emulator, settings):
    settings.QUICKBOOKS_WEBHOOK_READ_CHUNK = 10
    ids = [str(i) for i in range(1, 26)]  # 25 customers, each reported twice (Create, then Update)
    deliver(client, legacy(connected.realm_id, *[change("Customer", i, "Create") for i in ids]))
    deliver(client, legacy(connected.realm_id, *[change("Customer", i, when="2026-12-01T11:00:00-0800") for i in ids]))
    emulator.control.clear_requests()

    process(connected)

    assert query_calls(emulator) == 3  # ceil(25 / 10)
    run = SyncRun.objects.get(kind="webhooks")
    assert run.status == SyncRun.Status.SUCCEEDED and run.api_calls == 3 and run.stats["processed"] == 50
    ledger = connected.ledger.filter(entity_type="Customer")
    assert ledger.count() == 25 and ledger.get(entity_id="10").payload["DisplayName"] == "Geeta Kalapatapu"
    assert WebhookEvent.objects.exclude(status=WebhookEvent.Status.PROCESSED).count() == 0


def test_an_older_event_after_a_newer_one_changes_nothing(client, connected, emulator, customer_hook):
    first = customer_rename(connected, "5", "Dukes Basketball Camp II")
    emulator.control.advance_clock(5)
    second = customer_rename(connected, "5", "Dukes Basketball Camp III")
    newer = change("Customer", "5", when=second["MetaData"]["LastUpdatedTime"])
    older = change("Customer", "5", when=first["MetaData"]["LastUpdatedTime"])

    deliver(client, legacy(connected.realm_id, newer))
    process(connected)
    entry = connected.ledger.get(entity_type="Customer", entity_id="5")
    deliver(client, legacy(connected.realm_id, older))  # Intuit: "possible to receive events out of sequence"
    process(connected)

    again = connected.ledger.get(entity_type="Customer", entity_id="5")
    assert again.payload["DisplayName"] == "Dukes Basketball Camp III" and again.sync_version == int(
        second["SyncToken"]
    )
    assert again.updated_at == entry.updated_at  # not rewritten
    assert customer_hook == [{"ids": ["5"], "deleted": [], "merged": {}}]  # the hook ran once
    assert WebhookEvent.objects.filter(status=WebhookEvent.Status.PROCESSED).count() == 2


def test_a_ledger_copy_newer_than_qbo_is_never_replaced(client, connected, emulator):
    future = {"Id": "7", "SyncToken": "99", "DisplayName": "From the future"}
    future["MetaData"] = {"LastUpdatedTime": "2099-01-01T00:00:00-08:00"}
    mirror_apply(connection=connected, entity_type="Customer", rows=[future])

    deliver(client, legacy(connected.realm_id, change("Customer", "7")))
    process(connected)

    assert connected.ledger.get(entity_type="Customer", entity_id="7").payload["DisplayName"] == "From the future"
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.PROCESSED


def test_a_delete_marks_the_ledger_and_a_late_create_does_not_resurrect(client, connected, emulator):
    line = {"Amount": 100, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}
    invoice = qbo_create(
        connection=connected,
        entity="Invoice",
        payload={"CustomerRef": {"value": "1"}, "Line": [line]},
        request_id=str(uuid.uuid4()),
    )
    created_at = invoice["MetaData"]["LastUpdatedTime"]
    deliver(client, legacy(connected.realm_id, change("Invoice", invoice["Id"], "Create", created_at)))
    process(connected)
    assert connected.ledger.get(entity_type="Invoice", entity_id=invoice["Id"]).deleted_at is None

    body = json.dumps({"Id": invoice["Id"], "SyncToken": invoice["SyncToken"]})
    qbo_call(connection=connected, operation=lambda qb: qb.delete_object("Invoice", body, request_id=str(uuid.uuid4())))
    # Delete first, then a stale Create re-delivered late (fault 21): same second as the create, so time alone
    # cannot order them; QBO no longer returning the invoice is what counts.
    deliver(client, legacy(connected.realm_id, change("Invoice", invoice["Id"], "Delete", created_at)))
    process(connected)
    entry = connected.ledger.get(entity_type="Invoice", entity_id=invoice["Id"])
    assert entry.deleted_at is not None and entry.payload["Id"] == invoice["Id"]  # last JSON kept

    deliver(client, legacy(connected.realm_id, change("Invoice", invoice["Id"], "Update", "2026-01-01T00:00:00-0800")))
    process(connected)
    assert connected.ledger.get(entity_type="Invoice", entity_id=invoice["Id"]).deleted_at == entry.deleted_at
    assert WebhookEvent.objects.filter(status=WebhookEvent.Status.PROCESSED).count() == 3


def test_a_merge_deletes_the_merged_away_customer_and_refreshes_the_survivor(
    client, connected, emulator, customer_hook
):
    # QBO leaves the merged-away customer inactive; then it reports the merge on the survivor with its deletedId.
    gone = qbo_read(connection=connected, entity="Customer", entity_id="4")
    qbo_update(
        connection=connected,
        entity="Customer",
        payload={"Id": "4", "SyncToken": gone["SyncToken"], "sparse": True, "Active": False},
        request_id=str(uuid.uuid4()),
    )
    mirror_apply(connection=connected, entity_type="Customer", rows=[gone])  # the ledger knew it before

    deliver(client, legacy(connected.realm_id, change("Customer", "3", "Merge", deletedId="4")))
    process(connected)

    assert connected.ledger.get(entity_type="Customer", entity_id="4").deleted_at is not None
    assert connected.ledger.get(entity_type="Customer", entity_id="3").deleted_at is None
    assert customer_hook == [{"ids": ["3"], "deleted": ["4"], "merged": {"4": "3"}}]
    event = WebhookEvent.objects.get()
    assert (event.operation, event.deleted_id, event.status) == ("Merge", "4", WebhookEvent.Status.PROCESSED)


def test_void_and_emailed_re_read_the_entity(client, connected, emulator):
    deliver(
        client,
        json.dumps(
            [
                cloud_event(connected.realm_id, "invoice", "130", "voided"),
                cloud_event(connected.realm_id, "estimate", "100", "emailed"),
            ]
        ).encode(),
        content_type="application/cloudevents-batch+json",
    )
    emulator.control.clear_requests()

    process(connected)

    assert query_calls(emulator) == 2  # one per entity type
    assert set(connected.ledger.values_list("entity_type", flat=True)) >= {"Invoice", "Estimate"}
    assert WebhookEvent.objects.filter(status=WebhookEvent.Status.PROCESSED).count() == 2


def test_unknown_realms_and_unsynced_entities_are_recorded_and_ignored(client, connected, emulator):
    emulator.control.clear_requests()
    body = json.dumps(
        [
            cloud_event("4620816365179422850", "customer", "1"),  # a realm this CRM is not connected to
            cloud_event(connected.realm_id, "vendor", "31"),  # an entity the CRM does not sync
            cloud_event(connected.realm_id, "customer", "2"),
        ]
    ).encode()

    assert deliver(client, body).status_code == 200
    process(connected)
    webhook_events_process_task("4620816365179422850")

    statuses = dict(WebhookEvent.objects.values_list("entity_id", "status"))
    assert statuses == {"1": "ignored", "31": "ignored", "2": "processed"}
    assert "unknown realm" in WebhookEvent.objects.get(entity_id="1").error
    assert query_calls(emulator) == 1


def test_a_failed_read_is_a_failure_row_and_its_retry_processes_the_events(
    client, connected, emulator, superuser, django_capture_on_commit_callbacks
):
    deliver(client, legacy(connected.realm_id, change("Customer", "1"), change("Customer", "2")))
    emulator.control.fail_next("/query", status=400, code="4000", message="QueryParserError")

    process(connected)

    events = WebhookEvent.objects.all()
    assert {(e.status, e.attempts) for e in events} == {(WebhookEvent.Status.PENDING, 1)}  # still visible, backing off
    assert all(e.next_attempt_at > timezone.now() and "QueryParserError" in e.error for e in events)
    failure = SyncFailure.objects.get(kind="webhook_events", resolved_at__isnull=True)
    assert (failure.direction, failure.entity_type, failure.code) == ("webhook", "Customer", "4000")
    assert process(connected) == 0 and WebhookEvent.objects.filter(status="processed").count() == 0  # not yet due

    with django_capture_on_commit_callbacks(execute=True):
        message = failure_retry(failure=failure, actor=superuser)

    assert message == "2 webhook events queued again"
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {WebhookEvent.Status.PROCESSED}
    failure.refresh_from_db()
    assert failure.resolved_at is not None


def test_events_give_up_as_failed_after_the_last_attempt(client, connected, emulator, settings):
    settings.QUICKBOOKS_WEBHOOK_MAX_ATTEMPTS = 1
    deliver(client, legacy(connected.realm_id, change("Customer", "1")))
    emulator.control.fail_next("/query", status=400, code="4000")

    process(connected)

    event = WebhookEvent.objects.get()
    assert (event.status, event.attempts, event.next_attempt_at) == (WebhookEvent.Status.FAILED, 1, None)
    assert SyncFailure.objects.filter(kind="webhook_events", resolved_at__isnull=True).count() == 1


def test_a_connection_that_needs_reconnecting_keeps_events_pending(client, connected, emulator):
    QuickBooksAuth.objects.filter(pk=connected.pk).update(status=QuickBooksAuth.Status.NEEDS_RECONNECT)
    deliver(client, legacy(connected.realm_id, change("Customer", "1")))
    emulator.control.clear_requests()

    assert process(connected) == 1

    assert WebhookEvent.objects.get().status == WebhookEvent.Status.PENDING
    assert emulator.control.count("/v3/") == 0 and SyncFailure.objects.count() == 0


def test_the_sweeper_processes_events_whose_task_was_lost(client, connected, emulator):
    deliver(client, legacy(connected.realm_id, change("Customer", "1")))  # no on_commit here: the task is "lost"
    assert webhook_events_sweep_task() == 0  # just arrived: its task may still be on its way
    WebhookEvent.objects.update(received_at=timezone.now() - timedelta(minutes=5))

    assert webhook_events_sweep_task() == 1  # queued again (the test settings run it inline)

    assert WebhookEvent.objects.get().status == WebhookEvent.Status.PROCESSED


def test_pruning_keeps_what_is_not_settled(client, verifier):
    deliver(client, legacy("1185883450", change("Customer", "1"), change("Customer", "2"), change("Customer", "3")))
    one, two, three = WebhookEvent.objects.order_by("entity_id")
    WebhookEvent.objects.filter(pk=two.pk).update(status=WebhookEvent.Status.PENDING)
    WebhookEvent.objects.filter(pk=three.pk).update(status=WebhookEvent.Status.PROCESSED)
    WebhookEvent.objects.exclude(pk=three.pk).update(received_at=timezone.now() - timedelta(days=31))
    WebhookEvent.objects.filter(pk=three.pk).update(received_at=timezone.now() - timedelta(days=29))

    assert webhook_events_prune_task() == 1

    assert set(WebhookEvent.objects.values_list("entity_id", flat=True)) == {"2", "3"}


def test_health_reports_the_oldest_pending_event(client, connected, settings):
    assert webhook_health()["oldest_pending_age_seconds"] is None
    deliver(client, legacy(connected.realm_id, change("Customer", "1")))
    WebhookEvent.objects.update(received_at=timezone.now() - timedelta(minutes=20))

    health = webhook_health()

    assert health["status"] == "warn" and 1190 <= health["oldest_pending_age_seconds"] <= 1300


def test_the_schedules_exist():
    names = set(Schedule.objects.values_list("name", flat=True))
    assert {"quickbooks-webhook-sweep", "quickbooks-webhook-prune"} <= names
    assert Schedule.objects.get(name="quickbooks-webhook-sweep").minutes == 2


def test_the_bookkeeper_and_owner_read_the_inbox_and_nobody_edits_it(client, verifier, django_user_model):
    deliver(client, (FIXTURES / "webhook_legacy_multi.json").read_bytes())
    event = WebhookEvent.objects.get(entity_type="Vendor")
    for role in ("Bookkeeper", "Owner"):
        user = django_user_model.objects.create_user(f"{role}-1", password="pw-12345-abc", is_staff=True)
        user.groups.add(Group.objects.get(name=role))
        viewer = Client()
        viewer.force_login(user)

        listing = viewer.get("/admin/quickbooks_integration/webhookevent/?status__exact=ignored&entity_type=Vendor")
        detail = viewer.get(f"/admin/quickbooks_integration/webhookevent/{event.pk}/change/")

        assert listing.status_code == 200 and b"unknown realm" not in listing.content  # the list is short
        assert b"Vendor" in listing.content and b"1185883450" in listing.content
        assert detail.status_code == 200 and b"unknown realm" in detail.content and b"Save" not in detail.content
        assert viewer.get("/admin/quickbooks_integration/webhookevent/add/").status_code == 403


# ---------------------------------------------------------------------------------------------------- end to end


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("payload_format", ["legacy", "cloudevents"])
def test_a_change_in_the_emulator_arrives_by_webhook_and_reaches_the_ledger(
    connected, emulator, live_server, payload_format
):
    """The emulator signs and posts a real delivery to the running app; the app stores it, and processing (run
    inline on commit by the test settings' sync queue) re-reads the customer into the ledger."""
    emulator.control.configure_webhooks(url=f"{live_server.url}{URL}", format=payload_format)
    updated = customer_rename(connected, "11", f"Gevelber Photography ({payload_format})")

    deliveries = emulator.control.flush_webhooks()

    assert [d["status"] for d in deliveries] == [200]
    event = WebhookEvent.objects.get(entity_type="Customer", entity_id="11")
    assert event.status == WebhookEvent.Status.PROCESSED and event.format == payload_format
    entry = QuickBooksSync.objects.get(connection=connected, entity_type="Customer", entity_id="11")
    assert entry.payload["DisplayName"] == f"Gevelber Photography ({payload_format})"
    assert entry.sync_version == int(updated["SyncToken"])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_delivery_posted_concurrently_is_stored_once(verifier):
    body = legacy("1185883450", *[change("Customer", str(i)) for i in range(1, 21)])
    barrier = threading.Barrier(4)
    statuses: list[int] = []

    def post() -> None:
        try:
            barrier.wait()
            statuses.append(deliver(Client(), body).status_code)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == [200] * 4
    assert WebhookEvent.objects.count() == 20
