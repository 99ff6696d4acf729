"""Seeded companies for the emulator: ``load_seed("sandbox" | "demo" | "empty", customers=N, today=...)``.

Each seed is a dict ``{"realm_id", "company_name", "entities": {entity: [objects…]}}`` with the entities in
dependency order. Names-list objects are complete QBO objects; transactions are in create-request form plus Id,
MetaData, TxnDate, DocNumber and SyncToken, and the server derives TotalAmt, Balance, the SubTotal line, reverse
LinkedTxn and customer balances on load. Money is ``decimal.Decimal``; everything is deterministic.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

REALM_IDS = {"sandbox": "9341455649204247", "demo": "9130357766001234", "empty": "9130350000000001"}
SEED_NAMES = tuple(REALM_IDS)

__all__ = ["REALM_IDS", "SEED_NAMES", "load_seed"]


def load_seed(name: str, *, customers: int | None = None, today: dt.date | None = None) -> dict[str, Any]:
    """Build the named seed as of ``today`` (default: the real date), so transaction dates stay in the last two
    years and CDC windows see recent changes. ``customers=N`` makes the company hold exactly N customers: the
    seed's own first (dropping, with their transactions, any beyond N), then generated ones with ids after the
    seed's highest names-list id.
    """
    today = today or dt.date.today()
    key = name.strip().lower()
    if key == "sandbox":
        from .sandbox import build
    elif key == "demo":
        from .demo import build
    elif key == "empty":
        from .common import build_empty as build
    else:
        raise ValueError(f"unknown seed {name!r}; choose one of {', '.join(SEED_NAMES)}")
    seed = build(today)
    if customers is not None:
        from .generated import resize_customers

        resize_customers(seed, customers, today)
    return seed
