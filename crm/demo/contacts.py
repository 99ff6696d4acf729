"""Contacts as the CRM would really hold them: the canonical people, typed the way staff and forms type them.

The QuickBooks emulator's ``demo`` company starts from the same ``people.json`` with its own differences, so the
mess here is what makes matching real work: one number typed several ways, a household and a business line
shared by two contacts, missing emails, typos in names and the same person entered twice.
"""

import random
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from crm.demo.phones import phone_typed

LOCAL = ZoneInfo("America/New_York")

# The number shown typed three ways (the "(617) 555-0134" example): the first canonical person.
SPOTLIGHT_KEY = "P0001"
SPOTLIGHT_STYLES = {"": "paren", "-D": "intl", "-H": "dots"}

STYLE_WEIGHTS = {"paren": 35, "dashes": 20, "digits": 15, "dots": 12, "intl": 10, "e164": 8}
SOURCE_WEIGHTS = {"phone_system": 55, "web_form": 25, "referral": 12, "campaign": 8}
NICKNAMES = {
    "Robert": "Bob",
    "William": "Bill",
    "Jennifer": "Jen",
    "Michael": "Mike",
    "Elizabeth": "Liz",
    "Katherine": "Kathy",
    "James": "Jim",
    "Thomas": "Tom",
    "Richard": "Rick",
    "Joseph": "Joe",
    "Christopher": "Chris",
    "Daniel": "Dan",
    "Matthew": "Matt",
    "Patricia": "Pat",
    "Margaret": "Peggy",
}
SPOUSES = ("Maria", "Tom", "Linda", "Paul", "Karen", "Steve", "Diane", "Mike", "Susan", "Dave")
OFFICE_STAFF = (
    ("Gail", "Morrison"),
    ("Hector", "Alvarez"),
    ("Renee", "Tran"),
    ("Walt", "Kaminski"),
    ("Dana", "Obi"),
    ("Colleen", "Mahoney"),
)

# Non-profits QuickBooks also marks tax exempt: their material lines carry no sales tax.
TAX_EXEMPT = {"Riverside Church", "Reading Public Library Friends", "Old Colony Housing Co-op"}

SKIP_EVERY = 29  # every 29th person exists only in QuickBooks (about 10 of 305)
DUPLICATES = 10  # people entered twice
HOUSEHOLDS = 8  # a spouse sharing the home phone
SHARED_BUSINESS_LINES = 6  # an office contact sharing the business's main line
NO_EMAIL_RATE = 0.14
IMPORTED_RATE = 0.4  # entered in the CRM's first month from the old spreadsheet, so campaigns have an audience
TYPO_RATE = 0.05


def _weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def typo(word: str, rng: random.Random) -> str:
    """Swap two adjacent inner letters ("John" -> "Jonh", "Smith" -> "Smtih"), the commonest typing slip."""
    if len(word) < 4:
        return word + word[-1]
    i = rng.randrange(1, len(word) - 2)
    swapped = word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    return swapped if swapped != word else word[:-1]


def _created(rng: random.Random, today: date, earliest: int, latest: int) -> datetime:
    day = today - timedelta(days=rng.randint(latest, earliest))
    return datetime.combine(day, time(rng.randint(8, 18), rng.randint(0, 59)), tzinfo=LOCAL)


def _base(person: dict, rng: random.Random, today: date) -> dict:
    return {
        "key": person["key"],
        "person_key": person["key"],
        "kind": person["kind"],
        "first_name": person["first_name"],
        "last_name": person["last_name"],
        "company_name": person["company_name"],
        "e164": person["phone"],
        "mobile_e164": person["mobile"],
        "phone": phone_typed(person["phone"], _weighted(rng, STYLE_WEIGHTS)),
        "mobile_phone": phone_typed(person["mobile"], _weighted(rng, STYLE_WEIGHTS)),
        "email": person["email"],
        "address_line1": person["street"],
        "city": person["city"],
        "state": person["state"],
        "zip_code": person["zip"],
        "source": _weighted(rng, SOURCE_WEIGHTS),
        "tax_exempt": person["company_name"] in TAX_EXEMPT,
        "created_at": _created(rng, today, 729, 700) if rng.random() < IMPORTED_RATE else _created(rng, today, 700, 2),
        "mess": [],
    }


def _variant(row: dict, suffix: str, rng: random.Random, today: date, **changes) -> dict:
    """A second contact derived from ``row`` (duplicate, spouse, office line), created later than it."""
    days_after = rng.randint(20, 200)
    created = min(row["created_at"] + timedelta(days=days_after), _created(rng, today, 10, 5))
    return {
        **row,
        "key": row["key"] + suffix,
        "mobile_phone": "",
        "mobile_e164": "",
        "created_at": created,
        "mess": [],
        **changes,
    }


def _retyped(rng: random.Random, row: dict) -> str:
    """The row's number typed another way than the row has it (so the two contacts differ only in format)."""
    return rng.choice([typed for s in STYLE_WEIGHTS if (typed := phone_typed(row["e164"], s)) != row["phone"]])


def contacts_generate(people: list[dict], *, today: date, seed: int) -> list[dict]:
    """Contacts for most canonical people plus duplicates, spouses and shared office lines, in a fixed order."""
    rng = random.Random(seed)
    rows = []
    for index, person in enumerate(people):
        if index % SKIP_EVERY == SKIP_EVERY - 1 and person["key"] != SPOTLIGHT_KEY:
            continue
        row = _base(person, rng, today)
        if person["kind"] == "person" and rng.random() < NO_EMAIL_RATE:
            row["email"] = ""
            row["mess"].append("no_email")
        if rng.random() < TYPO_RATE:
            field = rng.choice(("first_name", "last_name"))
            row[field] = typo(row[field], rng)
            row["mess"].append("typo")
        if person["key"] == SPOTLIGHT_KEY:
            row["phone"] = phone_typed(row["e164"], SPOTLIGHT_STYLES[""])
            row["created_at"] = _created(rng, today, 700, 690)
        rows.append(row)

    persons = [r for r in rows if r["kind"] == "person" and r["key"] != SPOTLIGHT_KEY]
    businesses = [r for r in rows if r["kind"] == "business"]
    spotlight = next(r for r in rows if r["key"] == SPOTLIGHT_KEY)
    extras = []
    for row in [spotlight, *rng.sample(persons, DUPLICATES - 1)]:
        phone = phone_typed(row["e164"], SPOTLIGHT_STYLES["-D"]) if row is spotlight else _retyped(rng, row)
        first = NICKNAMES.get(row["first_name"], row["first_name"])
        email = rng.choice(("", row["email"].upper(), row["email"].capitalize(), row["email"]))
        extras.append(
            _variant(
                row,
                "-D",
                rng,
                today,
                first_name=first,
                phone=phone,
                email=email,
                source=_weighted(rng, SOURCE_WEIGHTS),
                mess=[f"duplicate_of:{row['key']}"],
            )
        )
    for row in [spotlight, *rng.sample(persons, HOUSEHOLDS - 1)]:
        phone = phone_typed(row["e164"], SPOTLIGHT_STYLES["-H"]) if row is spotlight else _retyped(rng, row)
        extras.append(
            _variant(
                row,
                "-H",
                rng,
                today,
                first_name=rng.choice([name for name in SPOUSES if name != row["first_name"]]),
                phone=phone,
                email="",
                person_key="",
                source="phone_system",
                mess=[f"household_of:{row['key']}", "no_email"],
            )
        )
    for row, (first, last) in zip(rng.sample(businesses, SHARED_BUSINESS_LINES), OFFICE_STAFF, strict=True):
        domain = row["email"].partition("@")[2]
        extras.append(
            _variant(
                row,
                "-S",
                rng,
                today,
                first_name=first,
                last_name=last,
                email=f"office@{domain}",
                phone=_retyped(rng, row),
                person_key="",
                mess=[f"shares_line_with:{row['key']}"],
            )
        )
    return rows + extras
