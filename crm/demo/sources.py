"""Reads the shared demo fixtures: ``people.json`` and ``products.json`` in ``fixtures/demo/``.

Both files are shared with the QuickBooks emulator's ``demo`` company, which is built from the same people and
items; reading them (not copying them) keeps the two sides matchable.
"""

import json
from functools import cache
from pathlib import Path

FIXTURES_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "demo"


@cache
def _read(name: str) -> tuple[dict, ...]:
    return tuple(json.loads((FIXTURES_DIR / name).read_text(encoding="utf-8")))


def people() -> list[dict]:
    """The 305 canonical people and businesses (E.164 phones, clean names); callers add the mess."""
    return [dict(row) for row in _read("people.json")]


def products() -> list[dict]:
    """The dozen crack-repair services and materials; unit prices are strings so they stay exact Decimals."""
    return [dict(row) for row in _read("products.json")]
