"""The ``sandbox`` seed: Intuit's default US sandbox company, "Craig's Design and Landscaping Services" (API.md §9).

Customers 1–29 are the recorded sandbox records (``data/sandbox_customers.json``); the open invoices and partial
payments are designed so each customer's derived Balance equals the recorded one (Bill's Windsurf Shop 85.00,
Sonnenschein 362.07 = invoice 1037 of the official invoice sample, …). Dates are placed relative to ``today``.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from .common import (
    DEFAULT_MEMO,
    NET_30,
    TERM_DAYS,
    UNDEPOSITED_FUNDS,
    USD,
    ZERO,
    at,
    base,
    clamp_past,
    item,
    ordered,
    ref,
    sales_line,
    scaffold,
    tax_detail,
    txn_total,
)

REALM_ID = "9341455649204247"
COMPANY_NAME = "Sandbox Company_US_1"
TAX_PERCENT = Decimal("8")
_DATA = Path(__file__).with_name("data") / "sandbox_customers.json"
_RECORDED_EPOCH = dt.date(2015, 10, 1)  # the day the recorded sandbox customers were created

# Items: confirmed ids/names/prices from §9; the UI-named ones (6, 12, 14, 15, 18) get the remaining ids.
# (Id, Name, Type, UnitPrice, income account, taxable, Description, PurchaseCost, QtyOnHand)
_ITEMS: tuple[tuple[str, str, str, str, str, bool, str | None, str | None, int | None], ...] = (
    ("1", "Services", "Service", "0", "1", False, None, None, None),
    ("2", "Hours", "Service", "0", "1", False, None, None, None),
    ("3", "Concrete", "Service", "0", "48", True, "Concrete for fountain installation", "0", None),
    ("4", "Design", "Service", "75", "82", False, "Custom Design", None, None),
    ("5", "Rock Fountain", "Inventory", "275", "79", True, "Rock Fountain", "125", 2),
    ("6", "Gardening", "Service", "0", "45", False, "Weekly Gardening Service", None, None),
    ("7", "Installation", "Service", "50", "53", False, "Installation of landscape design", None, None),
    ("8", "Lighting", "Service", "0", "48", True, "Garden Lighting", None, None),
    ("9", "Maintenance & Repair", "Service", "0", "52", False, "Maintenance & Repair", None, None),
    ("10", "Pest Control", "Service", "35", "54", False, "Pest Control Services", None, None),
    ("11", "Pump", "Inventory", "15", "79", True, "Fountain Pump", "10", 25),
    ("12", "Refunds & Allowances", "NonInventory", "0", "85", False, "Income due to refunds or allowances", None, None),
    ("13", "Rocks", "Service", "22.50", "48", True, "Garden Rocks", None, None),
    ("14", "Sod", "Service", "0", "49", True, "Sod", None, None),
    ("15", "Soil", "Service", "10", "49", True, "2 cubic ft. bag", None, None),
    ("16", "Sprinkler Heads", "Inventory", "2", "79", True, "Sprinkler Heads", "0.75", 25),
    ("17", "Sprinkler Pipes", "Inventory", "4", "79", True, "Sprinkler Pipes", "2.50", 31),
    ("18", "Trimming", "Service", "35", "45", False, "Tree and Shrub Trimming", None, None),
)

_PEOPLE = Path(__file__).with_name("data") / "sandbox_vendors_employees.json"  # vendors 30–61, employees 54–55

# Invoices: (customer id, days before today, [(item id, qty, unit price or None, taxable)], outcome, estimate id)
# outcome: "open", "paid" or a Decimal amount paid (partial). Open amounts reproduce the recorded balances.
_Line = tuple[str, str, str | None, bool]
_INVOICES: tuple[tuple[str, int, tuple[_Line, ...], Any, str | None], ...] = (
    ("29", 610, (("4", "5", None, False),), "paid", None),
    ("2", 590, (("10", "1", None, False),), "paid", None),
    ("3", 570, (("10", "2", None, False),), "paid", None),
    ("4", 540, (("4", "1", None, False), ("7", "2", None, False)), "paid", None),
    ("5", 520, (("5", "1", None, True),), "paid", None),
    ("6", 500, (("4", "2", None, False),), "paid", None),
    ("7", 470, (("17", "20", None, False), ("16", "20", None, False)), "paid", None),
    ("8", 450, (("7", "3", None, False),), "paid", None),
    ("11", 430, (("4", "1", None, False), ("10", "1", None, False)), "paid", None),
    ("14", 400, (("13", "4", None, False),), "paid", None),
    ("15", 380, (("10", "3", None, False),), "paid", None),
    ("19", 350, (("4", "3", None, False),), "paid", None),
    ("22", 330, (("4", "2", None, False),), "paid", None),
    ("27", 300, (("7", "4", None, False),), "paid", None),
    ("28", 280, (("5", "1", None, False),), "paid", None),
    ("1", 260, (("10", "1", None, True),), "paid", None),
    ("18", 240, (("4", "1", None, False),), "paid", None),
    ("26", 220, (("7", "2", None, False),), "paid", None),
    ("5", 190, (("18", "2", None, True),), "paid", None),
    ("20", 200, (("10", "1", None, False), ("16", "18", None, False)), Decimal("55"), None),  # 71, 16 left
    ("13", 170, (("7", "15", None, False),), Decimal("300"), None),  # 750, 450 left
    ("1", 150, (("5", "1", None, True),), "open", None),  # 297.00
    (
        "18",
        130,
        (("5", "2", None, False), ("11", "1", "12.75", False), ("7", "7", None, False), ("16", "21", None, False)),
        "open",
        None,
    ),  # 954.75
    ("12", 115, (("4", "1", None, False), ("16", "3", None, False)), "open", None),  # 81.00
    ("29", 100, (("4", "5", None, False),), "open", None),  # 375.00
    ("10", 90, (("5", "1", None, True), ("11", "1", None, True), ("13", "13", None, True)), "open", "46"),  # 629.10
    ("17", 80, (("5", "1", None, True), ("16", "8", None, True)), "open", None),  # 314.28
    ("21", 72, (("13", "2", None, True), ("16", "15", None, False)), "open", None),  # 78.60
    ("26", 64, (("5", "1", None, True), ("4", "1", None, True), ("16", "17", None, True)), "open", None),  # 414.72
    ("23", 56, (("4", "3", None, False), ("13", "2.2", None, False)), "open", None),  # 274.50
    ("16", 48, (("4", "1", None, False),), "open", None),  # 75.00
    ("25", 40, (("4", "2", None, False), ("16", "5", None, False)), "open", None),  # 160.00
    ("20", 33, (("4", "2", None, False), ("7", "1", None, False), ("16", "5", None, False)), "open", None),  # 210
    ("9", 26, (("4", "1", None, False), ("16", "5", None, False)), "open", None),  # 85.00
    ("1", 20, (("4", "4", None, False), ("16", "21", None, False)), "open", None),  # 342.00
    ("2", 12, (("10", "1", None, False), ("7", "1", None, False)), "open", None),  # 85.00
    ("24", 8, (("5", "1", None, True), ("11", "1", "12.75", True), ("3", "5", "9.50", True)), "open", "100"),  # 362.07
)

# Estimates: (Id, customer id, days before today, lines, TxnStatus)
_ESTIMATES: tuple[tuple[str, str, int, tuple[_Line, ...], str], ...] = (
    ("41", "3", 45, (("10", "1", None, False),), "Pending"),
    ("46", "10", 95, (("5", "1", None, True), ("11", "1", None, True), ("13", "13", None, True)), "Closed"),
    ("48", "18", 140, (("5", "3", None, False), ("7", "8", None, False)), "Rejected"),
    # 100: Accepted, Sonnenschein, 351.81 = (275 + 12.75 + 4 × 9.50) × 1.08 (API.md §9)
    ("100", "24", 11, (("5", "1", None, True), ("11", "1", "12.75", True), ("3", "4", "9.50", True)), "Accepted"),
    ("101", "16", 6, (("4", "2", None, False), ("15", "10", None, True)), "Pending"),
    ("102", "19", 200, (("7", "6", None, False),), "Rejected"),
)
_PAYMENT_METHODS = ("2", "1", "3", "2", "4", "2")


def _rebase(recorded: str, start: dt.date, now: dt.datetime) -> dt.datetime:
    """Move a recorded 2015–2020 timestamp onto this company's timeline (same day offset and time of day)."""
    moment = dt.datetime.fromisoformat(recorded)
    shifted = moment + dt.timedelta(days=(start - _RECORDED_EPOCH).days)
    return clamp_past(shifted, now)


def _rebase_pair(meta_data: dict, start: dt.date, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """CreateTime and LastUpdatedTime on this timeline; an edit recorded years later (2020 on 2015 records) lands
    at most at ``now`` − 45 days, so the seed shows no change inside CDC's 30-day window (API.md §5)."""
    created = _rebase(meta_data["CreateTime"], start, now)
    updated = _rebase(meta_data["LastUpdatedTime"], start, now)
    quiet = now - dt.timedelta(days=45)
    return created, max(created, min(updated, quiet))


def _customers(start: dt.date, now: dt.datetime) -> list[dict]:
    raw = json.loads(_DATA.read_text())["Customer"]
    by_id = {c["Id"]: c for c in raw}
    out = []
    for rec in raw:
        created, updated = _rebase_pair(rec["MetaData"], start, now)
        customer = {k: v for k, v in rec.items() if k not in ("MetaData", "Balance", "BalanceWithJobs")}
        customer.update(base(rec["Id"], created, updated, rec["SyncToken"]))
        customer["Balance"] = ZERO  # derived by the server from the open invoices
        customer["BalanceWithJobs"] = ZERO
        customer["CurrencyRef"] = dict(USD)
        if customer["Taxable"] and "DefaultTaxCodeRef" not in customer:  # §9; samples/customer_read_sandbox_id5.json
            customer["DefaultTaxCodeRef"] = ref("2")
        if "ParentRef" in rec:
            parent = by_id[rec["ParentRef"]["value"]]
            customer["ParentRef"] = ref(parent["Id"], parent["DisplayName"])
        out.append(customer)
    return out


def recorded_balances() -> dict[str, Decimal]:
    """Customer id → the open balance in the recording (what the seeded invoices must add up to)."""
    raw = json.loads(_DATA.read_text())["Customer"]
    return {c["Id"]: Decimal(str(c["Balance"])).quantize(Decimal("0.01")) for c in raw}


def build(today: dt.date) -> dict[str, Any]:
    """The sandbox company as of ``today`` (see :func:`qbo_emulator.seeds.load_seed`)."""
    now = at(today, 0)  # nothing is stamped later than the start of ``today``
    start = today - dt.timedelta(days=700)
    created = at(start, 14 * 3600 + 41 * 60)
    entities = scaffold(
        realm_id=REALM_ID,
        company_name=COMPANY_NAME,
        legal_name=COMPANY_NAME,
        address={"Line1": "123 Sierra Way", "City": "San Pablo", "CountrySubDivisionCode": "CA", "PostalCode": "87999"},
        phone="(650) 555-1234",
        email="noreply@quickbooks.com",
        web=None,
        industry="Landscaping Services",
        tax_name="California",
        tax_percent=TAX_PERCENT,
        email_company="Craig's Design and Landscaping Services",
        created=created,
    )
    items = {
        i[0]: item(
            i[0],
            i[1],
            created + dt.timedelta(days=5),
            item_type=i[2],
            price=i[3],
            income=i[4],
            taxable=i[5],
            description=i[6],
            cost=i[7],
            qty_on_hand=i[8],
        )
        for i in _ITEMS
    }
    entities["Item"] = list(items.values())
    customers = _customers(start, now)
    by_id = {c["Id"]: c for c in customers}
    entities["Customer"] = customers
    people = json.loads(_PEOPLE.read_text())
    entities["Vendor"] = sorted(_recorded(people["Vendor"], start, now), key=lambda v: int(v["Id"]))
    entities["Employee"] = sorted(_recorded(people["Employee"], start, now), key=lambda v: int(v["Id"]))
    entities["Account"].append(_fees_billed_inactive(created))

    def lines_for(specs: tuple[_Line, ...]) -> list[dict]:
        return [
            sales_line(n, items[item_id], qty, price, taxable=taxable)
            for n, (item_id, qty, price, taxable) in enumerate(specs, start=1)
        ]

    def header(cust_id: str, day: dt.date) -> dict:
        cust = by_id[cust_id]
        head: dict[str, Any] = {
            "CustomerRef": ref(cust_id, cust["DisplayName"]),
            "TxnDate": day.isoformat(),
            "CurrencyRef": dict(USD),
            "CustomerMemo": {"value": DEFAULT_MEMO},
            "ApplyTaxAfterDiscount": False,
            "PrintStatus": "NeedToPrint",
            "EmailStatus": "NotSet",
            "CustomField": [{"DefinitionId": "1", "Name": "Crew #", "Type": "StringType"}],
        }
        if "PrimaryEmailAddr" in cust:
            head["BillEmail"] = {"Address": cust["PrimaryEmailAddr"]["Address"]}
        return head

    estimates = []
    for doc, (est_id, cust_id, days, specs, status) in enumerate(sorted(_ESTIMATES, key=lambda e: -e[2]), start=1001):
        day = today - dt.timedelta(days=days)
        lines = lines_for(specs)
        est = {
            **base(est_id, at(day, 10 * 3600 + (doc - 1000) * 60)),
            "DocNumber": str(doc),
            **header(cust_id, day),
            "Line": lines,
            "TxnTaxDetail": tax_detail(lines, TAX_PERCENT),
            "TxnStatus": status,
            "ExpirationDate": (day + dt.timedelta(days=30)).isoformat(),
        }
        if status == "Accepted":
            est["AcceptedBy"] = by_id[cust_id].get("GivenName", "") + " " + by_id[cust_id].get("FamilyName", "")
            est["AcceptedDate"] = (day + dt.timedelta(days=2)).isoformat()
        estimates.append(est)
    entities["Estimate"] = sorted(estimates, key=lambda e: int(e["Id"]))

    invoices, payments = [], []
    specs_in_order = sorted(_INVOICES, key=lambda s: -s[1])
    next_payment_id = 140
    for index, (cust_id, days, specs, outcome, est_id) in enumerate(specs_in_order):
        doc = 1001 + index
        day = today - dt.timedelta(days=days)
        inv_id = "130" if doc == 1037 else str(60 + index)
        lines = lines_for(specs)
        inv: dict[str, Any] = {
            **base(inv_id, at(day, 11 * 3600 + index * 60)),
            "DocNumber": str(doc),
            **header(cust_id, day),
            "Line": lines,
            "TxnTaxDetail": tax_detail(lines, TAX_PERCENT),
            "SalesTermRef": ref(NET_30, "Net 30"),
            "DueDate": (day + dt.timedelta(days=TERM_DAYS[NET_30])).isoformat(),
            "LinkedTxn": [{"TxnId": est_id, "TxnType": "Estimate"}] if est_id else [],
        }
        invoices.append(inv)
        if outcome == "open":
            continue
        amount = txn_total(inv) if outcome == "paid" else Decimal(outcome)
        pay_day = min(day + dt.timedelta(days=12 + index % 20), today - dt.timedelta(days=1))
        method = _PAYMENT_METHODS[index % len(_PAYMENT_METHODS)]
        payment = {
            **base(str(next_payment_id), at(pay_day, 15 * 3600 + index * 60)),
            "TxnDate": pay_day.isoformat(),
            "CustomerRef": dict(inv["CustomerRef"]),
            "TotalAmt": amount,
            "CurrencyRef": dict(USD),
            "DepositToAccountRef": ref(UNDEPOSITED_FUNDS),
            "PaymentMethodRef": ref(method),
            "ProcessPayment": False,
            "Line": [{"Amount": amount, "LinkedTxn": [{"TxnId": inv_id, "TxnType": "Invoice"}]}],
        }
        if method == "2":
            payment["PaymentRefNum"] = str(1500 + index)
        payments.append(payment)
        next_payment_id += 1
    entities["Invoice"] = invoices
    entities["Payment"] = payments
    return {"realm_id": REALM_ID, "company_name": COMPANY_NAME, "entities": ordered(entities)}


def _recorded(records: list[dict], start: dt.date, now: dt.datetime) -> list[dict]:
    """Recorded vendors/employees as they were, with Decimal money and their timestamps moved onto this timeline."""
    out = []
    for rec in records:
        obj = json.loads(json.dumps(rec), parse_float=Decimal)
        obj.update(base(rec["Id"], *_rebase_pair(rec["MetaData"], start, now), rec["SyncToken"]))
        if "Balance" in obj:
            obj["Balance"] = Decimal(str(rec["Balance"])).quantize(Decimal("0.01"))
        out.append(obj)
    return out


def _fees_billed_inactive(created: dt.datetime) -> dict:
    """Account 5 as the sandbox holds it: inactive, so renamed "… (deleted)" (qbo_api deactivate/account.yml)."""
    return {
        **base("5", created, created + dt.timedelta(days=3), "1"),
        "Name": "Fees Billed (deleted)",
        "SubAccount": False,
        "FullyQualifiedName": "Fees Billed (deleted)",
        "Active": False,
        "Classification": "Revenue",
        "AccountType": "Income",
        "AccountSubType": "ServiceFeeIncome",
        "CurrentBalance": ZERO,
        "CurrentBalanceWithSubAccounts": ZERO,
        "CurrencyRef": dict(USD),
    }
