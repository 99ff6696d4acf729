"""About 120 quotes over two years: campaign responders first, then phone and web leads, with realistic statuses.

A quote's status follows from its age (a week-old quote can be a draft, a year-old one is converted, declined or
expired), and a quote is linked to a campaign only when its contact answered that campaign shortly before.
"""

import random
from datetime import date, timedelta

from crm.demo.jobs import JOBS, job_lines, pick_job

TARGET_QUOTES = 120
MAX_CONVERTED = 72
QUOTE_RATE = {"google-ads": 0.55, "spring-sms": 0.8, "fall-postcards": 0.8, "referral-email": 0.8}
VALID_DAYS = 30
RECENT_RATE = 0.2


def _status(age: int, rng: random.Random) -> str:
    """Draft/sent when fresh, accepted/declined within the month, converted/declined/expired when older."""
    if age <= 5:
        table = {"draft": 50, "sent": 50}
    elif age <= VALID_DAYS:
        table = {"sent": 50, "accepted": 30, "declined": 20}
    elif age <= 60:
        table = {"accepted": 25, "converted": 45, "declined": 20, "expired": 10}
    else:
        table = {"converted": 76, "declined": 13, "expired": 11}
    return rng.choices(list(table), weights=list(table.values()))[0]


def quotes_generate(
    contacts: list[dict], recipients: list[dict], products: list[dict], *, today: date, seed: int
) -> list[dict]:
    """Quotes numbered ``Q-1001``… by date; lines carry sku, quantity and unit price as strings."""
    rng = random.Random(seed + 2)
    by_sku = {p["sku"]: p for p in products}
    by_key = {c["key"]: c for c in contacts}
    drafts = []  # (quote_date, contact key, campaign key)
    for row in sorted((r for r in recipients if r["responded"]), key=lambda r: (r["responded_at"], r["contact"])):
        if rng.random() < QUOTE_RATE[row["campaign"]]:
            day = min(row["responded_at"].date() + timedelta(days=rng.randint(1, 10)), today)
            drafts.append((day, row["contact"], row["campaign"]))
    drafts = drafts[: TARGET_QUOTES * 2 // 3]
    per_contact: dict[str, int] = {}
    for _, key, _ in drafts:
        per_contact[key] = per_contact.get(key, 0) + 1
    while len(drafts) < TARGET_QUOTES:
        contact = rng.choice(contacts)
        if per_contact.get(contact["key"], 0) >= 2:
            continue
        per_contact[contact["key"]] = per_contact.get(contact["key"], 0) + 1
        day = min(contact["created_at"].date() + timedelta(days=rng.randint(0, 21)), today)
        if rng.random() < RECENT_RATE:  # a returning or new customer asking for a price this month
            day = max(today - timedelta(days=rng.randint(0, 40)), contact["created_at"].date())
        drafts.append((day, contact["key"], ""))

    quotes = []
    for number, (day, key, campaign) in enumerate(sorted(drafts), start=1001):
        status = _status((today - day).days, rng)
        accepted = min(day + timedelta(days=rng.randint(1, 10)), today)
        if status == "converted" and (today - accepted).days < 3:
            status = "accepted"
        job = pick_job(rng)
        quotes.append(
            {
                "number": f"Q-{number}",
                "contact": key,
                "campaign": campaign,
                "job": job,
                "status": status,
                "quote_date": day,
                "expiration_date": day + timedelta(days=VALID_DAYS),
                "accepted_date": accepted if status in {"accepted", "converted"} else None,
                "lines": job_lines(JOBS[job], by_sku, rng),
                "customer_memo": f"{job.capitalize()} at {by_key[key]['address_line1']}, {by_key[key]['city']}",
            }
        )
    converted = [q for q in quotes if q["status"] == "converted"]
    for quote in rng.sample(converted, max(0, len(converted) - MAX_CONVERTED)):
        quote.update(status="declined", accepted_date=None)
    return quotes
