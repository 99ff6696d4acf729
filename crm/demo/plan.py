"""The whole demo data set as plain dicts: one deterministic call, no database.

``demo_plan(today=..., seed=...)`` is what ``crm.demo.load`` writes; the same seed and day give the same plan,
which is what makes ``load_demo`` reproducible and its tests exact.
"""

from dataclasses import dataclass
from datetime import date

from crm.demo import DEMO_SEED, sources
from crm.demo.activities import activities_generate
from crm.demo.billing import invoices_generate, payments_generate
from crm.demo.campaigns import campaigns_generate, recipients_generate
from crm.demo.contacts import contacts_generate
from crm.demo.quotes import quotes_generate


@dataclass(frozen=True)
class DemoPlan:
    products: list[dict]
    contacts: list[dict]
    campaigns: list[dict]
    recipients: list[dict]
    quotes: list[dict]
    invoices: list[dict]
    payments: list[dict]
    activities: list[dict]


def demo_plan(*, today: date, seed: int = DEMO_SEED) -> DemoPlan:
    products = sources.products()
    contacts = contacts_generate(sources.people(), today=today, seed=seed)
    campaigns = campaigns_generate(today=today)
    recipients = recipients_generate(campaigns, contacts, today=today, seed=seed)
    quotes = quotes_generate(contacts, recipients, products, today=today, seed=seed)
    invoices = invoices_generate(quotes, contacts, products, today=today, seed=seed)
    payments = payments_generate(invoices, today=today, seed=seed)
    activities = activities_generate(contacts, recipients, quotes, invoices, payments, today=today, seed=seed)
    return DemoPlan(products, contacts, campaigns, recipients, quotes, invoices, payments, activities)
