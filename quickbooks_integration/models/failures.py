"""Failure rows: every failed pull, push or webhook is a row the bookkeeper can read, fix and retry.

One open row per failing thing (`key`): a failure that happens again bumps `attempts` and `last_attempt_at` instead of
adding rows, and a later success resolves it. What a retry does is registered per `kind` by the service that
records it (services/failures.py), so this model knows nothing of customers, estimates or webhooks.
"""

from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q


class SyncFailure(models.Model):
    """What failed (kind, QBO entity, CRM object), QBO's own words for it, and how often."""

    class Direction(models.TextChoices):
        PULL = "pull", "Pull from QuickBooks"
        PUSH = "push", "Push to QuickBooks"
        WEBHOOK = "webhook", "Webhook"

    connection = models.ForeignKey(
        "quickbooks_integration.QuickBooksAuth",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="failures",
    )
    kind = models.CharField(max_length=60, db_index=True, help_text="What was being done; selects the retry.")
    key = models.CharField(max_length=200, help_text="Identifies the failing thing: one open row per key.")
    direction = models.CharField(max_length=10, choices=Direction.choices)
    entity_type = models.CharField(max_length=40, blank=True, help_text="QBO entity")
    entity_id = models.CharField(max_length=50, blank=True, help_text="QBO Id")
    object_type = models.CharField(max_length=60, blank=True, help_text="CRM model label, e.g. crm.Quote")
    object_id = models.CharField(max_length=64, blank=True)
    code = models.CharField("QBO error code", max_length=20, blank=True, db_index=True)
    error_class = models.CharField(max_length=60, blank=True)
    message = models.TextField(blank=True)
    detail = models.TextField(blank=True)
    element = models.CharField(max_length=200, blank=True)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    intuit_tid = models.CharField(max_length=100, blank=True)
    request_id = models.CharField(max_length=50, blank=True)
    retry_args = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    attempts = models.PositiveIntegerField(default=1)
    first_attempt_at = models.DateTimeField(auto_now_add=True)
    last_attempt_at = models.DateTimeField(db_index=True)
    resolved_at = models.DateTimeField(null=True, blank=True, db_index=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolution = models.CharField(max_length=200, blank=True, help_text="How it was resolved.")

    class Meta:
        ordering = ["-last_attempt_at", "-id"]
        permissions = [("retry_sync", "Can retry and resolve failed QuickBooks syncs")]
        constraints = [
            models.UniqueConstraint(fields=["key"], condition=Q(resolved_at__isnull=True), name="qbo_failure_open_key")
        ]

    def __str__(self) -> str:
        target = f"{self.entity_type} {self.entity_id}".strip() or self.object_type or self.kind
        return f"{self.kind}: {target} ({self.code or self.error_class})"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None
