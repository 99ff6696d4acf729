"""Invoices (80: converted quotes plus a few billed on the spot) and the payments against them.

Invoices are net 30. Payments are planned, not priced: each application names an invoice and a portion
("full", "half", "rest"), and the loader turns portions into cents with the CRM's money helpers once the
invoice totals exist, so every amount comes from one rounding rule.
"""

import random
from datetime import date, timedelta

from crm.demo.jobs import DIRECT_JOBS, job_lines

TARGET_INVOICES = 80
NET_DAYS = 30
METHODS = {"check": 45, "card": 30, "ach": 15, "cash": 10}
MERGED_PAYMENTS = 3  # customers paying two invoices with one check, as QuickBooks allows


def invoices_generate(
    quotes: list[dict], contacts: list[dict], products: list[dict], *, today: date, seed: int
) -> list[dict]:
    """One invoice per converted quote (same lines), topped up to 80 with direct jobs; numbered by issue date."""
    rng = random.Random(seed + 3)
    by_sku = {p["sku"]: p for p in products}
    drafts = []
    for quote in quotes:
        if quote["status"] == "converted":
            issue = min(quote["accepted_date"] + timedelta(days=rng.randint(3, 25)), today)
            drafts.append(
                {
                    "contact": quote["contact"],
                    "quote": quote["number"],
                    "issue_date": issue,
                    "lines": [dict(line) for line in quote["lines"]],
                    "customer_memo": quote["customer_memo"],
                }
            )
    while len(drafts) < TARGET_INVOICES:
        contact = rng.choice(contacts)
        job = rng.choice(list(DIRECT_JOBS))
        earliest = contact["created_at"].date()
        issue = min(earliest + timedelta(days=rng.randint(1, 120)), today)
        drafts.append(
            {
                "contact": contact["key"],
                "quote": "",
                "issue_date": issue,
                "lines": job_lines(DIRECT_JOBS[job], by_sku, rng),
                "customer_memo": job.capitalize(),
            }
        )
    drafts.sort(key=lambda d: (d["issue_date"], d["quote"], d["contact"]))
    for number, invoice in enumerate(drafts, start=1001):
        invoice.update(
            number=f"INV-{number}", due_date=invoice["issue_date"] + timedelta(days=NET_DAYS), payment_terms="Net 30"
        )
    return drafts


def _payment(invoice: dict, day: date, portion: str, rng: random.Random) -> dict:
    method = rng.choices(list(METHODS), weights=list(METHODS.values()))[0]
    reference = {
        "check": f"Check #{rng.randint(1001, 9899)}",
        "card": f"Card ending {rng.randint(1000, 9999)}",
        "ach": f"ACH {rng.randint(100000, 999999)}",
        "cash": "",
    }[method]
    return {
        "contact": invoice["contact"],
        "date": day,
        "method": method,
        "reference": reference,
        "applications": [{"invoice": invoice["number"], "portion": portion}],
    }


def payments_generate(invoices: list[dict], *, today: date, seed: int) -> list[dict]:
    """Paid, deposit-paid, partly paid and unpaid invoices, by age; a few checks pay two invoices at once."""
    rng = random.Random(seed + 4)
    payments = []

    def pay(invoice: dict, earliest: int, latest: int, portion: str) -> dict:
        day = min(invoice["issue_date"] + timedelta(days=rng.randint(earliest, latest)), today)
        payments.append(_payment(invoice, day, portion, rng))
        return payments[-1]

    for invoice in invoices:
        draw = rng.random()
        if invoice["due_date"] > today:  # not yet due
            if draw < 0.3:
                pay(invoice, 0, 5, "half")
            elif draw >= 0.6:
                pay(invoice, 2, 25, "full")
        elif draw < 0.2:  # paid in two steps: deposit, then the balance
            deposit = pay(invoice, 0, 5, "half")
            balance = pay(invoice, 10, 45, "rest")
            balance["date"] = max(balance["date"], deposit["date"])
        elif draw < 0.84:
            pay(invoice, 3, 55, "full")
        elif draw < 0.92:  # partly paid, now overdue
            pay(invoice, 0, 10, "half")
        # else: unpaid and overdue
    _merge_some(payments, rng)
    payments.sort(key=lambda p: (p["date"], p["applications"][0]["invoice"]))
    for number, payment in enumerate(payments, start=1):
        payment["key"] = f"PMT-{number:04d}"
    return payments


def _merge_some(payments: list[dict], rng: random.Random) -> None:
    """Fold pairs of one customer's full payments into one payment with two applications."""
    by_contact: dict[str, list[dict]] = {}
    for payment in payments:
        if payment["applications"][0]["portion"] == "full":
            by_contact.setdefault(payment["contact"], []).append(payment)
    pairs = [found[:2] for _, found in sorted(by_contact.items()) if len(found) >= 2]
    for first, second in rng.sample(pairs, min(MERGED_PAYMENTS, len(pairs))):
        second["date"] = max(first["date"], second["date"])
        second["applications"] = first["applications"] + second["applications"]
        payments.remove(first)
