"""Request values and money: normalizing request JSON (`clean`), cents rounding, refs, ids, e-mail checks and the
wire view of stored objects. Shared by every part of `company/` and by the loader."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from .facts import PARTY_ENTITIES
from .faults import Fault, fault

CENT = Decimal("0.01")
ZERO = Decimal("0")
USD = {"value": "USD", "name": "United States Dollar"}
MONEY_KEYS = {
    "Amount",
    "UnitPrice",
    "Qty",
    "TotalAmt",
    "DiscountPercent",
    "Deposit",
    "Balance",
    "QtyOnHand",
    "PurchaseCost",
    "TaxPercent",
    "RateValue",
    "NetAmountTaxable",
    "TotalTax",
    "DiscountAmount",
}
INT_KEYS = {"DueDays", "DiscountDays", "DayOfMonthDue", "DueNextMonthDays", "DiscountDayOfMonth"}
NUMERIC_KEYS = MONEY_KEYS | INT_KEYS
ZERO_MEANS_ABSENT = ("LineNum", "TxnLineId", "TaxInclusiveAmt")  # python-quickbooks' defaults for server-set values
REF_DROP = ("name", "type")


def q(value: Decimal) -> Decimal:
    """Round half-up to cents, as QBO does for amounts and tax."""
    if not isinstance(value, Decimal):
        value = Decimal(value)
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def to_decimal(value: Any, key: str) -> Decimal:
    if isinstance(value, bool):
        raise fault("2010", f"{key} (not a number)")
    if isinstance(value, Decimal):
        return value
    try:
        if isinstance(value, float):
            return Decimal(repr(value))
        return Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise fault("2010", f"{key} (invalid number {value!r})") from exc


def clean(value: Any, key: str = "") -> Any:
    """Normalize request JSON: "" and None mean absent, [] means absent, refs lose name/type, numbers become Decimal."""
    if isinstance(value, dict):
        return _clean_object(value, key)
    if isinstance(value, list):
        items = [clean(v, key) for v in value]
        items = [v for v in items if v is not None]
        return items or None
    if value is None or value == "":
        return None
    if isinstance(value, str):
        if key in MONEY_KEYS:
            return to_decimal(value, key)
        if key in INT_KEYS:
            try:
                return int(Decimal(value))
            except InvalidOperation as exc:
                raise fault("2010", f"{key} (invalid number {value!r})") from exc
        return value
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float, Decimal)):
        if key in INT_KEYS:
            return int(value)
        if key in MONEY_KEYS or isinstance(value, float):
            return to_decimal(value, key)
        return value
    return value


def _clean_object(value: dict[str, Any], key: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    is_ref = "value" in value and key.endswith("Ref")
    for k, v in value.items():
        if type(v) is str and k not in NUMERIC_KEYS:  # the common case, without a call (100,000-customer seeds)
            if v and not (is_ref and k in REF_DROP):
                out[k] = v
            continue
        if is_ref and k in REF_DROP:
            continue
        if k in ZERO_MEANS_ABSENT and (v in (0, "", None)):
            continue
        cv = clean(v, k)
        if cv is not None:
            out[k] = cv
    return out


def currency(ref: Any) -> dict[str, str]:
    value = ref_value(ref) or "USD"
    return dict(USD) if value == "USD" else {"value": value, "name": (ref or {}).get("name", value)}


def ref_value(ref: Any) -> str | None:
    if isinstance(ref, dict) and ref.get("value") not in (None, ""):
        return str(ref["value"])
    return None


def is_valid_id(value: Any) -> bool:
    return isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).isdigit()


def display_of(entity: str, obj: dict[str, Any]) -> str:
    if entity in PARTY_ENTITIES:
        return obj.get("DisplayName", "")
    return obj.get("Name", obj.get("DocNumber", "")) or ""


def check_email(address: str, element: str) -> None:
    """2210 unless every comma-separated address is plausible: Intuit's sandbox vendor 45 holds
    "Nateyecare@intuit.com, pauliejones15@intuit.com" (minimul/qbo_api get/inactive_vendors.yml)."""
    if not all(_plausible_email(part.strip()) for part in address.split(",")):
        raise Fault(
            400,
            "2210",
            "Email Address does not conform to the syntax rules of RFC 822",
            f"Email Address does not conform to the syntax rules of RFC 822 : {address}",
            element=element,
        )


def _plausible_email(address: str) -> bool:
    at = address.find("@")
    return at > 0 and "." in address[at:] and not address.endswith(".") and " " not in address


def public(obj: dict[str, Any]) -> dict[str, Any]:
    """The wire view of a stored object (drops internal underscore keys)."""
    if any(key.startswith("_") for key in obj):
        return {k: v for k, v in obj.items() if not k.startswith("_")}
    return obj
