"""Webhook dispatcher: signed legacy/CloudEvents deliveries, ordered queue, retries, duplicate/out-of-order faults."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any

from .clock import COMPANY_TZ, Clock
from .store import ChangeEntry

RETRY_SCHEDULE = (10, 20, 30, 300, 1200, 7200, 14400, 21600)  # then every 6 h
DELIVERY_TIMEOUT = 3.0
CE_ACTIONS = {
    "Create": "created",
    "Update": "updated",
    "Delete": "deleted",
    "Void": "voided",
    "Emailed": "emailed",
    "Merge": "merged",
}


def sign(body: bytes, verifier_token: str) -> str:
    """intuit-signature: base64(HMAC-SHA256(key=verifier token, msg=raw body))."""
    return base64.b64encode(hmac.new(verifier_token.encode("utf-8"), body, hashlib.sha256).digest()).decode("ascii")


@dataclass
class Event:
    id: str  # CloudEvents id, stable across retries and duplicates
    realm_id: str
    entity: str
    entity_id: str
    op: str
    time: Any  # datetime


@dataclass
class Delivery:
    events: list[Event]
    attempts: int = 0
    next_attempt_at: float = 0.0


@dataclass
class WebhookConfig:
    url: str | None = None
    verifier_token: str = "emulator-verifier-token"  # noqa: S105
    format: str = "legacy"  # legacy | cloudevents
    enabled: bool = True
    max_events: int = 100
    interval: float | None = None  # seconds between background sweeps; None = only on flush
    aggregate: float = 0.0  # seconds events wait before the background sweep sends them
    duplicate_next: int = 0  # the next N deliveries are sent twice (same body, same signature)
    reorder_next: int = 0  # the next N deliveries carry their events in reverse order


@dataclass
class Dispatcher:
    clock: Clock
    config: WebhookConfig = field(default_factory=WebhookConfig)
    pending: list[Event] = field(default_factory=list)
    queue: list[Delivery] = field(default_factory=list)  # head is the blocking delivery awaiting acknowledgement
    history: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _deliver_lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    # ------------------------------------------------------------ intake
    def on_change(self, entry: ChangeEntry) -> None:
        if not entry.webhook:
            return
        with self._lock:
            if not self.config.url or not self.config.enabled:
                return
            self.pending.append(Event(str(uuid.uuid4()), entry.realm_id, entry.entity, entry.id, entry.op, entry.time))

    def reset(self) -> None:
        with self._lock:
            self.pending.clear()
            self.queue.clear()
            self.history.clear()
            self.config.duplicate_next = 0
            self.config.reorder_next = 0

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {
                "config": {k: v for k, v in vars(self.config).items()},
                "pending_events": len(self.pending) + sum(len(d.events) for d in self.queue),
                "queued_deliveries": len(self.queue),
                "history": list(self.history),
            }

    # ------------------------------------------------------------ payloads
    def payload(self, events: list[Event]) -> bytes:
        if self.config.format == "cloudevents":
            body: Any = [
                {
                    "specversion": "1.0",
                    "id": event.id,
                    "source": "intuit.qbo-emulator",
                    "type": f"qbo.{event.entity.lower()}.{CE_ACTIONS.get(event.op, event.op.lower())}.v1",
                    "datacontenttype": "application/json",
                    "time": _utc_millis(event.time),
                    "intuitentityid": event.entity_id,
                    "intuitaccountid": event.realm_id,
                    "data": {},
                }
                for event in events
            ]
        else:
            by_realm: dict[str, list[dict[str, str]]] = {}
            for event in events:
                by_realm.setdefault(event.realm_id, []).append(
                    {
                        "name": event.entity,
                        "id": event.entity_id,
                        "operation": event.op,
                        "lastUpdated": _legacy_time(event.time),
                    }
                )
            body = {
                "eventNotifications": [
                    {"realmId": realm, "dataChangeEvent": {"entities": ents}} for realm, ents in by_realm.items()
                ]
            }
        return json.dumps(body).encode("utf-8")

    def headers(self, body: bytes) -> dict[str, str]:
        now = self.clock.now()
        return {
            "Content-Type": "application/json; charset=utf-8",
            "Accept": "application/json",
            "User-Agent": "intuit_notification_server/0.1",
            "intuit-signature": sign(body, self.config.verifier_token),
            "intuit-created-time": now.astimezone(COMPANY_TZ).strftime("%Y-%m-%dT%H:%M:%S%z"),
            "intuit-t-id": str(uuid.uuid4()),
            "intuit-notification-schema-version": "0.1",
        }

    # ------------------------------------------------------------ delivery
    def _batch_pending(self, *, only_aged: bool) -> None:
        now = self.clock.timestamp()
        with self._lock:
            while self.pending:
                ready = self.pending
                if only_aged and self.config.aggregate:
                    ready = [e for e in self.pending if e.time.timestamp() <= now - self.config.aggregate]
                    if len(ready) < len(self.pending) and not ready:
                        return
                chunk = ready[: self.config.max_events]
                for event in chunk:
                    self.pending.remove(event)
                self.queue.append(Delivery(chunk))
                if only_aged and self.config.aggregate:
                    return

    def _post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str | None, str]:
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 - configured URL
        try:
            with urllib.request.urlopen(request, timeout=DELIVERY_TIMEOUT) as response:  # noqa: S310  # nosec B310 (the configured webhook URL)
                return response.status, None, response.read(2000).decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            return exc.code, None, exc.read(2000).decode("utf-8", "replace")
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            return None, f"{type(exc).__name__}: {exc}", ""

    def _attempt_head(self) -> dict[str, Any] | None:
        """Send the head delivery once (twice for duplicate injection); a record, or None if nothing is queued."""
        with self._lock:
            if not self.queue or not self.config.url or not self.config.enabled:
                return None
            delivery = self.queue[0]
            events = list(delivery.events)
            reordered = False
            if delivery.attempts == 0 and self.config.reorder_next > 0 and len(events) > 1:
                self.config.reorder_next -= 1
                events.reverse()
                delivery.events = events
                reordered = True
            duplicate = False
            if delivery.attempts == 0 and self.config.duplicate_next > 0:
                self.config.duplicate_next -= 1
                duplicate = True
            url = self.config.url
            body = self.payload(events)
            headers = self.headers(body)
        statuses = []
        error = None
        response_text = ""
        for _ in range(2 if duplicate else 1):
            status, error, response_text = self._post(url, body, headers)
            statuses.append(status)
        ok = statuses[0] == 200
        record = {
            "attempt": delivery.attempts + 1,
            "status": statuses[0],
            "statuses": statuses,
            "ok": ok,
            "error": error,
            "response": response_text[:500],
            "events": [
                {"realmId": e.realm_id, "name": e.entity, "id": e.entity_id, "operation": e.op, "event_id": e.id}
                for e in events
            ],
            "body": body.decode("utf-8"),
            "headers": headers,
            "duplicated": duplicate,
            "reordered": reordered,
        }
        with self._lock:
            delivery.attempts += 1
            if ok:
                if self.queue and self.queue[0] is delivery:
                    self.queue.pop(0)
            else:
                index = min(delivery.attempts - 1, len(RETRY_SCHEDULE) - 1)
                delivery.next_attempt_at = self.clock.timestamp() + RETRY_SCHEDULE[index]
            self.history.append(record)
        return record

    def flush(self) -> list[dict[str, Any]]:
        """Deliver everything pending now, in order; stop at the first failure (the queue blocks until acknowledged)."""
        results: list[dict[str, Any]] = []
        with self._deliver_lock:
            self._batch_pending(only_aged=False)
            while True:
                record = self._attempt_head()
                if record is None:
                    break
                results.append(record)
                if not record["ok"]:
                    break
        return results

    def sweep(self) -> list[dict[str, Any]]:
        """One background pass: batch aged events, send the head if its retry time has come."""
        results: list[dict[str, Any]] = []
        with self._deliver_lock:
            self._batch_pending(only_aged=True)
            while True:
                with self._lock:
                    if not self.queue or self.queue[0].next_attempt_at > self.clock.timestamp():
                        break
                record = self._attempt_head()
                if record is None:
                    break
                results.append(record)
                if not record["ok"]:
                    break
        return results

    # ------------------------------------------------------------ background thread
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="qbo-emulator-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            interval = 0.5
            try:
                if self.config.interval:
                    interval = float(self.config.interval)
                    self.sweep()
            except Exception as exc:  # noqa: BLE001 - keep the dispatcher alive, remember why
                with self._lock:
                    self.history.append({"ok": False, "error": f"dispatcher: {type(exc).__name__}: {exc}"})
            self._stop.wait(interval)


def _utc_millis(when: Any) -> str:
    import datetime as dt

    utc = when.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _legacy_time(when: Any) -> str:
    return when.astimezone(COMPANY_TZ).strftime("%Y-%m-%dT%H:%M:%S%z")
