"""Writes the demo plan into the CRM: idempotent, in one transaction, a handful of bulk queries per model.

Idempotent by natural keys, not by a "loaded" flag: products and campaigns by name, contacts by (first, last,
company, phone as typed), quotes and invoices by number; activities and payments are written only with the
contacts and invoices they belong to, recipients only into a campaign that has none. A second run, on any day,
finds everything and writes nothing, and a partly loaded or partly synced database is completed rather than
duplicated.

``bulk_create`` skips ``save()``, so this module calls the same model helpers ``save()`` would (``normalize()``
for phones and e-mails, ``quantize_decimal_fields`` for money) and prices documents with ``crm.services``'s pure
``document_totals``; ``crm.demo.sales`` does the documents.
"""

import datetime
from collections.abc import Iterable

from django.db import transaction

from crm.demo import DEMO_SEED
from crm.demo.plan import DemoPlan, demo_plan
from crm.demo.sales import documents_reset, documents_write
from crm.models import Activity, Campaign, CampaignRecipient, Contact, InvoiceItem, Product, QuoteItem
from crm.models.base import quantize_decimal_fields

BATCH = 500


def contact_natural_key(row) -> tuple[str, str, str, str]:
    """What identifies a demo contact across runs: its name parts and the phone exactly as typed."""
    get = row.get if isinstance(row, dict) else lambda field: getattr(row, field)
    return (get("first_name"), get("last_name"), get("company_name"), get("phone").strip())


def _prepared(objs: Iterable) -> list:
    objs = list(objs)
    for obj in objs:
        if hasattr(obj, "normalize"):
            obj.normalize()
        quantize_decimal_fields(obj)
    return objs


def _products(plan: DemoPlan, counts: dict) -> dict[str, Product]:
    names = [p["name"] for p in plan.products]
    existing = {p.name for p in Product.objects.filter(name__in=names)}
    new = _prepared(Product(**row) for row in plan.products if row["name"] not in existing)
    Product.objects.bulk_create(new, batch_size=BATCH)
    counts["products"] = len(new)
    by_name = {p.name: p for p in Product.objects.filter(name__in=names)}
    return {row["sku"]: by_name[row["name"]] for row in plan.products}


def _campaigns(plan: DemoPlan, counts: dict) -> dict[str, Campaign]:
    names = [c["name"] for c in plan.campaigns]
    existing = {c.name for c in Campaign.objects.filter(name__in=names)}
    fields = ("name", "channel", "starts_on", "ends_on", "cost")
    new = _prepared(Campaign(**{f: row[f] for f in fields}) for row in plan.campaigns if row["name"] not in existing)
    Campaign.objects.bulk_create(new, batch_size=BATCH)
    counts["campaigns"] = len(new)
    by_name = {c.name: c for c in Campaign.objects.filter(name__in=names)}
    return {row["key"]: by_name[row["name"]] for row in plan.campaigns}


CONTACT_FIELDS = (
    "first_name",
    "last_name",
    "company_name",
    "phone",
    "mobile_phone",
    "email",
    "address_line1",
    "city",
    "state",
    "zip_code",
    "source",
    "tax_exempt",
)


def _existing_contacts(plan: DemoPlan) -> dict[tuple, Contact]:
    numbers = {row["e164"] for row in plan.contacts}
    found = Contact.objects.filter(phone_e164__in=numbers).only(*CONTACT_FIELDS[:4])
    return {contact_natural_key(c): c for c in found}


def _contacts(plan: DemoPlan, counts: dict) -> tuple[dict[str, Contact], set[str]]:
    """Contacts by demo key, and the keys created in this run (their activities are written with them)."""
    existing = _existing_contacts(plan)
    customers = {row["contact"] for row in plan.invoices}
    by_key, new, fresh = {}, [], set()
    for row in plan.contacts:
        contact = existing.get(contact_natural_key(row))
        if contact is None:
            is_customer = row["key"] in customers
            contact = Contact(
                **{f: row[f] for f in CONTACT_FIELDS},
                customer_type="customer" if is_customer else "prospect",
                payment_terms="Net 30" if is_customer else "",
            )
            new.append(contact)
            fresh.add(row["key"])
        by_key[row["key"]] = contact
    Contact.objects.bulk_create(_prepared(new), batch_size=BATCH)
    # created_at is auto_now_add (bulk_create stamps "now"); bulk_update writes the planned first-contact time.
    for row in plan.contacts:
        if row["key"] in fresh:
            by_key[row["key"]].created_at = row["created_at"]
    Contact.objects.bulk_update(new, ["created_at"], batch_size=BATCH)
    counts["contacts"] = len(new)
    return by_key, fresh


def _recipients(plan: DemoPlan, campaigns: dict, contacts: dict, counts: dict) -> None:
    """A campaign's recipients are written once, while it has none: another day's plan picks other contacts for
    the same campaign, and adding them would grow it on every ``make demo``."""
    filled = set(
        CampaignRecipient.objects.filter(campaign__in=campaigns.values()).values_list("campaign_id", flat=True)
    )
    new = [
        CampaignRecipient(
            campaign=campaigns[row["campaign"]],
            contact=contacts[row["contact"]],
            sent_at=row["sent_at"],
            responded_at=row["responded_at"],
        )
        for row in plan.recipients
        if campaigns[row["campaign"]].pk not in filled
    ]
    CampaignRecipient.objects.bulk_create(new, batch_size=BATCH)
    counts["campaign recipients"] = len(new)


def _activities(plan: DemoPlan, contacts: dict, fresh: set[str], counts: dict) -> None:
    fields = ("kind", "direction", "occurred_at", "phone_number", "summary", "duration_seconds")
    new = _prepared(
        Activity(contact=contacts[row["contact"]], **{f: row[f] for f in fields})
        for row in plan.activities
        if row["contact"] in fresh
    )
    Activity.objects.bulk_create(new, batch_size=BATCH)
    counts["activities"] = len(new)


def demo_reset(plan: DemoPlan) -> dict[str, int]:
    """Delete the rows this plan would create (documents first: money rows protect their contacts)."""
    deleted = documents_reset(plan)
    planned = {contact_natural_key(row) for row in plan.contacts}
    contact_ids = [c.pk for key, c in _existing_contacts(plan).items() if key in planned]
    deleted["contacts"] = Contact.objects.filter(pk__in=contact_ids).delete()[1].get("crm.Contact", 0)
    names = [c["name"] for c in plan.campaigns]
    deleted["campaigns"] = Campaign.objects.filter(name__in=names).delete()[1].get("crm.Campaign", 0)
    # Products stay when a line elsewhere uses them or QuickBooks knows them (items are deactivated, not deleted).
    used = {
        *QuoteItem.objects.values_list("product_id", flat=True),
        *InvoiceItem.objects.values_list("product_id", flat=True),
    }
    products = Product.objects.filter(name__in=[p["name"] for p in plan.products], quickbooks_item_id__isnull=True)
    deleted["products"] = products.exclude(pk__in=used - {None}).delete()[1].get("crm.Product", 0)
    return deleted


def demo_load(*, today: datetime.date, seed: int = DEMO_SEED, reset: bool = False) -> dict[str, int]:
    """Load (or complete) the demo data for ``today``; returns how many rows of each kind were created."""
    plan = demo_plan(today=today, seed=seed)
    counts: dict[str, int] = {}
    with transaction.atomic():
        if reset:
            demo_reset(plan)
        products = _products(plan, counts)
        campaigns = _campaigns(plan, counts)
        contacts, fresh = _contacts(plan, counts)
        _recipients(plan, campaigns, contacts, counts)
        _activities(plan, contacts, fresh, counts)
        counts.update(documents_write(plan, products=products, campaigns=campaigns, contacts=contacts, today=today))
    return counts
