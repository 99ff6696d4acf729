"""The `QuickBooksSync` ledger: upsert QBO entities a page at a time, only when the incoming copy is newer.

Every pull, CDC run and webhook goes through `mirror_apply`, so "newer" is decided in one place: QBO's
`MetaData.LastUpdatedTime` first, then `SyncToken` (RELIABILITY B7: "apply a change only if it is newer").
A page costs three queries whatever its size (one read, one bulk insert, one bulk update), and the caller
writes its CRM rows in the same transaction, then links them with `mirror_link`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ..models import QuickBooksAuth, QuickBooksSync

UPDATE_FIELDS = [
    "sync_version",
    "qbo_updated_at",
    "payload",
    "last_synced",
    "sync_status",
    "error_message",
    "deleted_at",
]


def qbo_time(value: str | None) -> datetime | None:
    """QBO's times carry their offset ("2015-07-24T10:48:27-07:00"); a naive one is refused rather than guessed."""
    if not value:
        return None
    parsed = parse_datetime(str(value))
    if parsed is None or timezone.is_naive(parsed):
        return None
    return parsed


def sync_token(data: Mapping) -> int | None:
    try:
        return int(data.get("SyncToken"))
    except (TypeError, ValueError):
        return None


def _version(data: Mapping) -> tuple[datetime | None, int | None]:
    return qbo_time((data.get("MetaData") or {}).get("LastUpdatedTime")), sync_token(data)


def _order(data: Mapping) -> tuple[float, int]:
    updated, token = _version(data)
    return (updated.timestamp() if updated else 0.0, token if token is not None else -1)


def is_newer(*, incoming: Mapping, entry: QuickBooksSync) -> bool:
    """Whether `incoming` is a later version than the ledger row (time first, SyncToken to break ties)."""
    updated, token = _version(incoming)
    if entry.qbo_updated_at and updated and updated != entry.qbo_updated_at:
        return updated > entry.qbo_updated_at
    if entry.sync_version is not None and token is not None and token != entry.sync_version:
        return token > entry.sync_version
    return False


def is_deleted(data: Mapping) -> bool:
    """CDC and webhook reads mark deleted entities `status: "Deleted"` with only Id and MetaData (API.md §5)."""
    return str(data.get("status") or "").lower() == "deleted"


@dataclass
class MirrorResult:
    """What a page changed: the rows created and updated (to map onto CRM rows) and how many were unchanged."""

    created: list[QuickBooksSync] = field(default_factory=list)
    updated: list[QuickBooksSync] = field(default_factory=list)
    unchanged: int = 0

    @property
    def changed(self) -> list[QuickBooksSync]:
        return [*self.created, *self.updated]


def mirror_apply(*, connection: QuickBooksAuth, entity_type: str, rows: Sequence[Mapping]) -> MirrorResult:
    """Upsert one page of QBO entities (full JSON, or CDC's deleted stubs) into the ledger.

    A row whose copy is not newer than the ledger's is left alone, so a replayed page or an out-of-order
    webhook changes nothing. Call inside the transaction that also writes the CRM rows of the page.
    """
    now = timezone.now()
    latest: dict[str, Mapping] = {}
    for data in rows:  # a page may hold one entity twice (overlapping CDC windows): keep its newest copy
        entity_id = str(data["Id"])
        current = latest.get(entity_id)
        if current is None or _order(data) > _order(current):
            latest[entity_id] = data
    existing = {
        entry.entity_id: entry
        for entry in QuickBooksSync.objects.filter(
            connection=connection, entity_type=entity_type, entity_id__in=list(latest)
        )
    }
    result = MirrorResult()
    for entity_id, data in latest.items():
        updated_at, token = _version(data)
        entry = existing.get(entity_id)
        if entry is None:
            entry = QuickBooksSync(connection=connection, entity_type=entity_type, entity_id=entity_id)
            result.created.append(entry)
        elif is_newer(incoming=data, entry=entry):
            result.updated.append(entry)
        else:
            result.unchanged += 1
            continue
        entry.sync_version = token
        entry.qbo_updated_at = updated_at
        entry.last_synced = now
        entry.sync_status = QuickBooksSync.Status.SYNCED
        entry.error_message = ""
        if is_deleted(data):
            entry.deleted_at = updated_at or now
        else:
            entry.payload = dict(data)
            entry.deleted_at = None
    QuickBooksSync.objects.bulk_create(result.created)
    QuickBooksSync.objects.bulk_update(result.updated, UPDATE_FIELDS)
    if result.created and result.created[0].pk is None:  # backends without RETURNING ids on bulk insert
        ids = {entry.entity_id: entry for entry in result.created}
        for pk, entity_id in QuickBooksSync.objects.filter(
            connection=connection, entity_type=entity_type, entity_id__in=list(ids)
        ).values_list("pk", "entity_id"):
            ids[entity_id].pk = pk
    return result


def mirror_link(*, connection: QuickBooksAuth, entity_type: str, links: Mapping[str, int | None]) -> int:
    """Record which CRM row each QBO entity maps to ({entity_id: local_id}); one UPDATE per distinct local id."""
    entries = list(
        QuickBooksSync.objects.filter(connection=connection, entity_type=entity_type, entity_id__in=list(links))
    )
    for entry in entries:
        entry.local_id = links[entry.entity_id]
    return QuickBooksSync.objects.bulk_update(entries, ["local_id"])


def mirror_mark_error(*, connection: QuickBooksAuth, entity_type: str, entity_ids: Iterable[str], message: str) -> int:
    """The entity could not be applied to the CRM: its ledger row says so, with the reason."""
    return QuickBooksSync.objects.filter(
        connection=connection, entity_type=entity_type, entity_id__in=[str(i) for i in entity_ids]
    ).update(sync_status=QuickBooksSync.Status.ERROR, error_message=message[:2000])


def mirror_get(*, connection: QuickBooksAuth, entity_type: str, entity_id: str) -> QuickBooksSync | None:
    return QuickBooksSync.objects.filter(
        connection=connection, entity_type=entity_type, entity_id=str(entity_id)
    ).first()
