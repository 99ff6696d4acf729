"""Activity: a call, text, voicemail or e-mail with a contact, as the phone system feeds them in."""

from django.db import models
from django.utils import timezone

from crm.normalization import phone_to_e164

from .base import TimeStampedModel
from .contacts import Contact


class ActivityKind(models.TextChoices):
    CALL = "call", "Call"
    TEXT = "text", "Text"
    VOICEMAIL = "voicemail", "Voicemail"
    EMAIL = "email", "E-mail"


class Direction(models.TextChoices):
    INBOUND = "inbound", "Inbound"
    OUTBOUND = "outbound", "Outbound"


class Activity(TimeStampedModel):
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="activities")
    kind = models.CharField(max_length=20, choices=ActivityKind.choices)
    direction = models.CharField(max_length=10, choices=Direction.choices, default=Direction.INBOUND)
    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    phone_number = models.CharField(max_length=40, blank=True, help_text="The number used, as the system sent it.")
    phone_number_e164 = models.CharField(max_length=20, blank=True, db_index=True, editable=False)
    summary = models.TextField(blank=True)
    duration_seconds = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        verbose_name_plural = "activities"
        indexes = [models.Index(fields=["-occurred_at", "-id"], name="crm_activity_occurred_idx")]  # the list order

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.get_direction_display().lower()} {self.occurred_at:%Y-%m-%d %H:%M}"

    def normalize(self) -> None:
        self.phone_number = (self.phone_number or "").strip()
        self.phone_number_e164 = phone_to_e164(self.phone_number) or ""

    def clean_fields(self, exclude=None) -> None:
        # Before field validation, so " Jane@Example.com " from a CSV validates as the address it is.
        self.normalize()
        super().clean_fields(exclude=exclude)

    def save(self, *args, **kwargs) -> None:
        self.normalize()
        super().save(*args, **kwargs)
