"""Contact: a person or business that reached Attack-a-Crack, with the QuickBooks customer summary fields.

Phones are kept as typed (`phone`) and normalized to E.164 (`phone_e164`), the key QuickBooks matching uses.
Normalization happens in `clean_fields()` (admin forms, imports with `clean_model_instances`) and again in `save()` so
code paths that skip validation (the demo loader, sync services) store the same thing.
"""

from django.core.exceptions import ValidationError
from django.db import models

from crm.normalization import email_normalize, phone_to_e164

from .base import (
    MAX_CREDIT_LIMIT,
    MONEY,
    SYNC_TOKEN_LENGTH,
    TimeStampedDecimalModel,
    at_most,
    money_checks,
    not_negative,
)


class ContactSource(models.TextChoices):
    PHONE_SYSTEM = "phone_system", "Phone system"
    WEB_FORM = "web_form", "Web form"
    REFERRAL = "referral", "Referral"
    CAMPAIGN = "campaign", "Campaign"
    OTHER = "other", "Other"


class CustomerType(models.TextChoices):
    PROSPECT = "prospect", "Prospect"
    CUSTOMER = "customer", "Customer"
    VENDOR = "vendor", "Vendor"


# Fields only users with crm.view_financials may edit (Staff sees them read-only).
CONTACT_FINANCIAL_FIELDS = (
    "customer_type",
    "payment_terms",
    "credit_limit",
    "tax_exempt",
    "total_sales",
    "outstanding_balance",
    "last_payment_date",
    "average_days_to_pay",
)


class Contact(TimeStampedDecimalModel):
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    company_name = models.CharField(max_length=200, blank=True)
    phone = models.CharField(max_length=40, blank=True, help_text="As typed.")
    phone_e164 = models.CharField(max_length=20, blank=True, db_index=True, editable=False)
    mobile_phone = models.CharField(max_length=40, blank=True, help_text="As typed.")
    mobile_phone_e164 = models.CharField(max_length=20, blank=True, db_index=True, editable=False)
    email = models.EmailField(blank=True, db_index=True)
    address_line1 = models.CharField(max_length=200, blank=True)
    address_line2 = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=50, blank=True)
    zip_code = models.CharField(max_length=20, blank=True)
    source = models.CharField(max_length=20, choices=ContactSource.choices, default=ContactSource.OTHER)

    # QuickBooks customer link and financial summary (the plan's names).
    quickbooks_customer_id = models.CharField(max_length=50, unique=True, null=True, blank=True)
    quickbooks_sync_token = models.CharField(max_length=SYNC_TOKEN_LENGTH, blank=True)
    customer_type = models.CharField(max_length=20, choices=CustomerType.choices, default=CustomerType.PROSPECT)
    payment_terms = models.CharField(max_length=100, blank=True, help_text="E.g. Net 30 (QBO SalesTermRef name).")
    credit_limit = models.DecimalField(
        **MONEY,
        null=True,
        blank=True,
        validators=[not_negative("A credit limit"), at_most(MAX_CREDIT_LIMIT, "A credit limit")],
    )
    tax_exempt = models.BooleanField(default=False)
    total_sales = models.DecimalField(**MONEY, default=0)
    outstanding_balance = models.DecimalField(**MONEY, default=0)
    last_payment_date = models.DateField(null=True, blank=True)
    average_days_to_pay = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True)

    class Meta:
        ordering = ["last_name", "first_name", "company_name", "id"]
        permissions = [
            ("view_financials", "Can edit contact financial fields (others see them read-only)"),
            ("merge_contact", "Can merge duplicate contacts"),
        ]
        constraints = [money_checks("credit_limit", MAX_CREDIT_LIMIT, name="crm_contact_credit_limit_range")]
        # No index in this order on purpose, and the search's trigram index is PostgreSQL-only: both are explained
        # in migration 0006_search_indexes.

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        """ "First Last (Company)", or whichever parts exist; falls back to a phone, e-mail or the id."""
        person = " ".join(part for part in (self.first_name, self.last_name) if part).strip()
        if person and self.company_name:
            return f"{person} ({self.company_name})"
        return person or self.company_name or self.phone or self.email or f"Contact #{self.pk}"

    def normalize(self) -> None:
        """Derive the E.164 columns and normalize the e-mail: idempotent (money is quantized by the base save)."""
        self.phone = (self.phone or "").strip()
        self.mobile_phone = (self.mobile_phone or "").strip()
        self.phone_e164 = phone_to_e164(self.phone) or ""
        self.mobile_phone_e164 = phone_to_e164(self.mobile_phone) or ""
        self.email = email_normalize(self.email)

    def clean_fields(self, exclude=None) -> None:
        # Before field validation, so " Jane@Example.com " from a CSV validates as the address it is.
        self.normalize()
        super().clean_fields(exclude=exclude)

    def clean(self) -> None:
        """A phone typed (in a form or a CSV row) must be a number QuickBooks matching can use: "617" or "n/a" is
        refused here, with the field named. `save()` alone still stores it (with a blank E.164), because the phone
        system's feed and the sync must never fail on one junk number."""
        errors = {
            field: f"“{getattr(self, field)}” is not a phone number; type it with its area code, e.g. (617) 555-0134."
            for field, e164 in (("phone", self.phone_e164), ("mobile_phone", self.mobile_phone_e164))
            if getattr(self, field) and not e164
        }
        if errors:
            raise ValidationError(errors)

    def save(self, *args, **kwargs) -> None:
        self.normalize()
        super().save(*args, **kwargs)
