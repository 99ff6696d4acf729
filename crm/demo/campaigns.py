"""Attack-a-Crack's four marketing campaigns and who each reached, with dates that stay inside the two years.

Names carry a season, so dates are anchored on the calendar (last spring, the last fall mailing) relative to the
day the demo is loaded rather than fixed years; "Spring Basement Check 2025" is its name when loaded in 2026.
"""

import random
from datetime import date, datetime, time, timedelta

from crm.demo.contacts import LOCAL


def _last_fall_mailing(today: date) -> date:
    """The latest September 15th at least 60 days back, so the postcards' responses have had time to come in."""
    year = today.year if date(today.year, 9, 15) <= today - timedelta(days=60) else today.year - 1
    return date(year, 9, 15)


def campaigns_generate(*, today: date) -> list[dict]:
    """The campaigns, keyed by a short stable ``key``; ``ends_on`` None means still running."""
    spring = date(today.year - 1, 4, 1)
    fall = _last_fall_mailing(today)
    return [
        {
            "key": "spring-sms",
            "name": f"Spring Basement Check {spring.year}",
            "channel": "sms",
            "starts_on": spring,
            "ends_on": spring + timedelta(days=29),
            "cost": "320.00",
        },
        {
            "key": "fall-postcards",
            "name": "Fall Foundation Postcards",
            "channel": "mail",
            "starts_on": fall,
            "ends_on": fall + timedelta(days=45),
            "cost": "1840.00",
        },
        {
            "key": "google-ads",
            "name": "Google Ads \u2013 Wet Basement",
            "channel": "web",
            "starts_on": today - timedelta(days=420),
            "ends_on": None,
            "cost": "6250.00",
        },
        {
            "key": "referral-email",
            "name": "Past Customer Referral Drive",
            "channel": "email",
            "starts_on": today - timedelta(days=150),
            "ends_on": today - timedelta(days=90),
            "cost": "45.00",
        },
    ]


def _at(day: date, rng: random.Random) -> datetime:
    return datetime.combine(day, time(rng.randint(9, 17), rng.randint(0, 59)), tzinfo=LOCAL)


def _recipient(campaign: dict, contact: dict, sent: datetime, rate: float, rng: random.Random, today: date):
    responded = rng.random() < rate
    reply = sent + timedelta(days=rng.randint(0, 14), hours=rng.randint(1, 8))
    responded = responded and reply.date() < today
    return {
        "campaign": campaign["key"],
        "contact": contact["key"],
        "sent_at": sent,
        "responded": responded,
        "responded_at": reply if responded else None,
    }


def recipients_generate(campaigns: list[dict], contacts: list[dict], *, today: date, seed: int) -> list[dict]:
    """Who each campaign reached and who answered; one row per (campaign, contact), responses before today."""
    rng = random.Random(seed + 1)
    by_key = {c["key"]: c for c in campaigns}
    rows = []

    def existing_before(day: date, *, need: str) -> list[dict]:
        return [c for c in contacts if c["created_at"].date() < day and c[need]]

    spring = by_key["spring-sms"]
    pool = [c for c in existing_before(spring["starts_on"], need="phone") if c["mobile_phone"] or rng.random() < 0.6]
    for contact in rng.sample(pool, min(140, len(pool))):
        rows.append(_recipient(spring, contact, _at(spring["starts_on"], rng), 0.12, rng, today))

    fall = by_key["fall-postcards"]
    pool = existing_before(fall["starts_on"], need="address_line1")
    for contact in rng.sample(pool, min(160, len(pool))):
        rows.append(_recipient(fall, contact, _at(fall["starts_on"], rng), 0.07, rng, today))

    ads = by_key["google-ads"]
    for contact in contacts:  # a web-form lead in the ads window clicked an ad and filled the form: it responded
        if contact["source"] == "web_form" and contact["created_at"].date() >= ads["starts_on"]:
            sent = contact["created_at"] - timedelta(minutes=rng.randint(2, 40))
            rows.append(
                {
                    "campaign": "google-ads",
                    "contact": contact["key"],
                    "sent_at": sent,
                    "responded": True,
                    "responded_at": contact["created_at"],
                }
            )

    referral = by_key["referral-email"]
    pool = existing_before(referral["starts_on"] - timedelta(days=120), need="email")
    for contact in rng.sample(pool, min(90, len(pool))):
        rows.append(_recipient(referral, contact, _at(referral["starts_on"], rng), 0.10, rng, today))
    return rows
