"""A few thousand calls, texts, voicemails and emails over two years, as the phone system and inbox log them.

Every contact gets a first touch matching its source and some back-and-forth afterwards; quotes, invoices and
campaigns leave the trail you would expect (estimate sent, approval texted, payment reminder, SMS blast and
replies). The number logged is typed several ways, as phone systems and staff do.
"""

import random
from datetime import date, datetime, time, timedelta

from crm.demo.contacts import LOCAL, SPOTLIGHT_KEY
from crm.demo.phones import phone_typed

KIND_WEIGHTS = {"call": 40, "text": 35, "voicemail": 15, "email": 10}
LOGGED_STYLE = {"e164": 55, "paren": 15, "intl": 10, "dots": 8, "dashes": 7, "digits": 5}
CHATTER = {
    ("call", "inbound"): [
        "Asked about crack in poured wall, water after heavy rain",
        "Wants someone to look at a bowing wall in the basement",
        "Called about efflorescence and a damp corner",
        "Asked if warranty covers a new crack",
    ],
    ("call", "outbound"): [
        "Returned call, scheduled inspection",
        "Confirmed crew arrival window",
        "Follow-up: any new water since the repair?",
        "Called to reschedule due to rain",
    ],
    ("text", "inbound"): [
        "Sent photos of the crack by the bulkhead",
        "Running 10 min late, door is open",
        "Is Tuesday still good?",
        "Thanks, basement is dry!",
    ],
    ("text", "outbound"): [
        "Crew on the way, ETA 30 min",
        "Reminder: inspection tomorrow 9-11am",
        "Can you send a photo of the crack with a coin for scale?",
    ],
    ("voicemail", "inbound"): [
        "Voicemail: water coming through the wall again, please call back",
        "Voicemail: asking for a price on a sump pump",
    ],
    ("voicemail", "outbound"): ["Left voicemail about scheduling", "Left voicemail re: estimate follow-up"],
    ("email", "inbound"): ["Emailed inspection report from home buyer", "Asked for a copy of the warranty"],
    ("email", "outbound"): ["Emailed warranty certificate", "Sent maintenance tips for the spring thaw"],
}
FIRST_TOUCH = {
    "phone_system": ("call", "inbound"),
    "web_form": ("email", "inbound"),
    "referral": ("call", "inbound"),
    "campaign": ("text", "inbound"),
}


def _weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _when(day: date, rng: random.Random, today: date) -> datetime:
    day = min(day, today - timedelta(days=1))
    return datetime.combine(day, time(rng.randint(8, 19), rng.randint(0, 59), rng.randint(0, 59)), tzinfo=LOCAL)


def _number(contact: dict, kind: str, rng: random.Random) -> str:
    """The number the phone system logged: texts prefer the mobile; emails have none."""
    if kind == "email":
        return ""
    e164 = contact["mobile_e164"] if kind == "text" and contact["mobile_e164"] else contact["e164"]
    return phone_typed(e164, _weighted(rng, LOGGED_STYLE))


def _activity(contact, kind, direction, at, summary, rng) -> dict:
    duration = rng.randint(40, 900) if kind == "call" else rng.randint(8, 75) if kind == "voicemail" else None
    return {
        "contact": contact["key"],
        "kind": kind,
        "direction": direction,
        "occurred_at": at,
        "phone_number": _number(contact, kind, rng),
        "summary": summary,
        "duration_seconds": duration,
    }


def activities_generate(contacts, recipients, quotes, invoices, payments, *, today: date, seed: int) -> list[dict]:
    """All activities ordered by time; each row names its contact by demo ``key``."""
    rng = random.Random(seed + 5)
    by_key = {c["key"]: c for c in contacts}
    rows = []
    for contact in contacts:
        kind, direction = FIRST_TOUCH[contact["source"]]
        rows.append(
            _activity(
                contact,
                kind,
                direction,
                contact["created_at"],
                "First contact: "
                + ("web form quote request" if kind == "email" else "asked about foundation crack repair"),
                rng,
            )
        )
        span = max((today - contact["created_at"].date()).days, 1)
        for _ in range(rng.randint(2, 10)):
            kind = _weighted(rng, KIND_WEIGHTS)
            if kind == "email" and not contact["email"]:
                kind = "call"
            direction = rng.choice(("inbound", "outbound"))
            day = contact["created_at"].date() + timedelta(days=rng.randint(1, span))
            rows.append(
                _activity(contact, kind, direction, _when(day, rng, today), rng.choice(CHATTER[(kind, direction)]), rng)
            )
    rows += _sales_trail(by_key, quotes, invoices, payments, rng, today)
    rows += _campaign_trail(by_key, recipients, rng)
    rows += _spotlight(by_key[SPOTLIGHT_KEY], rng, today)
    rows.sort(key=lambda a: (a["occurred_at"], a["contact"], a["summary"]))
    return rows


def _sales_trail(by_key, quotes, invoices, payments, rng, today) -> list[dict]:
    rows = []
    for quote in quotes:
        contact = by_key[quote["contact"]]
        number = quote["number"]
        rows.append(
            _activity(
                contact,
                "call",
                "outbound",
                _when(quote["quote_date"] - timedelta(days=2), rng, today),
                "Booked on-site inspection",
                rng,
            )
        )
        if quote["status"] != "draft":
            kind = "email" if contact["email"] else "text"
            rows.append(
                _activity(
                    contact, kind, "outbound", _when(quote["quote_date"], rng, today), f"Sent estimate {number}", rng
                )
            )
        answer = {
            "declined": ("call", "inbound", f"Declined estimate {number}: going with another contractor"),
            "expired": ("voicemail", "outbound", f"Left voicemail: estimate {number} about to expire"),
            "accepted": ("text", "inbound", f"Approved estimate {number}, wants first available date"),
            "converted": ("text", "inbound", f"Approved estimate {number}"),
        }.get(quote["status"])
        if answer:
            day = quote["accepted_date"] or quote["quote_date"] + timedelta(days=rng.randint(3, 25))
            rows.append(_activity(contact, *answer[:2], _when(day, rng, today), answer[2], rng))
    settled = {a["invoice"] for p in payments for a in p["applications"] if a["portion"] in {"full", "rest"}}
    for invoice in invoices:
        contact = by_key[invoice["contact"]]
        rows.append(
            _activity(
                contact,
                "text",
                "outbound",
                _when(invoice["issue_date"], rng, today),
                f"Job complete, invoice {invoice['number']} sent",
                rng,
            )
        )
        if invoice["number"] not in settled and invoice["due_date"] + timedelta(days=7) < today:
            rows.append(
                _activity(
                    contact,
                    "voicemail",
                    "outbound",
                    _when(invoice["due_date"] + timedelta(days=7), rng, today),
                    f"Payment reminder: invoice {invoice['number']} is past due",
                    rng,
                )
            )
    return rows


def _campaign_trail(by_key, recipients, rng) -> list[dict]:
    rows = []
    for row in recipients:
        contact = by_key[row["contact"]]
        if row["campaign"] == "spring-sms":
            rows.append(
                _activity(
                    contact,
                    "text",
                    "outbound",
                    row["sent_at"],
                    "Spring Basement Check: reply YES for a free crack check",
                    rng,
                )
            )
            if row["responded"]:
                rows.append(_activity(contact, "text", "inbound", row["responded_at"], "YES - crack check", rng))
        elif row["campaign"] == "referral-email":
            rows.append(_activity(contact, "email", "outbound", row["sent_at"], "Referral drive: $100 off", rng))
            if row["responded"]:
                rows.append(_activity(contact, "email", "inbound", row["responded_at"], "Referred a neighbor", rng))
        elif row["campaign"] == "fall-postcards" and row["responded"]:
            rows.append(
                _activity(contact, "call", "inbound", row["responded_at"], "Got the postcard, wants a quote", rng)
            )
    return rows


def _spotlight(contact: dict, rng: random.Random, today: date) -> list[dict]:
    """The spotlight number logged in all three of the issue's formats, whatever the random draws gave."""
    rows = []
    for offset, style in ((650, "paren"), (400, "intl"), (120, "dots")):
        row = _activity(
            contact,
            "call",
            "inbound",
            _when(today - timedelta(days=offset), rng, today),
            "Called about the crack by the bulkhead",
            rng,
        )
        row["phone_number"] = phone_typed(contact["e164"], style)
        rows.append(row)
    return rows
