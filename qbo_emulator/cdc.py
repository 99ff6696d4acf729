"""Change Data Capture: /cdc from the change log (full objects, Deleted stubs, 30-day window, 1000 cap)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from .clock import meta_time, parse_datetime, response_time
from .facts import ALL_ENTITIES, FACTS, URL_NAMES
from .faults import fault
from .store import RealmState
from .values import public

CDC_MAX_OBJECTS = 1000
CDC_MAX_DAYS = 30
CDC_UNSUPPORTED = {name for name, row in FACTS.items() if not row.in_cdc}


def canonical_entity(name: str) -> str | None:
    return URL_NAMES.get(name.strip().lower())


def cdc(realm: RealmState, entities_param: str | None, since_param: str | None, now: dt.datetime) -> dict[str, Any]:
    if not entities_param:
        raise fault("2020", "entities", element="entities")
    if not since_param:
        raise fault("2020", "changedSince", element="changedSince")
    names: list[str] = []
    for raw in entities_param.split(","):
        if not raw.strip():
            continue
        name = canonical_entity(raw)
        if name is None or name not in ALL_ENTITIES:
            raise fault(
                "4001",
                f"QueryValidationError: invalid context declaration: {raw.strip()}",
                message="Invalid query",
                element=None,
            )
        if name in CDC_UNSUPPORTED:
            raise fault("500", f"cdc for {name}", message="Unsupported Operation")
        if name not in names:
            names.append(name)
    try:
        since = parse_datetime(since_param)
    except ValueError as exc:
        raise fault("2010", f"changedSince (invalid date {since_param!r})", element="changedSince") from exc
    if since < now - dt.timedelta(days=CDC_MAX_DAYS):
        # status/code UNCONFIRMED upstream; the text is QBO's
        raise fault(
            "6000",
            f"Operation cdc with changedSince date {since_param} which is older than fixed days is not supported.",
            raw_detail=True,
            element="changedSince",
        )
    latest: dict[tuple[str, str], Any] = {}
    wanted = set(names)
    for entry in realm.changes:
        if entry.entity in wanted and entry.time >= since:
            latest.pop((entry.entity, entry.id), None)
            latest[(entry.entity, entry.id)] = entry  # insertion order = order of last change
    per_entity: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for count, ((entity, obj_id), entry) in enumerate(latest.items()):
        if count >= CDC_MAX_OBJECTS:
            break
        obj = realm.get(entity, obj_id)
        if obj is None:
            per_entity[entity].append(
                {
                    "domain": "QBO",
                    "status": "Deleted",
                    "Id": obj_id,
                    "MetaData": {"LastUpdatedTime": meta_time(entry.time)},
                }
            )
        else:
            per_entity[entity].append(public(obj))
    responses = []
    for name in names:
        rows = per_entity[name]
        if rows:
            responses.append({name: rows, "startPosition": 1, "maxResults": len(rows)})
    return {"CDCResponse": [{"QueryResponse": responses or [{}]}], "time": response_time(now)}
