"""The ``demo`` seed: Attack-a-Crack Foundation Repair's own QuickBooks company, built from the shared people list.

About 250 of the 305 people in ``fixtures/demo/people.json`` (the CRM demo uses the same list) become customers, with
the mess that makes matching hard: phone numbers in other formats, the number only under Mobile, e-mails in other
case or missing, business names as DisplayName with the person as contact, two customers sharing a phone, jobs
under a parent customer, inactive ``(deleted)`` customers and name typos. Two years of estimates, invoices (Net 30,
some open and overdue, some paid late, some partly paid) and payments are priced from the company's items.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

from .common import (
    NET_30,
    TERM_DAYS,
    UNDEPOSITED_FUNDS,
    USD,
    ZERO,
    at,
    base,
    item,
    ordered,
    q,
    ref,
    sales_line,
    scaffold,
    tax_detail,
    txn_total,
)

REALM_ID = "9130357766001234"
COMPANY_NAME = "Attack-a-Crack Foundation Repair"
TAX_PERCENT = Decimal("6.25")  # Massachusetts sales tax, charged on materials only
PEOPLE_PATH = Path(__file__).resolve().parents[2] / "fixtures/demo/people.json"
CUSTOMERS_FROM_PEOPLE = 250
SEED = 20261125

PRODUCTS_PATH = Path(__file__).resolve().parents[2] / "fixtures/demo/products.json"
_QBO_ITEM_TYPE = {  # CRM item type -> (QBO Type, income account Id)
    "service": ("Service", "1"),
    "non_inventory": ("NonInventory", "79"),
    "inventory": ("Inventory", "79"),
}


def load_items(path: Path = PRODUCTS_PATH) -> tuple[tuple[str, str, str, str, str, bool, str, str], ...]:
    """The services and materials shared with the CRM's demo products (fixtures/demo/products.json), as
    (Id, Name, Type, UnitPrice, income account, taxable, Description, Sku); Ids follow the file's order."""
    products = json.loads(path.read_text())
    return tuple(
        (
            str(n),
            p["name"],
            *_QBO_ITEM_TYPE[p["item_type"]][:1],
            p["unit_price"],
            _QBO_ITEM_TYPE[p["item_type"]][1],
            p["taxable"],
            p["description"],
            p["sku"],
        )
        for n, p in enumerate(products, start=1)
    )


# Job templates: (weight, [(item id, min qty, max qty)]). A qty of 0 in max means "same as the first line".
# Item ids follow products.json: 1 injection, 2 wall crack repair, 3 strap, 4 anchor, 5 sump pump, 6 inspection,
# 7 epoxy tube, 8 foam kit, 9 membrane ft, 10 bulkhead seal, 11 window well drain, 12 warranty transfer.
_TEMPLATES: tuple[tuple[int, tuple[tuple[str, int, int], ...]], ...] = (
    (30, (("1", 1, 4), ("7", 0, 0))),  # crack injection + one epoxy tube per crack
    (12, (("6", 1, 1),)),
    (10, (("2", 1, 2), ("9", 4, 20))),
    (9, (("3", 3, 10),)),
    (6, (("4", 2, 6),)),
    (8, (("5", 1, 1),)),
    (6, (("11", 1, 2), ("5", 1, 1))),
    (7, (("10", 1, 1),)),
    (5, (("1", 1, 3), ("8", 0, 0))),  # active leaks: injection + one foam kit per crack
    (4, (("12", 1, 1),)),
    (3, (("1", 1, 2), ("7", 0, 0), ("6", 1, 1))),
)

_VENDORS = (
    "Northeast Concrete Supply",
    "Fortress Carbon Fiber Systems",
    "Supportworks Anchor Distributor",
    "Home Depot Pro - Woburn",
    "Eversource Energy",
    "Verizon Wireless Business",
    "Brennan & Daly Insurance Agency",
    "Middlesex Equipment Rental",
)
_EMPLOYEES = (("Marco", "DiSalvo"), ("Tyrone", "Okafor"), ("Ana", "Pereira-Lind"), ("Wes", "Tremblay"))
_PAYMENT_METHOD_WEIGHTS = (("2", 50), ("3", 20), ("4", 15), ("1", 10), ("6", 5))
_TRUST_SUFFIXES = ("Family Trust", "Properties LLC", "Realty Trust")
_JOB_NAMES = ("Building A - Rear Foundation", "Building C - Garage Wall", "Unit 4 Basement")


def load_people(path: Path = PEOPLE_PATH) -> list[dict[str, str]]:
    """The canonical people shared with the CRM's demo data; fails clearly when the file is missing."""
    if not path.is_file():
        raise FileNotFoundError(
            f"demo seed needs the shared people list at {path} (fixtures/demo/people.json in the repository); "
            "regenerate it with `python fixtures/demo/make_people.py`"
        )
    return json.loads(path.read_text())


# ------------------------------------------------------------------------------------------- phone / e-mail mess


def _digits(e164: str) -> str:
    return e164[-10:]


def phone_format(e164: str, style: int) -> str:
    """One US number in the five ways people type it (the CRM normalizes them all to E.164)."""
    d = _digits(e164)
    return (
        f"({d[:3]}) {d[3:6]}-{d[6:]}",
        f"{d[:3]}.{d[3:6]}.{d[6:]}",
        f"+1 {d[:3]}-{d[3:6]}-{d[6:]}",
        d,
        f"{d[:3]}-{d[3:6]}-{d[6:]}",
    )[style % 5]


def _typo(name: str, rng: random.Random) -> str:
    """A plausible typo: swap two inner letters or drop one (Kenneth → Kenenth, Kowalski → Kowalsi)."""
    if len(name) < 4:
        return name + name[-1]
    i = rng.randrange(1, len(name) - 2)
    if rng.random() < 0.5 and name[i] != name[i + 1]:
        return name[:i] + name[i + 1] + name[i] + name[i + 2 :]
    return name[:i] + name[i + 1 :]


def _email_case(email: str) -> str:
    local, _, domain = email.partition("@")
    return ".".join(part.capitalize() for part in local.split(".")) + "@" + domain.upper()


# ----------------------------------------------------------------------------------------------------- customers


def _build_customers(people: list[dict], rng: random.Random, start: dt.date, today: dt.date) -> list[dict]:
    chosen = sorted(rng.sample(range(len(people)), min(CUSTOMERS_FROM_PEOPLE, len(people))))
    persons = [people[i] for i in chosen]
    n = len(persons)
    order = list(range(n))
    rng.shuffle(order)
    # Deterministic disjoint assignment of the mismatch kinds (indices into ``persons``).
    typo = set(order[0:12])
    mobile_only = set(order[12:32])
    email_upper = set(order[32:57])
    email_missing = set(order[57:77])
    inactive = set(order[77:82])
    trust = {i for i in order[82:90] if persons[i]["kind"] == "person"}
    share_pairs = [(order[90 + 2 * k], order[91 + 2 * k]) for k in range(3)]  # second takes the first's phone

    customers: list[dict] = []
    used_names: set[str] = set()
    for idx, person in enumerate(persons):
        cid = str(idx + 1)
        given, family = person["first_name"], person["last_name"]
        if idx in typo:
            if rng.random() < 0.5:
                given = _typo(given, rng)
            else:
                family = _typo(family, rng)
        company = person["company_name"]
        if idx in trust:
            company = f"{family} {_TRUST_SUFFIXES[idx % len(_TRUST_SUFFIXES)]}"
        display = company or f"{given} {family}"
        if display.lower() in used_names:
            display = f"{display} ({person['city']})"
        while display.lower() in used_names:
            display += " 2"
        used_names.add(display.lower())
        style = rng.randrange(5)
        created = at(start + dt.timedelta(days=rng.randrange(0, 120)), 8 * 3600 + rng.randrange(9 * 3600))
        customer: dict[str, Any] = {
            **base(cid, created),
            "GivenName": given,
            "FamilyName": family,
            "DisplayName": display,
            "PrintOnCheckName": display,
            "FullyQualifiedName": display,
            "Active": True,
            "Job": False,
            "BillWithParent": False,
            "Taxable": True,
            "DefaultTaxCodeRef": ref("2"),
            "Balance": ZERO,
            "BalanceWithJobs": ZERO,
            "CurrencyRef": dict(USD),
            "PreferredDeliveryMethod": "Email" if rng.random() < 0.7 else "Print",
            "SalesTermRef": ref(NET_30, "Net 30"),
            "BillAddr": {
                "Id": str(1000 + idx),
                "Line1": person["street"],
                "City": person["city"],
                "CountrySubDivisionCode": person["state"],
                "PostalCode": person["zip"],
            },
        }
        if company:
            customer["CompanyName"] = company
        if idx in mobile_only:
            customer["Mobile"] = {"FreeFormNumber": phone_format(person["phone"], style)}
        else:
            customer["PrimaryPhone"] = {"FreeFormNumber": phone_format(person["phone"], style)}
            if person["mobile"]:
                customer["Mobile"] = {"FreeFormNumber": phone_format(person["mobile"], style + 1)}
        if idx in email_upper:
            customer["PrimaryEmailAddr"] = {"Address": _email_case(person["email"])}
        elif idx not in email_missing:
            customer["PrimaryEmailAddr"] = {"Address": person["email"]}
        if idx in inactive:
            customer["Active"] = False
            customer["DisplayName"] = customer["FullyQualifiedName"] = f"{display} (deleted)"
        customers.append(customer)
    for first, second in share_pairs:
        phone = customers[first].get("PrimaryPhone") or customers[first]["Mobile"]
        customers[second]["PrimaryPhone"] = {"FreeFormNumber": phone["FreeFormNumber"]}
    # Jobs (sub-customers) under three active business customers.
    parents = [c for c in customers if c.get("CompanyName") and c["Active"]][:3]
    for k, parent in enumerate(parents):
        job_name = _JOB_NAMES[k]
        job = {key: (dict(v) if isinstance(v, dict) else v) for key, v in parent.items()}
        job.update(base(str(len(customers) + 1), at(today - dt.timedelta(days=300 - 40 * k), 10 * 3600)))
        job.update(
            {
                "DisplayName": job_name,
                "PrintOnCheckName": parent["DisplayName"],
                "FullyQualifiedName": f"{parent['DisplayName']}:{job_name}",
                "Job": True,
                "BillWithParent": True,
                "ParentRef": ref(parent["Id"], parent["DisplayName"]),
                "Level": 1,
            }
        )
        job["BillAddr"]["Id"] = str(2000 + k)
        customers.append(job)
    return customers


# -------------------------------------------------------------------------------------------------- transactions


def _pick_lines(rng: random.Random, items: dict[str, dict]) -> list[dict]:
    weights = [t[0] for t in _TEMPLATES]
    template = rng.choices(_TEMPLATES, weights=weights)[0][1]
    lines, first_qty = [], 1
    for n, (item_id, low, high) in enumerate(template, start=1):
        qty = first_qty if high == 0 else rng.randint(low, high)
        if n == 1:
            first_qty = qty
        it = items[item_id]
        lines.append(sales_line(n, it, qty, taxable=it["Taxable"]))
    return lines


def _copy_lines(lines: list[dict]) -> list[dict]:
    return [
        {
            **line,
            "SalesItemLineDetail": {
                k: (dict(v) if isinstance(v, dict) else v) for k, v in line["SalesItemLineDetail"].items()
            },
        }
        for line in lines
    ]


def _transactions(
    rng: random.Random, customers: list[dict], items: dict[str, dict], today: dt.date, count: int = 400
) -> tuple[list[dict], list[dict], list[dict]]:
    active = [c for c in customers if c["Active"]]
    events: list[tuple[dt.datetime, int, str, dict]] = []  # (moment, tie-break, kind, object)
    methods = [m for m, _ in _PAYMENT_METHOD_WEIGHTS]
    method_weights = [w for _, w in _PAYMENT_METHOD_WEIGHTS]
    first_txn: dict[str, dt.date] = {}
    payment_links: list[tuple[dict, dict]] = []  # (payment, invoice)
    estimate_links: list[tuple[dict, dict]] = []  # (invoice, estimate)
    seq = 0
    for _ in range(count):
        cust = rng.choice(active)
        days_ago = rng.randrange(1, 728)  # nothing dated ``today`` itself, so no stamp lies in the future
        est_day = today - dt.timedelta(days=days_ago)
        lines = _pick_lines(rng, items)
        cust_ref = ref(cust["Id"], cust["DisplayName"])
        head = {
            "CustomerRef": cust_ref,
            "CurrencyRef": dict(USD),
            "ApplyTaxAfterDiscount": False,
            "PrintStatus": "NotSet",
            "EmailStatus": "EmailSent" if "PrimaryEmailAddr" in cust else "NotSet",
            "CustomerMemo": {"value": "Thank you for choosing Attack-a-Crack. Every repair carries our warranty."},
        }
        if "PrimaryEmailAddr" in cust:
            head["BillEmail"] = {"Address": cust["PrimaryEmailAddr"]["Address"]}
        est_time = at(est_day, 8 * 3600 + rng.randrange(10 * 3600))
        estimate = {
            "TxnDate": est_day.isoformat(),
            "ExpirationDate": (est_day + dt.timedelta(days=30)).isoformat(),
            **head,
            "Line": lines,
            "TxnTaxDetail": tax_detail(lines, TAX_PERCENT),
        }
        first_txn[cust["Id"]] = min(first_txn.get(cust["Id"], est_day), est_day)
        seq += 1
        events.append((est_time, seq, "Estimate", estimate))
        roll = rng.random()
        updated = est_time
        if days_ago >= 10 and roll < 0.75:
            inv_day = min(est_day + dt.timedelta(days=rng.randint(2, 20)), today - dt.timedelta(days=1))
            inv_time = max(at(inv_day, 8 * 3600 + rng.randrange(10 * 3600)), est_time + dt.timedelta(minutes=5))
            inv_lines = _copy_lines(lines)
            invoice = {
                "TxnDate": inv_day.isoformat(),
                **{k: (dict(v) if isinstance(v, dict) else v) for k, v in head.items()},
                "Line": inv_lines,
                "TxnTaxDetail": tax_detail(inv_lines, TAX_PERCENT),
                "SalesTermRef": ref(NET_30, "Net 30"),
                "DueDate": (inv_day + dt.timedelta(days=TERM_DAYS[NET_30])).isoformat(),
            }
            seq += 1
            events.append((inv_time, seq, "Invoice", invoice))
            estimate_links.append((invoice, estimate))
            estimate["TxnStatus"] = "Closed"
            updated = inv_time
            total = txn_total(invoice)
            outcome = rng.random()
            if outcome < 0.62:
                plan = [(rng.randint(3, 30), total)]
            elif outcome < 0.80:
                plan = [(rng.randint(35, 110), total)]  # paid late
            elif outcome < 0.85:
                half = q(total / 2)
                plan = [(rng.randint(10, 40), half)]  # partly paid, the rest open
            elif days_ago > 240 and rng.random() < 0.7:
                plan = [(rng.randint(120, 200), total)]  # collected very late
            else:
                plan = []  # still open (overdue once past its due date)
            for delay, amount in plan:
                pay_day = inv_day + dt.timedelta(days=delay)
                if pay_day >= today:
                    continue
                method = rng.choices(methods, weights=method_weights)[0]
                payment = {
                    "TxnDate": pay_day.isoformat(),
                    "CustomerRef": dict(cust_ref),
                    "TotalAmt": amount,
                    "CurrencyRef": dict(USD),
                    "DepositToAccountRef": ref(UNDEPOSITED_FUNDS),
                    "PaymentMethodRef": ref(method),
                    "ProcessPayment": False,
                    "Line": [{"Amount": amount, "LinkedTxn": []}],
                }
                if method == "2":
                    payment["PaymentRefNum"] = str(rng.randint(1000, 9999))
                seq += 1
                pay_time = max(at(pay_day, 9 * 3600 + rng.randrange(8 * 3600)), inv_time + dt.timedelta(minutes=5))
                events.append((pay_time, seq, "Payment", payment))
                payment_links.append((payment, invoice))
        elif days_ago > 45:
            estimate["TxnStatus"] = "Rejected" if roll < 0.92 else "Pending"
        else:
            estimate["TxnStatus"] = "Accepted" if roll > 0.85 else "Pending"
            if estimate["TxnStatus"] == "Accepted":
                estimate["AcceptedBy"] = f"{cust.get('GivenName', '')} {cust.get('FamilyName', '')}".strip()
                estimate["AcceptedDate"] = min(est_day + dt.timedelta(days=2), today - dt.timedelta(days=1)).isoformat()
        estimate["_updated"] = updated

    events.sort(key=lambda e: (e[0], e[1]))
    docs = {"Estimate": 1001, "Invoice": 1001}
    out: dict[str, list[dict]] = {"Estimate": [], "Invoice": [], "Payment": []}
    for number, (moment, _seq, kind, obj) in enumerate(events, start=1):
        updated = obj.pop("_updated", moment)
        obj.update(base(str(number), moment, updated))
        if kind in docs:
            obj["DocNumber"] = str(docs[kind])
            docs[kind] += 1
        out[kind].append(obj)
    for invoice, estimate in estimate_links:
        invoice["LinkedTxn"] = [{"TxnId": estimate["Id"], "TxnType": "Estimate"}]
    for invoice in out["Invoice"]:
        invoice.setdefault("LinkedTxn", [])
    for payment, invoice in payment_links:
        payment["Line"][0]["LinkedTxn"] = [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]
    for cust in customers:  # a customer exists before its first transaction
        first = first_txn.get(cust["Id"])
        if first is not None and cust["MetaData"]["CreateTime"][:10] > first.isoformat():
            created = at(first - dt.timedelta(days=1), 9 * 3600)
            cust["MetaData"] = base(cust["Id"], created)["MetaData"]
    return out["Estimate"], out["Invoice"], out["Payment"]


# ---------------------------------------------------------------------------------------------------------- build


def build(today: dt.date) -> dict[str, Any]:
    """The demo company as of ``today`` (see :func:`qbo_emulator.seeds.load_seed`)."""
    people = load_people()
    rng = random.Random(SEED)
    start = today - dt.timedelta(days=729)
    created = at(start - dt.timedelta(days=10), 9 * 3600)
    entities = scaffold(
        realm_id=REALM_ID,
        company_name=COMPANY_NAME,
        legal_name="Attack-a-Crack Foundation Repair LLC",
        address={"Line1": "48 Commerce Way", "City": "Woburn", "CountrySubDivisionCode": "MA", "PostalCode": "01801"},
        phone="(781) 555-0199",
        email="office@attackacrack.example",
        web="https://attackacrack.example",
        industry="Foundation, Structure, and Building Exterior Contractors",
        tax_name="Massachusetts",
        tax_percent=TAX_PERCENT,
        email_company=COMPANY_NAME,
        created=created,
    )
    items = {
        spec[0]: item(
            spec[0],
            spec[1],
            created + dt.timedelta(hours=int(spec[0])),
            item_type=spec[2],
            price=spec[3],
            income=spec[4],
            taxable=spec[5],
            description=spec[6],
            sku=spec[7],
            cost=None,
        )
        for spec in load_items()
    }
    entities["Item"] = list(items.values())
    customers = _build_customers(people, rng, start, today)
    entities["Customer"] = customers
    next_id = len(customers) + 1
    taken = {c["DisplayName"].lower() for c in customers}
    vendors = []
    for k, name in enumerate(_VENDORS):
        assert name.lower() not in taken
        vendors.append(
            {
                **base(str(next_id + k), created + dt.timedelta(days=1, minutes=k)),
                "DisplayName": name,
                "CompanyName": name,
                "PrintOnCheckName": name,
                "Active": True,
                "Balance": ZERO,
                "Vendor1099": False,
                "CurrencyRef": dict(USD),
            }
        )
    next_id += len(vendors)
    employees = []
    for k, (given, family) in enumerate(_EMPLOYEES):
        name = f"{given} {family}"
        assert name.lower() not in taken
        employees.append(
            {
                **base(str(next_id + k), created + dt.timedelta(days=2, minutes=k)),
                "GivenName": given,
                "FamilyName": family,
                "DisplayName": name,
                "PrintOnCheckName": name,
                "Active": True,
                "BillableTime": True,
                "EmployeeNumber": f"T-{k + 1:02d}",
                "PrimaryPhone": {"FreeFormNumber": f"(781) 555-01{20 + k}"},
            }
        )
    entities["Vendor"] = vendors
    entities["Employee"] = employees
    estimates, invoices, payments = _transactions(random.Random(SEED + 1), customers, items, today)
    entities["Estimate"] = estimates
    entities["Invoice"] = invoices
    entities["Payment"] = payments
    # A tenth of the customers were edited recently, so a CDC window over the last weeks is not empty.
    touch = random.Random(SEED + 2)
    for cust in customers:
        if touch.random() < 0.1:
            moment = at(today - dt.timedelta(days=touch.randrange(1, 25)), 10 * 3600 + touch.randrange(7 * 3600))
            cust["MetaData"] = base(cust["Id"], _parse(cust["MetaData"]["CreateTime"]), moment)["MetaData"]
            cust["SyncToken"] = "1"
    return {"realm_id": REALM_ID, "company_name": COMPANY_NAME, "entities": ordered(entities)}


def _parse(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)
