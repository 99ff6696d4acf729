"""JSON on the wire: parse numbers as Decimal, write Decimal as plain JSON numbers (never binary float noise)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

_encode_str = json.encoder.encode_basestring  # type: ignore[attr-defined]


def loads(data: bytes | str) -> Any:
    """Parse JSON keeping every non-integer number as Decimal."""
    return json.loads(data, parse_float=Decimal)


def decimal_text(value: Decimal) -> str:
    """Plain (non-exponent) text of a Decimal, trailing zeros removed: 100.00 -> 100, 337.50 -> 337.5."""
    if not value.is_finite():
        raise ValueError("non-finite number")
    if value == 0:
        return "0"
    text = format(value.normalize(), "f")
    return text


#: Amounts QBO writes as "100.0" when whole and non-zero (but "0" when zero); other numbers, such as Qty, UnitPrice,
#: TaxPercent or DueDays, come out as plain "275" (samples: invoice_create_minimal_response, cdc_response).
POINT_ZERO_KEYS = frozenset(
    {
        "Amount", "TotalAmt", "Balance", "BalanceWithJobs", "UnappliedAmt", "TotalTax", "NetAmountTaxable",
        "Deposit", "HomeBalance", "HomeTotalAmt", "CurrentBalance", "CurrentBalanceWithSubAccounts",
    }
)  # fmt: skip


def dumps(value: Any) -> str:
    """Serialize like json.dumps, but Decimal becomes a JSON number written from its exact text."""
    parts: list[str] = []
    _write(value, parts)
    return "".join(parts)


def _amount_text(value: Decimal, key: str) -> str:
    text = decimal_text(value)
    if key in POINT_ZERO_KEYS and value and "." not in text:
        return text + ".0"
    return text


def _write(value: Any, out: list[str], key: str = "") -> None:
    if isinstance(value, str):
        out.append(_encode_str(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, Decimal):
        out.append(_amount_text(value, key))
    elif isinstance(value, int):
        out.append(str(int(value)))
    elif isinstance(value, float):
        out.append(decimal_text(Decimal(repr(value))))
    elif isinstance(value, dict):
        out.append("{")
        first = True
        for name, item in value.items():
            if not first:
                out.append(",")
            first = False
            out.append(_encode_str(str(name)))
            out.append(":")
            _write(item, out, name)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _write(item, out, key)
        out.append("]")
    else:
        raise TypeError(f"cannot serialize {type(value).__name__}")
