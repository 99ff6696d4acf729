"""Product: a service or material Attack-a-Crack sells, shaped like a QuickBooks Online Item.

Fields are what a QBO Item maps to (API.md §4.2), under the plan's names: Name (unique in QBO too), Description,
UnitPrice, PurchaseCost (`cost`), Type, QtyOnHand (`quantity_on_hand`), ReorderPoint, Taxable, Active, Sku,
IncomeAccountRef and ExpenseAccountRef (the account's name for people, its id for the API), Id and SyncToken.
Items are never deleted in QBO (Active=false), so deactivate rather than delete here too.
"""

from django.core.validators import MinValueValidator
from django.db import models

from .base import (
    MAX_PRICE,
    MAX_QUANTITY,
    QUANTITY,
    SYNC_TOKEN_LENGTH,
    UNIT_PRICE,
    TimeStampedDecimalModel,
    at_most,
    money_checks,
    not_negative,
)


class ItemType(models.TextChoices):
    SERVICE = "service", "Service"
    NON_INVENTORY = "non_inventory", "Non-inventory"
    INVENTORY = "inventory", "Inventory"


class Product(TimeStampedDecimalModel):
    name = models.CharField(max_length=100, unique=True, help_text="QBO Item.Name (100 characters, unique).")
    description = models.TextField(blank=True)
    item_type = models.CharField(max_length=20, choices=ItemType.choices, default=ItemType.SERVICE)
    unit_price = models.DecimalField(
        **UNIT_PRICE, default=0, validators=[not_negative("A price"), at_most(MAX_PRICE, "A price")]
    )
    cost = models.DecimalField(
        **UNIT_PRICE,
        null=True,
        blank=True,
        help_text="QBO PurchaseCost.",
        validators=[not_negative("A cost"), at_most(MAX_PRICE, "A cost")],
    )
    # QBO lets stock on hand go below zero (sold before it was received), so only its size is checked.
    quantity_on_hand = models.DecimalField(
        **QUANTITY,
        null=True,
        blank=True,
        help_text="QBO QtyOnHand (inventory).",
        validators=[MinValueValidator(-MAX_QUANTITY), at_most(MAX_QUANTITY, "A quantity")],
    )
    reorder_point = models.DecimalField(
        **QUANTITY,
        null=True,
        blank=True,
        help_text="QBO ReorderPoint (inventory).",
        validators=[not_negative("A reorder point"), at_most(MAX_QUANTITY, "A reorder point")],
    )
    taxable = models.BooleanField(default=False)
    active = models.BooleanField(default=True)
    sku = models.CharField(max_length=100, blank=True)
    income_account = models.CharField(max_length=100, blank=True, help_text="QBO IncomeAccountRef name.")
    income_account_id = models.CharField(max_length=50, blank=True, help_text="QBO IncomeAccountRef value.")
    expense_account = models.CharField(max_length=100, blank=True, help_text="QBO ExpenseAccountRef name.")
    expense_account_id = models.CharField(max_length=50, blank=True, help_text="QBO ExpenseAccountRef value.")
    quickbooks_item_id = models.CharField(max_length=50, unique=True, null=True, blank=True)
    quickbooks_sync_token = models.CharField(max_length=SYNC_TOKEN_LENGTH, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            money_checks("unit_price", MAX_PRICE, name="crm_product_unit_price_range"),
            money_checks("cost", MAX_PRICE, name="crm_product_cost_range"),
            money_checks("reorder_point", MAX_QUANTITY, name="crm_product_reorder_point_range"),
        ]

    def __str__(self) -> str:
        return self.name
