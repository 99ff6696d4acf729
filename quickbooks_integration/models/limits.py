"""Rows behind the per-realm QBO limiter (services/limiter.py): a token bucket and 10 leased concurrency slots."""

from __future__ import annotations

from django.db import models


class RealmThrottle(models.Model):
    """The token bucket of one realm; its row lock serialises every acquisition for that realm."""

    realm_id = models.CharField(max_length=32, unique=True)
    tokens = models.FloatField()
    refilled_at = models.FloatField(help_text="epoch seconds of the last refill")

    def __str__(self) -> str:
        return f"{self.realm_id}: {self.tokens:.1f} tokens"


class RealmSlot(models.Model):
    """One of a realm's concurrency slots, leased by one in-flight call until `lease_until` (crash-safe)."""

    realm_id = models.CharField(max_length=32)
    slot = models.PositiveSmallIntegerField()
    holder = models.CharField(max_length=64, blank=True)
    lease_until = models.FloatField(null=True, blank=True, help_text="epoch seconds; null when free")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["realm_id", "slot"], name="qbo_realm_slot_unique")]

    def __str__(self) -> str:
        return f"{self.realm_id} slot {self.slot}"
