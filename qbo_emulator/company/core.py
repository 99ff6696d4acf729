"""Storage and the write pipeline: stamping, change log, refs, read, create/update/delete, input checks (unknown and
server-owned keys, SyncToken) and the dispatch to each family's derivation."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from ..clock import meta_time
from ..facts import (
    COMPANY_TZ,
    ENTITY_READONLY,
    KNOWN_FIELDS,
    NAME_ENTITIES,
    PARTY_ENTITIES,
    PRESERVED_ON_FULL_UPDATE,
    READONLY_ENTITIES,
    SALES_ENTITIES,
    SINGLETONS,
    TXN_ENTITIES,
)
from ..faults import Fault, fault
from ..store import RealmState, Store
from ..values import clean, display_of, is_valid_id, ref_value

OBJECT_NOT_FOUND_INACTIVE = (
    "Object Not Found : Something you're trying to use has been made inactive. "
    "Check the fields with accounts, customers, items, vendors or employees."
)
# input keys never taken from a request (server-owned); per entity extras in facts.ENTITY_READONLY
COMMON_READONLY = {"Id", "SyncToken", "MetaData", "domain", "sparse", "status", "time"}


class CompanyCore:
    """Operations on one realm; callers hold `realm.lock`.

    `seeding=True` loads history: no change log, keeps the given Ids and MetaData. The family mixins (see
    `company/__init__.py`) supply `_derive_*`, the indexes and the cross-object effects."""

    def __init__(self, store: Store, realm: RealmState, now: dt.datetime, *, seeding: bool = False) -> None:
        self.store = store
        self.realm = realm
        self.now = now
        self.seeding = seeding
        self.today = now.astimezone(COMPANY_TZ).date()

    # ------------------------------------------------------------------ helpers
    def _stamp_new(self, entity: str, obj: dict[str, Any], given: dict[str, Any] | None = None) -> None:
        if self.seeding and given is not None and given.get("Id"):
            obj["Id"] = str(given["Id"])
            self.realm.note_id(entity, obj["Id"])
            obj["SyncToken"] = str(given.get("SyncToken", "0"))
            meta = given.get("MetaData") or {}
            stamp = meta_time(self.now)
            obj["MetaData"] = {
                "CreateTime": meta.get("CreateTime", stamp),
                "LastUpdatedTime": meta.get("LastUpdatedTime", stamp),
            }
        else:
            obj["Id"] = self.realm.allocate_id(entity)
            obj["SyncToken"] = "0"
            stamp = meta_time(self.now)
            obj["MetaData"] = {"CreateTime": stamp, "LastUpdatedTime": stamp}

    def _bump(self, obj: dict[str, Any]) -> None:
        obj["SyncToken"] = str(int(obj.get("SyncToken", "0")) + 1)
        meta = obj.setdefault("MetaData", {})
        meta["LastUpdatedTime"] = meta_time(self.now)

    def _record(self, entity: str, obj_id: str, op: str) -> None:
        """Log a change. Every change is logged, in-place edits of other objects included, so this is also where
        the table learns that its cached query orders are stale."""
        if not self.seeding:
            self.realm.table(entity).touch()
            self.store.record(self.realm, self.now, entity, obj_id, op)

    def _finish(self, entity: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Order keys like QBO (domain, sparse, Id, SyncToken, MetaData first) is cosmetic; keep common keys present."""
        obj.setdefault("domain", "QBO")
        obj["sparse"] = False
        return obj

    def require_ref(self, entity: str, ref: Any, field_name: str, *, allow_inactive: bool = False) -> dict[str, Any]:
        value = ref_value(ref)
        if value is None:
            raise fault("2020", field_name, element=field_name)
        target = self.realm.get(entity, value)
        if target is None:
            raise fault(
                "2500",
                f"{entity} assigned to this transaction has been deleted or does not exist. Id={value}",
                element=field_name,
            )
        if not allow_inactive and target.get("Active") is False:
            raise fault("610", element=field_name)
        return target

    def optional_ref(self, entity: str, obj: dict[str, Any], key: str) -> dict[str, Any] | None:
        if key not in obj:
            return None
        target = self.require_ref(entity, obj[key], key)
        obj[key] = (
            {"value": target["Id"], "name": display_of(entity, target)}
            if display_of(entity, target)
            else {"value": target["Id"]}
        )
        return target

    def read(self, entity: str, obj_id: str) -> dict[str, Any]:
        if not is_valid_id(obj_id):
            raise fault("2030", str(obj_id), element="Id")
        obj = self.realm.get(entity, str(obj_id))
        if obj is None:
            raise fault(
                "610",
                OBJECT_NOT_FOUND_INACTIVE,
                raw_detail=True,
            )
        return obj

    def singleton(self, entity: str) -> dict[str, Any]:
        table = self.realm.table(entity)
        if not table:
            raise fault("610")
        return next(iter(table.values()))

    def preferences(self) -> dict[str, Any]:
        table = self.realm.table("Preferences")
        return next(iter(table.values())) if table else {}

    # ------------------------------------------------------------------ public write API
    def create(self, entity: str, body: Any) -> dict[str, Any]:
        if entity in READONLY_ENTITIES or entity in SINGLETONS:
            raise fault("500", f"create for {entity}", message="Unsupported Operation")
        if not isinstance(body, dict):
            raise fault("2010", "request body must be a JSON object")
        given = body
        data = self._input(entity, body)
        obj = self._derive(entity, data, None)
        self._stamp_new(entity, obj, given if self.seeding else None)
        self._finish(entity, obj)
        self._index_new(entity, obj)
        self.realm.table(entity)[obj["Id"]] = obj
        self._record(entity, obj["Id"], "Create")
        self._after_txn_write(entity, obj, None)  # follow-on changes (links, balances) are logged after it
        return obj

    def update(self, entity: str, body: Any, *, include_void: bool = False) -> dict[str, Any]:
        if entity in READONLY_ENTITIES:
            raise fault("500", f"update for {entity}", message="Unsupported Operation")
        if not isinstance(body, dict):
            raise fault("2010", "request body must be a JSON object")
        existing = self._existing_for_write(entity, body)
        if include_void:
            return self.void(entity, body)
        sparse = body.get("sparse") is True or str(body.get("sparse")).lower() == "true"
        data = self._input(entity, body)
        internal = ("Id", "SyncToken", "MetaData", "domain", "sparse")
        if sparse:
            merged = copy.deepcopy(existing)
            merged.update(data)
            candidate = {k: v for k, v in merged.items() if k not in internal and not k.startswith("_")}
        else:
            candidate = dict(data)
            for key in PRESERVED_ON_FULL_UPDATE.get(entity, set()):
                if key not in candidate and key in existing:
                    candidate[key] = copy.deepcopy(existing[key])
            if entity in NAME_ENTITIES and "Active" not in candidate:
                candidate["Active"] = existing.get("Active", True)
        if entity in SINGLETONS:
            obj = copy.deepcopy(existing) if sparse else {}
            obj.update(candidate)
        else:
            obj = self._derive(entity, candidate, existing)
        for key in ("Id", "SyncToken", "MetaData", "domain"):
            if key in existing:
                obj[key] = copy.deepcopy(existing[key])
        self._finish(entity, obj)
        if _same(obj, existing):
            return existing  # a no-op update leaves the SyncToken alone
        op = "Update"
        if entity in NAME_ENTITIES and existing.get("Active", True) and obj.get("Active") is False:
            op = "Delete"  # QBO reports a deactivation of a names-list entity as Delete (stricter choice; UNCONFIRMED)
        self._bump(obj)
        self._unindex(entity, existing)
        self._index_new(entity, obj)
        self.realm.table(entity)[obj["Id"]] = obj
        self._record(entity, obj["Id"], op)
        self._after_txn_write(entity, obj, existing)
        if entity == "Customer" and obj.get("FullyQualifiedName") != existing.get("FullyQualifiedName"):
            self._rename_jobs(obj)
        return obj

    def delete(self, entity: str, body: Any) -> dict[str, Any]:
        if entity not in TXN_ENTITIES:
            raise fault("500", f"delete for {entity}", message="Unsupported Operation")
        existing = self._existing_for_write(entity, body)
        obj_id = existing["Id"]
        self._detach_links(entity, existing)
        self._unindex(entity, existing)
        del self.realm.table(entity)[obj_id]
        self._record(entity, obj_id, "Delete")
        self._after_txn_write(entity, None, existing)
        return {"domain": "QBO", "status": "Deleted", "Id": obj_id}

    # ------------------------------------------------------------------ input + existing
    def _input(self, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        known = KNOWN_FIELDS.get(entity)
        if known is not None and not self.seeding:
            unknown = [key for key in body if key not in known]
            if unknown:
                names = ", ".join(f'"{name}"' for name in sorted(known))
                raise Fault(
                    400,
                    "2010",
                    "Request has invalid or unsupported property",
                    f'Property Name:Unrecognized field "{unknown[0]}" (class com.intuit.schema.finance.v3.{entity}), '
                    f"not marked as ignorable ({len(known)} known properties: {names}])"
                    "\n specified is unsupported or invalid",
                    element=None,  # the recorded 2010 has no element key (samples/fault_unrecognized_property_400)
                )
        data = clean(body) or {}
        for key in COMMON_READONLY | ENTITY_READONLY.get(entity, set()):
            data.pop(key, None)
        return data

    def _existing_for_write(self, entity: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise fault("2010", "request body must be a JSON object")
        obj_id = body.get("Id")
        if obj_id in (None, "", 0):
            raise fault("2020", "Id", element="Id")
        if not is_valid_id(obj_id):
            raise fault("2030", str(obj_id), element="Id")
        if entity in SINGLETONS:
            existing = self.realm.get(entity, str(obj_id)) or (
                self.singleton(entity) if self.realm.table(entity) else None
            )
        else:
            existing = self.realm.get(entity, str(obj_id))
        if existing is None:
            raise fault(
                "610",
                "Object Not Found : Another user has deleted this transaction."
                if entity in TXN_ENTITIES
                else OBJECT_NOT_FOUND_INACTIVE,
                raw_detail=True,
            )
        token = body.get("SyncToken")
        if token in (None, ""):
            raise fault("2020", "SyncToken", element="SyncToken")
        if str(token) != str(existing.get("SyncToken", "0")):
            raise fault("5010")
        return existing

    # ------------------------------------------------------------------ derivation dispatch
    def _derive(self, entity: str, data: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
        if entity in PARTY_ENTITIES:
            return self._derive_party(entity, data, existing)
        if entity == "Item":
            return self._derive_item(data, existing)
        if entity == "Term":
            return self._derive_term(data, existing)
        if entity == "Account":
            return self._derive_account(data, existing)
        if entity == "PaymentMethod":
            return self._derive_simple_named("PaymentMethod", data, existing, defaults={"Type": "NON_CREDIT_CARD"})
        if entity in SALES_ENTITIES:
            return self._derive_sales(entity, data, existing)
        if entity == "Payment":
            return self._derive_payment(data, existing)
        raise fault("500", f"write for {entity}", message="Unsupported Operation")

    def _date(self, value: Any, key: str) -> str | None:
        if value in (None, ""):
            return None
        try:
            return dt.date.fromisoformat(str(value)[:10]).isoformat()
        except ValueError as exc:
            raise fault("2010", f"{key} (invalid date {value!r})", element=key) from exc


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    strip = ("MetaData", "SyncToken")
    return {k: v for k, v in a.items() if k not in strip} == {k: v for k, v in b.items() if k not in strip}
