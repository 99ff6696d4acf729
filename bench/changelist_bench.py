"""Changelist benchmark: every CRM admin list and its searches at 100,000 contacts and 50,000 invoices, on PostgreSQL.

    .venv/bin/python bench/changelist_bench.py [--contacts 100000] [--invoices 50000] [--runs 5] [--keep] [--reuse]

Creates a throwaway database (`crm_bench_changelist` beside BENCH_DATABASE_URL's, default
postgres://postgres@127.0.0.1:5432/postgres), migrates it, bulk-generates contacts, activities, campaigns with
recipients, products, quotes and invoices with lines, and payments applied to them (totals, balances and statuses
consistent, names with a real surname distribution, phones typed in the formats people use), then renders each
changelist through Django's test client as a superuser and as a Bookkeeper and prints, per page: rows shown, SQL
queries, and the median milliseconds of several runs for the page, a surname search, a first-and-last-name search,
a phone search typed in another format than stored, and a search by a number's last 7 digits. It first measures
with the indexes of `crm/migrations/0006_search_indexes.py` dropped inside a transaction it rolls back ("before"),
then with them ("after"). The database is dropped at the end unless --keep. Nothing is asserted: timings depend on
the machine and its load. Skips (exit 0) when no PostgreSQL answers.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import itertools
import os
import random
import re
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

SERVER_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
SEARCHES = ("name", "full name", "phone", "last7")
PAGES = ("contact", "activity", "campaign", "campaignrecipient", "product", "quote", "invoice", "payment")
# fmt: off
AREA_CODES = ("617", "781", "508", "978", "857", "339", "413", "774", "351", "603", "401")
TOWNS = (
    ("Boston", "02108"), ("Quincy", "02169"), ("Braintree", "02184"), ("Newton", "02458"), ("Somerville", "02143"),
    ("Waltham", "02451"), ("Medford", "02155"), ("Brockton", "02301"), ("Weymouth", "02188"), ("Milton", "02186"),
    ("Dedham", "02026"), ("Norwood", "02062"), ("Framingham", "01701"), ("Lowell", "01852"), ("Worcester", "01608"),
    ("Plymouth", "02360"), ("Salem", "01970"), ("Lynn", "01901"), ("Malden", "02148"), ("Revere", "02151"),
)
STATES = ("MA",) * 17 + ("NH", "RI", "CT")
BUSINESS = ("Properties LLC", "Realty Trust", "Construction Inc.", "Builders", "Property Management", "Condo Assoc.")
STREETS = ("St", "Ave", "Rd", "Ln", "Way", "Ter")
DOMAINS = ("gmail.com", "yahoo.com", "verizon.net", "comcast.net", "icloud.com", "outlook.com")
SUMMARIES = (
    "Water in the basement after the storm, asked for an inspection.",
    "Follow-up on the crack injection quote.",
    "Left a voicemail about the bowed wall.",
    "Asked about the 10-year guarantee.",
    "Wants a second opinion on a foundation crack.",
    "Called to reschedule the visit.",
)
PRODUCTS = (
    ("Crack injection (per crack)", "service", "450.00", True),
    ("Wall crack repair", "service", "650.00", True),
    ("Carbon-fiber strap", "non_inventory", "325.00", True),
    ("Bowed-wall anchor", "non_inventory", "595.00", True),
    ("Sump pump installation", "service", "1495.00", True),
    ("Inspection fee", "service", "150.00", False),
    ("Polyurethane injection foam (cartridge)", "inventory", "38.50", True),
    ("Epoxy paste (tube)", "inventory", "24.75", True),
)
TAX_RATE = Decimal("6.25")
# fmt: on
START = datetime.date(2021, 1, 4)


def server_url(dbname: str) -> str:
    parts = urlsplit(SERVER_URL)
    return urlunsplit(parts._replace(path=f"/{dbname}"))


def admin_connect():
    return psycopg.connect(SERVER_URL, autocommit=True, connect_timeout=5)


# --- data -----------------------------------------------------------------------------------------------------


def typed(digits: str, rng: random.Random) -> str:
    a, b, c = digits[:3], digits[3:6], digits[6:]
    return rng.choice((f"({a}) {b}-{c}", f"{a}-{b}-{c}", f"{a}.{b}.{c}", f"+1 {a} {b} {c}", digits, f"1-{a}-{b}-{c}"))


def name_pools():
    from faker.providers.person.en_US import Provider

    firsts = {**Provider.first_names_female, **Provider.first_names_male}
    return (list(firsts), list(firsts.values())), (list(Provider.last_names), list(Provider.last_names.values()))


def generate(n_contacts: int, n_invoices: int, seed: int) -> None:
    """Bulk-create the rows; `save()` is bypassed, so the E.164 columns, numbers and totals are set here."""
    from django.db import connection

    from crm import models
    from crm.money import line_total, q, tax_amount
    from crm.services import invoice_payment_status_derive

    rng = random.Random(seed)
    (firsts, first_w), (lasts, last_w) = name_pools()
    today = datetime.date.today()
    span = (today - START).days
    started = time.perf_counter()

    phones: set[str] = set()

    def new_phone() -> str:
        while True:
            digits = f"{rng.choice(AREA_CODES)}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"
            if digits not in phones:
                phones.add(digits)
                return digits

    contacts = []
    for i in range(n_contacts):
        first, last = rng.choices(firsts, first_w)[0], rng.choices(lasts, last_w)[0]
        phone, mobile = new_phone(), new_phone() if rng.random() < 0.3 else ""
        town, zip_code = rng.choice(TOWNS)
        customer = rng.random() < 0.45
        contacts.append(
            models.Contact(
                first_name=first,
                last_name=last,
                company_name=f"{last} {rng.choice(BUSINESS)}" if rng.random() < 0.15 else "",
                phone=typed(phone, rng),
                phone_e164=f"+1{phone}",
                mobile_phone=typed(mobile, rng) if mobile else "",
                mobile_phone_e164=f"+1{mobile}" if mobile else "",
                email=f"{first}.{last}{i}@{rng.choice(DOMAINS)}".lower() if rng.random() < 0.8 else "",
                address_line1=f"{rng.randint(1, 999)} {rng.choice(lasts)} {rng.choice(STREETS)}",
                city=town,
                state=rng.choice(STATES),
                zip_code=zip_code,
                source=rng.choice(models.ContactSource.values),
                customer_type=models.CustomerType.CUSTOMER if customer else models.CustomerType.PROSPECT,
                quickbooks_customer_id=str(1000 + i) if customer and rng.random() < 0.8 else None,
                payment_terms="Net 30" if customer else "",
            )
        )
    models.Contact.objects.bulk_create(contacts, batch_size=5000)
    contact_ids = list(models.Contact.objects.order_by("id").values_list("id", flat=True))
    customer_ids = list(
        models.Contact.objects.filter(customer_type=models.CustomerType.CUSTOMER).values_list("id", flat=True)
    )
    with connection.cursor() as cursor:  # joined over five years, in id order
        cursor.execute(
            "UPDATE crm_contact SET created_at = %s::timestamptz + (id - %s) * %s * interval '1 second', "
            "updated_at = created_at",
            [START.isoformat(), contact_ids[0], span * 86400 // max(1, len(contact_ids))],
        )
    print(f"  {len(contacts):,} contacts", flush=True)

    phone_of = dict(models.Contact.objects.values_list("id", "phone"))
    activities = []
    for _ in range(n_contacts):
        contact_id = rng.choice(contact_ids)
        kind = rng.choice(models.ActivityKind.values)
        activities.append(
            models.Activity(
                contact_id=contact_id,
                kind=kind,
                direction=rng.choice(models.Direction.values),
                occurred_at=datetime.datetime.combine(
                    START + datetime.timedelta(days=rng.randrange(span)),
                    datetime.time(rng.randint(8, 18)),
                    tzinfo=datetime.UTC,
                ),
                phone_number=phone_of[contact_id],
                phone_number_e164="+1" + re.sub(r"\D", "", phone_of[contact_id])[-10:],
                summary=rng.choice(SUMMARIES),
                duration_seconds=rng.randint(20, 1800) if kind == "call" else None,
            )
        )
    models.Activity.objects.bulk_create(activities, batch_size=5000)
    print(f"  {len(activities):,} activities", flush=True)

    products = [
        models.Product(name=name, item_type=kind, unit_price=Decimal(price), taxable=taxable, income_account_id="1")
        for name, kind, price, taxable in PRODUCTS
    ] + [
        models.Product(
            name=f"{rng.choice(('Anchor', 'Strap', 'Sealant', 'Membrane', 'Drain', 'Bracket'))} model {n}",
            item_type=models.ItemType.INVENTORY,
            unit_price=Decimal(rng.randint(500, 90000)) / 100,
            taxable=True,
            sku=f"SKU-{n:05d}",
        )
        for n in range(120)
    ]
    products = models.Product.objects.bulk_create(products)

    campaigns = models.Campaign.objects.bulk_create(
        models.Campaign(
            name=f"{season} {year} {channel} push",
            channel=channel,
            starts_on=datetime.date(year, month, 1),
            ends_on=datetime.date(year, month, 28),
            cost=Decimal("1250.00"),
        )
        for (season, month), year, channel in itertools.product(
            (("Spring", 3), ("Fall", 9)), range(2021, 2026), models.CampaignChannel.values[:4]
        )
    )
    recipients = []
    for campaign in campaigns:
        for contact_id in rng.sample(contact_ids, n_contacts // 80):
            sent = datetime.datetime.combine(campaign.starts_on, datetime.time(10), tzinfo=datetime.UTC)
            responded = sent + datetime.timedelta(days=rng.randint(1, 20)) if rng.random() < 0.08 else None
            recipients.append(
                models.CampaignRecipient(campaign=campaign, contact_id=contact_id, sent_at=sent, responded_at=responded)
            )
    models.CampaignRecipient.objects.bulk_create(recipients, batch_size=5000)
    print(f"  {len(products)} products, {len(campaigns)} campaigns, {len(recipients):,} recipients", flush=True)

    def lines(count: int):
        chosen = []
        for position in range(1, count + 1):
            product = rng.choice(products[:8]) if rng.random() < 0.8 else rng.choice(products)
            quantity = Decimal(rng.choice((1, 1, 1, 2, 3, 4)))
            chosen.append((position, product, quantity, product.unit_price, product.taxable))
        return chosen

    def totals(chosen):
        subtotal = sum((line_total(qty, price) for _, _, qty, price, _ in chosen), Decimal(0))
        taxable = sum((line_total(qty, price) for _, _, qty, price, tax in chosen if tax), Decimal(0))
        tax = tax_amount(taxable, TAX_RATE)
        return q(subtotal), tax, q(subtotal + tax)

    def item(model, position, product, quantity, price, taxable, **parent):
        return model(
            product=product,
            description=product.name,
            quantity=quantity,
            unit_price=price,
            taxable=taxable,
            line_total=line_total(quantity, price),
            position=position,
            **parent,
        )

    n_quotes = n_invoices * 3 // 5
    quotes, quote_lines = [], []
    for _ in range(n_quotes):
        issued = START + datetime.timedelta(days=rng.randrange(span))
        chosen = lines(rng.choice((1, 2, 2, 3)))
        subtotal, tax, total = totals(chosen)
        quotes.append(
            models.Quote(
                contact_id=rng.choice(contact_ids),
                status=rng.choice(models.QuoteStatus.values),
                campaign=rng.choice(campaigns) if rng.random() < 0.3 else None,
                issue_date=issued,
                expiration_date=issued + datetime.timedelta(days=30),
                tax_rate=TAX_RATE,
                subtotal=subtotal,
                tax_amount=tax,
                total_amount=total,
                payment_terms="Net 30",
            )
        )
        quote_lines.append(chosen)
    quotes = models.Quote.objects.bulk_create(quotes, batch_size=5000)
    models.QuoteItem.objects.bulk_create(
        (
            item(models.QuoteItem, *line, quote=quote)
            for quote, chosen in zip(quotes, quote_lines, strict=True)
            for line in chosen
        ),
        batch_size=5000,
    )
    print(f"  {len(quotes):,} quotes, {sum(map(len, quote_lines)):,} quote lines", flush=True)

    invoices, invoice_lines, paid_amounts = [], [], []
    for _ in range(n_invoices):
        issued = START + datetime.timedelta(days=rng.randrange(span))
        due = issued + datetime.timedelta(days=30)
        chosen = lines(rng.choice((1, 2, 2, 3)))
        subtotal, tax, total = totals(chosen)
        status = rng.choices(models.InvoiceStatus.values, (8, 87, 5))[0]
        paid = Decimal(0)
        if status == models.InvoiceStatus.SENT and (due < today or rng.random() < 0.5):
            roll = rng.random()
            paid = total if roll < 0.8 else q(total / 2) if roll < 0.9 else Decimal(0)
        invoice = models.Invoice(
            contact_id=rng.choice(customer_ids),
            status=status,
            issue_date=issued,
            due_date=due,
            tax_rate=TAX_RATE,
            subtotal=subtotal,
            tax_amount=tax,
            total_amount=total,
            amount_paid=paid,
            balance_due=total - paid if status != models.InvoiceStatus.VOID else Decimal(0),
            payment_terms="Net 30",
            paid_date=min(today, due - datetime.timedelta(days=rng.randint(0, 25))) if paid == total else None,
            quickbooks_invoice_id=None,
            email_status=models.EmailStatus.EMAIL_SENT if status == "sent" else models.EmailStatus.NOT_SET,
        )
        invoice.payment_status = invoice_payment_status_derive(invoice, today)
        invoices.append(invoice)
        invoice_lines.append(chosen)
        paid_amounts.append(paid)
    invoices = models.Invoice.objects.bulk_create(invoices, batch_size=5000)
    models.InvoiceItem.objects.bulk_create(
        (
            item(models.InvoiceItem, *line, invoice=invoice)
            for invoice, chosen in zip(invoices, invoice_lines, strict=True)
            for line in chosen
        ),
        batch_size=5000,
    )
    payments, paid_invoices = [], []
    for invoice, paid in zip(invoices, paid_amounts, strict=True):
        if paid:
            payments.append(
                models.Payment(
                    contact_id=invoice.contact_id,
                    amount=paid,
                    payment_date=invoice.paid_date or invoice.due_date,
                    method=rng.choice(models.PaymentMethod.values),
                    reference=f"{rng.randint(1000, 99999)}",
                )
            )
            paid_invoices.append(invoice)
    payments = models.Payment.objects.bulk_create(payments, batch_size=5000)
    models.PaymentApplication.objects.bulk_create(
        (
            models.PaymentApplication(payment=payment, invoice=invoice, amount=payment.amount)
            for payment, invoice in zip(payments, paid_invoices, strict=True)
        ),
        batch_size=5000,
    )
    with connection.cursor() as cursor:  # what `document_number_assign` does on save, and half linked to QBO
        cursor.execute("UPDATE crm_quote SET quote_number = 'Q-' || lpad(id::text, 6, '0')")
        cursor.execute(
            "UPDATE crm_invoice SET invoice_number = 'INV-' || lpad(id::text, 6, '0'), "
            "quickbooks_invoice_id = CASE WHEN id % 2 = 0 THEN (5000 + id)::text END"
        )
    print(
        f"  {len(invoices):,} invoices, {sum(map(len, invoice_lines)):,} invoice lines, {len(payments):,} payments "
        f"({time.perf_counter() - started:.0f} s)",
        flush=True,
    )


# --- measuring ------------------------------------------------------------------------------------------------


def search_terms() -> dict[str, str]:
    """A surname as common as a typical caller's (about 1 in 400 contacts); one customer's first and last name, and
    the phone typed another way than stored ("(617) 555-0134" for "617.555.0134") and as its last 7 digits."""
    from django.db.models import Count

    from crm.models import Campaign, Contact, Product

    surnames = list(
        Contact.objects.values("last_name").annotate(n=Count("id")).order_by("-n").values_list("last_name", "n")
    )
    total = sum(n for _, n in surnames)
    surname = min(surnames, key=lambda row: abs(row[1] - total / 400))[0]
    # The 500th customer with a bit of everything, so the phone search finds rows on every page that has one.
    contact = (
        Contact.objects.filter(activities__isnull=False, quotes__isnull=False, payments__isnull=False)
        .order_by("id")
        .distinct()[500]
    )
    digits = contact.phone_e164[-10:]
    phone = f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
    return {
        "name": surname,
        "full name": f"{contact.first_name} {contact.last_name}",
        "phone": phone if phone != contact.phone else f"{digits[:3]}-{digits[3:6]}-{digits[6:]}",
        "last7": digits[3:],
        "product": Product.objects.order_by("id").values_list("name", flat=True)[3].split()[0],
        "campaign": Campaign.objects.order_by("id").values_list("name", flat=True)[5].split()[0],
    }


def page_urls(model_name: str, terms: dict[str, str]) -> dict[str, str | None]:
    """The list and its searches; a product or campaign is searched by a word of its own name, and by no person."""
    from django.contrib import admin
    from django.urls import reverse

    model = next(m for m in admin.site._registry if m._meta.app_label == "crm" and m._meta.model_name == model_name)
    url = reverse(f"admin:crm_{model_name}_changelist")
    own = {"product": terms["product"], "campaign": terms["campaign"]}.get(model_name)
    has_phone = bool(getattr(admin.site._registry[model], "phone_search_fields", ()))
    searches = {
        "name": own or terms["name"],
        "full name": None if own else terms["full name"],
        "phone": terms["phone"] if has_phone else None,
        "last7": terms["last7"] if has_phone else None,
    }
    return {"page": url} | {
        kind: f"{url}?{urlencode({'q': term})}" if term else None for kind, term in searches.items()
    }


def rows_shown(html: str) -> int:
    body = html.split('<table id="result_list">', 1)[-1].split("</tbody>", 1)[0]
    return body.count("<tr") - 1 if '<table id="result_list">' in html else 0  # minus the header row


def measure(client, url: str, runs: int, explain_ms: float | None) -> tuple[int, int, float]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    connection.queries_log.clear()  # under DEBUG the log keeps 9,000 queries, and a full one counts none
    with CaptureQueriesContext(connection) as queries:  # a warm-up run that also counts queries
        response = client.get(url)
    if response.status_code != 200:
        raise SystemExit(f"{url}: HTTP {response.status_code}")
    if explain_ms is not None:
        explain(queries.captured_queries, explain_ms)
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        client.get(url)
        timings.append((time.perf_counter() - start) * 1000)
    return rows_shown(response.content.decode()), len(queries), statistics.median(timings)


def explain(captured: list[dict], threshold_ms: float) -> None:
    from django.db import connection

    for query in captured:
        if float(query["time"]) * 1000 < threshold_ms:
            continue
        print(f"    -- {float(query['time']) * 1000:.1f} ms: {query['sql']}")
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + query["sql"])
            for (line,) in cursor.fetchall():
                print(f"       {line}")


def report(label: str, clients: dict, terms: dict[str, str], pages, runs: int, explain_ms: float | None) -> None:
    print(f"\n{label}")
    print(
        f"{'user':<11} {'page':<18} {'rows':>5} {'queries':>7} {'page ms':>8}",
        *(f"{kind + ' ms':>12}" for kind in SEARCHES),
    )
    for role, client in clients.items():
        for model_name in pages:
            urls = page_urls(model_name, terms)
            rows, count, page_ms = measure(client, urls["page"], runs, explain_ms)
            cells = []
            for kind in SEARCHES:
                if urls[kind] is None:
                    cells.append("-")
                    continue
                found, _, ms = measure(client, urls[kind], runs, explain_ms)
                cells.append(f"{ms:.0f} ({found})")
            print(
                f"{role:<11} {model_name:<18} {rows:>5} {count:>7} {page_ms:>8.0f}",
                *(f"{cell:>12}" for cell in cells),
                flush=True,
            )


def logged_in_clients(roles) -> dict:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test import Client

    from crm.roles import BOOKKEEPER

    user_model = get_user_model()
    superuser, _ = user_model.objects.get_or_create(username="bench-admin", defaults={"is_staff": True})
    superuser.is_superuser = True
    superuser.save()
    bookkeeper, _ = user_model.objects.get_or_create(username="bench-bookkeeper", defaults={"is_staff": True})
    bookkeeper.groups.add(Group.objects.get(name=BOOKKEEPER))
    clients = {}
    for role, user in (("superuser", superuser), ("bookkeeper", bookkeeper)):
        if role in roles:
            clients[role] = Client(HTTP_HOST="localhost")  # DEBUG's default ALLOWED_HOSTS
            clients[role].force_login(user)
    return clients


def search_indexes() -> list[str]:
    """The indexes the search-index migration creates, as it lists them."""
    return list(importlib.import_module("crm.migrations.0006_search_indexes").INDEX_NAMES)


class Rollback(Exception):
    pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--invoices", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=5, help="timed runs per URL (after one warm-up); the median")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--database", default="crm_bench_changelist")
    parser.add_argument("--keep", action="store_true", help="keep the database (and its rows) at the end")
    parser.add_argument("--reuse", action="store_true", help="use the database if it already has the rows")
    parser.add_argument("--after-only", action="store_true", help="skip the run without the search indexes")
    parser.add_argument("--pages", type=lambda text: text.split(","), default=PAGES, help="e.g. contact,invoice")
    parser.add_argument("--roles", type=lambda text: text.split(","), default=["superuser", "bookkeeper"])
    parser.add_argument("--explain", type=float, metavar="MS", help="EXPLAIN ANALYZE every query slower than MS")
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
    from django.db import connection, transaction

    from crm.models import Contact

    try:
        call_command("migrate", verbosity=0)
        if not Contact.objects.exists():
            print(f"generating into {args.database}:", flush=True)
            generate(args.contacts, args.invoices, args.seed)
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE")  # what autovacuum will have done on a live database
        terms = search_terms()
        print(
            f"\nsearches: name {terms['name']!r} (products {terms['product']!r}, campaigns {terms['campaign']!r}), "
            f"full name {terms['full name']!r}, phone {terms['phone']!r}, last 7 digits {terms['last7']!r}; "
            f"median of {args.runs} runs after a warm-up, ms; (n) = rows shown"
        )
        indexes = search_indexes()
        if not args.after_only:
            try:
                with transaction.atomic():
                    with connection.cursor() as cursor:
                        for name in indexes:
                            cursor.execute(f'DROP INDEX IF EXISTS "{name}"')
                    report(
                        "before: without the search indexes (dropped in a transaction, rolled back)",
                        logged_in_clients(args.roles),
                        terms,
                        args.pages,
                        args.runs,
                        args.explain,
                    )
                    raise Rollback
            except Rollback:
                pass
        report(
            f"after: with the search indexes ({len(indexes)})",
            logged_in_clients(args.roles),
            terms,
            args.pages,
            args.runs,
            args.explain,
        )
    finally:
        connection.close()
        if not args.keep:
            server.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        server.close()


if __name__ == "__main__":
    main()
