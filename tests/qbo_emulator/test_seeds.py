"""The seeded companies (qbo_emulator.seeds): sandbox facts from API.md §9, the demo company's matching mess from
fixtures/demo/people.json, integrity of every reference and amount, and the generated ``customers=N`` scale."""

from __future__ import annotations

import collections
import datetime as dt
import json
import re
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from qbo_emulator.seeds import REALM_IDS, load_seed
from qbo_emulator.seeds.common import COMPANY_TZ, ENTITY_ORDER, txn_total
from qbo_emulator.seeds.demo import load_people

TODAY = dt.date(2026, 11, 25)
PEOPLE = Path(__file__).resolve().parents[2] / "fixtures/demo/people.json"
NAME_LISTS = ("Term", "TaxCode", "TaxRate", "Account", "PaymentMethod", "Item", "Customer", "Vendor", "Employee")
SANDBOX_CUSTOMERS = {  # API.md §9 (the recorded sandbox listing)
    "1": "Amy's Bird Sanctuary",
    "2": "Bill's Windsurf Shop",
    "3": "Cool Cars",
    "4": "Diego Rodriguez",
    "5": "Dukes Basketball Camp",
    "6": "Dylan Sollfrank",
    "7": "Freeman Sporting Goods",
    "8": "0969 Ocean View Road",
    "9": "55 Twin Lane",
    "10": "Geeta Kalapatapu",
    "11": "Gevelber Photography",
    "12": "Jeff's Jalopies",
    "13": "John Melton",
    "14": "Kate Whelan",
    "15": "Pye's Cakes",
    "16": "Kookies by Kathy",
    "17": "Mark Cho",
    "18": "Paulsen Medical Supplies",
    "19": "Rago Travel Agency",
    "20": "Red Rock Diner",
    "21": "Rondonuwu Fruit and Vegi",
    "22": "Shara Barnett",
    "23": "Barnett Design",
    "24": "Sonnenschein Family Store",
    "25": "Sushi by Katsuyuki",
    "26": "Travis Waldron",
    "27": "Video Games by Dan",
    "28": "Wedding Planning by Whitney",
    "29": "Weiskopf Consulting",
}
SANDBOX_BALANCES = {
    "1": "639.00",
    "2": "85.00",
    "9": "85.00",
    "10": "629.10",
    "12": "81.00",
    "13": "450.00",
    "16": "75.00",
    "17": "314.28",
    "18": "954.75",
    "20": "226.00",
    "21": "78.60",
    "23": "274.50",
    "24": "362.07",
    "25": "160.00",
    "26": "414.72",
    "29": "375.00",
}


def q(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@pytest.fixture(scope="module")
def seeds() -> dict[str, dict]:
    return {name: load_seed(name, today=TODAY) for name in REALM_IDS}


def open_balances(entities: dict) -> dict[str, Decimal]:
    applied: dict[str, Decimal] = collections.defaultdict(Decimal)
    for payment in entities["Payment"]:
        for line in payment["Line"]:
            for link in line["LinkedTxn"]:
                applied[link["TxnId"]] += line["Amount"]
    balances: dict[str, Decimal] = collections.defaultdict(Decimal)
    for invoice in entities["Invoice"]:
        balances[invoice["CustomerRef"]["value"]] += txn_total(invoice) - applied[invoice["Id"]]
    return {k: v for k, v in balances.items() if v}


# ------------------------------------------------------------------------------------------------- every seed


@pytest.mark.parametrize("name", list(REALM_IDS))
def test_shape_and_common_fields(seeds, name):
    seed = seeds[name]
    assert seed["realm_id"] == REALM_IDS[name] and seed["company_name"]
    assert tuple(seed["entities"]) == ENTITY_ORDER
    now = dt.datetime.combine(TODAY, dt.time(), tzinfo=COMPANY_TZ)  # nothing stamped in the future
    for entity, objects in seed["entities"].items():
        assert len({o["Id"] for o in objects}) == len(objects), entity
        for obj in objects:
            assert isinstance(obj["Id"], str) and obj["Id"], entity
            assert isinstance(obj["SyncToken"], str) and obj["SyncToken"].isdigit()
            assert obj["domain"] == "QBO" and obj["sparse"] is False
            created = dt.datetime.fromisoformat(obj["MetaData"]["CreateTime"])
            updated = dt.datetime.fromisoformat(obj["MetaData"]["LastUpdatedTime"])
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", obj["MetaData"]["CreateTime"])
            assert created.tzinfo is not None and created <= updated <= now, (entity, obj["Id"])
            if entity in NAME_LISTS:
                assert isinstance(obj["Active"], bool)
    assert [c["CompanyName"] for c in seed["entities"]["CompanyInfo"]] == [seed["company_name"]]
    prefs = seed["entities"]["Preferences"][0]
    assert prefs["SalesFormsPrefs"]["DefaultTerms"]["value"] == "3" and prefs["SalesFormsPrefs"]["CustomTxnNumbers"]
    assert [(t["Id"], t["Name"], t["DueDays"]) for t in seed["entities"]["Term"]] == [
        ("1", "Due on receipt", 0),
        ("2", "Net 15", 15),
        ("3", "Net 30", 30),
        ("4", "Net 60", 60),
        ("5", "Net 10", 10),
    ]
    assert {t["Id"] for t in seed["entities"]["TaxCode"]} == {"TAX", "NON", "2"}
    assert {p["Name"] for p in seed["entities"]["PaymentMethod"]} >= {"Cash", "Check", "Visa", "MasterCard"}
    assert next(p for p in seed["entities"]["PaymentMethod"] if p["Id"] == "2")["Name"] == "Check"
    accounts = {a["Id"]: a["Name"] for a in seed["entities"]["Account"]}
    assert len(accounts) >= 20
    assert accounts["4"] == "Undeposited Funds" and accounts["35"] == "Checking" and accounts["86"] == "Discounts given"


@pytest.mark.parametrize("name", list(REALM_IDS))
def test_every_reference_points_at_an_existing_object(seeds, name):
    entities = seeds[name]["entities"]
    by_kind = {kind: {o["Id"]: o for o in objs} for kind, objs in entities.items()}

    def check(reference: dict | None, kind: str, where: str) -> None:
        if reference is None:
            return
        assert reference["value"] in by_kind[kind], f"{where}: {kind} {reference['value']} does not exist"
        if "name" in reference and kind == "Customer":
            assert reference["name"] == by_kind[kind][reference["value"]]["DisplayName"]

    for tax_code in entities["TaxCode"]:
        for detail in tax_code.get("SalesTaxRateList", {}).get("TaxRateDetail", []):
            check(detail["TaxRateRef"], "TaxRate", "TaxCode")
    for account in entities["Account"]:
        check(account.get("ParentRef"), "Account", "Account")
    for item in entities["Item"]:
        for key in ("IncomeAccountRef", "ExpenseAccountRef", "AssetAccountRef"):
            check(item.get(key), "Account", f"Item {item['Id']}")
    for customer in entities["Customer"]:
        check(customer.get("ParentRef"), "Customer", f"Customer {customer['Id']}")
        check(customer.get("DefaultTaxCodeRef"), "TaxCode", f"Customer {customer['Id']}")
        check(customer.get("SalesTermRef"), "Term", f"Customer {customer['Id']}")
    for kind in ("Estimate", "Invoice", "Payment"):
        for txn in entities[kind]:
            where = f"{kind} {txn['Id']}"
            check(txn["CustomerRef"], "Customer", where)
            check(txn.get("SalesTermRef"), "Term", where)
            check(txn.get("PaymentMethodRef"), "PaymentMethod", where)
            check(txn.get("DepositToAccountRef"), "Account", where)
            check(txn.get("TxnTaxDetail", {}).get("TxnTaxCodeRef"), "TaxCode", where)
            for tax_line in txn.get("TxnTaxDetail", {}).get("TaxLine", []):
                check(tax_line["TaxLineDetail"]["TaxRateRef"], "TaxRate", where)
            for link in txn.get("LinkedTxn", []):
                assert link["TxnType"] == "Estimate"
                check({"value": link["TxnId"]}, "Estimate", where)
                assert by_kind["Estimate"][link["TxnId"]]["CustomerRef"]["value"] == txn["CustomerRef"]["value"]
            for line in txn["Line"]:
                if "SalesItemLineDetail" in line:
                    check(line["SalesItemLineDetail"]["ItemRef"], "Item", where)
                    check(line["SalesItemLineDetail"]["TaxCodeRef"], "TaxCode", where)
                for link in line.get("LinkedTxn", []):
                    assert link["TxnType"] == "Invoice"
                    check({"value": link["TxnId"]}, "Invoice", where)
                    assert by_kind["Invoice"][link["TxnId"]]["CustomerRef"]["value"] == txn["CustomerRef"]["value"]


@pytest.mark.parametrize("name", list(REALM_IDS))
def test_transaction_amounts(seeds, name):
    entities = seeds[name]["entities"]
    applied: dict[str, Decimal] = collections.defaultdict(Decimal)
    for kind in ("Estimate", "Invoice"):
        numbers = [t["DocNumber"] for t in entities[kind]]
        assert len(set(numbers)) == len(numbers)
        for txn in entities[kind]:
            assert txn["Line"]
            for line in txn["Line"]:
                detail = line["SalesItemLineDetail"]
                assert all(isinstance(v, Decimal) for v in (line["Amount"], detail["Qty"], detail["UnitPrice"]))
                assert line["Amount"] == q(detail["Qty"] * detail["UnitPrice"])
                assert line["DetailType"] == "SalesItemLineDetail"
            tax = txn["TxnTaxDetail"]
            taxable = sum(
                (ln["Amount"] for ln in txn["Line"] if ln["SalesItemLineDetail"]["TaxCodeRef"]["value"] == "TAX"),
                Decimal(0),
            )
            if taxable:
                rate = tax["TaxLine"][0]["TaxLineDetail"]["TaxPercent"]
                assert tax["TotalTax"] == q(taxable * rate / 100) == tax["TaxLine"][0]["Amount"]
            else:
                assert tax["TotalTax"] == 0
    invoices = {i["Id"]: i for i in entities["Invoice"]}
    for payment in entities["Payment"]:
        assert isinstance(payment["TotalAmt"], Decimal) and payment["TotalAmt"] > 0
        assert payment["TotalAmt"] == sum(line["Amount"] for line in payment["Line"])
        assert payment["TxnDate"] >= min(
            invoices[x["TxnId"]]["TxnDate"] for ln in payment["Line"] for x in ln["LinkedTxn"]
        )
        for line in payment["Line"]:
            for link in line["LinkedTxn"]:
                applied[link["TxnId"]] += line["Amount"]
    for invoice_id, amount in applied.items():
        assert amount <= txn_total(invoices[invoice_id]), f"invoice {invoice_id} over-applied"
    for estimate in entities["Estimate"]:
        assert estimate["TxnStatus"] in ("Pending", "Accepted", "Closed", "Rejected")


@pytest.mark.parametrize("name", list(REALM_IDS))
def test_dates_are_anchored_on_today(name):
    today = dt.date(2031, 3, 10)
    entities = load_seed(name, today=today)["entities"]
    for kind in ("Estimate", "Invoice", "Payment"):
        for txn in entities[kind]:
            day = dt.date.fromisoformat(txn["TxnDate"])
            assert today - dt.timedelta(days=730) <= day <= today, (kind, txn["Id"], day)
            assert txn["MetaData"]["CreateTime"][:10] == txn["TxnDate"]


def test_seeds_are_deterministic():
    for name in REALM_IDS:
        assert load_seed(name, today=TODAY) == load_seed(name, today=TODAY)


def test_unknown_seed():
    with pytest.raises(ValueError, match="unknown seed 'nope'"):
        load_seed("nope")


def test_display_names_unique_across_customers_vendors_employees(seeds):
    for seed in seeds.values():
        names = [
            o["DisplayName"].lower() for kind in ("Customer", "Vendor", "Employee") for o in seed["entities"][kind]
        ]
        assert len(names) == len(set(names))
        ids = [o["Id"] for kind in ("Customer", "Vendor", "Employee") for o in seed["entities"][kind]]
        assert len(ids) == len(set(ids))


# ---------------------------------------------------------------------------------------------------- sandbox


def test_sandbox_customers(seeds):
    customers = {c["Id"]: c for c in seeds["sandbox"]["entities"]["Customer"]}
    assert {i: c["DisplayName"] for i, c in customers.items()} == SANDBOX_CUSTOMERS
    amy = customers["1"]
    assert (amy["GivenName"], amy["FamilyName"], amy["PrimaryEmailAddr"]["Address"]) == (
        "Amy",
        "Lauterbach",
        "Birds@Intuit.com",
    )
    assert amy["BillAddr"]["Line1"] == "4581 Finch St." and amy["Taxable"] is True
    assert customers["5"]["DefaultTaxCodeRef"]["value"] == "2" and customers["5"]["BillAddr"]["City"] == "Tucson"
    for job, parent in (("8", "7"), ("9", "7"), ("23", "22")):
        assert customers[job]["Job"] is True and customers[job]["ParentRef"]["value"] == parent
        assert customers[job]["Level"] == 1
        fqn = f"{customers[parent]['DisplayName']}:{customers[job]['DisplayName']}"
        assert customers[job]["FullyQualifiedName"] == fqn
    assert sum(1 for c in customers.values() if c["Job"]) == 3
    for customer in customers.values():
        assert customer["CurrencyRef"]["value"] == "USD" and customer["PreferredDeliveryMethod"] == "Print"
        assert customer["Balance"] == 0 and customer["Active"] is True


def test_sandbox_invoices_reproduce_the_recorded_balances(seeds):
    entities = seeds["sandbox"]["entities"]
    assert open_balances(entities) == {k: Decimal(v) for k, v in SANDBOX_BALANCES.items()}
    invoices = {i["DocNumber"]: i for i in entities["Invoice"]}
    assert min(invoices) == "1001" and max(invoices) == "1037"
    sonnenschein = invoices["1037"]
    assert sonnenschein["Id"] == "130" and sonnenschein["CustomerRef"]["value"] == "24"
    assert txn_total(sonnenschein) == Decimal("362.07") and sonnenschein["TxnTaxDetail"]["TotalTax"] == Decimal("26.82")
    assert sonnenschein["LinkedTxn"] == [{"TxnId": "100", "TxnType": "Estimate"}]
    estimates = {e["Id"]: e for e in entities["Estimate"]}
    assert {"41", "46", "48", "100"} <= set(estimates)
    assert estimates["100"]["TxnStatus"] == "Accepted" and estimates["100"]["CustomerRef"]["value"] == "24"
    assert txn_total(estimates["100"]) == Decimal("351.81")
    assert {e["TxnStatus"] for e in estimates.values()} == {"Pending", "Accepted", "Closed", "Rejected"}


def test_sandbox_names_lists(seeds):
    entities = seeds["sandbox"]["entities"]
    vendors = {v["Id"]: v["DisplayName"] for v in entities["Vendor"]}
    # the recorded sandbox: vendors 30–53 (53 inactive), 56, 57 and 61 (get/inactive_vendors.yml)
    assert set(vendors) == {str(i) for i in range(30, 54)} | {"56", "57", "61"}
    by_id = {v["Id"]: v for v in entities["Vendor"]}
    assert by_id["53"]["Active"] is False and vendors["53"] == "United States Treasury (deleted)"
    assert by_id["30"]["PrimaryEmailAddr"] == {"Address": "Books@Intuit.com"} and by_id["30"]["AcctNum"] == "1345"
    assert by_id["31"]["Vendor1099"] is True and by_id["31"]["Balance"] == Decimal("241.23")
    assert (vendors["30"], vendors["41"], vendors["46"], vendors["48"], vendors["56"], vendors["57"]) == (
        "Books by Bessie",
        "Hicks Hardware",
        "Norton Lumber and Building Materials",
        "PG&E",
        "Bob's Burger Joint",
        "Squeaky Kleen Car Wash",
    )
    assert vendors["52"] == "Tony Rondonuwu"
    employees = {e["Id"]: e for e in entities["Employee"]}
    assert {i: e["DisplayName"] for i, e in employees.items()} == {"54": "John Johnson", "55": "Emily Platt (deleted)"}
    assert employees["55"]["Active"] is False and employees["54"]["HiredDate"] == "2015-09-08"
    assert {a["Id"]: a["Active"] for a in entities["Account"]}["5"] is False
    items = {i["Id"]: i for i in entities["Item"]}
    confirmed = {
        "1": "Services",
        "2": "Hours",
        "3": "Concrete",
        "4": "Design",
        "5": "Rock Fountain",
        "7": "Installation",
        "8": "Lighting",
        "9": "Maintenance & Repair",
        "10": "Pest Control",
        "11": "Pump",
        "13": "Rocks",
        "16": "Sprinkler Heads",
        "17": "Sprinkler Pipes",
    }
    assert {i: items[i]["Name"] for i in confirmed} == confirmed
    assert items["4"]["UnitPrice"] == 75 and items["5"]["UnitPrice"] == 275 and items["7"]["UnitPrice"] == 50
    assert items["10"]["UnitPrice"] == 35 and items["10"]["IncomeAccountRef"]["value"] == "54"
    assert items["3"]["IncomeAccountRef"]["value"] == "48" and items["3"]["Type"] == "Service"
    assert items["16"]["PurchaseCost"] == Decimal("0.75") and items["17"]["PurchaseCost"] == Decimal("2.50")
    assert items["5"]["TrackQtyOnHand"] is True and items["5"]["AssetAccountRef"]["value"] == "81"
    rate = entities["TaxRate"][0]
    assert rate["Id"] == "3" and rate["RateValue"] == 8
    company = entities["CompanyInfo"][0]
    assert company["CompanyName"] == "Sandbox Company_US_1"
    assert company["CompanyAddr"]["Line1"] == "123 Sierra Way" and company["CompanyAddr"]["City"] == "San Pablo"


# -------------------------------------------------------------------------------------------------------- demo


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)[-10:]


def test_demo_customers_come_from_people_with_the_mismatches(seeds):
    people = json.loads(PEOPLE.read_text())
    by_phone = {}
    for person in people:
        for key in ("phone", "mobile"):
            if person[key]:
                by_phone[_digits(person[key])] = person
    customers = seeds["demo"]["entities"]["Customer"]
    top = [c for c in customers if not c["Job"]]
    assert 240 <= len(top) <= 260
    matched = {}
    for customer in top:
        numbers = [_digits(customer[k]["FreeFormNumber"]) for k in ("PrimaryPhone", "Mobile") if k in customer]
        person = next(by_phone[n] for n in numbers if n in by_phone)
        matched.setdefault(person["key"], customer)
    assert len(matched) >= 240

    formats = [c["PrimaryPhone"]["FreeFormNumber"] for c in top if "PrimaryPhone" in c]
    for pattern in (r"\(\d{3}\) \d{3}-\d{4}", r"\d{3}\.\d{3}\.\d{4}", r"\+1 \d{3}-\d{3}-\d{4}", r"\d{10}"):
        assert any(re.fullmatch(pattern, f) for f in formats), pattern
    assert any("PrimaryPhone" not in c and "Mobile" in c for c in top)  # the number only under Mobile
    emails = {p["email"] for p in people}
    addresses = [c["PrimaryEmailAddr"]["Address"] for c in top if "PrimaryEmailAddr" in c]
    assert any(a not in emails and a.lower() in emails for a in addresses)  # other case
    assert sum(1 for c in top if "PrimaryEmailAddr" not in c) >= 5  # missing
    business = [c for c in top if c.get("CompanyName") and c["DisplayName"].startswith(c["CompanyName"])]
    assert len(business) >= 30 and all(c["GivenName"] and c["FamilyName"] for c in business)
    phones = collections.Counter(_digits(c["PrimaryPhone"]["FreeFormNumber"]) for c in top if "PrimaryPhone" in c)
    assert any(count >= 2 for count in phones.values())  # two customers sharing a phone
    inactive = [c for c in customers if not c["Active"]]
    assert inactive and all(c["DisplayName"].endswith(" (deleted)") for c in inactive)
    jobs = [c for c in customers if c["Job"]]
    ids = {c["Id"]: c for c in customers}
    assert jobs and all(ids[j["ParentRef"]["value"]]["Job"] is False for j in jobs)
    typos = [
        c
        for c in top
        if any(_digits(c[k]["FreeFormNumber"]) in by_phone for k in ("PrimaryPhone", "Mobile") if k in c)
        and all((c["GivenName"], c["FamilyName"]) != (p["first_name"], p["last_name"]) for p in people)
    ]
    assert len(typos) >= 5


def test_demo_items_and_transactions(seeds):
    entities = seeds["demo"]["entities"]
    items = {i["Name"]: i for i in entities["Item"]}
    assert len(items) >= 12
    assert items["Crack injection (per crack)"]["UnitPrice"] == 475
    assert items["Foundation inspection fee"]["UnitPrice"] == 150
    assert 380 <= len(entities["Estimate"]) <= 420
    assert 250 <= len(entities["Invoice"]) <= 350
    assert 200 <= len(entities["Payment"]) <= 300
    assert all(i["SalesTermRef"]["value"] == "3" for i in entities["Invoice"])
    assert sum(1 for i in entities["Invoice"] if i["LinkedTxn"]) == len(entities["Invoice"])
    days = sorted(dt.date.fromisoformat(t["TxnDate"]) for t in entities["Invoice"])
    assert (days[-1] - days[0]).days > 600  # two years of history
    balances = open_balances(entities)
    applied = collections.defaultdict(Decimal)
    paid_on: dict[str, str] = {}
    for payment in entities["Payment"]:
        for line in payment["Line"]:
            for link in line["LinkedTxn"]:
                applied[link["TxnId"]] += line["Amount"]
                paid_on[link["TxnId"]] = payment["TxnDate"]
    open_invoices = [i for i in entities["Invoice"] if txn_total(i) > applied[i["Id"]]]
    assert any(i["DueDate"] < TODAY.isoformat() for i in open_invoices)  # open and overdue
    assert any(0 < applied[i["Id"]] < txn_total(i) for i in entities["Invoice"])  # partly paid
    assert any(paid_on.get(i["Id"], "") > i["DueDate"] for i in entities["Invoice"])  # paid late
    assert balances and all(v > 0 for v in balances.values())
    statuses = collections.Counter(e["TxnStatus"] for e in entities["Estimate"])
    assert set(statuses) == {"Pending", "Accepted", "Closed", "Rejected"}


def test_demo_people_file_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="people.json"):
        load_people(tmp_path / "people.json")


# --------------------------------------------------------------------------------------------- customers=N


def test_customers_100000():
    seed = load_seed("demo", customers=100000, today=TODAY)
    customers = seed["entities"]["Customer"]
    assert len(customers) == 100000
    names = {c["DisplayName"].lower() for c in customers}
    names |= {o["DisplayName"].lower() for kind in ("Vendor", "Employee") for o in seed["entities"][kind]}
    assert len(names) == 100000 + len(seed["entities"]["Vendor"]) + len(seed["entities"]["Employee"])
    assert len({c["Id"] for c in customers}) == 100000
    own = load_seed("demo", today=TODAY)["entities"]
    highest = max(int(o["Id"]) for kind in ("Customer", "Vendor", "Employee") for o in own[kind])
    assert customers[: len(own["Customer"])] == own["Customer"]
    assert all(int(c["Id"]) > highest for c in customers[len(own["Customer"]) :])
    generated = customers[-1]
    assert generated["Active"] is True and generated["PrimaryPhone"]["FreeFormNumber"]
    assert generated["MetaData"] is not customers[-2]["MetaData"]  # no shared mutable parts


@pytest.mark.parametrize(("name", "count"), [("sandbox", 10), ("sandbox", 0), ("demo", 40), ("empty", 25)])
def test_customers_fewer_or_more_keeps_references_valid(name, count):
    seed = load_seed(name, customers=count, today=TODAY)
    entities = seed["entities"]
    assert len(entities["Customer"]) == count
    customer_ids = {c["Id"] for c in entities["Customer"]}
    invoice_ids = {i["Id"] for i in entities["Invoice"]}
    estimate_ids = {e["Id"] for e in entities["Estimate"]}
    for kind in ("Estimate", "Invoice", "Payment"):
        assert all(t["CustomerRef"]["value"] in customer_ids for t in entities[kind])
    assert all(link["TxnId"] in estimate_ids for i in entities["Invoice"] for link in i["LinkedTxn"])
    assert all(x["TxnId"] in invoice_ids for p in entities["Payment"] for ln in p["Line"] for x in ln["LinkedTxn"])
    assert all(
        c.get("ParentRef", {"value": next(iter(customer_ids), "")})["value"] in customer_ids
        for c in entities["Customer"]
    )
