"""The plan's `QuickBooksSync` ledger: one row per QBO entity this CRM has seen, with the last JSON QBO sent.

Like dj-stripe's `stripe_data`, the whole entity is kept (`payload`), with the few facts that are queried or
compared promoted to columns: the QBO id, its SyncToken (`sync_version`), `LastUpdatedTime` (`qbo_updated_at`),
and the CRM row it maps to (`local_id`). A change is applied only when the incoming copy is newer than the row
(services/mirror.py), so duplicate and out-of-order deliveries are harmless. `crm/` imports none of this.
"""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


class QuickBooksSync(models.Model):
    """The ledger row of one QBO entity (Customer 58, Invoice 130, …) of one connection."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SYNCED = "synced", "Synced"
        ERROR = "error", "Error"

    connection = models.ForeignKey(
        "quickbooks_integration.QuickBooksAuth", on_delete=models.PROTECT, related_name="ledger"
    )
    entity_type = models.CharField(max_length=40, help_text="QBO entity name: Customer, Item, Invoice, …")
    entity_id = models.CharField(max_length=50, help_text="QBO Id")
    local_id = models.PositiveBigIntegerField(null=True, blank=True, help_text="The CRM row it maps to, if any.")
    sync_version = models.PositiveIntegerField(null=True, blank=True, help_text="QBO SyncToken")
    last_synced = models.DateTimeField(null=True, blank=True)
    sync_status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    error_message = models.TextField(blank=True)
    qbo_updated_at = models.DateTimeField(null=True, blank=True, help_text="QBO MetaData.LastUpdatedTime")
    deleted_at = models.DateTimeField(null=True, blank=True, help_text="When QBO reported it deleted or merged away.")
    payload = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder, help_text="The last QBO JSON.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "QuickBooks ledger entry"
        verbose_name_plural = "QuickBooks ledger"
        ordering = ["entity_type", "entity_id"]
        permissions = [("push_to_quickbooks", "Can create and update customers and documents in QuickBooks")]
        constraints = [
            models.UniqueConstraint(fields=["connection", "entity_type", "entity_id"], name="qbo_ledger_unique_entity")
        ]
        indexes = [models.Index(fields=["entity_type", "local_id"], name="qbo_ledger_local")]

    def __str__(self) -> str:
        return f"{self.entity_type} {self.entity_id}"

    @property
    def realm_id(self) -> str:
        return self.connection.realm_id
