"""The CRM's models, one module per concern; import them from `crm.models`."""

from .activities import Activity, ActivityKind, Direction
from .campaigns import Campaign, CampaignChannel, CampaignRecipient
from .contacts import CONTACT_FINANCIAL_FIELDS, Contact, ContactSource, CustomerType
from .products import ItemType, Product
from .sales import (
    EmailStatus,
    Invoice,
    InvoiceItem,
    InvoiceStatus,
    Payment,
    PaymentApplication,
    PaymentMethod,
    PaymentStatus,
    Quote,
    QuoteItem,
    QuoteStatus,
)

__all__ = [
    "CONTACT_FINANCIAL_FIELDS",
    "Activity",
    "ActivityKind",
    "Campaign",
    "CampaignChannel",
    "CampaignRecipient",
    "Contact",
    "ContactSource",
    "CustomerType",
    "Direction",
    "EmailStatus",
    "Invoice",
    "InvoiceItem",
    "InvoiceStatus",
    "ItemType",
    "Payment",
    "PaymentApplication",
    "PaymentMethod",
    "PaymentStatus",
    "Product",
    "Quote",
    "QuoteItem",
    "QuoteStatus",
]
