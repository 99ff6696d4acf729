"""Alert incidents: one row per thing worth an e-mail, so the same incident is mailed once and closed when it ends.

An incident is identified by its `key` (e.g. `reconnect:3`, `sync_failed:3:initial`, `failures_piling`); at most one
open row per key exists (a partial unique constraint), so "the sync failed again" finds the open incident instead of
mailing again. services/alerts.py opens, mails and resolves them.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class AlertIncident(models.Model):
    class Kind(models.TextChoices):
        RECONNECT = "reconnect", "QuickBooks needs reconnecting"
        SYNC_FAILED = "sync_failed", "A sync failed"
        FAILURES_PILING = "failures_piling", "Sync failures are piling up"

    kind = models.CharField(max_length=30, choices=Kind.choices)
    key = models.CharField(max_length=120, help_text="Identifies the incident: one open row per key.")
    summary = models.CharField(max_length=300)
    detail = models.TextField(blank=True)
    opened_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField()
    notified_at = models.DateTimeField(null=True, blank=True, help_text="When the e-mail went out.")
    recipients = models.PositiveIntegerField(default=0, help_text="How many addresses it went to.")
    resolved_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["key"], condition=Q(resolved_at__isnull=True), name="qbo_alert_open_key")
        ]

    def __str__(self) -> str:
        return f"{self.summary} ({'open' if self.resolved_at is None else 'resolved'})"
