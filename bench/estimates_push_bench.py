"""Estimates push benchmark: 1000 quotes → QBO estimates, batched against one by one (prints figures only).

    .venv/bin/python bench/estimates_push_bench.py [--quotes 1000] [--one-by-one 1000]

Against an in-process emulator (sandbox seed) over HTTP, through the real services: (a) `estimates_push` of
`--quotes` new quotes, its QBO calls by kind against the minimum ceil(N/30) batch calls (issue 11: "at most
ceil(1000/30) batch calls plus the reads it truly needs"; a first push needs none); (b) the same push again, which
should send nothing (every estimate unchanged); (c) `--one-by-one` other quotes pushed with one `estimate_push`
each, the way without batches. The emulator's and our limiter's per-minute limits are raised so the figures measure
calls, not throttling. Runs on a throwaway SQLite file unless DATABASE_URL is set; nothing is asserted.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("DATABASE_URL", f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm_project.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402

from crm.models import Contact, Product, Quote, QuoteItem  # noqa: E402
from crm.services import quote_recalculate  # noqa: E402
from qbo_emulator.testing import start_emulator  # noqa: E402
from quickbooks_integration.models import QuickBooksAuth  # noqa: E402
from quickbooks_integration.qbo.client import BATCH_MAX_ITEMS  # noqa: E402
from quickbooks_integration.services.estimates import estimate_push, estimates_push  # noqa: E402

LINES = (("Design", "4", Decimal("75"), False), ("Rocks", "13", Decimal("22.50"), True))


def emulator_connect(emulator) -> QuickBooksAuth:
    """Point the settings at the emulator and store a connection with tokens from its control API."""
    settings.QUICKBOOKS_ENVIRONMENT = "emulator"
    settings.QUICKBOOKS_EMULATOR_URL = emulator.url
    settings.QUICKBOOKS_CLIENT_ID = emulator.client_id
    settings.QUICKBOOKS_CLIENT_SECRET = emulator.client_secret
    settings.QUICKBOOKS_RATE_LIMIT_PER_MINUTE = 1_000_000
    emulator.control.throttle(per_minute=1_000_000, concurrent=100, batch_per_minute=100_000)
    tokens = emulator.control.issue_tokens()
    return QuickBooksAuth.objects.create(
        company_id=tokens["realm_id"],
        company_name="Sandbox (bench)",
        access_token=tokens["access_token"],
        refresh_token=tokens["refresh_token"],
        expires_at=timezone.now() + timedelta(seconds=int(tokens["expires_in"])),
        status=QuickBooksAuth.Status.CONNECTED,
        connected_at=timezone.now(),
    )


def quotes_make(count: int, contact: Contact, products: dict[str, Product]) -> list[Quote]:
    """`count` quotes of two lines each (one taxed at the sandbox's 8 %), totals computed by the CRM's service."""
    quotes = []
    for n in range(count):
        quote = Quote.objects.create(contact=contact, tax_rate=Decimal("8"))
        for position, (name, _, price, taxable) in enumerate(LINES, 1):
            QuoteItem(
                quote=quote,
                product=products[name],
                description=f"{name} #{n}",
                quantity=Decimal(1 + n % 5),
                unit_price=price,
                taxable=taxable,
                position=position,
            ).save()
        quotes.append(quote_recalculate(quote=quote))
    return quotes


def calls_since(emulator, start_seq: int) -> Counter:
    """The emulator's API requests after `start_seq`, by kind (batch, query, estimate create/update, read)."""
    kinds: Counter = Counter()
    for request in emulator.control.requests("/v3/company/"):
        if request["seq"] <= start_seq:
            continue
        tail = request["path"].rsplit("/", 2)
        kinds["read" if request["method"] == "GET" and tail[-2] == "estimate" else tail[-1]] += 1
    return kinds


def last_seq(emulator) -> int:
    requests = emulator.control.requests()
    return requests[-1]["seq"] if requests else 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quotes", type=int, default=1000)
    parser.add_argument("--one-by-one", type=int, default=1000)
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    emulator = start_emulator(seed="sandbox")
    try:
        emulator_connect(emulator)
        contact = Contact.objects.create(first_name="Amy", last_name="Lauterbach", quickbooks_customer_id="1")
        products = {
            name: Product.objects.create(name=name, quickbooks_item_id=item_id, unit_price=price, taxable=taxable)
            for name, item_id, price, taxable in LINES
        }
        started = time.perf_counter()
        batched = quotes_make(args.quotes, contact, products)
        single = quotes_make(args.one_by_one, contact, products)
        print(f"{len(batched) + len(single)} quotes built in {time.perf_counter() - started:.1f} s")
        minimum = math.ceil(args.quotes / BATCH_MAX_ITEMS)

        seq = last_seq(emulator)
        started = time.perf_counter()
        results = estimates_push(quotes=batched, actor=None)
        seconds = time.perf_counter() - started
        kinds = calls_since(emulator, seq)
        batch_calls = sum(kinds.values())
        outcomes = Counter(result.outcome for result in results)
        differ = sum(result.total_differs for result in results)
        print(
            f"batched push of {args.quotes}: {batch_calls} calls {dict(kinds)} against the minimum "
            f"ceil({args.quotes}/{BATCH_MAX_ITEMS}) = {minimum}; {dict(outcomes)}; totals differing: {differ}; "
            f"{seconds:.1f} s ({args.quotes / seconds:.0f} quotes/s)"
        )

        seq = last_seq(emulator)
        started = time.perf_counter()
        again = estimates_push(quotes=batched, actor=None)
        seconds = time.perf_counter() - started
        print(
            f"same push again: {sum(calls_since(emulator, seq).values())} calls; "
            f"{dict(Counter(result.outcome for result in again))}; {seconds:.1f} s"
        )

        if single:
            seq = last_seq(emulator)
            started = time.perf_counter()
            outcomes = Counter(estimate_push(quote=quote, actor=None).outcome for quote in single)
            seconds = time.perf_counter() - started
            kinds = calls_since(emulator, seq)
            print(
                f"one by one, {len(single)} quotes: {sum(kinds.values())} calls {dict(kinds)}; {dict(outcomes)}; "
                f"{seconds:.1f} s ({len(single) / seconds:.0f} quotes/s)"
            )
            print(
                f"calls per quote: batched {batch_calls / max(args.quotes, 1):.3f}, "
                f"one by one {sum(kinds.values()) / len(single):.3f}"
            )
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
