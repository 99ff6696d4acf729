"""Seed and state loading: a seed dict becomes a RealmState by running every object through the create derivation."""

from __future__ import annotations

import base64
import datetime as dt
from decimal import Decimal
from typing import Any

from .clock import Clock, parse_datetime
from .company import Company
from .company.payments import _payment_applied
from .facts import ENTITY_ORDER as SEED_ORDER
from .facts import READONLY_ENTITIES, SINGLETONS
from .faults import Fault
from .store import ChangeEntry, RealmState, Store
from .values import MONEY_KEYS

CDC_WINDOW_DAYS = 31


class SeedError(RuntimeError):
    """A seed could not be loaded (fail loudly)."""


def load_seed_data(name: str, *, customers: int | None = None, today: dt.date | None = None) -> dict[str, Any]:
    """Call the colleague's seeds package (qbo_emulator.seeds.load_seed)."""
    try:
        from .seeds import load_seed
    except ImportError as exc:  # pragma: no cover - seeds not installed
        raise SeedError(f"qbo_emulator.seeds is not available: {exc}") from exc
    kwargs: dict[str, Any] = {}
    if customers is not None:
        kwargs["customers"] = customers
    if today is not None:
        kwargs["today"] = today
    return load_seed(name, **kwargs)


def _raw(obj: dict[str, Any], now_text: str) -> dict[str, Any]:
    out = dict(obj)
    out.setdefault("domain", "QBO")
    out.setdefault("sparse", False)
    out["Id"] = str(out.get("Id", "1"))
    out["SyncToken"] = str(out.get("SyncToken", "0"))
    out.setdefault("MetaData", {"CreateTime": now_text, "LastUpdatedTime": now_text})
    return out


def load_realm(store: Store, seed: dict[str, Any], clock: Clock) -> RealmState:
    realm_id = str(seed["realm_id"])
    realm = RealmState(realm_id=realm_id, company_name=str(seed.get("company_name", realm_id)))
    now = clock.now()
    company = Company(store, realm, now, seeding=True)
    entities = seed.get("entities", {})
    unknown = set(entities) - set(SEED_ORDER)
    if unknown:
        raise SeedError(f"seed {realm_id}: unsupported entity types {sorted(unknown)}")
    from .clock import meta_time

    now_text = meta_time(now)
    for entity in SEED_ORDER:
        for obj in entities.get(entity, []):
            try:
                if entity in READONLY_ENTITIES or entity in SINGLETONS:
                    raw = _raw(obj, now_text)
                    realm.table(entity)[raw["Id"]] = raw
                    realm.note_id(entity, raw["Id"])
                else:
                    company.create(entity, obj)
            except Fault as exc:
                raise SeedError(f"seed {realm_id}: {entity} Id={obj.get('Id')}: {exc}") from exc
    _seed_changes(store, realm, now)
    return realm


def _seed_changes(store: Store, realm: RealmState, now: dt.datetime) -> None:
    """Recently changed seed objects enter the change log (CDC sees them; webhooks do not)."""
    horizon = now - dt.timedelta(days=CDC_WINDOW_DAYS)
    found: list[tuple[dt.datetime, str, str, str]] = []
    for entity, table in realm.objects.items():
        if entity in READONLY_ENTITIES:
            continue
        for obj in table.values():
            meta = obj.get("MetaData") or {}
            text = meta.get("LastUpdatedTime")
            if not text:
                continue
            try:
                when = parse_datetime(text)
            except ValueError:
                continue
            if when >= horizon:
                created = meta.get("CreateTime") == text
                found.append((when, entity, obj["Id"], "Create" if created else "Update"))
    found.sort(key=lambda row: row[0])
    for when, entity, obj_id, op in found:
        store.record(realm, when, entity, obj_id, op, webhook=False)


def decimalize(value: Any, key: str = "") -> Any:
    """After JSON state loading: money fields back to Decimal (ints included)."""
    if isinstance(value, dict):
        return {k: decimalize(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [decimalize(v, key) for v in value]
    if key in MONEY_KEYS and isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    return value


def rebuild_indexes(store: Store, realm: RealmState, now: dt.datetime) -> None:
    company = Company(store, realm, now, seeding=True)
    realm.name_index.clear()
    realm.doc_index.clear()
    realm.children.clear()
    realm.txns_by_customer.clear()
    realm.payment_links.clear()
    for entity, table in realm.objects.items():
        for obj in table.values():
            realm.note_id(entity, obj["Id"])
            if entity not in READONLY_ENTITIES and entity not in SINGLETONS:
                company._index_new(entity, obj)
            if entity == "Payment" and not obj.get("_voided"):
                for invoice_id, amount in _payment_applied(obj).items():
                    realm.payment_links.setdefault(invoice_id, {})[obj["Id"]] = amount


def export_realm(realm: RealmState) -> dict[str, Any]:
    return {
        "realm_id": realm.realm_id,
        "company_name": realm.company_name,
        "objects": realm.objects,
        "next_id": realm.next_id,
        "next_doc": realm.next_doc,
        "changes": [[c.seq, c.time.isoformat(), c.entity, c.id, c.op, c.webhook] for c in realm.changes],
        "sent_emails": realm.sent_emails,
        "replay": [  # requestid -> the original answer, so a retry after a restart still gets it
            [request_id, status, headers, base64.b64encode(body).decode("ascii")]
            for request_id, (status, headers, body) in realm.replay.items()
        ],
    }


def import_realm(store: Store, data: dict[str, Any], now: dt.datetime) -> RealmState:
    realm = RealmState(realm_id=data["realm_id"], company_name=data["company_name"])
    realm.objects = decimalize(data["objects"])
    realm.next_id = dict(data.get("next_id", {}))
    realm.next_doc = dict(data.get("next_doc", {}))
    realm.sent_emails = list(data.get("sent_emails", []))
    realm.replay = {
        request_id: (int(status), [tuple(header) for header in headers], base64.b64decode(body))
        for request_id, status, headers, body in data.get("replay", [])
    }
    realm.changes = [
        ChangeEntry(int(seq), dt.datetime.fromisoformat(when), realm.realm_id, entity, obj_id, op, bool(hook))
        for seq, when, entity, obj_id, op, hook in data.get("changes", [])
    ]
    rebuild_indexes(store, realm, now)
    return realm
