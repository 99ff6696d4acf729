"""The changelist searches at scale (issue 14): the indexes of migration 0006 exist on PostgreSQL and the planner uses
the trigram index for a contact name search at 20,000 contacts; a search through a foreign key finds exactly the rows
Django's own search finds, without joining the related table."""

import importlib
import random

import pytest
from django.contrib import admin
from django.contrib.admin import ModelAdmin
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm.models import Activity, CampaignRecipient, Contact, Invoice, Payment, Quote

from .factories import (
    ActivityFactory,
    CampaignFactory,
    CampaignRecipientFactory,
    ContactFactory,
    InvoiceFactory,
    PaymentFactory,
    QuoteFactory,
)

pytestmark = pytest.mark.django_db

MIGRATION = importlib.import_module("crm.migrations.0006_search_indexes")


def _index_definitions() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename LIKE 'crm\\_%'")
        return dict(cursor.fetchall())


@pytest.mark.postgres
def test_every_search_and_order_index_exists():
    definitions = _index_definitions()
    assert set(MIGRATION.INDEX_NAMES) <= set(definitions)
    contact = definitions["crm_contact_search_trgm"]
    assert "USING gin" in contact
    for column in ("first_name", "last_name", "company_name", "email", "phone", "mobile_phone", "zip_code"):
        # The expression Django's icontains filters on: UPPER("col"::text) LIKE UPPER('%…%').
        assert f"upper(({column})::text) gin_trgm_ops" in contact
    assert "phone_e164 gin_trgm_ops" in contact  # the last-7-digits search: endswith
    assert "upper((invoice_number)::text) gin_trgm_ops" in definitions["crm_invoice_number_trgm"]
    assert "(issue_date DESC, id DESC)" in definitions["crm_invoice_issued_idx"]
    assert "(sent_at DESC, id)" in definitions["crm_recipient_sent_idx"]


@pytest.mark.postgres
def test_contact_name_search_uses_the_trigram_index_at_20000_contacts(superuser_client):
    """The planner's own choice, on statistics ANALYZE gathered (rows the test's transaction inserted are sampled
    too): every query of the search page that tests the search columns reads the trigram index, none scans the
    table."""
    rng = random.Random(14)
    firsts = ["James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Susan"]
    lasts = [f"{stem}{suffix}" for stem in ("Harlow", "Quint", "Bexley", "Marsh", "Tolland") for suffix in "ae io"]
    contacts = []
    for n in range(20_000):
        first, last = rng.choice(firsts), "Cooper" if n % 500 == 0 else f"{rng.choice(lasts)}{n % 997}"
        contacts.append(
            Contact(
                first_name=first,
                last_name=last,
                company_name=f"{last} Properties LLC" if n % 7 == 0 else "",
                phone=f"(617) 555-{n % 10_000:04d}",
                phone_e164=f"+1617555{n % 10_000:04d}",
                email=f"{first}.{last}{n}@example.com".lower(),
                address_line1=f"{n % 900 + 1} {rng.choice(lasts)} Street",
                city="Quincy",
                state="MA",
                zip_code="02169",
                source="phone_system",
            )
        )
    Contact.objects.bulk_create(contacts, batch_size=2000)
    with connection.cursor() as cursor:
        # What autovacuum does on a live database: merge the GIN index's pending entries, gather statistics.
        cursor.execute("SELECT gin_clean_pending_list('crm_contact_search_trgm'::regclass)")
        cursor.execute("ANALYZE crm_contact")

    with CaptureQueriesContext(connection) as queries:
        response = superuser_client.get(reverse("admin:crm_contact_changelist"), {"q": "cooper"})
    assert len(response.context["cl"].result_list) == 40

    searches = [query["sql"] for query in queries.captured_queries if "LIKE UPPER('%cooper%')" in query["sql"]]
    assert len(searches) >= 3  # the count, the page, the date hierarchy
    for sql in searches:
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN " + sql)
            plan = "\n".join(line for (line,) in cursor.fetchall())
        assert "crm_contact_search_trgm" in plan, plan
        assert "Seq Scan on crm_contact" not in plan, plan


def _document_world():
    """Rows whose contact or own fields match the terms below in every way a search can, and rows that must not."""
    ada = ContactFactory(first_name="Ada", last_name="Lovelace", company_name="Analytical Engines")
    grace = ContactFactory(first_name="Grace", last_name="Hopper", company_name="", phone="(781) 555-0100")
    nobody = ContactFactory(first_name="Alan", last_name="Turing", company_name="Lovelace Foundation")
    campaign = CampaignFactory(name="Lovelace spring mailer")
    for contact in (ada, grace, nobody):
        ActivityFactory(contact=contact, summary=f"Called about {contact.last_name}'s basement")
        QuoteFactory(contact=contact)
        InvoiceFactory(contact=contact, items=[("1", "10")])
        PaymentFactory(contact=contact, reference=f"CHK {contact.last_name}")
        CampaignRecipientFactory(campaign=campaign if contact is grace else CampaignFactory(), contact=contact)
    ActivityFactory(contact=grace, summary="Ada called back for Grace")


def _phone(row) -> str:
    return row.phone_number_e164 if isinstance(row, Activity) else row.contact.phone_e164


def _sql(queryset) -> str:
    try:
        return str(queryset.query)
    except EmptyResultSet:  # every id list came back empty: Django runs no query at all
        return ""


TERMS = ["lovelace", "Ada Lovelace", "ada hopper", '"Analytical Engines"', "hopper basement", "INV", "zzz", "555-0100"]


@pytest.mark.parametrize("model", [Activity, Quote, Invoice, Payment, CampaignRecipient])
@pytest.mark.parametrize("max_ids", [5000, 1])  # ids as a list; past the cap, as a subquery
def test_search_through_a_relation_finds_what_djangos_search_finds(model, max_ids, superuser):
    _document_world()
    model_admin = admin.site._registry[model]
    model_admin.related_search_max_ids = max_ids
    request = RequestFactory().get("/")
    request.user = superuser
    try:
        for term in TERMS:
            queryset = model_admin.get_queryset(request)
            ours, _ = model_admin.get_search_results(request, queryset, term)
            django, _ = ModelAdmin.get_search_results(model_admin, request, queryset, term)
            expected = set(django)
            if term == "555-0100" and getattr(model_admin, "phone_search_fields", ()):  # PhoneSearchMixin's part
                expected |= {row for row in queryset if _phone(row).endswith("5550100")}
            assert set(ours) == expected, term
            assert " JOIN " not in _sql(ours), term  # each table searched with its own indexes
    finally:
        del model_admin.related_search_max_ids


def test_invoice_search_by_contact_name_pages_like_before(bookkeeper_client):
    _document_world()
    response = bookkeeper_client.get(reverse("admin:crm_invoice_changelist"), {"q": "ada lovelace"})
    assert [invoice.contact.last_name for invoice in response.context["cl"].result_list] == ["Lovelace"]
