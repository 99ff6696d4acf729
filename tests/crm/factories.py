"""factory_boy factories for the CRM's models, with Attack-a-Crack-like data (colleagues import these).

Phones come in the real-world formats ("(617) 555-0134", "+1 617-555-0134", "617.555.0134"); amounts are Decimal.
Documents built with items are recalculated through `crm.services`, so their stored totals are the real ones.
"""

import datetime
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone
from factory import fuzzy

from crm import models, services

PHONE_FORMATS = ("({a}) {b}-{c}", "+1 {a}-{b}-{c}", "{a}.{b}.{c}", "{a}{b}{c}", "{a}-{b}-{c}")
AREA_CODES = ("617", "781", "508", "978", "857", "339")

CRACK_REPAIR_PRODUCTS = (
    ("Crack injection (per crack)", "service", Decimal("450.00"), True),
    ("Wall crack repair", "service", Decimal("650.00"), True),
    ("Carbon-fiber strap", "non_inventory", Decimal("325.00"), True),
    ("Bowed-wall anchor", "non_inventory", Decimal("595.00"), True),
    ("Sump pump installation", "service", Decimal("1495.00"), True),
    ("Inspection fee", "service", Decimal("150.00"), False),
    ("Polyurethane injection foam (cartridge)", "inventory", Decimal("38.50"), True),
    ("Epoxy paste (tube)", "inventory", Decimal("24.75"), True),
)


def messy_phone(n: int) -> str:
    """A Massachusetts-looking 555 number, typed in one of the formats people actually use."""
    area = AREA_CODES[n % len(AREA_CODES)]
    fmt = PHONE_FORMATS[n % len(PHONE_FORMATS)]
    return fmt.format(a=area, b="555", c=f"{n % 10000:04d}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@attackacrack.example")
    is_staff = True
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery staple")

    @factory.post_generation
    def groups(self, create, extracted, **kwargs):
        """`UserFactory(groups=["Staff"])` puts the user in the groups the roles migration created."""
        if create and extracted:
            self.groups.add(*Group.objects.filter(name__in=extracted))
        if create:
            self.save()


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Contact

    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    company_name = ""
    phone = factory.Sequence(messy_phone)
    email = factory.LazyAttribute(lambda c: f"{c.first_name}.{c.last_name}@example.com".lower())
    address_line1 = factory.Faker("street_address")
    city = fuzzy.FuzzyChoice(["Boston", "Quincy", "Braintree", "Newton", "Somerville", "Waltham", "Medford"])
    state = "MA"
    zip_code = fuzzy.FuzzyChoice(["02169", "02184", "02458", "02143", "02451", "02155"])
    source = fuzzy.FuzzyChoice([choice for choice, _ in models.ContactSource.choices])


class ActivityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Activity

    contact = factory.SubFactory(ContactFactory)
    kind = fuzzy.FuzzyChoice([choice for choice, _ in models.ActivityKind.choices])
    direction = fuzzy.FuzzyChoice([choice for choice, _ in models.Direction.choices])
    occurred_at = factory.LazyFunction(timezone.now)
    phone_number = factory.SelfAttribute("contact.phone")
    summary = factory.Faker("sentence", nb_words=10)
    duration_seconds = factory.Maybe(
        factory.LazyAttribute(lambda a: a.kind == "call"), fuzzy.FuzzyInteger(20, 1800), None
    )


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Campaign

    name = factory.Sequence(lambda n: f"Spring basement check-up {2024 + n % 3} #{n}")
    channel = fuzzy.FuzzyChoice([choice for choice, _ in models.CampaignChannel.choices])
    starts_on = factory.LazyFunction(lambda: timezone.localdate() - datetime.timedelta(days=60))
    ends_on = factory.LazyAttribute(lambda c: c.starts_on + datetime.timedelta(days=30))
    cost = Decimal("1250.00")


class CampaignRecipientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.CampaignRecipient

    campaign = factory.SubFactory(CampaignFactory)
    contact = factory.SubFactory(ContactFactory)


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Product
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: CRACK_REPAIR_PRODUCTS[n % len(CRACK_REPAIR_PRODUCTS)][0])
    item_type = factory.Sequence(lambda n: CRACK_REPAIR_PRODUCTS[n % len(CRACK_REPAIR_PRODUCTS)][1])
    unit_price = factory.Sequence(lambda n: CRACK_REPAIR_PRODUCTS[n % len(CRACK_REPAIR_PRODUCTS)][2])
    taxable = factory.Sequence(lambda n: CRACK_REPAIR_PRODUCTS[n % len(CRACK_REPAIR_PRODUCTS)][3])
    description = factory.LazyAttribute(lambda p: f"{p.name} by Attack-a-Crack, guaranteed 10 years.")
    income_account_id = "1"


def _lines_add(lines, make_line) -> None:
    """`items=[(qty, price), ...]` on a document factory: one line each, in order."""
    for position, (qty, price) in enumerate(lines, 1):
        make_line(quantity=Decimal(qty), unit_price=Decimal(price), position=position)


class QuoteFactory(factory.django.DjangoModelFactory):
    """`QuoteFactory(items=[(qty, price), ...])` adds lines and recalculates totals."""

    class Meta:
        model = models.Quote
        skip_postgeneration_save = True

    contact = factory.SubFactory(ContactFactory)
    status = models.QuoteStatus.SENT
    expiration_date = factory.LazyFunction(lambda: timezone.localdate() + datetime.timedelta(days=30))
    tax_rate = Decimal("6.25")
    payment_terms = "Net 30"

    @factory.post_generation
    def items(self, create, extracted, **kwargs):
        if create and extracted:
            _lines_add(extracted, lambda **line: QuoteItemFactory(quote=self, **line))
            services.quote_recalculate(quote=self)


class QuoteItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.QuoteItem

    quote = factory.SubFactory(QuoteFactory)
    product = factory.SubFactory(ProductFactory)
    description = factory.SelfAttribute("product.name")
    quantity = Decimal("1")
    unit_price = factory.SelfAttribute("product.unit_price")
    taxable = factory.SelfAttribute("product.taxable")


class InvoiceFactory(factory.django.DjangoModelFactory):
    """`InvoiceFactory(items=[(qty, price), ...])` adds lines and recalculates totals, balance and status."""

    class Meta:
        model = models.Invoice
        skip_postgeneration_save = True

    contact = factory.SubFactory(ContactFactory)
    status = models.InvoiceStatus.SENT
    issue_date = factory.LazyFunction(timezone.localdate)
    due_date = factory.LazyAttribute(lambda i: i.issue_date + datetime.timedelta(days=30))
    tax_rate = Decimal("6.25")
    payment_terms = "Net 30"

    @factory.post_generation
    def items(self, create, extracted, **kwargs):
        if create and extracted:
            _lines_add(extracted, lambda **line: InvoiceItemFactory(invoice=self, **line))
            services.invoice_recalculate(invoice=self)


class InvoiceItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.InvoiceItem

    invoice = factory.SubFactory(InvoiceFactory)
    product = factory.SubFactory(ProductFactory)
    description = factory.SelfAttribute("product.name")
    quantity = Decimal("1")
    unit_price = factory.SelfAttribute("product.unit_price")
    taxable = factory.SelfAttribute("product.taxable")


class PaymentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Payment

    contact = factory.SubFactory(ContactFactory)
    amount = Decimal("500.00")
    payment_date = factory.LazyFunction(timezone.localdate)
    method = models.PaymentMethod.CHECK
    reference = factory.Sequence(lambda n: f"CHK {1000 + n}")
