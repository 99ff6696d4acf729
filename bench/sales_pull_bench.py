"""Sales pulls benchmark: N QBO invoices and their payments pulled into the CRM, full then CDC (prints figures only).

    .venv/bin/python bench/sales_pull_bench.py [--invoices 3000] [--changed 50]

An in-process emulator (sandbox seed) is loaded through its seed loader with `--invoices` more invoices of 1–3 item
lines for the sandbox customers (dated 2 months to 2 years back, so outside the CDC window) and a payment for half of
them (in full or in part). Contacts and products are linked first by the customers and items imports; 10 % of the
invoices are then typed into the CRM as well (same contact, number = DocNumber, unlinked), for the pull to match.
Through the real services (services/sales_pull.py): (a) the full invoices pull and (b) the full payments pull, with
documents, outcomes, API calls against the run's minimum (COUNT + ceil(N/1000) pages), documents per second and SQL
statements per document, in all and page by page (it should stay flat); (c) `--changed` invoices edited in QBO (a
sparse PrivateNote update through `qbo_batch`), then the CDC invoices pull. Limits are raised so the figures measure
calls, not throttling. Runs on a throwaway SQLite file unless DATABASE_URL is set; nothing is asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import sys
import tempfile
import time
from collections import deque
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
from django.db import connection as db  # noqa: E402
from django.db.models import Count, Sum  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from crm.models import Invoice, InvoiceItem, InvoiceStatus, Payment, Product  # noqa: E402
from crm.services import invoice_recalculate  # noqa: E402
from qbo_emulator.loader import load_seed_data  # noqa: E402
from qbo_emulator.seeds.common import USD, at, base, ref, sales_line, tax_detail, txn_total  # noqa: E402
from qbo_emulator.testing import start_emulator  # noqa: E402
from quickbooks_integration.models import QuickBooksAuth, QuickBooksSync  # noqa: E402
from quickbooks_integration.qbo.client import BATCH_MAX_ITEMS, qbo_batch  # noqa: E402
from quickbooks_integration.services.customers import customers_import_run  # noqa: E402
from quickbooks_integration.services.products import items_import_run  # noqa: E402
from quickbooks_integration.services.sales_pull import invoices_import_run, payments_import_run  # noqa: E402

FIRST_INVOICE_ID, FIRST_PAYMENT_ID, FIRST_DOC_NUMBER = 100_001, 200_001, 50_001
TAX_PERCENT = Decimal("8")  # the sandbox company's rate
PAGE_MARK = re.compile(r"page (\d+) of (\d+)")  # the run's checkpoint after each page (`_full_pull`)


def emulator_connect(emulator) -> QuickBooksAuth:
    """Settings pointed at the emulator, limits raised, a connection with tokens from its control API (as
    bench/estimates_push_bench.py)."""
    settings.QUICKBOOKS_ENVIRONMENT = "emulator"
    settings.QUICKBOOKS_EMULATOR_URL = emulator.url
    settings.QUICKBOOKS_CLIENT_ID = emulator.client_id
    settings.QUICKBOOKS_CLIENT_SECRET = emulator.client_secret
    settings.QUICKBOOKS_RATE_LIMIT_PER_MINUTE = 1_000_000
    emulator.control.throttle(per_minute=1_000_000, concurrent=100, batch_per_minute=100_000)
    tokens, now = emulator.control.issue_tokens(), timezone.now()
    expires_at = now + dt.timedelta(seconds=int(tokens["expires_in"]))
    tokens = {key: tokens[key] for key in ("access_token", "refresh_token")}
    return QuickBooksAuth.objects.create(
        company_id=emulator.realm_id, company_name="Sandbox (bench)", expires_at=expires_at, connected_at=now, **tokens
    )


def seed_with_invoices(count: int) -> dict:
    """The sandbox seed plus `count` invoices (lines cycle through the items) and a payment for every other one."""
    seed = load_seed_data("sandbox")
    entities, today = seed["entities"], dt.date.today()
    customers = [c for c in entities["Customer"] if c.get("Active", True)]
    items = [i for i in entities["Item"] if Decimal(str(i.get("UnitPrice") or 0)) > 0]
    for n in range(count):
        customer, day = customers[n % len(customers)], today - dt.timedelta(days=60 + n % 600)
        picked = [items[(n + k * 7) % len(items)] for k in range(1 + n % 3)]
        lines = [
            sales_line(k, item, 1 + (n + k) % 9, taxable=item.get("Taxable", False))
            for k, item in enumerate(picked, start=1)
        ]
        invoice = {
            **base(str(FIRST_INVOICE_ID + n), at(day)),
            "DocNumber": str(FIRST_DOC_NUMBER + n),
            "TxnDate": day.isoformat(),
            "CustomerRef": ref(customer["Id"], customer["DisplayName"]),
            "CurrencyRef": dict(USD),
            "Line": lines,
            "TxnTaxDetail": tax_detail(lines, TAX_PERCENT),
        }
        entities["Invoice"].append(invoice)
        if n % 2 == 0:  # half paid: three in four of those in full, the rest in part
            amount, paid_on = txn_total(invoice), day + dt.timedelta(days=10)
            amount = amount if n % 8 else (amount / 2).quantize(Decimal("0.01"))
            applied = {"Amount": amount, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}
            payment = {"TxnDate": paid_on.isoformat(), "CustomerRef": invoice["CustomerRef"], "TotalAmt": amount}
            payment |= {"PaymentMethodRef": ref("2"), "PaymentRefNum": str(n)}  # a check and its number
            entities["Payment"].append({**base(str(FIRST_PAYMENT_ID + n), at(paid_on)), **payment, "Line": [applied]})
    return seed


def crm_twins_make(generated: list[dict], connection) -> int:
    """Unlinked CRM copies of every tenth generated invoice: its contact, number, date and lines, typed by hand."""
    ledger = QuickBooksSync.objects.filter(connection=connection, entity_type="Customer")
    contacts = dict(ledger.values_list("entity_id", "local_id"))  # a job's row holds its parent's contact
    products = dict(Product.objects.values_list("quickbooks_item_id", "pk"))
    made = 0
    for data in generated[::10]:
        if not (contact_id := contacts.get(data["CustomerRef"]["value"])):
            continue
        header = {"invoice_number": data["DocNumber"], "issue_date": data["TxnDate"], "tax_rate": TAX_PERCENT}
        invoice = Invoice.objects.create(contact_id=contact_id, status=InvoiceStatus.SENT, **header)
        for position, line in enumerate(data["Line"]):
            detail = line["SalesItemLineDetail"]
            values = {"quantity": detail["Qty"], "unit_price": detail["UnitPrice"], "description": line["Description"]}
            product_id, taxable = products.get(detail["ItemRef"]["value"]), detail["TaxCodeRef"]["value"] != "NON"
            InvoiceItem(invoice=invoice, product_id=product_id, position=position, taxable=taxable, **values).save()
        invoice_recalculate(invoice=invoice, summary=False)
        made += 1
    return made


def per_page(queries: list[dict]) -> list[int]:
    """SQL statements between one page checkpoint and the next (page 1 starts after the COUNT's "page 0 of N")."""
    counts, current = [], None
    for query in queries:
        match = PAGE_MARK.search(query["sql"]) if "syncrun" in query["sql"].lower() else None
        if match and int(match.group(1)) > 0 and current is not None:
            counts.append(current + 1)
            current = 0
        elif match:
            current = 0
        elif current is not None:
            current += 1
    return counts


def timed(label: str, run_function, connection, *, full: bool) -> dict:
    with CaptureQueriesContext(db) as captured:
        started = time.perf_counter()
        run = run_function(connection_id=connection.pk, full=full)
        seconds = time.perf_counter() - started
    stats, queries = run.stats, len(captured.captured_queries)
    docs = stats["documents"]
    print(
        f"{label}: {run.status}, {docs} documents in {seconds:.1f} s ({docs / seconds:,.0f}/s); "
        f"created {stats['created']}, updated {stats['updated']}, matched {stats['matched']}, "
        f"unchanged {stats['unchanged']}, failed {stats['failed']}, unlinked customer {stats['unlinked_customer']}, "
        f"total mismatch {stats['total_mismatch']}"
    )
    print(
        f"  API calls {run.api_calls} (minimum {stats['api_minimum']}); {queries} SQL statements, "
        f"{queries / max(docs, 1):.1f} per document"
    )
    pages = per_page(captured.captured_queries)
    if len(pages) > 1:
        sizes = [min(1000, docs - 1000 * k) for k in range(len(pages))]
        print(
            "  statements per document, page by page: "
            + ", ".join(f"{q / size:.1f} ({size})" for q, size in zip(pages, sizes, strict=True))
        )
    return stats


def invoices_change(connection, count: int) -> int:
    """A sparse PrivateNote update of `count` generated invoices, through our client's batches."""
    ids = [str(FIRST_INVOICE_ID + n) for n in range(count)]
    rows = QuickBooksSync.objects.filter(connection=connection, entity_type="Invoice", entity_id__in=ids)
    items = []
    for row in rows:
        change = {"Id": row.entity_id, "SyncToken": row.payload["SyncToken"], "sparse": True, "PrivateNote": "edited"}
        items.append({"bId": row.entity_id, "operation": "update", "Invoice": change})
    done = 0
    for start in range(0, len(items), BATCH_MAX_ITEMS):
        answers = qbo_batch(
            connection=connection,
            items=items[start : start + BATCH_MAX_ITEMS],
            request_id=f"bench-{start}-{time.time_ns() % 10**9}",
        )
        done += sum("Invoice" in answer for answer in answers)
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=3000)
    parser.add_argument("--changed", type=int, default=50)
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    db.queries_log = deque(maxlen=10**7)  # Django keeps the last 9000 only, which a pull of 3000 documents exceeds
    started = time.perf_counter()
    seed = seed_with_invoices(args.invoices)
    emulator = start_emulator(seed_data=seed)
    counts = {kind: len(seed["entities"][kind]) for kind in ("Customer", "Item", "Invoice", "Payment")}
    print(f"database: {db.vendor}; emulator loaded in {time.perf_counter() - started:.1f} s: {counts}")
    try:
        connection = emulator_connect(emulator)
        customers = customers_import_run(connection_id=connection.pk, full=True)
        items = items_import_run(connection_id=connection.pk, full=True)
        twins = crm_twins_make(seed["entities"]["Invoice"][counts["Invoice"] - args.invoices :], connection)
        print(
            f"customers import {customers.status} ({customers.stats['created']} contacts created), items import "
            f"{items.status}; CRM invoices typed in both systems (unlinked): {twins}"
        )

        timed("full invoices pull", invoices_import_run, connection, full=True)
        timed("full payments pull", payments_import_run, connection, full=True)
        qbo_paid = sum(Decimal(str(payment["TotalAmt"])) for payment in seed["entities"]["Payment"])
        crm = Invoice.objects.aggregate(n=Count("pk"), paid=Sum("amount_paid"), total=Sum("total_amount"))
        print(
            f"  CRM now: {crm['n']} invoices totalling {crm['total']:.2f}, {crm['paid']:.2f} paid by "
            f"{Payment.objects.count()} payments; QBO's payments total {qbo_paid}"
        )
        changed = invoices_change(connection, args.changed)
        print(f"{changed} invoices edited in QBO ({-(-changed // BATCH_MAX_ITEMS)} batch calls)")
        timed("CDC invoices pull", invoices_import_run, connection, full=False)
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
