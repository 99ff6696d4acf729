"""Sync runs: one row per sync the integration starts, with the lease that keeps it from getting stuck.

A run is claimed with a lease (`lease_expires_at`) that the running code renews on every QBO call and every page
(`heartbeat_at`). A worker killed by django-q's timeout, or by anything else, stops renewing it; once the lease has
expired the run shows as interrupted and the next task delivered for it takes it over, continuing from `cursor`.
The rules live in services/runs.py; this module only holds the row.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class SyncRun(models.Model):
    """A sync of one connection: what kind, its outcome, the QBO calls made for it and where it got to."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        INTERRUPTED = "interrupted", "Interrupted"

    FINISHED = (Status.SUCCEEDED,)

    connection = models.ForeignKey(
        "quickbooks_integration.QuickBooksAuth", on_delete=models.PROTECT, related_name="runs"
    )
    kind = models.CharField(max_length=40)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0, help_text="How many times a task has claimed this run.")
    claims_since_checkpoint = models.PositiveSmallIntegerField(
        default=0, help_text="Claims in a row that saved no checkpoint: a run that keeps dying at one point stops."
    )
    api_calls = models.PositiveIntegerField(default=0, help_text="QBO API calls made for this run, all attempts.")
    cursor = models.JSONField(default=dict, blank=True, help_text="Where a rerun continues (page, CDC time).")
    stats = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["connection", "kind", "status"], name="qbo_syncrun_kind_status")]

    def __str__(self) -> str:
        return f"{self.kind} sync #{self.pk} ({self.state})"

    @property
    def lease_expired(self) -> bool:
        return self.lease_expires_at is not None and self.lease_expires_at < timezone.now()

    @property
    def state(self) -> str:
        """The status as a person should read it: a running run whose lease has lapsed is interrupted."""
        if self.status == self.Status.RUNNING and self.lease_expired:
            return self.Status.INTERRUPTED
        return self.status
