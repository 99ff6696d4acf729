"""Product: a service or material Attack-a-Crack sells, shaped like a QuickBooks Online Item.

Fields are what a QBO Item maps to (API.md §4.2): Name (unique in QBO too), Description, UnitPrice, Type,
Taxable, Active, Sku, IncomeAccountRef, Id and SyncToken. Items are never deleted in QBO (Active=false), so
deactivate rather than delete here too.
"""

from django.db import models

from .base import SYNC_TOKEN_LENGTH, UNIT_PRICE, TimeStampedDecimalModel


class ItemType(models.TextChoices):
    SERVICE = "service", "Service"
    NON_INVENTORY = "non_inventory", "Non-inventory"
    INVENTORY = "inventory", "Inventory"


class Product(TimeStampedDecimalModel):
    name = models.CharField(max_length=100, unique=True, help_text="QBO Item.Name (100 characters, unique).")
    description = models.TextField(blank=True)
    item_type = models.CharField(max_length=20, choices=ItemType.choices, default=ItemType.SERVICE)
    unit_price = models.DecimalField(**UNIT_PRICE, default=0)
    unit_cost = models.DecimalField(**UNIT_PRICE, null=True, blank=True, help_text="QBO PurchaseCost.")
    taxable = models.BooleanField(default=False)
    active = models.BooleanField(default=True)
    sku = models.CharField(max_length=100, blank=True)
    income_account_id = models.CharField(max_length=50, blank=True, help_text="QBO IncomeAccountRef value.")
    quickbooks_item_id = models.CharField(max_length=50, unique=True, null=True, blank=True)
    quickbooks_sync_token = models.CharField(max_length=SYNC_TOKEN_LENGTH, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
