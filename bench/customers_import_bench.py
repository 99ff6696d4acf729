"""Customers import benchmark: the emulator with N customers and N CRM contacts (prints figures only).

    .venv/bin/python bench/customers_import_bench.py [--customers 10000] [--contacts 10000]

Starts the emulator in its own process (`python -m qbo_emulator --seed empty --customers N`), migrates a throwaway
SQLite database (or DATABASE_URL), connects through the real OAuth flow (`quickbooks_connect`) and makes N contacts
shaped after the customers: 70 % the same person (phone typed another way, e-mail sometimes missing), 10 % the same
name with another phone (review candidates), 20 % nobody in QuickBooks. Then, from the same starting state each time:

1. `quickbooks_sync customers --full` (services/customers.py): API calls against ceil(N/1000)+1, SQL statements,
   where the time goes (pull into the ledger, matching, applying links/candidates/new contacts), rows per second;
2. the naive way: python-quickbooks `Customer.all()` pages of 100 (its default) and one ORM `update_or_create` per
   row into the ledger, nothing else, and the ratio (naive against our pull: the same work);
3. statements per page at page sizes 250, 500 and 1000, for a first import and for a page of changed, linked
   customers (they stay flat on PostgreSQL; SQLite's 999-parameter limit makes Django split big bulk statements);
4. peak memory: the process's peak RSS around the import (`--tracemalloc`: the import again, traced).

Matching alone at 100,000 x 100,000 is bench/matching_bench.py. Nothing is asserted; timings depend on the machine.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import resource
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


PORT = _free_port()
os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("DATABASE_URL", f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm_project.settings")
os.environ["QUICKBOOKS_ENVIRONMENT"] = "emulator"
os.environ["QUICKBOOKS_EMULATOR_URL"] = f"http://127.0.0.1:{PORT}"
os.environ["QUICKBOOKS_CLIENT_ID"] = "emulator-client-id"
os.environ["QUICKBOOKS_CLIENT_SECRET"] = "emulator-client-secret"  # noqa: S105 (the emulator's public default)

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection as db  # noqa: E402
from django.db import transaction  # noqa: E402
from django.utils import timezone  # noqa: E402
from quickbooks.objects.customer import Customer  # noqa: E402

from crm.models import Contact  # noqa: E402
from quickbooks_integration.models import (  # noqa: E402
    AuditEvent,
    ContactConflict,
    MatchCandidate,
    QuickBooksAuth,
    QuickBooksSync,
    SyncRun,
)
from quickbooks_integration.qbo.client import qbo_get  # noqa: E402
from quickbooks_integration.qbo.http import quickbooks_build  # noqa: E402
from quickbooks_integration.services import customers  # noqa: E402
from quickbooks_integration.services.mirror import qbo_time, sync_token  # noqa: E402

NAIVE_PAGE = 100  # what Customer.all() asks for when given no max_results (API.md §2.4)
PHONE_STYLES = ("({a}) {b}-{c}", "{a}-{b}-{c}", "{a}.{b}.{c}", "+1 {a} {b} {c}", "{a}{b}{c}")


# ---------------------------------------------------------------------------------------------------- setup


def emulator_start(customers_n: int) -> subprocess.Popen:
    process = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
        [sys.executable, "-m", "qbo_emulator", "--seed", "empty", "--customers", str(customers_n), "--port",
         str(PORT), "--auto-approve"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/_emulator/info", timeout=2):  # noqa: S310
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the emulator did not start")


def connect() -> QuickBooksAuth:
    call_command("migrate", verbosity=0)
    user_model = get_user_model()
    if not user_model.objects.filter(is_superuser=True).exists():
        user_model.objects.create_superuser("bench", "bench@example.com", "bench-password-123")
    call_command("quickbooks_connect", stdout=open(os.devnull, "w"))  # noqa: SIM115
    return QuickBooksAuth.objects.get()


def _phone(raw: str, rng: random.Random) -> str:
    digits = "".join(ch for ch in raw if ch.isdigit())[-10:]
    return rng.choice(PHONE_STYLES).format(a=digits[:3], b=digits[3:6], c=digits[6:])


def contacts_make(count: int, customer_rows: list[dict], seed: int = 7) -> None:
    """`count` contacts: 70 % one of the customers, 10 % a customer's name with another phone, 20 % strangers."""
    rng = random.Random(seed)
    pool = list(customer_rows)
    rng.shuffle(pool)
    rows = []
    for index in range(count):
        kind = index % 10
        if kind < 7 and index < len(pool):
            qbo = pool[index]
            email = qbo["PrimaryEmailAddr"]["Address"] if rng.random() > 0.15 else ""
            rows.append(Contact(first_name=qbo["GivenName"], last_name=qbo["FamilyName"],
                                phone=_phone(qbo["PrimaryPhone"]["FreeFormNumber"], rng), email=email.upper()
                                if rng.random() < 0.1 else email))
        elif kind == 7 and index < len(pool):
            qbo = pool[index]
            rows.append(Contact(first_name=qbo["GivenName"], last_name=qbo["FamilyName"],
                                phone=f"(339) 555-{rng.randrange(10000):04d}"))
        else:
            rows.append(Contact(first_name=f"Stranger{index}", last_name=f"Nobody{index % 97}",
                                phone=f"(413) {200 + index // 10000:03d}-{index % 10000:04d}",
                                email=f"stranger{index}@example.org"))
    for contact in rows:
        contact.normalize()
    Contact.objects.bulk_create(rows, batch_size=1000)


def reset(*, contacts: int, customer_rows: list[dict]) -> None:
    """Back to the starting state: the CRM's own contacts only, an empty ledger, no runs, candidates or history."""
    for model in (MatchCandidate, ContactConflict, SyncRun, QuickBooksSync):
        model.objects.all().delete()
    AuditEvent.objects.all().delete()  # a queryset delete: the append-only guard is on the instance
    Contact.objects.all().delete()
    contacts_make(contacts, customer_rows)


def all_customers(connection: QuickBooksAuth, total: int) -> list[dict]:
    rows = []
    for start in range(1, total + 1, 1000):
        sql = f"SELECT * FROM Customer WHERE Active IN (true, false) ORDERBY Id STARTPOSITION {start} MAXRESULTS 1000"  # noqa: S608
        rows.extend(qbo_get(connection=connection, path="query", params={"query": sql})["QueryResponse"]["Customer"])
    return rows


# ---------------------------------------------------------------------------------------------------- the runs


class QueryCounter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def naive_import(connection: QuickBooksAuth) -> dict:
    """What an integration written from the library's README does: Customer.all() pages, one save per row."""
    qb = quickbooks_build(realm_id=connection.realm_id, access_token=connection.access_token)
    started, calls, rows, start = time.perf_counter(), 0, 0, 1
    counter = QueryCounter()
    with db.execute_wrapper(counter):
        while True:
            page = Customer.all(qb=qb, start_position=start, max_results=NAIVE_PAGE)
            calls += 1
            for customer in page:
                data = customer.to_dict()
                QuickBooksSync.objects.update_or_create(
                    connection=connection, entity_type="Customer", entity_id=str(customer.Id),
                    defaults={"payload": data, "sync_version": sync_token(data), "last_synced": timezone.now(),
                              "qbo_updated_at": qbo_time(data.get("MetaData", {}).get("LastUpdatedTime")),
                              "sync_status": QuickBooksSync.Status.SYNCED},
                )
                rows += 1
            if len(page) < NAIVE_PAGE:
                break
            start += NAIVE_PAGE
    return {"seconds": time.perf_counter() - started, "calls": calls, "rows": rows, "queries": counter.count}


def our_import(connection: QuickBooksAuth) -> tuple[SyncRun, float, int]:
    counter = QueryCounter()
    started = time.perf_counter()
    with db.execute_wrapper(counter):
        run = customers.customers_import_run(connection_id=connection.pk, full=True)
    return run, time.perf_counter() - started, counter.count


def page_statements(connection: QuickBooksAuth, rows: list[dict]) -> list[tuple[int, int, int]]:
    """(page size, statements for a first import of the page, statements for the page changed and linked)."""
    figures = []
    for size in (250, 500, 1000):
        QuickBooksSync.objects.all().delete()
        Contact.objects.update(quickbooks_customer_id=None)
        page = rows[:size]
        first, again = QueryCounter(), QueryCounter()
        with transaction.atomic(), db.execute_wrapper(first):
            customers.customers_page_apply(connection=connection, rows=page, stats={})
        holders = list(Contact.objects.order_by("pk")[:size])
        for contact, row in zip(holders, page, strict=True):
            contact.quickbooks_customer_id = row["Id"]
        Contact.objects.bulk_update(holders, ["quickbooks_customer_id"], batch_size=500)
        changed = [{**row, "SyncToken": str(int(row["SyncToken"]) + 1), "Balance": "12.34"} for row in page]
        with transaction.atomic(), db.execute_wrapper(again):
            customers.customers_page_apply(connection=connection, rows=changed, stats={})
        figures.append((size, first.count, again.count))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--tracemalloc", action="store_true", help="also run the import under tracemalloc (slow)")
    args = parser.parse_args()
    emulator = emulator_start(args.customers)
    try:
        connection = connect()
        rows = all_customers(connection, args.customers)
        print(f"database: {db.vendor}; emulator: {args.customers} customers (process {emulator.pid}); "
              f"CRM: {args.contacts} contacts")

        reset(contacts=args.contacts, customer_rows=rows)
        connection.refresh_from_db()
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        run, seconds, queries = our_import(connection)
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        stats = run.stats
        phases = stats.get("seconds", {})
        minimum = math.ceil(args.customers / customers.PAGE_SIZE) + 1
        pull = phases.get("pull", seconds)
        print(f"quickbooks_sync customers --full: {run.status}, {seconds:.2f} s in all "
              f"(pull {phases.get('pull', 0):.2f} s, matching {phases.get('match', 0):.2f} s, "
              f"applying {phases.get('apply', 0):.2f} s), {queries} SQL statements")
        print(f"  API calls: {run.api_calls} made, minimum ceil(N/1000)+1 = {minimum} (the run says "
              f"{stats.get('api_minimum')})")
        print(f"  outcome: linked {stats['linked']}, created {stats['created']}, queued {stats['queued']} "
              f"({stats['candidates']} candidates), failed {stats['failed']}")
        print(f"  rows/s: {args.customers / pull:,.0f} into the ledger, {args.customers / seconds:,.0f} end to end")
        print(f"  peak memory: process RSS {rss_after / 1024:.0f} MiB after the import, "
              f"{rss_before / 1024:.0f} MiB before it (+{(rss_after - rss_before) / 1024:.0f} MiB)")

        reset(contacts=args.contacts, customer_rows=rows)
        naive = naive_import(connection)
        print(f"naive (Customer.all() pages of {NAIVE_PAGE}, one update_or_create per row): "
              f"{naive['seconds']:.2f} s, {naive['rows'] / naive['seconds']:,.0f} rows/s, {naive['calls']} API calls, "
              f"{naive['queries']} SQL statements")
        print(f"  naive / ours, the same work (pull into the ledger): {naive['seconds'] / pull:.1f}x; "
              f"naive / our whole run (with matching and applying): {naive['seconds'] / seconds:.1f}x")

        print("SQL statements per page (page size: first import / every customer changed and linked):")
        for size, first, again in page_statements(connection, rows):
            print(f"  {size:>5}: {first:>3} / {again:>3}")

        if args.tracemalloc:
            reset(contacts=args.contacts, customer_rows=rows)
            tracemalloc.start()
            run, seconds, _ = our_import(connection)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(f"peak Python memory of the import (tracemalloc): {peak / 2**20:.0f} MiB ({seconds:.2f} s traced)")
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)


if __name__ == "__main__":
    main()
