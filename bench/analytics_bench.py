"""Revenue dashboards benchmark: every dashboard page and its largest CSV export over 50,000 invoices, on PostgreSQL.

    .venv/bin/python bench/analytics_bench.py [--contacts 20000] [--invoices 50000] [--runs 5] [--keep] [--reuse]

Creates a throwaway database (`crm_bench_analytics` beside BENCH_DATABASE_URL's, default
postgres://postgres@127.0.0.1:5432/postgres), migrates it and fills it with the changelist benchmark's generator
(`changelist_bench.generate`: contacts, activities, campaigns with recipients, products, quotes and invoices with
lines, payments applied), then gives a third of the products a cost and makes a third of the paid invoices late, so
margins and late-payment figures have something to compute. It renders each dashboard through Django's test client
as an Owner, for the default twelve months and for the whole five years, and prints per page: SQL queries, and the
median milliseconds of several runs (after a warm-up), then the same for one CSV export per page. The query count
must be the same for both ranges: it does not depend on the data's size. Nothing is asserted: timings depend on the
machine and its load. The database is dropped at the end unless --keep. Skips (exit 0) when no PostgreSQL answers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import psycopg  # noqa: E402
from changelist_bench import START, admin_connect, generate, server_url  # noqa: E402

SERVER_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
EXPORTS = {  # the largest table of each page
    "overview": "metrics",
    "customers": "lifetime",
    "campaigns": "roi",
    "forecast": "late_risk",
    "services": "by_service",
}


def realism() -> None:
    """Costs on a third of the products; a third of the paid invoices paid 1–60 days late (and their payments)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("UPDATE crm_product SET cost = round(unit_price * 0.45, 2) WHERE id % 3 <> 0")
        cursor.execute(
            "UPDATE crm_invoice SET paid_date = LEAST(CURRENT_DATE, due_date + (1 + id % 60)::int) "
            "WHERE paid_date IS NOT NULL AND id % 3 = 0"
        )
        cursor.execute(
            "UPDATE crm_payment p SET payment_date = i.paid_date FROM crm_paymentapplication a "
            "JOIN crm_invoice i ON i.id = a.invoice_id WHERE a.payment_id = p.id AND i.paid_date IS NOT NULL"
        )


def owner_client():
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test import Client

    from crm.roles import OWNER

    user, _ = get_user_model().objects.get_or_create(username="bench-owner", defaults={"is_staff": True})
    user.groups.add(Group.objects.get(name=OWNER))
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    return client


def measure(client, url: str, runs: int) -> tuple[int, float, int]:
    """(queries, median ms, bytes) of a GET, after one warm-up run that counts the queries."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    connection.queries_log.clear()
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    if response.status_code != 200:
        raise SystemExit(f"{url}: HTTP {response.status_code}")
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
    return len(queries), statistics.median(timings), len(response.content)


def report(client, runs: int) -> None:
    import datetime

    from django.urls import reverse
    from django.utils.http import urlencode

    from crm.models import Invoice

    today = datetime.date.today()
    ranges = {"12 months": {}, "5 years": {"start": START.isoformat(), "end": today.isoformat()}}
    print(f"\n{Invoice.objects.count():,} invoices; median of {runs} runs after a warm-up")
    print(f"{'page':<10} {'range':<10} {'queries':>7} {'page ms':>8} {'KB':>6}   ", end="")
    print(f"{'CSV':<11} {'queries':>7} {'CSV ms':>8}")
    for page, table in EXPORTS.items():
        url = reverse("admin:quickbooks_integration_dashboard_page", kwargs={"page": page})
        for label, query in ranges.items():
            count, ms, size = measure(client, f"{url}?{urlencode(query)}", runs)
            csv_count, csv_ms, _ = measure(client, f"{url}?{urlencode({**query, 'export': table})}", runs)
            print(
                f"{page:<10} {label:<10} {count:>7} {ms:>8.0f} {size / 1024:>6.0f}   {table:<11} {csv_count:>7} "
                f"{csv_ms:>8.0f}",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--invoices", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=5, help="timed runs per URL (after one warm-up); the median")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--database", default="crm_bench_analytics")
    parser.add_argument("--keep", action="store_true", help="keep the database (and its rows) at the end")
    parser.add_argument("--reuse", action="store_true", help="use the database if it already has the rows")
    args = parser.parse_args()

    try:
        server = admin_connect()
    except psycopg.OperationalError as exc:
        print(f"skipped: no PostgreSQL at {SERVER_URL} ({str(exc).strip().splitlines()[0]})")
        return
    exists = server.execute("SELECT 1 FROM pg_database WHERE datname = %s", [args.database]).fetchone()
    if exists and not args.reuse:
        server.execute(f'DROP DATABASE "{args.database}" WITH (FORCE)')
    if not exists or not args.reuse:
        server.execute(f'CREATE DATABASE "{args.database}"')

    os.environ["DATABASE_URL"] = server_url(args.database)
    os.environ.setdefault("DEBUG", "true")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm_project.settings")
    os.environ.setdefault("AXES_ENABLED", "false")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from crm.models import Contact

    try:
        call_command("migrate", verbosity=0)
        if not Contact.objects.exists():
            print(f"generating into {args.database}:", flush=True)
            generate(args.contacts, args.invoices, args.seed)
            realism()
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE")  # what autovacuum will have done on a live database
        report(owner_client(), args.runs)
    finally:
        connection.close()
        if not args.keep:
            server.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        server.close()


if __name__ == "__main__":
    main()
