"""The CRM's admin, one module per area; importing this package registers every ModelAdmin."""

from . import activities, campaigns, contacts, products, sales

__all__ = ["activities", "campaigns", "contacts", "products", "sales"]
