"""`minorversion`: which version a request is answered at, and the one table of per-version field facts.

Which version a request gets (API.md §3.1, citing
https://blogs.intuit.com/2025/01/21/changes-to-our-accounting-api-that-may-impact-your-application):
since 2025-08-01 Intuit ignores values below 75 and treats a missing value as 75. The emulator applies that rule
when its clock (``Clock``, which tests can move) is on or after that date; so today a missing, malformed or
too-low value and ``minorversion=75`` give the same response. With the clock before 2025-08-01 (replaying older
traffic), the value sent is honoured and a missing one means the base version 0: API.md does not say what the
old default was; the recordings of 2020 (tests/qbo_emulator/recorded/qbo_api_vcr.json, no minorversion sent)
lack ``Customer.IsProject`` (added in 25), which fits a low default. A value above ``LATEST`` is answered at
``LATEST`` (whether newer versions exist is UNCONFIRMED in API.md).

Field facts: only those API.md states (each row names its line). A field is left out of responses (reads, queries,
writes, batch, CDC) when the version it is answered at is below the row's version. The table covers top-level
fields of an entity only. Request bodies are not checked against it (what QBO answers when a client sends a field
newer than its minorversion is UNCONFIRMED).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

#: Lowest supported value; below it a value is ignored (API.md §3.1).
FLOOR = 75
#: Highest value the emulator knows (API.md §3.1: the docs list 75, 2024-12-16, as the latest).
LATEST = 75
#: What a request without minorversion gets since the cutoff (API.md §3.1).
DEFAULT = 75
#: From this day on, FLOOR and DEFAULT apply (API.md §3.1).
CUTOFF = dt.date(2025, 8, 1)
#: Before CUTOFF, a request without minorversion: the base version (inferred, see the module docstring).
LEGACY_DEFAULT = 0

#: (entity, top-level field) -> the minorversion from which QBO sends it.
FIELD_SINCE: dict[tuple[str, str], int] = {
    ("Customer", "IsProject"): 25,  # API.md §4.1 "IsProject (read-only, minorversion 25)"
    ("Item", "Sku"): 4,  # API.md §4.2 "Sku ≤ 100 (minorversion 4)"
    ("Invoice", "BillEmailCc"): 8,  # API.md §4.4 "BillEmailCc, BillEmailBcc (minorversion 8)"
    ("Invoice", "BillEmailBcc"): 8,  # API.md §4.4
    ("Invoice", "InvoiceLink"): 36,  # API.md §4.4 "InvoiceLink (only with ?include=invoiceLink, minorversion ≥ 36 …)"
    ("Estimate", "ProjectRef"): 69,  # API.md §4.3 "ProjectRef (minorversion 69)"
    ("Invoice", "ProjectRef"): 69,  # API.md §4.4 "Everything in 4.3 …": an Invoice has the Estimate's fields
    ("CompanyInfo", "DefaultTimeZone"): 75,  # API.md §4.7 "DefaultTimeZone (minorversion 75)"
}

_BY_ENTITY: dict[str, dict[str, int]] = {}
for (_entity, _field), _since in FIELD_SINCE.items():
    _BY_ENTITY.setdefault(_entity, {})[_field] = _since


def effective(requested: str | None, today: dt.date) -> int:
    """The minorversion a request is answered at (see the module docstring)."""
    try:
        value: int | None = int(str(requested).strip()) if requested not in (None, "") else None
    except ValueError:
        value = None  # a malformed value is treated as a missing one (QBO's answer is UNCONFIRMED)
    if today >= CUTOFF:
        value = DEFAULT if value is None else max(value, FLOOR)
    elif value is None or value < 0:
        value = LEGACY_DEFAULT
    return min(value, LATEST)


def hidden_fields(entity: str, version: int) -> set[str]:
    """The fields of `entity` QBO does not send at `version`."""
    return {name for name, since in _BY_ENTITY.get(entity, {}).items() if version < since}


def shape(body: Any, version: int) -> Any:
    """`body` (an API response) as QBO sends it at `version`: entity objects lose the fields newer than it."""
    if version >= LATEST:
        return body
    return _walk(body, version)


def _walk(node: Any, version: int) -> Any:
    if isinstance(node, list):
        return [_walk(item, version) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        hidden = hidden_fields(key, version) if key in _BY_ENTITY else None
        if hidden is None:
            out[key] = _walk(value, version)
        elif isinstance(value, dict):
            out[key] = _strip(value, hidden)
        elif isinstance(value, list):
            out[key] = [_strip(item, hidden) if isinstance(item, dict) else item for item in value]
        else:
            out[key] = value
    return out


def _strip(obj: dict[str, Any], hidden: set[str]) -> dict[str, Any]:
    if not hidden or not hidden.intersection(obj):
        return obj
    return {key: value for key, value in obj.items() if key not in hidden}
