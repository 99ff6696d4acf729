"""Fault injection rules (fail / delay / drop-after-commit) and the request log behind the control API."""

from __future__ import annotations

import itertools
import re
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

FAULT_KINDS = ("fail", "delay", "drop")


@dataclass
class FaultRule:
    """Matches requests whose path matches `path_pattern` (a regular expression, searched; a plain substring works)."""

    id: int
    kind: str  # fail | delay | drop
    path_pattern: str
    count: int = 1  # how many matching requests it applies to; -1 = forever
    method: str | None = None
    status: int = 500
    code: str | None = None
    message: str | None = None
    detail: str | None = None
    body: str | None = None
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    retry_after: int | None = None
    delay: float = 0.0  # seconds (kind=delay; also allowed on fail/drop)
    drop_mode: str = (
        "close"  # kind=drop: "close" (close the connection, no reply) or "500" (SystemFault after committing)
    )
    used: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        return re.search(self.path_pattern, path) is not None

    def public(self) -> dict[str, Any]:
        return asdict(self)


class FaultInjector:
    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def add(self, **options: Any) -> FaultRule:
        kind = options.pop("kind", "fail")
        if kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {FAULT_KINDS}")
        pattern = options.pop("path_pattern", None) or options.pop("path", None) or ".*"
        re.compile(pattern)
        known = {f for f in FaultRule.__dataclass_fields__ if f not in ("id", "kind", "path_pattern", "used")}
        unknown = set(options) - known
        if unknown:
            raise ValueError(f"unknown option(s): {sorted(unknown)}")
        if options.get("code") is not None:
            options["code"] = str(options["code"])
        if options.get("drop_mode") not in (None, "close", "500"):
            raise ValueError("drop_mode must be 'close' or '500'")
        for key in ("status", "count"):
            if options.get(key) is not None:
                options[key] = int(options[key])
        if options.get("delay") is not None:
            options["delay"] = float(options["delay"])
        if options.get("retry_after") is not None:
            options["retry_after"] = int(options["retry_after"])
        options = {
            k: v
            for k, v in options.items()
            if v is not None or k in ("code", "message", "detail", "body", "content_type", "method", "retry_after")
        }
        rule = FaultRule(id=next(self._ids), kind=kind, path_pattern=pattern, **options)
        with self._lock:
            self._rules.append(rule)
        return rule

    def take(self, method: str, path: str) -> list[FaultRule]:
        """Consume the matching rules for this request: at most one of each kind, oldest first."""
        taken: list[FaultRule] = []
        kinds: set[str] = set()
        with self._lock:
            for rule in list(self._rules):
                if rule.kind in kinds or not rule.matches(method, path):
                    continue
                rule.used += 1
                kinds.add(rule.kind)
                taken.append(rule)
                if rule.count >= 0 and rule.used >= rule.count:
                    self._rules.remove(rule)
        return taken

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [rule.public() for rule in self._rules]

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()


@dataclass
class RequestRecord:
    seq: int
    time: str
    method: str
    path: str
    query: dict[str, str]
    status: int | None = None
    realm_id: str | None = None
    outcome: str = "ok"  # ok | injected | throttled | dropped | replayed


class RequestLog:
    """Every request except the control API's own, in arrival order."""

    def __init__(self) -> None:
        self._records: list[RequestRecord] = []
        self._seq = itertools.count(1)
        self._lock = threading.Lock()

    def add(self, time: str, method: str, path: str, query: dict[str, str], realm_id: str | None) -> RequestRecord:
        record = RequestRecord(next(self._seq), time, method, path, query, realm_id=realm_id)
        with self._lock:
            self._records.append(record)
        return record

    def find(self, *, path_contains: str | None = None, method: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            records = list(self._records)
        out = []
        for record in records:
            if path_contains and path_contains not in record.path:
                continue
            if method and record.method.upper() != method.upper():
                continue
            out.append(asdict(record))
        return out

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
