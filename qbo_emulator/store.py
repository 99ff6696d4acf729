"""In-memory company state: objects per realm, sequences, indexes, change log, requestid replay, sort caches, locks."""

from __future__ import annotations

import datetime as dt
import pickle
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# QBO hands out one id sequence to customers, vendors and employees, and one to transactions
ID_SEQUENCE = {
    "Customer": "names",
    "Vendor": "names",
    "Employee": "names",
    "Estimate": "txn",
    "Invoice": "txn",
    "Payment": "txn",
}


class Table(dict):
    """One entity's objects by Id. `version` counts the writes and in-place edits (`touch`), so a derived cache
    (a query order) knows when to rebuild."""

    version = 0

    def touch(self) -> None:
        """Note an in-place edit of a stored object (a balance, a link): cached orders are stale."""
        self.version += 1

    def __setitem__(self, key: str, value: dict[str, Any]) -> None:
        self.version += 1
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self.version += 1
        super().__delitem__(key)

    def pop(self, *args: Any) -> Any:
        self.version += 1
        return super().pop(*args)

    def clear(self) -> None:
        self.version += 1
        super().clear()

    def update(self, *args: Any, **kwargs: Any) -> None:
        self.version += 1
        super().update(*args, **kwargs)


@dataclass
class ChangeEntry:
    """One change: feeds CDC and webhooks. `webhook=False` for seed history (CDC only)."""

    seq: int
    time: dt.datetime
    realm_id: str
    entity: str
    id: str
    op: str  # Create | Update | Delete | Void | Emailed
    webhook: bool = True


@dataclass
class RealmState:
    """Everything one company (realm) holds."""

    realm_id: str
    company_name: str
    objects: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    next_id: dict[str, int] = field(default_factory=dict)
    next_doc: dict[str, int] = field(default_factory=dict)
    doc_index: dict[str, dict[str, str]] = field(default_factory=dict)  # entity -> DocNumber -> Id
    name_index: dict[str, dict[str, str]] = field(default_factory=dict)  # "party"/entity -> lower name -> "Entity:Id"
    children: dict[str, set[str]] = field(default_factory=dict)  # customer parent -> job ids
    txns_by_customer: dict[str, set[tuple[str, str]]] = field(default_factory=dict)  # customer -> {(entity, id)}
    payment_links: dict[str, dict[str, Any]] = field(
        default_factory=dict
    )  # invoice id -> {payment id: Decimal applied}
    changes: list[ChangeEntry] = field(default_factory=list)
    replay: dict[str, tuple[int, list[tuple[str, str]], bytes]] = field(default_factory=dict)
    sent_emails: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)
    # (entity, order name) -> (table, its version, rows in that order): the query order cache
    sorted_cache: dict[tuple[str, str], tuple[Table, int, list[dict[str, Any]]]] = field(
        default_factory=dict, repr=False
    )

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("lock", None)
        state.pop("sorted_cache", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.lock = threading.RLock()
        self.sorted_cache = {}

    def table(self, entity: str) -> Table:
        table = self.objects.get(entity)
        if not isinstance(table, Table):
            table = self.objects[entity] = Table(table or {})
        return table

    def in_order(self, entity: str, name: str, sort: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> list:
        """`sort(the entity's objects in store order)`, cached under `name` until the table's next write."""
        table = self.table(entity)
        cached = self.sorted_cache.get((entity, name))
        if cached is None or cached[0] is not table or cached[1] != table.version:
            cached = (table, table.version, sort(list(table.values())))
            self.sorted_cache[(entity, name)] = cached
        return cached[2]

    def get(self, entity: str, obj_id: str) -> dict[str, Any] | None:
        return self.objects.get(entity, {}).get(str(obj_id))

    def allocate_id(self, entity: str) -> str:
        key = ID_SEQUENCE.get(entity, entity)
        value = self.next_id.get(key, 1)
        self.next_id[key] = value + 1
        return str(value)

    def note_id(self, entity: str, obj_id: str) -> None:
        """Keep the id sequence after the highest id seen (seeds)."""
        key = ID_SEQUENCE.get(entity, entity)
        if obj_id.isdigit():
            self.next_id[key] = max(self.next_id.get(key, 1), int(obj_id) + 1)

    def allocate_doc_number(self, entity: str) -> str:
        used = self.doc_index.setdefault(entity, {})
        value = self.next_doc.get(entity, 1001)
        while str(value) in used:
            value += 1
        self.next_doc[entity] = value + 1
        return str(value)

    def note_doc_number(self, entity: str, doc: str) -> None:
        if doc.isdigit():
            self.next_doc[entity] = max(self.next_doc.get(entity, 1001), int(doc) + 1)


ChangeListener = Callable[[ChangeEntry], None]


class Store:
    """All realms plus the global change sequence. Each realm has its own RLock; hold it for every read or write."""

    def __init__(self) -> None:
        self.realms: dict[str, RealmState] = {}
        self._seq = 0
        self._seq_lock = threading.Lock()
        self.listeners: list[ChangeListener] = []
        self._snapshot: bytes | None = None

    def realm(self, realm_id: str) -> RealmState | None:
        return self.realms.get(realm_id)

    def record(
        self, realm: RealmState, when: dt.datetime, entity: str, obj_id: str, op: str, *, webhook: bool = True
    ) -> ChangeEntry:
        with self._seq_lock:
            self._seq += 1
            entry = ChangeEntry(self._seq, when, realm.realm_id, entity, str(obj_id), op, webhook)
        realm.changes.append(entry)
        if webhook:
            for listener in list(self.listeners):
                listener(entry)
        return entry

    # snapshots: reset-to-seed and the --state file
    def take_snapshot(self) -> None:
        self._snapshot = pickle.dumps((self.realms, self._seq))

    def restore_snapshot(self) -> None:
        if self._snapshot is None:
            raise RuntimeError("no snapshot taken")
        self.realms, self._seq = pickle.loads(self._snapshot)  # noqa: S301  # nosec B301 (our own in-memory bytes)
