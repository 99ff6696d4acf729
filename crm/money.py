"""Money arithmetic the way QuickBooks Online does it: Decimal only, half-up to the cent.

QBO's rule: a line's Amount is Qty × UnitPrice rounded half-up to 2 places, the subtotal is the sum of the
rounded lines, and TotalAmt = subtotal + tax (RELIABILITY §D2–D3). Every money value is quantized here before it
is saved, because SQLite stores an unquantized Decimal as REAL and reads `0.125` back as `0.12` (STACK §2).
"""

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def q(value: Decimal | int | str | None) -> Decimal:
    """Quantize to the cent, half-up. None counts as zero; floats are refused (they are already wrong)."""
    if value is None:
        return ZERO
    if isinstance(value, float):
        raise TypeError("money must be Decimal, int or str, never float")
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def line_total(qty: Decimal | int | str, price: Decimal | int | str) -> Decimal:
    """A line's amount: q(qty × unit price), exact product first, one rounding."""
    if isinstance(qty, float) or isinstance(price, float):
        raise TypeError("quantity and price must be Decimal, int or str, never float")
    return q(Decimal(qty) * Decimal(price))


def tax_amount(taxable_subtotal: Decimal, rate_percent: Decimal | None) -> Decimal:
    """Tax on the taxable subtotal at `rate_percent` (6.25 means 6.25 %), rounded once on the total."""
    if not rate_percent:
        return ZERO
    return q(Decimal(taxable_subtotal) * Decimal(rate_percent) / Decimal(100))
