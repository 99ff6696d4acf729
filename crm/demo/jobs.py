"""The jobs Attack-a-Crack quotes, as line recipes over the shared product SKUs.

Material quantities are deliberately awkward (37.5 ft of membrane, 1.5 foam kits) because those are the lines
whose amounts need half-up rounding to the cent, the way QuickBooks rounds (18.25 x 37.5 = 684.375 -> 684.38).
"""

import random
from decimal import Decimal

# (sku, lowest, highest, step): quantity = lowest + k * step, k drawn uniformly.
JOBS = {
    "single crack": [("AAC-SVC-INJ", 1, 3, 1), ("AAC-MAT-EPX", 2, 6, 1)],
    "leaking wall": [
        ("AAC-SVC-WCR", 1, 2, 1),
        ("AAC-MAT-PUF", 1, 3, Decimal("0.5")),
        ("AAC-MAT-WPM", Decimal("12.5"), 48, Decimal("0.5")),
    ],
    "bowed wall": [("AAC-SVC-INS", 1, 1, 1), ("AAC-SVC-BWA", 2, 6, 1), ("AAC-SVC-CFS", 0, 4, 1)],
    "wet basement": [("AAC-SVC-SMP", 1, 1, 1), ("AAC-SVC-WWD", 0, 2, 1), ("AAC-SVC-BHS", 0, 1, 1)],
    "wall straps": [("AAC-SVC-CFS", 3, 8, 1), ("AAC-MAT-EPX", 1, 4, 1)],
    "bulkhead": [("AAC-SVC-BHS", 1, 1, 1), ("AAC-MAT-EPX", 1, 3, 1), ("AAC-MAT-WPM", Decimal("8.5"), 20, 1)],
    "several cracks": [("AAC-SVC-INJ", 2, 5, 1), ("AAC-SVC-WCR", 1, 2, 1), ("AAC-MAT-PUF", 1, 4, Decimal("0.5"))],
}
JOB_WEIGHTS = {
    "single crack": 30,
    "leaking wall": 18,
    "bowed wall": 10,
    "wet basement": 12,
    "wall straps": 8,
    "bulkhead": 8,
    "several cracks": 14,
}
# Invoiced without a quote: a visit billed on the spot.
DIRECT_JOBS = {
    "inspection": [("AAC-SVC-INS", 1, 1, 1)],
    "warranty transfer": [("AAC-SVC-WTF", 1, 1, 1)],
    "small crack": [("AAC-SVC-INJ", 1, 1, 1), ("AAC-MAT-EPX", 1, 2, 1)],
}


def _quantity(lowest, highest, step, rng: random.Random) -> Decimal:
    lowest, highest, step = Decimal(lowest), Decimal(highest), Decimal(step)
    steps = int((highest - lowest) / step)
    return lowest + step * rng.randint(0, steps)


def job_lines(recipe: list[tuple], products_by_sku: dict[str, dict], rng: random.Random) -> list[dict]:
    """Quote/invoice lines for a recipe: product sku, description, quantity and the list unit price (strings)."""
    lines = []
    for sku, lowest, highest, step in recipe:
        quantity = _quantity(lowest, highest, step, rng)
        if quantity:
            product = products_by_sku[sku]
            lines.append(
                {
                    "sku": sku,
                    "description": product["name"],
                    "quantity": str(quantity),
                    "unit_price": product["unit_price"],
                    "taxable": product["taxable"],
                }
            )
    return lines


def pick_job(rng: random.Random) -> str:
    return rng.choices(list(JOB_WEIGHTS), weights=list(JOB_WEIGHTS.values()))[0]
