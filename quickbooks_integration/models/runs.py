"""Sync runs: one row per sync the integration starts, listed on the connection page (later issues extend it)."""

from __future__ import annotations

from django.db import models


class SyncRun(models.Model):
    """A sync of one connection: what kind, when, its outcome, the QBO calls it made and what it counted."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    connection = models.ForeignKey(
        "quickbooks_integration.QuickBooksAuth", on_delete=models.PROTECT, related_name="runs"
    )
    kind = models.CharField(max_length=40)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    api_calls = models.PositiveIntegerField(default=0)
    stats = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} sync #{self.pk} ({self.status})"
