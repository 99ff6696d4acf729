"""The bookkeeper's side of matching: review candidates (contact ⇄ QBO customer pairs) and field conflicts.

`services/matching.py` decides; these rows hold what it could not decide alone. A candidate is never deleted: a
decision changes its status and records who and when, and undoing a decision changes it back, so the history
(AuditEvent rows written by services/customer_links.py) always explains the current state.
"""

from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q


class MatchCandidate(models.Model):
    """A contact that may be this QBO customer: score 0-100, structured reasons, and the bookkeeper's decision."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        SUPERSEDED = "superseded", "Superseded"

    connection = models.ForeignKey(
        "quickbooks_integration.QuickBooksAuth", on_delete=models.CASCADE, related_name="match_candidates"
    )
    contact = models.ForeignKey("crm.Contact", on_delete=models.CASCADE, related_name="qbo_match_candidates")
    quickbooks_customer_id = models.CharField("QuickBooks customer id", max_length=50, db_index=True)
    customer_name = models.CharField(
        "QuickBooks customer", max_length=500, blank=True, help_text="DisplayName when proposed."
    )
    score = models.PositiveSmallIntegerField(help_text="0-100: how sure matching is that these are one customer.")
    kind = models.CharField(max_length=40, db_index=True, help_text="The main doubt, e.g. shared_phone, name_only.")
    reasons = models.JSONField(default=list, blank=True, encoder=DjangoJSONEncoder)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING, db_index=True)
    superseded_by = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="superseded",
        help_text="The decision that made this pair moot (restored when that decision is undone).",
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["status", "-score", "quickbooks_customer_id", "contact_id"]
        permissions = [("approve_match", "Can decide contact–customer match candidates")]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "contact", "quickbooks_customer_id"], name="qbo_match_candidate_pair"
            ),
            models.CheckConstraint(condition=Q(score__lte=100), name="qbo_match_candidate_score_range"),
        ]
        indexes = [models.Index(fields=["status", "-score"], name="qbo_match_queue")]

    def __str__(self) -> str:
        return f"{self.contact} ⇄ {self.customer_name or self.quickbooks_customer_id} ({self.score})"


class ContactConflict(models.Model):
    """A contact detail on which the CRM and QBO disagree: shown on the contact, never silently overwritten."""

    class Resolution(models.TextChoices):
        KEPT_CRM = "kept_crm", "Kept the CRM's value"
        TOOK_QBO = "took_qbo", "Took QuickBooks' value"
        GONE = "gone", "No longer differs"

    connection = models.ForeignKey(
        "quickbooks_integration.QuickBooksAuth", on_delete=models.CASCADE, related_name="contact_conflicts"
    )
    contact = models.ForeignKey("crm.Contact", on_delete=models.CASCADE, related_name="qbo_conflicts")
    quickbooks_customer_id = models.CharField("QuickBooks customer id", max_length=50)
    field = models.CharField(max_length=40, help_text="The contact's field name.")
    crm_value = models.TextField(blank=True)
    qbo_value = models.TextField(blank=True)
    detected_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    resolved_at = models.DateTimeField(null=True, blank=True, db_index=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolution = models.CharField(max_length=10, choices=Resolution.choices, blank=True)

    class Meta:
        ordering = ["-detected_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["contact", "field"], condition=Q(resolved_at__isnull=True), name="qbo_conflict_open_field"
            )
        ]

    def __str__(self) -> str:
        return f"{self.contact}: {self.field} CRM {self.crm_value!r} / QuickBooks {self.qbo_value!r}"
