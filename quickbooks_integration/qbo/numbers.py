"""QBO's numbers as Decimals: one parser for every amount, quantity and rate read from QBO's JSON.

python-quickbooks hands Decimals, ints or (rarely) floats; the ledger's JSON gives strings. Each becomes a Decimal at
the CRM column's places, rounded half-up as QBO rounds, never through a float's binary value (a float is read by its
shortest repr, so 0.1 is 0.1).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any


def qbo_number(value: Any, places: int) -> Decimal | None:
    """A QBO number at `places`, half-up; None when absent (None, "", or a bool, which is not a number).
    Raises ValueError for text that is not a number."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return Decimal(repr(value) if isinstance(value, float) else str(value)).quantize(
            Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP
        )
    except InvalidOperation:
        raise ValueError(f"not a number: {value!r}") from None


def qbo_places(value: Any, places: int) -> Decimal:
    """As `qbo_number`, with an absent number as 0 at `places` (an amount QBO leaves out is none)."""
    number = qbo_number(value, places)
    return Decimal(0).quantize(Decimal(1).scaleb(-places)) if number is None else number


def qbo_money(value: Any) -> Decimal:
    """A QBO amount to the cent, half-up; absent is 0.00."""
    return qbo_places(value, 2)
