"""The webhook inbox: one row per QBO change event Intuit delivered, stored once, processed later (STYLE §6).

The rows, not the task queue, are the record (RELIABILITY finding 8): the view stores them and answers 200, a task
processes them, and a sweeper queues again whatever is still pending. `event_key` is unique, so a re-delivered or
duplicated event is stored once (the CloudEvents `id`, else realm + entity + id + operation + lastUpdated, API.md
§8.5). Unlike dj-stripe's `WebhookEventTrigger` there is no separate delivery row: each event keeps its own JSON and
the delivery's `intuit-t-id`, which is all a delivery row would add.
"""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


class WebhookEvent(models.Model):
    """One entity change (Customer 58 updated at t) as Intuit reported it, and what processing made of it."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PROCESSED = "processed", "Processed"
        IGNORED = "ignored", "Ignored"
        FAILED = "failed", "Failed"
        UNPARSEABLE = "unparseable", "Unparseable"

    class Format(models.TextChoices):
        LEGACY = "legacy", "eventNotifications"
        CLOUDEVENTS = "cloudevents", "CloudEvents"
        UNKNOWN = "unknown", "Unknown"

    connection = models.ForeignKey(
        "quickbooks_integration.QuickBooksAuth",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="webhook_events",
        help_text="The connection of the event's realm when it arrived (none: unknown realm).",
    )
    realm_id = models.CharField(max_length=32, blank=True)
    entity_type = models.CharField(max_length=40, blank=True, help_text="QBO entity name: Customer, Invoice, …")
    entity_id = models.CharField(max_length=50, blank=True, help_text="QBO Id")
    operation = models.CharField(max_length=20, blank=True, help_text="Create, Update, Delete, Merge, Void, Emailed")
    deleted_id = models.CharField(max_length=50, blank=True, help_text="For a Merge: the Id merged away.")
    last_updated = models.DateTimeField(null=True, blank=True, help_text="When QBO says the change happened.")
    event_key = models.CharField(max_length=64, unique=True, help_text="De-duplication key (a hash).")
    cloud_event_id = models.CharField(max_length=100, blank=True)
    delivery_id = models.CharField(max_length=100, blank=True, help_text="The delivery's intuit-t-id header.")
    format = models.CharField(max_length=12, choices=Format.choices, default=Format.UNKNOWN)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True, help_text="When it was processed, ignored or gave up.")
    attempts = models.PositiveIntegerField(default=0, help_text="Processing attempts.")
    next_attempt_at = models.DateTimeField(null=True, blank=True, help_text="Not retried before this time.")
    error = models.TextField(blank=True, help_text="Why it was ignored, or the last processing error.")
    payload = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder, help_text="This event's JSON.")

    class Meta:
        verbose_name = "QuickBooks webhook event"
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["realm_id", "status", "next_attempt_at"], name="qbo_webhook_due"),
            models.Index(fields=["status", "received_at"], name="qbo_webhook_status_age"),
        ]

    def __str__(self) -> str:
        target = f"{self.entity_type} {self.entity_id}".strip() or "delivery"
        return f"{target} {self.operation}".strip() + f" ({self.status})"
