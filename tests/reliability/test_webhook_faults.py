"""Fault matrix, webhook rows (RELIABILITY §3 rows 18-22): a replayed delivery (the same body again, and the same
change ten days later under a new event id), duplicate deliveries (the emulator sending one twice, and one event
twice inside a delivery), out-of-order events (an older update after a newer one, a stale update after a
deactivation), bad signatures and malformed bodies.

Deliveries are signed with the emulator's own `sign()` and posted to `/webhooks/quickbooks/` with Django's test
client (or by the emulator itself to a live server); processing is the real task, which re-reads the entities from
the emulator. Each docstring states the expected state afterwards: inbox rows, ledger rows, contacts, QBO calls.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from crm.models import Contact
from qbo_emulator.webhooks import sign
from quickbooks_integration.models import (
    AuditEvent,
    ContactConflict,
    QuickBooksSync,
    SyncFailure,
    SyncRun,
    WebhookEvent,
)
from quickbooks_integration.qbo.client import qbo_read, qbo_update
from quickbooks_integration.services.customers import customers_import_run
from quickbooks_integration.tasks import webhook_events_process_task

URL = "/webhooks/quickbooks/"


# ---------------------------------------------------------------------------------------------------- helpers


@pytest.fixture
def imported(connected, emulator):
    """The sandbox connected and imported: every top-level customer linked to a contact; request log cleared."""
    run = customers_import_run(connection_id=connected.pk, full=True)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    emulator.control.clear_requests()
    return connected


def post(client: Client, body: bytes, *, signature: str | None = None, token: str | None = None, **headers):
    """POST as Intuit does: the raw body, `intuit-signature` over exactly those bytes (unless given)."""
    from django.conf import settings

    if signature is None:
        signature = sign(body, token or settings.QUICKBOOKS_WEBHOOK_VERIFIER_TOKEN)
    if signature:
        headers["HTTP_INTUIT_SIGNATURE"] = signature
    return client.post(URL, data=body, content_type="application/json", HTTP_INTUIT_T_ID=str(uuid.uuid4()), **headers)


def legacy(realm_id: str, *changes: tuple[str, str, str, str]) -> bytes:
    """A legacy `eventNotifications` delivery of (entity, id, operation, lastUpdated) changes."""
    entities = [{"name": n, "id": i, "operation": o, "lastUpdated": t} for n, i, o, t in changes]
    return json.dumps(
        {"eventNotifications": [{"realmId": realm_id, "dataChangeEvent": {"entities": entities}}]}
    ).encode()


def cloud_events(realm_id: str, *events: tuple[str, str, str, str, str]) -> bytes:
    """A CloudEvents array of (event id, entity, id, action, time) events."""
    return json.dumps(
        [
            {
                "specversion": "1.0",
                "id": event_id,
                "source": "intuit.reliability",
                "type": f"qbo.{entity.lower()}.{action}.v1",
                "datacontenttype": "application/json",
                "time": when,
                "intuitentityid": entity_id,
                "intuitaccountid": realm_id,
                "data": {},
            }
            for event_id, entity, entity_id, action, when in events
        ]
    ).encode()


def sparse(connection, customer_id: str, **fields) -> dict:
    """An edit made in QuickBooks (QBO then queues its webhook event)."""
    current = qbo_read(connection=connection, entity="Customer", entity_id=customer_id)
    payload = {"Id": customer_id, "SyncToken": current["SyncToken"], "sparse": True, **fields}
    return qbo_update(connection=connection, entity="Customer", payload=payload, request_id=str(uuid.uuid4()))


def changed_at(customer: dict) -> str:
    return customer["MetaData"]["LastUpdatedTime"]


def contact_row(customer_id: str) -> dict:
    return Contact.objects.filter(quickbooks_customer_id=customer_id).values().get()


def ledger_row(connection, customer_id: str) -> dict:
    return (
        QuickBooksSync.objects.filter(connection=connection, entity_type="Customer", entity_id=customer_id)
        .values("payload", "sync_version", "updated_at", "deleted_at", "local_id")
        .get()
    )


def qbo_writes(server) -> list[dict]:
    """Requests that could change the books: every POST but queries (python-quickbooks POSTs its queries)."""
    return [r for r in server.control.requests(method="POST") if not r["path"].endswith("/query")]


def reads(server) -> list[dict]:
    return server.control.requests("/query")


# ---------------------------------------------------------------------------------------------------- row 18


@pytest.mark.django_db
def test_a_replayed_webhook_is_stored_once_and_changes_nothing(client, imported, emulator, clock):
    """Row 18: a delivery is processed, then Intuit re-delivers the same signed body, then the same change comes
    again ten days later under a new CloudEvents id (a captured delivery replayed: Intuit's signature has no
    timestamp).

    Expected afterwards: the re-delivery answered 200 as a duplicate, stored nothing and cost no QBO call; the
    late replay is stored as one new row and processed with exactly one read of the customer and no write; the
    ledger row, the contact, the audit trail and the conflicts are exactly as after the first processing; no
    failure row. Two inbox rows in all.
    """
    connection = imported
    before = contact_row("1")
    assert before["tax_exempt"] is False
    updated = sparse(connection, "1", Taxable=False, TaxExemptionReasonId="5")
    body = legacy(connection.realm_id, ("Customer", "1", "Update", changed_at(updated)))
    emulator.control.clear_requests()

    assert post(client, body).json() == {"received": 1, "stored": 1, "duplicates": 0}
    assert webhook_events_process_task(connection.realm_id) == 0
    first = {
        "contact": contact_row("1"),
        "ledger": ledger_row(connection, "1"),
        "audit": AuditEvent.objects.count(),
        "conflicts": list(ContactConflict.objects.values()),
    }
    assert first["contact"]["tax_exempt"] is True and first["contact"]["quickbooks_sync_token"] == updated["SyncToken"]
    assert len(reads(emulator)) == 1
    emulator.control.clear_requests()

    again = post(client, body)  # Intuit re-delivers the same bytes
    assert webhook_events_process_task(connection.realm_id) == 0

    assert again.status_code == 200 and again.json() == {"received": 1, "stored": 0, "duplicates": 1}
    assert emulator.control.requests() == []
    assert WebhookEvent.objects.count() == 1

    ten_days_ago = (timezone.now() - timedelta(days=10)).isoformat().replace("+00:00", "Z")
    late = cloud_events(connection.realm_id, (str(uuid.uuid4()), "customer", "1", "updated", ten_days_ago))
    assert post(client, late).json() == {"received": 1, "stored": 1, "duplicates": 0}
    assert webhook_events_process_task(connection.realm_id) == 0

    assert len(reads(emulator)) == 1 and qbo_writes(emulator) == []
    assert contact_row("1") == first["contact"]
    assert ledger_row(connection, "1") == first["ledger"]
    assert AuditEvent.objects.count() == first["audit"]
    assert list(ContactConflict.objects.values()) == first["conflicts"]
    assert WebhookEvent.objects.count() == 2
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {WebhookEvent.Status.PROCESSED}
    assert not SyncFailure.objects.exists()


# ---------------------------------------------------------------------------------------------------- row 22


@pytest.mark.django_db(transaction=True)
def test_duplicate_deliveries_store_each_event_once_and_read_each_entity_once(connected, emulator, live_server, clock):
    """Row 22 (duplicates): three customers change in QuickBooks; the emulator delivers the one CloudEvents delivery
    to the running app twice (as Intuit may), and a hand-made delivery repeats an event inside itself.

    Expected afterwards: both copies answered 200; one inbox row per event (three), all processed; the three
    customers re-read in a single `Id IN` query (the copy found nothing new to do); each contact carries its
    customer's new SyncToken and the ledger one row per customer; the repeated event inside one delivery is stored
    once and costs no further read; no failure row.
    """
    run = customers_import_run(connection_id=connected.pk, full=True)
    assert run.status == SyncRun.Status.SUCCEEDED
    emulator.control.configure_webhooks(url=f"{live_server.url}{URL}", format="cloudevents", duplicate_next=1)
    changed = {cid: sparse(connected, cid, Notes=f"Changed in QuickBooks ({cid})") for cid in ("1", "2", "3")}
    emulator.control.clear_requests()

    deliveries = emulator.control.flush_webhooks()

    assert [d["statuses"] for d in deliveries] == [[200, 200]]
    events = WebhookEvent.objects.order_by("entity_id")
    assert [(e.entity_id, e.status) for e in events] == [(cid, WebhookEvent.Status.PROCESSED) for cid in changed]
    assert len(reads(emulator)) == 1
    for cid, customer in changed.items():
        contact = Contact.objects.get(quickbooks_customer_id=cid)
        assert contact.quickbooks_sync_token == customer["SyncToken"]
        assert QuickBooksSync.objects.filter(connection=connected, entity_type="Customer", entity_id=cid).count() == 1
        entry = ledger_row(connected, cid)
        assert entry["sync_version"] == int(customer["SyncToken"])
        assert entry["payload"]["Notes"] == f"Changed in QuickBooks ({cid})"

    event_id = events[0].cloud_event_id
    inner = cloud_events(
        connected.realm_id,
        *[(event_id, "customer", "1", "updated", "2026-12-01T18:00:00Z")] * 2,  # an event twice in one delivery
    )
    response = post(Client(), inner)

    assert response.status_code == 200 and response.json() == {"received": 1, "stored": 0, "duplicates": 1}
    assert WebhookEvent.objects.count() == 3 and len(reads(emulator)) == 1
    assert not SyncFailure.objects.exists()


# ---------------------------------------------------------------------------------------------------- row 21


@pytest.mark.django_db
def test_out_of_order_webhooks_end_at_qbos_newest_version_and_never_resurrect(client, imported, emulator, clock):
    """Row 21: a customer is renamed twice (t1, then t2) and its t2 event arrives first; another customer is
    deactivated in QuickBooks (QBO reports it as Delete) and a stale Update from before arrives after the Delete.

    Expected afterwards: the first customer's ledger row and contact hold t2 (QBO's newest) and the late t1 event
    changed nothing (not rewritten); the deactivated customer's contact is unlinked once, with its history, and the
    stale Update neither relinks it nor brings the customer back as active in the ledger; every event processed;
    no failure row.
    """
    connection = imported
    t1 = sparse(connection, "5", DisplayName="Dukes Basketball Camp (t1)")
    emulator.control.advance_clock(5)
    t2 = sparse(connection, "5", DisplayName="Dukes Basketball Camp (t2)")
    settled = connection.ledger.filter(entity_type="Customer", payload__Balance=0, payload__Job=False)
    gone_id = next(cid for cid in settled.values_list("entity_id", flat=True) if cid != "5")
    contact = Contact.objects.get(quickbooks_customer_id=gone_id)
    stale = qbo_read(connection=connection, entity="Customer", entity_id=gone_id)
    emulator.control.advance_clock(5)
    deactivated = sparse(connection, gone_id, Active=False)

    post(client, legacy(connection.realm_id, ("Customer", "5", "Update", changed_at(t2))))
    post(client, legacy(connection.realm_id, ("Customer", gone_id, "Delete", changed_at(deactivated))))
    webhook_events_process_task(connection.realm_id)
    newest = {"ledger": ledger_row(connection, "5"), "contact": contact_row("5")}
    post(client, legacy(connection.realm_id, ("Customer", "5", "Update", changed_at(t1))))  # older, arrives last
    post(client, legacy(connection.realm_id, ("Customer", gone_id, "Update", changed_at(stale))))
    webhook_events_process_task(connection.realm_id)

    assert newest["ledger"]["payload"]["DisplayName"] == "Dukes Basketball Camp (t2)"
    assert newest["ledger"]["sync_version"] == int(t2["SyncToken"])
    assert ledger_row(connection, "5") == newest["ledger"]  # not rewritten by the older event
    assert contact_row("5") == newest["contact"] and newest["contact"]["quickbooks_sync_token"] == t2["SyncToken"]
    contact.refresh_from_db()
    assert contact.quickbooks_customer_id is None
    assert AuditEvent.objects.filter(action="customer.unlink", object_id=str(contact.pk)).count() == 1
    gone = ledger_row(connection, gone_id)
    assert gone["payload"]["Active"] is False and gone["sync_version"] == int(deactivated["SyncToken"])
    assert not Contact.objects.filter(quickbooks_customer_id=gone_id).exists()
    assert WebhookEvent.objects.count() == 4
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {WebhookEvent.Status.PROCESSED}
    assert not SyncFailure.objects.exists()


# ---------------------------------------------------------------------------------------------------- row 19

BAD_SIGNATURES = {
    "missing": lambda body, token: "",
    "signed with an old verifier token": lambda body, token: sign(body, "the-verifier-token-before-rotation"),
    "body re-serialized after signing": lambda body, token: sign(json.dumps(json.loads(body)).encode(), token),
    "signature of another body": lambda body, token: sign(b'{"eventNotifications": []}', token),
    "not base64": lambda body, token: "not a signature at all",
    "right signature, one byte off": lambda body, token: sign(body, token)[:-2] + "A=",
}


@pytest.mark.django_db
def test_bad_signatures_are_refused_and_leave_nothing(
    client, imported, emulator, caplog, django_capture_on_commit_callbacks
):
    """Row 19: deliveries whose `intuit-signature` is missing, made with an old verifier token, made over other
    bytes than those posted, or not a signature at all.

    Expected afterwards: every one answered 401 with no inbox row, no processing queued and no QBO call; one
    security log line each that holds neither the body nor the signature. The same body correctly signed is then
    stored as one pending row.
    """
    connection = imported
    body = json.dumps(
        {
            "eventNotifications": [
                {
                    "realmId": connection.realm_id,
                    "dataChangeEvent": {
                        "entities": [
                            {
                                "name": "Customer",
                                "id": "1",
                                "operation": "Update",
                                "lastUpdated": "2026-12-01T10:00:00-0800",
                            }
                        ]
                    },
                }
            ]
        },
        indent=1,  # whitespace a re-serialization loses
    ).encode()
    token = emulator.verifier_token

    for case, make in BAD_SIGNATURES.items():
        caplog.clear()
        signature = make(body, token)
        with django_capture_on_commit_callbacks() as queued:
            response = post(client, body, signature=signature)
        assert response.status_code == 401, case
        assert queued == [], case
        assert "webhook rejected" in caplog.text, case
        assert "Customer" not in caplog.text and (not signature or signature not in caplog.text), case
    assert WebhookEvent.objects.count() == 0
    assert emulator.control.requests() == []

    assert post(client, body).status_code == 200
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.PENDING


# ---------------------------------------------------------------------------------------------------- row 20

MALFORMED = {
    "not JSON": b"<xml>not json</xml>",
    "binary": b"\x89PNG\r\n\x1a\n\x00\x00",
    "truncated JSON": b'{"eventNotifications": [{"realmId": "1", "dataChange',
    "a JSON string": b'"eventNotifications"',
    "eventNotifications not a list": b'{"eventNotifications": {"realmId": "1"}}',
    "CloudEvent without a type": b'[{"specversion": "1.0", "id": "ce-no-type", "intuitaccountid": "1"}]',
    "nested too deep": b"[" * 5000 + b"]" * 5000,
}


@pytest.mark.django_db
def test_malformed_bodies_are_acknowledged_kept_visible_and_never_block_the_good_events(
    client, imported, emulator, su_client
):
    """Row 20: signed deliveries that cannot be read (not JSON, binary, truncated, the wrong shape, too deep), and
    one delivery holding a good event next to an entity without an id.

    Expected afterwards: every delivery answered 200 (never a 5xx: Intuit's queue would stop), with no QBO call while
    Intuit waits; each unreadable delivery is one `unparseable` row, settled, with the reason, and re-delivering it
    adds nothing; in the mixed delivery the bad entity is one more `unparseable` row and the good event is pending,
    then processed with one read of its customer; the rows show in the admin inbox. No failure row.
    """
    connection = imported
    for case, body in MALFORMED.items():
        first, again = post(client, body), post(client, body)
        assert (first.status_code, again.status_code) == (200, 200), case
    assert emulator.control.requests() == []
    unreadable = WebhookEvent.objects.filter(status=WebhookEvent.Status.UNPARSEABLE)
    assert unreadable.count() == len(MALFORMED)
    assert all(row.error and row.processed_at for row in unreadable)

    mixed = json.dumps(
        {
            "eventNotifications": [
                {
                    "realmId": connection.realm_id,
                    "dataChangeEvent": {
                        "entities": [
                            {"name": "Customer", "operation": "Update"},  # no id
                            {
                                "name": "Customer",
                                "id": "2",
                                "operation": "Update",
                                "lastUpdated": "2026-12-01T10:00:00-0800",
                            },
                        ]
                    },
                }
            ]
        }
    ).encode()
    response = post(client, mixed)
    assert response.status_code == 200 and response.json()["stored"] == 2
    assert WebhookEvent.objects.filter(status=WebhookEvent.Status.UNPARSEABLE).count() == len(MALFORMED) + 1
    good = WebhookEvent.objects.get(status=WebhookEvent.Status.PENDING)
    assert (good.entity_type, good.entity_id) == ("Customer", "2")

    assert webhook_events_process_task(connection.realm_id) == 0

    good.refresh_from_db()
    assert good.status == WebhookEvent.Status.PROCESSED
    assert len(reads(emulator)) == 1
    page = su_client.get("/admin/quickbooks_integration/webhookevent/?status__exact=unparseable")
    assert page.status_code == 200 and b"unparseable" in page.content.lower()
    assert not SyncFailure.objects.exists()
