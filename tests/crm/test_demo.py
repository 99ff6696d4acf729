"""load_demo: the counts and logins it promises, idempotence, the real-world mess, and money to the cent.

The demo is loaded once per module (about a second) inside a transaction rolled back at the end; each test
runs in its own savepoint on top of it, so a test that reloads or resets leaves the next one untouched.
"""

import datetime
import re
from collections import Counter, defaultdict
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from crm.demo import sources
from crm.demo.contacts import NICKNAMES, OFFICE_STAFF, SPOUSES
from crm.demo.plan import demo_plan
from crm.models import (
    Activity,
    Campaign,
    CampaignRecipient,
    Contact,
    Invoice,
    Payment,
    PaymentApplication,
    Product,
    Quote,
)
from crm.money import ZERO, line_total, q, tax_amount
from crm.services import invoice_recalculate, quote_recalculate

MODELS = (Product, Campaign, CampaignRecipient, Contact, Activity, Quote, Invoice, Payment, PaymentApplication)
CAMPAIGNS = {"Fall Foundation Postcards", "Google Ads \u2013 Wet Basement", "Past Customer Referral Drive"}


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), transaction.atomic():
        out = StringIO()
        call_command("load_demo", stdout=out)
        yield out.getvalue()
        transaction.set_rollback(True)


def _counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in MODELS}


def test_plan_is_deterministic_and_two_years_back():
    today = datetime.date(2031, 3, 7)
    plan = demo_plan(today=today)
    assert plan == demo_plan(today=today)
    earliest = today - datetime.timedelta(days=731)
    assert all(earliest <= row["created_at"].date() <= today for row in plan.contacts)
    assert all(earliest <= row["occurred_at"].date() <= today for row in plan.activities)
    assert all(earliest <= row["quote_date"] <= today for row in plan.quotes)
    assert all(earliest <= row["date"] <= today for row in plan.payments)
    assert {c["name"] for c in plan.campaigns} >= {"Spring Basement Check 2030", *CAMPAIGNS}


def test_load_creates_the_data_set_and_logins(demo, db):
    plan = demo_plan(today=timezone.localdate())
    counts = _counts()
    assert counts["Product"] == 12
    assert set(Product.objects.values_list("name", flat=True)) == {p["name"] for p in sources.products()}
    assert 300 <= counts["Contact"] == len(plan.contacts) <= 330
    assert 2000 <= counts["Activity"] <= 4000
    assert counts["Campaign"] == 4 and set(Campaign.objects.values_list("name", flat=True)) > CAMPAIGNS
    assert counts["CampaignRecipient"] > 200
    assert counts["Quote"] == 120 and counts["Invoice"] == 80
    assert counts["Payment"] > 50
    assert len(set(Quote.objects.values_list("status", flat=True))) == 6
    statuses = Counter(Invoice.objects.values_list("payment_status", flat=True))
    assert statuses["paid"] and statuses["overdue"] and statuses["partial"] and statuses["unpaid"]
    paid = Invoice.objects.filter(payment_status="paid")
    assert not paid.filter(paid_date=None).exists()
    assert not Invoice.objects.exclude(payment_status="paid").exclude(paid_date=None).exists()
    assert Invoice.objects.filter(quote__isnull=False).count() > 60  # mostly from accepted quotes

    User = get_user_model()
    for username, group in (("bookkeeper", "Bookkeeper"), ("staff", "Staff"), ("owner", "Owner")):
        user = User.objects.get(username=username)
        assert user.is_staff and not user.is_superuser
        assert list(user.groups.values_list("name", flat=True)) == [group]
        assert user.check_password(f"{username}-demo")
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff and admin.check_password("admin-demo")
    for username in ("bookkeeper", "staff", "owner", "admin"):
        assert re.search(rf"^\s+{username}\s+/\s+{username}-demo\s", demo, re.MULTILINE)


def test_second_run_changes_nothing(demo, db):
    before = _counts()
    invoices = list(
        Invoice.objects.values_list("invoice_number", "total_amount", "balance_due", "status", "updated_at")
    )
    passwords = dict(get_user_model().objects.values_list("username", "password"))
    out = StringIO()
    call_command("load_demo", stdout=out)
    assert _counts() == before
    assert (
        list(Invoice.objects.values_list("invoice_number", "total_amount", "balance_due", "status", "updated_at"))
        == invoices
    )
    assert dict(get_user_model().objects.values_list("username", "password")) == passwords
    assert "nothing to add" in out.getvalue()


def test_reset_reloads_without_duplicates(demo, db):
    before = _counts()
    call_command("load_demo", "--reset", stdout=StringIO())
    assert _counts() == before


def test_the_mess_is_there(demo, db):
    shared = Contact.objects.values("phone_e164").annotate(n=Count("id")).filter(n__gte=2)
    assert shared.count() >= 10
    # A household or business line: two different people on one number.
    assert any(
        len(set(Contact.objects.filter(phone_e164=row["phone_e164"]).values_list("first_name", flat=True))) >= 2
        for row in shared
    )
    # The same number typed three ways, across contacts and the activities logged with it.
    typed = defaultdict(set)
    for e164, raw in [
        *Contact.objects.values_list("phone_e164", "phone"),
        *Activity.objects.values_list("phone_number_e164", "phone_number"),
    ]:
        typed[e164].add(raw)
    assert any(
        {f"({n[2:5]}) {n[5:8]}-{n[8:]}", f"+1 {n[2:5]}-{n[5:8]}-{n[8:]}", f"{n[2:5]}.{n[5:8]}.{n[8:]}"} <= raws
        for n, raws in typed.items()
        if n
    )
    assert Contact.objects.filter(email="").count() >= 20
    # Duplicates: the same person twice under one E.164 number, maybe under a nickname.
    people = defaultdict(list)
    for e164, first, last in Contact.objects.values_list("phone_e164", "first_name", "last_name"):
        people[(e164, last)].append(NICKNAMES.get(first, first))
    assert sum(1 for names in people.values() if len(names) != len(set(names))) >= 5
    # Typos ("Jonh", "Smtih"): names spelt like no canonical person, nickname, spouse or office contact.
    known = {name for p in sources.people() for name in (p["first_name"], p["last_name"])}
    known |= {*NICKNAMES.values(), *SPOUSES, *(name for pair in OFFICE_STAFF for name in pair)}
    misspelt = Contact.objects.exclude(last_name__in=known) | Contact.objects.exclude(first_name__in=known)
    assert misspelt.count() >= 5
    assert all(c.phone_e164.startswith("+1") and len(c.phone_e164) == 12 for c in Contact.objects.all())


def test_quotes_come_from_campaigns_their_contacts_received(demo, db):
    linked = Quote.objects.filter(campaign__isnull=False)
    assert linked.count() >= 10
    received = set(CampaignRecipient.objects.values_list("campaign_id", "contact_id"))
    assert all((quote.campaign_id, quote.contact_id) in received for quote in linked)


@pytest.mark.parametrize("model", [Quote, Invoice])
def test_document_totals_are_rounded_lines_plus_tax(demo, db, model):
    for document in model.objects.select_related("contact").prefetch_related("items"):
        lines = list(document.items.all())
        assert lines
        assert all(line.line_total == line_total(line.quantity, line.unit_price) for line in lines)
        assert document.subtotal == sum((line.line_total for line in lines), ZERO)
        taxable = sum((line.line_total for line in lines if line.taxable), ZERO)
        expected_tax = ZERO if document.contact.tax_exempt else tax_amount(taxable, document.tax_rate)
        assert document.tax_amount == expected_tax
        assert document.total_amount == document.subtotal + document.tax_amount
    # Awkward quantities really were rounded (e.g. 37.5 ft x 18.25 = 684.375 -> 684.38).
    assert any(
        line.quantity * line.unit_price != line.line_total
        for document in model.objects.prefetch_related("items")
        for line in document.items.all()
    )


def test_invoice_balances_reconcile_with_payments(demo, db):
    applied = defaultdict(lambda: ZERO)
    for invoice_id, amount in PaymentApplication.objects.values_list("invoice_id", "amount"):
        applied[invoice_id] += amount
    for invoice in Invoice.objects.all():
        assert invoice.amount_paid == q(applied[invoice.pk])
        assert invoice.balance_due == invoice.total_amount - applied[invoice.pk]
        assert ZERO <= invoice.balance_due <= invoice.total_amount
    for payment in Payment.objects.prefetch_related("applications"):
        assert payment.amount == sum((a.amount for a in payment.applications.all()), ZERO)
        assert all(a.invoice.contact_id == payment.contact_id for a in payment.applications.select_related("invoice"))
    assert Payment.objects.annotate(n=Count("applications")).filter(n=2).exists()


def test_crm_services_agree_with_the_bulk_load(demo, db):
    """Recalculating through crm.services changes nothing: the bulk loader used the same rules."""
    before = list(
        Invoice.objects.values_list(
            "pk", "subtotal", "tax_amount", "total_amount", "amount_paid", "balance_due", "status"
        )
    )
    for invoice in Invoice.objects.select_related("contact"):
        invoice_recalculate(invoice=invoice)
    after = list(
        Invoice.objects.values_list(
            "pk", "subtotal", "tax_amount", "total_amount", "amount_paid", "balance_due", "status"
        )
    )
    assert after == before
    quotes = list(Quote.objects.values_list("pk", "subtotal", "tax_amount", "total_amount"))
    for quote in Quote.objects.select_related("contact"):
        quote_recalculate(quote=quote)
    assert list(Quote.objects.values_list("pk", "subtotal", "tax_amount", "total_amount")) == quotes


def test_a_run_on_another_day_adds_nothing(demo, db):
    """`make demo` runs load_demo every time: tomorrow's plan picks other recipients for the same campaigns, and
    those must not be added to the campaigns already loaded."""
    from crm.demo.load import demo_load

    today = timezone.localdate()
    other_day = today + datetime.timedelta(days=1)
    if other_day.year != today.year:  # a new year renames the spring campaign: a new campaign is right then
        other_day = today - datetime.timedelta(days=1)
    before = _counts()
    demo_load(today=other_day)
    assert _counts() == before
