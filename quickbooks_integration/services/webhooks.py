"""The QBO webhook inbox (issue 12, STYLE §6): verify, store each event once, acknowledge, process later.

Owns the signature check, the parsing of both payload formats (legacy `eventNotifications` and the CloudEvents
array, API.md §8.1-8.2), storing `WebhookEvent` rows, and processing them: re-read the changed entities in as few
calls as possible, apply them to the ledger newer-only (`mirror_apply`), then hand the changes to the per-entity
hooks the customers and sales services register with `webhook_entity_register`.

Must not: store anything unsigned (RELIABILITY B1); call QBO or do per-entity work while Intuit waits (B2: 200
within 3 s); answer 5xx for anything but a failed store, since Intuit's queue blocks until an event is
acknowledged (finding 5); trust the payload (webhooks carry ids only and can be replayed forever, finding 4: the
entity is always re-read, and only a newer copy is applied).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django_q.tasks import async_task

from crm_project.log_filters import redact

from .. import conf
from ..models import QuickBooksAuth, QuickBooksSync, SyncFailure, SyncRun, WebhookEvent
from ..qbo.client import PAGE_SIZE, qbo_query
from ..qbo.errors import NotConnectedError, ReconnectRequiredError, TokenDecryptError
from .failures import failure_record, failure_resolve, failure_retry_register
from .mirror import mirror_apply, qbo_time
from .runs import RunContext, RunLeaseLost, sync_kind_register, sync_run_execute

logger = logging.getLogger(__name__)

WEBHOOKS = "webhooks"  # the sync kind processing runs under (services/runs.py)
TASK = "quickbooks_integration.tasks.webhook_events_process_task"
FAILURE_KIND = "webhook_events"
OPERATIONS = ("Create", "Update", "Delete", "Merge", "Void", "Emailed")  # API.md §8.1
CE_ACTIONS = {
    "created": "Create",
    "updated": "Update",
    "deleted": "Delete",
    "merged": "Merge",
    "voided": "Void",
    "emailed": "Emailed",
}
# Entity names as QBO spells them, to turn CloudEvents' lower-case `qbo.<entity>.<action>.v1` back (API.md §8.3).
_QBO_ENTITIES = (
    "Account Attachable Bill BillPayment Budget Class CompanyInfo CreditMemo Currency Customer Department Deposit "
    "Employee Estimate Invoice Item JournalCode JournalEntry Payment PaymentMethod Preferences Purchase "
    "PurchaseOrder RefundReceipt SalesReceipt TaxAgency TaxCode TaxRate Term TimeActivity Transfer Vendor VendorCredit"
)
ENTITY_NAMES = {name.lower(): name for name in _QBO_ENTITIES.split()}
# What the CRM keeps in its ledger; any other entity's events are stored as ignored (the hooks may add more).
MIRRORED_ENTITIES = frozenset({"Customer", "Item", "Term", "Estimate", "Invoice", "Payment"})
# Names-list entities: a query hides inactive rows unless it names Active (API.md §3.2), and QBO reports a
# deactivation as Delete (docs/emulator.md), so the re-read must include inactive ones.
NAME_LIST_ENTITIES = frozenset(
    {"Account", "Class", "Customer", "Department", "Employee", "Item", "PaymentMethod", "TaxCode", "Term", "Vendor"}
)
_SELECT = {"Item": "SELECT *, Sku FROM Item"}  # Sku only comes back when named (API.md §2.4, 0.9.12)
_CE_TYPE = re.compile(r"^qbo\.([a-z0-9_]+)\.([a-z]+)\.v\d+$", re.IGNORECASE)
_QBO_ID = re.compile(r"^\d{1,20}$")
UNPARSEABLE_KEEP_CHARS = 20_000  # of a body that is not JSON: enough to see what it was, not a 2 MB admin page


# ---------------------------------------------------------------------------------------------------- settings


def max_body_bytes() -> int:
    """Largest delivery accepted (413 above). Intuit sends ≤ 100 events, about 1 MB at most (API.md §8.2)."""
    return int(getattr(settings, "QUICKBOOKS_WEBHOOK_MAX_BYTES", 2_000_000))


def read_chunk() -> int:
    """Ids per `Id IN (…)` query: one call each, as long as it stays under QBO's 1000-row page (API.md §3.2)."""
    return max(1, min(int(getattr(settings, "QUICKBOOKS_WEBHOOK_READ_CHUNK", 100)), PAGE_SIZE))


def max_attempts() -> int:
    """Processing attempts before an event is left as failed (its SyncFailure row can queue it again)."""
    return int(getattr(settings, "QUICKBOOKS_WEBHOOK_MAX_ATTEMPTS", 5))


def retention_days() -> int:
    """Settled events (processed, ignored, unparseable) are pruned after this many days; the CDC covers replays."""
    return int(getattr(settings, "QUICKBOOKS_WEBHOOK_RETENTION_DAYS", 30))


# ---------------------------------------------------------------------------------------------------- entity hooks

EntityHandler = Callable[..., None]


@dataclass(frozen=True)
class _Hook:
    handler: EntityHandler
    wants_merges: bool


_HOOKS: dict[str, list[_Hook]] = defaultdict(list)


def webhook_entity_register(
    entity_type: str, *, wants_merges: bool = False
) -> Callable[[EntityHandler], EntityHandler]:
    """Register `handler(connection, rows, deleted_ids)` for changes of `entity_type` that webhooks bring in.

    It runs inside the transaction that wrote the ledger, after `mirror_apply`, with the QBO JSON of every entity
    whose copy was newer (oldest change first) and the ids QBO no longer returns (deleted, or merged away). If it
    raises, the ledger change rolls back with it and the events are retried. With `wants_merges=True` it also gets
    `merged={merged_away_id: surviving_id}` so links can be moved to the survivor (RELIABILITY B7).
    """

    def register(handler: EntityHandler) -> EntityHandler:
        hooks = _HOOKS[entity_type]
        if all(hook.handler is not handler for hook in hooks):
            hooks.append(_Hook(handler, wants_merges))
        return handler

    return register


def handled_entities() -> frozenset[str]:
    return MIRRORED_ENTITIES | frozenset(name for name, hooks in _HOOKS.items() if hooks)


# ---------------------------------------------------------------------------------------------------- signature


def webhook_signature_expected(*, body: bytes, verifier_token: str) -> str:
    """base64(HMAC-SHA256(key=verifier token, msg=raw body)) (API.md §8.4)."""
    digest = hmac.new(verifier_token.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def webhook_signature_valid(*, body: bytes, signature: str | None, verifier_token: str | None = None) -> bool:
    """Whether `intuit-signature` signs these exact bytes; constant-time (python-quickbooks uses `==`, finding 3).

    No verifier token configured means nothing can be verified, so everything is refused.
    """
    token = conf.verifier_token() if verifier_token is None else verifier_token
    if not token or not signature:
        return False
    expected = webhook_signature_expected(body=body, verifier_token=token).encode("ascii")
    return hmac.compare_digest(expected, signature.strip().encode("utf-8", "replace"))


# ---------------------------------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class ParsedEvent:
    """One event read from a delivery, or one piece of it that could not be read (`problem` says why)."""

    event_key: str
    format: str
    payload: Any
    realm_id: str = ""
    entity_type: str = ""
    entity_id: str = ""
    operation: str = ""
    deleted_id: str = ""
    last_updated: datetime | None = None
    cloud_event_id: str = ""
    problem: str = ""


def _hash(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def _text(value: Any, limit: int) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return ""
    return str(value).strip()[:limit]


def _operation(value: str) -> str:
    for known in OPERATIONS:
        if value.lower() == known.lower():
            return known
    return value


def _time(value: Any) -> datetime | None:
    """QBO's offsets come as -0700 (legacy) or Z with up to nanoseconds (CloudEvents); a naive time is refused."""
    if not isinstance(value, str):
        return None
    try:
        parsed = qbo_time(re.sub(r"(\.\d{6})\d+", r"\1", value.strip()))
        if parsed is not None:
            parsed.astimezone(UTC)  # year 9999 at -12:00 overflows when stored as UTC
        return parsed
    except (ValueError, OverflowError):
        return None


def _unparseable(
    *, payload: Any, problem: str, fmt: str = WebhookEvent.Format.UNKNOWN, realm_id: str = ""
) -> ParsedEvent:
    canonical = json.dumps(payload, sort_keys=True, default=str)
    payload = payload if isinstance(payload, dict) else {"value": payload}  # the column holds an object
    return ParsedEvent(
        event_key=_hash("unparseable", realm_id, canonical),
        format=fmt,
        payload=payload,
        realm_id=realm_id,
        problem=problem,
    )


def _legacy_events(document: Mapping) -> list[ParsedEvent]:
    fmt = WebhookEvent.Format.LEGACY
    notifications = document.get("eventNotifications")
    if not isinstance(notifications, list):
        return [_unparseable(payload=document, problem="eventNotifications is not a list", fmt=fmt)]
    events: list[ParsedEvent] = []
    for notification in notifications:
        realm_id = _text(notification.get("realmId"), 32) if isinstance(notification, Mapping) else ""
        change = notification.get("dataChangeEvent") if isinstance(notification, Mapping) else None
        entities = change.get("entities") if isinstance(change, Mapping) else None
        if not realm_id or not isinstance(entities, list):
            events.append(
                _unparseable(payload=notification, problem="notification without realmId or entities", fmt=fmt)
            )
            continue
        for entity in entities:
            if not isinstance(entity, Mapping):
                events.append(
                    _unparseable(payload=entity, problem="entity is not an object", fmt=fmt, realm_id=realm_id)
                )
                continue
            name, entity_id = _text(entity.get("name"), 40), _text(entity.get("id"), 50)
            operation = _operation(_text(entity.get("operation"), 20))
            if not (name and entity_id and operation):
                events.append(
                    _unparseable(
                        payload=entity, problem="entity without name, id or operation", fmt=fmt, realm_id=realm_id
                    )
                )
                continue
            raw_time = _text(entity.get("lastUpdated"), 60)
            when = _time(raw_time)
            deleted_id = _text(entity.get("deletedId", entity.get("deletedID")), 50)  # the docs say deletedID
            events.append(
                ParsedEvent(
                    event_key=_hash(
                        "legacy", realm_id, name, entity_id, operation, when.isoformat() if when else raw_time
                    ),
                    format=fmt,
                    payload={"realmId": realm_id, **entity},
                    realm_id=realm_id,
                    entity_type=name,
                    entity_id=entity_id,
                    operation=operation,
                    deleted_id=deleted_id,
                    last_updated=when,
                )
            )
    return events


def _cloud_event(event: Any) -> ParsedEvent:
    fmt = WebhookEvent.Format.CLOUDEVENTS
    if not isinstance(event, Mapping):
        return _unparseable(payload=event, problem="CloudEvent is not an object", fmt=fmt)
    realm_id = _text(event.get("intuitaccountid"), 32)
    entity_id = _text(event.get("intuitentityid"), 50)
    match = _CE_TYPE.match(_text(event.get("type"), 100))
    if not (realm_id and entity_id and match):
        return _unparseable(
            payload=event, problem="CloudEvent without type, account or entity id", fmt=fmt, realm_id=realm_id
        )
    entity = ENTITY_NAMES.get(match.group(1).lower(), match.group(1)[:1].upper() + match.group(1)[1:])[:40]
    operation = CE_ACTIONS.get(match.group(2).lower(), match.group(2).capitalize())[:20]
    data = event.get("data") if isinstance(event.get("data"), Mapping) else {}
    deleted_id = _text(data.get("deletedid", data.get("deletedId", data.get("deletedID"))), 50)
    raw_time = _text(event.get("time"), 60)
    when = _time(raw_time)
    event_id = _text(event.get("id"), 500)
    key = _hash("ce", event_id) if event_id else _hash("legacy", realm_id, entity, entity_id, operation, raw_time)
    return ParsedEvent(
        event_key=key,
        format=fmt,
        payload=dict(event),
        realm_id=realm_id,
        entity_type=entity,
        entity_id=entity_id,
        operation=operation,
        deleted_id=deleted_id,
        last_updated=when,
        cloud_event_id=event_id[:100],
    )


def _without_nul(value: Any) -> Any:
    """The JSON with NUL characters removed: PostgreSQL's jsonb and text refuse them (`\\u0000` is valid JSON), and a
    signed event that cannot be stored would be answered 503 and block Intuit's queue for good."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    if isinstance(value, dict):
        return {_without_nul(key): _without_nul(item) for key, item in value.items()}
    return value


def _unparseable_body(body: bytes, problem: str) -> ParsedEvent:
    text = body.decode("utf-8", "replace").replace("\x00", "")
    return ParsedEvent(
        event_key=_hash("unparseable-body", hashlib.sha256(body).hexdigest()),
        format=WebhookEvent.Format.UNKNOWN,
        payload={"body": text[:UNPARSEABLE_KEEP_CHARS], "bytes": len(body)},
        problem=problem,
    )


def webhook_events_parse(body: bytes) -> list[ParsedEvent]:
    """Every event of a delivery, whatever its shape; never raises.

    The format is told by the body, not the Content-Type: Intuit's CloudEvents content type is UNCONFIRMED
    (`application/json`, `application/cloudevents-batch+json` or `application/cloudevents+json`, API.md §8.2), and
    a signed delivery must never be refused. A CloudEvents body is an array; a single event object is accepted too
    (the structured `cloudevents+json` mode). Anything unreadable becomes one unparseable event, so a poison
    delivery is recorded, acknowledged and visible instead of blocking Intuit's queue (RELIABILITY B3).
    """
    try:
        document = _without_nul(json.loads(body.decode("utf-8")))
        if isinstance(document, Mapping) and "eventNotifications" in document:
            events = _legacy_events(document)
        elif isinstance(document, list):
            events = [_cloud_event(event) for event in document]
        elif isinstance(document, Mapping) and "specversion" in document:
            events = [_cloud_event(document)]
        else:
            events = [_unparseable(payload=document, problem="neither eventNotifications nor a CloudEvents array")]
        return events or [_unparseable(payload=document, problem="a delivery without events")]
    except (UnicodeDecodeError, ValueError) as exc:
        return [_unparseable_body(body, f"not JSON: {type(exc).__name__}")]
    except RecursionError:
        return [_unparseable_body(body, "JSON nested too deeply")]


# ---------------------------------------------------------------------------------------------------- storing


@dataclass
class StoreResult:
    """What a delivery left in the inbox: events read, rows new, duplicates (already stored), realms queued."""

    received: int = 0
    stored: int = 0
    duplicates: int = 0
    realms_queued: list[str] = field(default_factory=list)


def _initial_state(event: ParsedEvent, connections: Mapping[str, tuple[int, str]]) -> tuple[str, str, int | None]:
    """(status, reason, connection id) decided at receipt from what the row says; no QBO call."""
    known = connections.get(event.realm_id)
    connection_id = known[0] if known else None
    if event.problem:
        return WebhookEvent.Status.UNPARSEABLE, event.problem, connection_id
    if known is None:
        return WebhookEvent.Status.IGNORED, "unknown realm: no QuickBooks connection for it", None
    if known[1] == QuickBooksAuth.Status.DISCONNECTED:
        return WebhookEvent.Status.IGNORED, "realm disconnected", connection_id
    if event.operation not in OPERATIONS:
        return WebhookEvent.Status.IGNORED, f"unknown operation {event.operation!r}", connection_id
    if event.entity_type not in handled_entities():
        return WebhookEvent.Status.IGNORED, f"{event.entity_type} is not synced", connection_id
    if not _QBO_ID.match(event.entity_id) or (event.deleted_id and not _QBO_ID.match(event.deleted_id)):
        return WebhookEvent.Status.IGNORED, "not a QBO id", connection_id
    return WebhookEvent.Status.PENDING, "", connection_id


def webhook_delivery_store(*, body: bytes, delivery_id: str = "") -> StoreResult:
    """Store each event of a signed delivery once and queue processing on commit; call only after the signature.

    Four queries whatever the size (connections, known keys, one bulk insert that ignores a concurrent
    duplicate, a count that proves the rows are there). If the database refuses the rows for what they hold (not
    for being down), the whole delivery is kept as one unparseable row instead, so a poison value is acknowledged
    and seen, not retried forever. Raises `DatabaseError` when nothing could be stored: the view answers 503 and
    Intuit retries (B4).
    """
    events = list({event.event_key: event for event in webhook_events_parse(body)}.values())  # duplicates inside
    try:
        return _events_store(events, delivery_id=delivery_id)
    except (OperationalError, InterfaceError):
        raise  # the database is unavailable: 503, Intuit delivers again
    except Exception as exc:
        logger.exception("webhook delivery %s: its events could not be stored; keeping the body", delivery_id or "-")
        fallback = _unparseable_body(body, f"its events could not be stored: {type(exc).__name__}")
        return _events_store([fallback], delivery_id=delivery_id)


def _events_store(events: list[ParsedEvent], *, delivery_id: str) -> StoreResult:
    result = StoreResult(received=len(events))
    realms = {event.realm_id for event in events if event.realm_id}
    now = timezone.now()
    with transaction.atomic():
        connections = {
            realm: (pk, status)
            for realm, pk, status in QuickBooksAuth.objects.filter(company_id__in=realms).values_list(
                "company_id", "pk", "status"
            )
        }
        known = set(
            WebhookEvent.objects.filter(event_key__in=[e.event_key for e in events]).values_list("event_key", flat=True)
        )
        rows = []
        for event in events:
            if event.event_key in known:
                continue
            status, reason, connection_id = _initial_state(event, connections)
            rows.append(
                WebhookEvent(
                    connection_id=connection_id,
                    realm_id=event.realm_id,
                    entity_type=event.entity_type,
                    entity_id=event.entity_id,
                    operation=event.operation,
                    deleted_id=event.deleted_id,
                    last_updated=event.last_updated,
                    event_key=event.event_key,
                    cloud_event_id=event.cloud_event_id,
                    delivery_id=delivery_id[:100],
                    format=event.format,
                    status=status,
                    received_at=now,
                    processed_at=None if status == WebhookEvent.Status.PENDING else now,
                    error=reason,
                    payload=event.payload,
                )
            )
        WebhookEvent.objects.bulk_create(rows, ignore_conflicts=True)
        # SQLite's INSERT OR IGNORE skips any constraint failure, not only a duplicate key: count what is there,
        # so a 200 never goes out for a row that was not written (B4).
        keys = [row.event_key for row in rows]
        if keys and WebhookEvent.objects.filter(event_key__in=keys).count() < len(keys):
            raise DatabaseError("some webhook events were not stored")
        result.stored = len(rows)
        result.duplicates = len(known)
        result.realms_queued = sorted({row.realm_id for row in rows if row.status == WebhookEvent.Status.PENDING})
        for realm_id in result.realms_queued:
            # robust: a broker that is down must not turn a stored event into a 500; the sweeper queues it later
            transaction.on_commit(lambda realm_id=realm_id: webhook_events_enqueue(realm_id=realm_id), robust=True)
    logger.info(
        "webhook delivery %s: %d events, %d new, %d duplicates",
        delivery_id or "-",
        len(events),
        result.stored,
        result.duplicates,
    )
    return result


def webhook_events_enqueue(*, realm_id: str) -> None:
    """Queue the processing of a realm's pending events (called on commit; a duplicate task finds nothing to do)."""
    async_task(TASK, realm_id, task_name=f"qbo-webhooks-{realm_id}")


# ---------------------------------------------------------------------------------------------------- processing


@dataclass
class ProcessResult:
    """Events settled by one processing pass, and QBO read calls made for them."""

    processed: int = 0
    failed: int = 0
    reads: int = 0
    applied: int = 0
    deleted: int = 0


class _Stop(Exception):
    """The connection can no longer be used (needs reconnecting): leave the rest pending for after the reconnect."""


def _due(connection: QuickBooksAuth, *, now: datetime) -> Q:
    return Q(connection=connection, status=WebhookEvent.Status.PENDING) & (
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    )


def _sql_ids(ids: Iterable[str]) -> str:
    return ", ".join(f"'{entity_id}'" for entity_id in ids)  # ids are checked digits (`_QBO_ID`) before storing


def entities_read(*, connection: QuickBooksAuth, entity_type: str, ids: Sequence[str]) -> tuple[dict[str, dict], int]:
    """Read entities by Id, `read_chunk()` ids per query (one call each): ({id: JSON}, calls made).

    This is QBO's query language sent to QBO, not SQL on our database: the entity is one of our own names and the
    ids are digits. Names-list entities are read with `Active IN (true, false)` so a deactivated one is seen.
    """
    select = _SELECT.get(entity_type, f"SELECT * FROM {entity_type}")  # noqa: S608  # nosec B608
    active = " AND Active IN (true, false)" if entity_type in NAME_LIST_ENTITIES else ""
    ordered = sorted(set(ids), key=int)
    size = read_chunk()
    found: dict[str, dict] = {}
    calls = 0
    for start in range(0, len(ordered), size):
        chunk = ordered[start : start + size]
        sql = f"{select} WHERE Id IN ({_sql_ids(chunk)}){active}"
        for row in qbo_query(connection=connection, sql=sql, page_size=PAGE_SIZE):
            found[str(row.get("Id"))] = row
        calls += 1
    return found, calls


def _gone_stubs(
    *, connection: QuickBooksAuth, entity_type: str, gone: Mapping[str, datetime | None], now: datetime
) -> list[dict]:
    """Deletion stubs for ids QBO no longer returns, each a version after the ledger's (so `mirror_apply` takes it).

    An id absent from a read made now is gone now, whatever an event's time says: an event's second-precision
    `lastUpdated` can equal the entity's last LastUpdatedTime, so the stub is also given the next SyncToken.
    Ids already deleted in the ledger get no stub (nothing changes, no hook runs again).
    """
    entries = {
        entry.entity_id: entry
        for entry in QuickBooksSync.objects.filter(
            connection=connection, entity_type=entity_type, entity_id__in=list(gone)
        ).only("entity_id", "qbo_updated_at", "sync_version", "deleted_at")
    }
    stubs = []
    for entity_id, when in gone.items():
        entry = entries.get(entity_id)
        if entry is not None and entry.deleted_at is not None:
            continue
        moment = when or now
        token = None
        if entry is not None:
            if entry.qbo_updated_at and entry.qbo_updated_at > moment:
                moment = entry.qbo_updated_at
            if entry.sync_version is not None:
                token = entry.sync_version + 1
            elif entry.qbo_updated_at and entry.qbo_updated_at >= moment:
                moment = entry.qbo_updated_at + timedelta(milliseconds=1)
        stub: dict[str, Any] = {
            "Id": entity_id,
            "status": "Deleted",
            "MetaData": {"LastUpdatedTime": moment.isoformat()},
        }
        if token is not None:
            stub["SyncToken"] = str(token)
        stubs.append(stub)
    return stubs


def _order(row: Mapping) -> float:
    updated = qbo_time((row.get("MetaData") or {}).get("LastUpdatedTime"))
    return updated.timestamp() if updated else 0.0


def _failure_key(connection: QuickBooksAuth, entity_type: str) -> str:
    return f"{FAILURE_KIND}:{connection.pk}:{entity_type}"


def _group_failed(*, connection: QuickBooksAuth, entity_type: str, events: list[WebhookEvent], error: Exception) -> int:
    """Count the attempt on each event; back off exponentially, and after `max_attempts()` leave it failed.

    The events stay in the inbox with the error either way, and one SyncFailure row per realm and entity type
    carries QBO's words and a retry that queues them again (STYLE §7).
    """
    now = timezone.now()
    message = redact(str(error) or type(error).__name__)[:2000]
    ids = [event.pk for event in events]
    attempts = max(event.attempts for event in events) + 1
    give_up = Q(attempts__gte=max_attempts() - 1)
    rows = WebhookEvent.objects.filter(pk__in=ids, status=WebhookEvent.Status.PENDING)
    failed = rows.filter(give_up).update(
        status=WebhookEvent.Status.FAILED,
        attempts=F("attempts") + 1,
        error=message,
        processed_at=now,
        next_attempt_at=None,
    )
    rows.exclude(give_up).update(
        attempts=F("attempts") + 1, error=message, next_attempt_at=now + timedelta(seconds=min(3600, 30 * 2**attempts))
    )
    failure_record(
        kind=FAILURE_KIND,
        key=_failure_key(connection, entity_type),
        direction=SyncFailure.Direction.WEBHOOK,
        error=error,
        connection_id=connection.pk,
        entity_type=entity_type,
        entity_id=", ".join(sorted({event.entity_id for event in events}, key=int)[:5])[:50],
        retry_args={"connection_id": connection.pk, "entity_type": entity_type},
    )
    return failed


def _group_process(*, run: RunContext, entity_type: str, events: list[WebhookEvent], result: ProcessResult) -> None:
    """Re-read one entity type's changed ids, apply what is newer, run the hooks, settle the events, atomically."""
    connection = run.connection
    now = timezone.now()
    times: dict[str, datetime | None] = {}
    merged: dict[str, str] = {}
    for event in events:
        for entity_id in filter(None, (event.entity_id, event.deleted_id)):
            previous = times.get(entity_id)
            if event.last_updated and (previous is None or event.last_updated > previous):
                previous = event.last_updated
            times[entity_id] = previous
        if event.operation == "Merge" and event.deleted_id:
            merged[event.deleted_id] = event.entity_id
    found, calls = entities_read(connection=connection, entity_type=entity_type, ids=list(times))
    result.reads += calls
    gone = {entity_id: when for entity_id, when in times.items() if entity_id not in found or entity_id in merged}
    rows = sorted((row for entity_id, row in found.items() if entity_id not in gone), key=_order)
    with transaction.atomic():
        applied = mirror_apply(connection=connection, entity_type=entity_type, rows=rows)
        stubs = _gone_stubs(connection=connection, entity_type=entity_type, gone=gone, now=now)
        deleted = mirror_apply(connection=connection, entity_type=entity_type, rows=stubs) if stubs else None
        changed = sorted((dict(entry.payload) for entry in applied.changed), key=_order)
        deleted_ids = sorted((entry.entity_id for entry in deleted.changed), key=int) if deleted else []
        if changed or deleted_ids:
            for hook in _HOOKS.get(entity_type, []):
                extra = {"merged": {k: v for k, v in merged.items() if k in deleted_ids}} if hook.wants_merges else {}
                hook.handler(connection, changed, deleted_ids, **extra)
        settled = WebhookEvent.objects.filter(
            pk__in=[event.pk for event in events], status=WebhookEvent.Status.PENDING
        ).update(
            status=WebhookEvent.Status.PROCESSED,
            processed_at=timezone.now(),
            attempts=F("attempts") + 1,
            error="",
            next_attempt_at=None,
        )
        result.processed += settled
        result.applied += len(changed)
        result.deleted += len(deleted_ids)
        stats = {**run.stats, "processed": run.stats.get("processed", 0) + settled, "reads": result.reads}
        run.checkpoint(cursor={}, stats=stats, progress=f"{entity_type}: {settled} events")
    failure_resolve(key=_failure_key(connection, entity_type), resolution="webhook events processed")


def webhook_events_process(*, run: RunContext, batch: int = 1000, budget_seconds: float = 120.0) -> ProcessResult:
    """Process a connection's due events: by entity type, each type's ids read in `Id IN` chunks.

    Events that arrive meanwhile are taken by the next round, for up to `budget_seconds` (well below django-q's
    300 s task timeout; what is left is taken by the next task). Every round settles or backs off each event it
    took, so none is taken twice. An entity type whose read or hook fails is recorded (`_group_failed`) and the
    others go on. Stops, leaving events pending, if the connection needs reconnecting.
    """
    result = ProcessResult()
    deadline = time.monotonic() + budget_seconds
    while time.monotonic() < deadline:
        now = timezone.now()
        events = list(WebhookEvent.objects.filter(_due(run.connection, now=now)).order_by("last_updated", "id")[:batch])
        if not events:
            return result
        groups: dict[str, list[WebhookEvent]] = defaultdict(list)
        for event in events:
            groups[event.entity_type].append(event)
        for entity_type, group in sorted(groups.items()):
            try:
                _group_process(run=run, entity_type=entity_type, events=group, result=result)
            except (ReconnectRequiredError, NotConnectedError, TokenDecryptError) as exc:
                logger.warning(
                    "webhook processing for connection %s stopped: %s", run.connection.pk, type(exc).__name__
                )
                raise _Stop from exc
            except RunLeaseLost:
                raise
            except Exception as exc:  # one poison entity type must not hold back the others
                logger.exception("webhook events %s of connection %s failed", entity_type, run.connection.pk)
                result.failed += _group_failed(
                    connection=run.connection, entity_type=entity_type, events=group, error=exc
                )
    return result


@sync_kind_register(WEBHOOKS)
def webhook_events_run(run: RunContext) -> None:
    """The run body: a processing pass under the run pattern (one at a time per connection, counted calls)."""
    try:
        result = webhook_events_process(run=run)
    except _Stop:
        return
    run.stats.update({"applied": run.stats.get("applied", 0) + result.applied, "deleted": result.deleted})


def webhook_events_process_realm(*, realm_id: str, rounds: int = 3) -> int:
    """The task's service: process a realm's pending events; returns how many are still due afterwards.

    A realm with no connection has its events ignored; a connection that needs reconnecting keeps them pending
    (the sweeper brings them back after the reconnect). When another worker holds the realm's run, this returns
    at once: that run, and the re-check it makes after finishing, takes the new events too.
    """
    connection = QuickBooksAuth.objects.filter(company_id=realm_id).only("pk", "status").first()
    pending = WebhookEvent.objects.filter(realm_id=realm_id, status=WebhookEvent.Status.PENDING)
    if connection is None or connection.status == QuickBooksAuth.Status.DISCONNECTED:
        pending.update(
            status=WebhookEvent.Status.IGNORED, processed_at=timezone.now(), error="unknown or disconnected realm"
        )
        return 0
    if connection.status != QuickBooksAuth.Status.CONNECTED:
        return pending.count()
    for _ in range(rounds):
        if not WebhookEvent.objects.filter(_due(connection, now=timezone.now())).exists():
            return 0
        run = sync_run_execute(connection_id=connection.pk, kind=WEBHOOKS)
        if run is None or run.status != SyncRun.Status.SUCCEEDED:
            break  # another worker holds the realm's run, or it failed (its SyncFailure row says why)
    return WebhookEvent.objects.filter(_due(connection, now=timezone.now())).count()


def webhook_events_sweep(*, grace: timedelta = timedelta(minutes=1)) -> list[str]:
    """Queue again every realm with due pending events older than `grace` (the broker may have lost the task).

    The stored rows, not the queue, are the record (RELIABILITY finding 8, fault 26).
    """
    now = timezone.now()
    realms = sorted(
        set(
            WebhookEvent.objects.filter(status=WebhookEvent.Status.PENDING, received_at__lt=now - grace)
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
            .values_list("realm_id", flat=True)
        )
    )
    for realm_id in realms:
        webhook_events_enqueue(realm_id=realm_id)
    return realms


def webhook_events_prune(*, older_than_days: int | None = None) -> int:
    """Delete settled events (processed, ignored, unparseable) received more than N days ago; pending and failed
    stay. A replay of a pruned event is stored again and only causes an idempotent re-read (finding 4)."""
    days = retention_days() if older_than_days is None else older_than_days
    settled = (WebhookEvent.Status.PROCESSED, WebhookEvent.Status.IGNORED, WebhookEvent.Status.UNPARSEABLE)
    cutoff = timezone.now() - timedelta(days=days)
    deleted, _ = WebhookEvent.objects.filter(status__in=settled, received_at__lt=cutoff).delete()
    return deleted


@failure_retry_register(FAILURE_KIND)
def _webhook_events_retry(failure: SyncFailure) -> str:
    """Retrying queues the realm's failed and backed-off events of that entity type again, at once."""
    args = failure.retry_args or {}
    connection = QuickBooksAuth.objects.only("pk", "company_id").get(pk=args["connection_id"])
    count = WebhookEvent.objects.filter(
        connection=connection,
        entity_type=args["entity_type"],
        status__in=(WebhookEvent.Status.FAILED, WebhookEvent.Status.PENDING),
    ).update(status=WebhookEvent.Status.PENDING, next_attempt_at=None, processed_at=None)
    transaction.on_commit(lambda: webhook_events_enqueue(realm_id=connection.company_id), robust=True)
    return f"{count} webhook event{'s' if count != 1 else ''} queued again"
