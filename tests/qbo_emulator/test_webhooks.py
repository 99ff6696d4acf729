"""Webhooks: signed legacy and CloudEvents deliveries from the change log, batching, retries, timeouts, faults."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from .conftest import sample


class Receiver:
    """A local webhook endpoint recording raw bodies and headers; `statuses` scripts its answers."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, dict[str, str]]] = []
        self.statuses: list[int] = []
        self.sleep = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.received.append((body, {k.lower(): v for k, v in self.headers.items()}))
                if receiver.sleep:
                    time.sleep(receiver.sleep)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                try:
                    self.send_response(status)
                    self.end_headers()
                except OSError:
                    pass

            def log_message(self, *args) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/quickbooks/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def receiver():
    r = Receiver()
    yield r
    r.close()


def _line():
    return {"Amount": 5, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}


def _signature_ok(body: bytes, header: str, token: str) -> bool:
    expected = base64.b64encode(hmac.new(token.encode(), body, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(expected, header)


def test_legacy_delivery_is_signed_and_batches_events(emulator, api, receiver, qb):
    emulator.control.configure_webhooks(url=receiver.url, format="legacy")
    customer = api.create("Customer", {"DisplayName": "Hook Person"})
    invoice = api.create("Invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [_line()]})
    deliveries = emulator.control.flush_webhooks()
    assert len(deliveries) == 1 and deliveries[0]["status"] == 200
    body, headers = receiver.received[0]
    assert _signature_ok(body, headers["intuit-signature"], emulator.verifier_token)
    assert qb.validate_webhook_signature(body.decode(), headers["intuit-signature"], emulator.verifier_token)
    payload = json.loads(body)
    notification = payload["eventNotifications"][0]
    assert notification["realmId"] == emulator.realm_id
    entities = notification["dataChangeEvent"]["entities"]
    assert {"name": "Customer", "id": customer["Id"], "operation": "Create"} == {
        k: entities[0][k] for k in ("name", "id", "operation")
    }
    assert (entities[1]["name"], entities[1]["id"], entities[1]["operation"]) == ("Invoice", invoice["Id"], "Create")
    assert set(entities[0]) == set(
        sample("webhook_legacy.json")["eventNotifications"][0]["dataChangeEvent"]["entities"][0]
    )
    assert headers["content-type"].startswith("application/json")
    assert emulator.control.flush_webhooks() == []  # nothing left


def test_operations_update_delete_void_emailed(emulator, api, receiver):
    emulator.control.configure_webhooks(url=receiver.url)
    invoice = api.create(
        "Invoice", {"CustomerRef": {"value": "2"}, "Line": [_line()], "BillEmail": {"Address": "a@b.co"}}
    )
    api.post(f"/invoice/{invoice['Id']}/send", None)
    voided = api.post("/invoice?operation=void", {"Id": invoice["Id"], "SyncToken": "1"}).json()["Invoice"]
    api.post("/invoice?operation=delete", {"Id": invoice["Id"], "SyncToken": voided["SyncToken"]})
    customer = api.create("Customer", {"DisplayName": "Hook Update"})
    api.post("/customer", {"Id": customer["Id"], "SyncToken": "0", "sparse": True, "Notes": "n"})
    emulator.control.flush_webhooks()
    entities = [
        e
        for body, _ in receiver.received
        for n in json.loads(body)["eventNotifications"]
        for e in n["dataChangeEvent"]["entities"]
    ]
    ops = [(e["name"], e["operation"]) for e in entities]
    assert ops == [
        ("Invoice", "Create"),
        ("Customer", "Update"),  # customer 2's Balance went up: a change (stricter reading, UNCONFIRMED)
        ("Invoice", "Emailed"),
        ("Invoice", "Void"),
        ("Customer", "Update"),  # and back down
        ("Invoice", "Delete"),  # a voided invoice carries no balance: the customer does not change
        ("Customer", "Create"),
        ("Customer", "Update"),
    ]


def test_a_deactivation_is_reported_as_delete_and_a_reactivation_as_update(emulator, api, receiver):
    """Names-list records cannot be deleted through the API, yet Intuit's webhook table lists Delete for Customer,
    Vendor, Employee, Item and Account (API.md §8.3): the Delete a subscriber sees is the deactivation. The CRM relies
    on it to retire a linked contact, so a deactivation reported as a plain Update must fail here."""
    emulator.control.configure_webhooks(url=receiver.url, format="legacy")
    customer = api.create("Customer", {"DisplayName": "Hook Retire"})
    off = api.post("/customer", {"Id": customer["Id"], "SyncToken": "0", "sparse": True, "Active": False}).json()
    assert off["Customer"]["Active"] is False and off["Customer"]["DisplayName"] == "Hook Retire (deleted)"
    api.post("/customer", {"Id": customer["Id"], "SyncToken": "1", "sparse": True, "Active": True})
    emulator.control.flush_webhooks()
    emulator.control.configure_webhooks(url=receiver.url, format="cloudevents")
    api.post("/customer", {"Id": customer["Id"], "SyncToken": "2", "sparse": True, "Active": False})
    emulator.control.flush_webhooks()
    legacy = [
        (e["id"], e["operation"])
        for body, _ in receiver.received
        if body.startswith(b"{")
        for n in json.loads(body)["eventNotifications"]
        for e in n["dataChangeEvent"]["entities"]
    ]
    assert legacy == [(customer["Id"], "Create"), (customer["Id"], "Delete"), (customer["Id"], "Update")]
    cloud = [e["type"] for body, _ in receiver.received if body.startswith(b"[") for e in json.loads(body)]
    assert cloud == ["qbo.customer.deleted.v1"]
    # the record itself still reads back (inactive), unlike a deleted transaction
    assert api.read("Customer", customer["Id"])["Active"] is False


def test_cloudevents_format(emulator, api, receiver):
    emulator.control.configure_webhooks(url=receiver.url, format="cloudevents")
    customer = api.create("Customer", {"DisplayName": "CE Person"})
    emulator.control.flush_webhooks()
    body, headers = receiver.received[0]
    assert _signature_ok(body, headers["intuit-signature"], emulator.verifier_token)
    events = json.loads(body)
    assert isinstance(events, list)
    assert set(sample("webhook_cloudevents.json")[0]) <= set(events[0])
    assert events[0]["type"] == "qbo.customer.created.v1"
    assert events[0]["intuitentityid"] == customer["Id"] and events[0]["intuitaccountid"] == emulator.realm_id
    assert events[0]["time"].endswith("Z")


def test_retry_after_non_200_keeps_order_and_event_ids(emulator, api, receiver):
    emulator.control.configure_webhooks(url=receiver.url, format="cloudevents")
    receiver.statuses = [500]
    api.create("Customer", {"DisplayName": "Retry Me"})
    first = emulator.control.flush_webhooks()
    assert first[0]["ok"] is False and first[0]["status"] == 500
    api.create("Customer", {"DisplayName": "Waits Behind"})
    # the background sweep respects the retry schedule (10 s first) on the emulator clock
    assert emulator.app.webhooks.sweep() == []
    emulator.control.advance_clock(11)
    retried = emulator.app.webhooks.sweep()
    assert retried[0]["ok"] is True and retried[0]["attempt"] == 2
    assert retried[1]["ok"] is True and retried[1]["attempt"] == 1  # the queue unblocked behind it
    ids_first = [e["id"] for e in json.loads(receiver.received[0][0])]
    ids_retry = [e["id"] for e in json.loads(receiver.received[1][0])]
    assert ids_first == ids_retry  # same events, same ids
    assert emulator.control.flush_webhooks() == []


def test_timeout_counts_as_failure(emulator, api, receiver):
    emulator.control.configure_webhooks(url=receiver.url)
    receiver.sleep = 3.5
    api.create("Customer", {"DisplayName": "Slow Receiver"})
    result = emulator.control.flush_webhooks()
    assert result[0]["ok"] is False and result[0]["status"] is None and "timed out" in result[0]["error"].lower()
    receiver.sleep = 0
    assert emulator.control.flush_webhooks()[0]["ok"] is True


def test_duplicate_and_out_of_order_injection(emulator, api, receiver):
    emulator.control.configure_webhooks(url=receiver.url, duplicate_next=1, reorder_next=1)
    first = api.create("Customer", {"DisplayName": "Order A"})
    second = api.create("Customer", {"DisplayName": "Order B"})
    result = emulator.control.flush_webhooks()
    assert result[0]["duplicated"] and result[0]["reordered"] and result[0]["statuses"] == [200, 200]
    assert len(receiver.received) == 2 and receiver.received[0][0] == receiver.received[1][0]
    ids = [e["id"] for e in json.loads(receiver.received[0][0])["eventNotifications"][0]["dataChangeEvent"]["entities"]]
    assert ids == [second["Id"], first["Id"]]


def test_max_events_per_delivery(emulator, api, receiver):
    emulator.control.configure_webhooks(url=receiver.url, max_events=2)
    for i in range(5):
        api.create("Customer", {"DisplayName": f"Chunk {i}"})
    result = emulator.control.flush_webhooks()
    assert [len(r["events"]) for r in result] == [2, 2, 1]


def test_deliveries_can_be_switched_off(emulator, api, receiver):
    emulator.control.configure_webhooks(url=receiver.url, enabled=False)
    api.create("Customer", {"DisplayName": "Silent"})
    assert emulator.control.flush_webhooks() == []
    assert receiver.received == []


def test_background_delivery(emulator, api, receiver):
    emulator.control.configure_webhooks(url=receiver.url, interval=0.1)
    api.create("Customer", {"DisplayName": "Background"})
    deadline = time.monotonic() + 20
    while not receiver.received and time.monotonic() < deadline:
        time.sleep(0.05)
    assert receiver.received
    assert emulator.control.webhooks()["history"][0]["ok"]


def test_seed_history_does_not_trigger_webhooks(emulator, receiver):
    emulator.control.configure_webhooks(url=receiver.url)
    assert emulator.control.flush_webhooks() == []
