"""Campaign (a marketing push on one channel) and who received it and who responded."""

from django.db import models
from django.utils import timezone

from .base import MAX_PRICE, MONEY, TimeStampedDecimalModel, at_most, money_checks, not_negative
from .contacts import Contact


class CampaignChannel(models.TextChoices):
    SMS = "sms", "SMS"
    EMAIL = "email", "E-mail"
    MAIL = "mail", "Mail"
    PHONE = "phone", "Phone"
    WEB = "web", "Web"


class Campaign(TimeStampedDecimalModel):
    name = models.CharField(max_length=200, unique=True)
    channel = models.CharField(max_length=10, choices=CampaignChannel.choices)
    starts_on = models.DateField(null=True, blank=True)
    ends_on = models.DateField(null=True, blank=True)
    cost = models.DecimalField(**MONEY, default=0, validators=[not_negative("A cost"), at_most(MAX_PRICE, "A cost")])
    recipients = models.ManyToManyField(Contact, through="CampaignRecipient", related_name="campaigns")

    class Meta:
        ordering = ["-starts_on", "name"]
        constraints = [money_checks("cost", MAX_PRICE, name="crm_campaign_cost_range")]

    def __str__(self) -> str:
        return self.name


class CampaignRecipient(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="campaign_recipients")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="campaign_recipients")
    sent_at = models.DateTimeField(default=timezone.now)
    responded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-sent_at", "id"]
        indexes = [models.Index(fields=["-sent_at", "id"], name="crm_recipient_sent_idx")]  # the list order
        constraints = [
            models.UniqueConstraint(fields=["campaign", "contact"], name="crm_campaignrecipient_unique_contact"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign} → {self.contact}"
