"""Generated customers for load tests: ``customers=N`` (100,000 build in well under two seconds).

Dicts are built in one tight loop from precomputed name and street tables; nothing is deep-copied per row.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ..facts import PARTY_ENTITIES
from .common import ZERO, at, stamp

_FIRST = (  # noqa: SIM905
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard Susan Joseph "
    "Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy Matthew Betty Anthony Sandra Mark Margaret "
    "Donald Ashley Steven Kimberly Paul Emily Andrew Donna Joshua Michelle Kenneth Carol Kevin Amanda Brian Melissa"
).split()
_LAST = (  # noqa: SIM905
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez Wilson "
    "Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis Robinson "
    "Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell"
).split()
_TOWNS = (
    ("Boston", "02118", "617"),
    ("Quincy", "02169", "617"),
    ("Medford", "02155", "781"),
    ("Framingham", "01701", "508"),
    ("Salem", "01970", "978"),
    ("Worcester", "01608", "508"),
)
_STREETS = ("Main St", "Elm St", "Oak Ave", "Maple St", "Washington St", "Highland Ave", "Park Ave", "Pine St")
_USD_NAME = "United States Dollar"


def generate_customers(count: int, first_id: int, today: dt.date, taken: set[str] | None = None) -> list[dict]:
    """``count`` complete Customer objects with ids from ``first_id``; DisplayNames avoid ``taken`` (lower-cased)."""
    taken = taken or set()
    created = stamp(at(today - dt.timedelta(days=400), 8 * 3600))
    updated = stamp(at(today - dt.timedelta(days=40), 8 * 3600))
    nf, nl, nt, ns = len(_FIRST), len(_LAST), len(_TOWNS), len(_STREETS)
    out: list[dict] = []
    append = out.append
    serial = 0
    for index in range(count):
        cid = first_id + index
        first = _FIRST[index % nf]
        last = _LAST[(index // nf) % nl]
        serial += 1
        display = f"{first} {last} {serial:06d}"
        while display.lower() in taken:
            serial += 1
            display = f"{first} {last} {serial:06d}"
        town, zip_code, area = _TOWNS[index % nt]
        number = f"{cid % 10000:04d}"
        append(
            {
                "Id": str(cid),
                "SyncToken": "0",
                "domain": "QBO",
                "sparse": False,
                "MetaData": {"CreateTime": created, "LastUpdatedTime": updated},
                "GivenName": first,
                "FamilyName": last,
                "DisplayName": display,
                "PrintOnCheckName": display,
                "FullyQualifiedName": display,
                "Active": True,
                "Job": False,
                "BillWithParent": False,
                "Taxable": False,
                "Balance": ZERO,
                "BalanceWithJobs": ZERO,
                "CurrencyRef": {"value": "USD", "name": _USD_NAME},
                "PreferredDeliveryMethod": "Print",
                "PrimaryPhone": {"FreeFormNumber": f"({area}) 555-{number}"},
                "PrimaryEmailAddr": {"Address": f"{first.lower()}.{last.lower()}.{serial}@example.com"},
                "BillAddr": {
                    "Id": str(cid),
                    "Line1": f"{index % 997 + 1} {_STREETS[index % ns]}",
                    "City": town,
                    "CountrySubDivisionCode": "MA",
                    "PostalCode": zip_code,
                },
            }
        )
    return out


def resize_customers(seed: dict[str, Any], count: int, today: dt.date) -> None:
    """Make the seed hold exactly ``count`` customers (see :func:`qbo_emulator.seeds.load_seed`), in place."""
    if count < 0:
        raise ValueError("customers must be >= 0")
    entities = seed["entities"]
    own: list[dict] = entities["Customer"]
    highest = max((int(o["Id"]) for kind in PARTY_ENTITIES for o in entities[kind]), default=0)
    kept = own[:count]
    if len(kept) < len(own):
        _drop_orphans(entities, {c["Id"] for c in kept})
    taken = {o["DisplayName"].lower() for o in [*kept, *entities["Vendor"], *entities["Employee"]]}
    entities["Customer"] = kept + generate_customers(count - len(kept), highest + 1, today, taken)


def _drop_orphans(entities: dict[str, list[dict]], customer_ids: set[str]) -> None:
    """Remove transactions of dropped customers (and payment lines that applied to removed invoices)."""
    for kind in ("Estimate", "Invoice", "Payment"):
        entities[kind] = [t for t in entities[kind] if t["CustomerRef"]["value"] in customer_ids]
    invoice_ids = {i["Id"] for i in entities["Invoice"]}
    estimate_ids = {e["Id"] for e in entities["Estimate"]}
    for inv in entities["Invoice"]:
        inv["LinkedTxn"] = [link for link in inv.get("LinkedTxn", []) if link["TxnId"] in estimate_ids]
    for pay in entities["Payment"]:
        pay["Line"] = [ln for ln in pay["Line"] if all(x["TxnId"] in invoice_ids for x in ln.get("LinkedTxn", []))]
