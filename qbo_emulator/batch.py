"""Batch: up to 30 independent items (create/update/delete/query); one 200 with a Fault inside failed items."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .facts import URL_NAMES
from .faults import Fault, fault
from .values import public

BATCH_MAX_ITEMS = 30

Execute = Callable[[str, str, dict[str, Any]], dict[str, Any]]
Query = Callable[[str], dict[str, Any]]


def run_batch(body: Any, execute: Execute, query: Query) -> list[dict[str, Any]]:
    """Validate the envelope (a Fault for the whole request) and run every item (a Fault per failed item)."""
    if not isinstance(body, dict) or not isinstance(body.get("BatchItemRequest"), list):
        raise fault("2020", "BatchItemRequest", element="BatchItemRequest")
    items = body["BatchItemRequest"]
    if len(items) > BATCH_MAX_ITEMS:
        # the exact QBO error is UNCONFIRMED; a whole-request 400 is the stricter choice
        raise fault(
            "6000", f"The batch has {len(items)} items; the maximum is {BATCH_MAX_ITEMS}.", element="BatchItemRequest"
        )
    seen: set[str] = set()
    for item in items:
        bid = item.get("bId") if isinstance(item, dict) else None
        if bid in seen:
            raise fault("6000", f"Duplicate bId {bid} in the batch.", element="bId")
        if bid is not None:
            seen.add(bid)
    return [_run_item(item, execute, query) for item in items]


def _run_item(item: Any, execute: Execute, query: Query) -> dict[str, Any]:
    bid = item.get("bId") if isinstance(item, dict) else None
    try:
        if not isinstance(item, dict):
            raise fault("2010", "BatchItemRequest item must be an object")
        if bid in (None, ""):
            raise fault("2020", "bId", element="bId")
        if "Query" in item:
            return {**query(str(item["Query"])), "bId": bid}
        entity_keys = [
            key for key in item if key not in ("bId", "operation", "optionsData") and key.lower() in URL_NAMES
        ]
        if len(entity_keys) != 1:
            raise fault(
                "2010", ", ".join(k for k in item if k not in ("bId", "operation", "optionsData")) or "(no entity)"
            )
        key = entity_keys[0]
        entity = URL_NAMES[key.lower()]
        operation = str(item.get("operation") or "create").lower()
        if operation not in ("create", "update", "delete"):
            raise fault("2170", f"operation {operation}", element="operation")
        result = execute(entity, operation, item[key])
        return {entity: public(result), "bId": bid}
    except Fault as exc:
        return {"Fault": exc.fault_dict(), "bId": bid}
