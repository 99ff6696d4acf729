"""Sales documents: Quote → Invoice → Payment, with their lines and payment applications.

Shaped after QBO Estimate, Invoice and Payment (API.md §4.3–4.5) so the integration maps them field for field:
a line's `line_total` is q(quantity × unit_price) (QBO Line.Amount), `subtotal` is the sum of rounded lines,
`tax_amount` is rounded once on the taxable subtotal, and `total_amount` = subtotal + tax (QBO TotalAmt). The totals are
stored (not derived on read) because QBO returns its own and the integration compares the two; `crm.services`
recomputes them, and every save quantizes half-up (see `base.quantize_decimal_fields`).
Money records are protected: contacts with documents cannot be deleted, invoices are voided, not deleted.

An invoice has two states: `status` is its lifecycle (draft → sent, or void), which people change; `payment_status`
(unpaid, partial, paid, overdue) follows from its money and due date, stored by `crm.services` on every change with
`paid_date`. "Overdue" also arrives with time alone, so the admin lists the live value
(`services.invoice_payment_status_expression`), not only the stored one.
"""

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from crm.money import line_total

from .base import (
    DOC_NUMBER_LENGTH,
    MAX_PRICE,
    MAX_QUANTITY,
    MAX_TAX_RATE,
    MONEY,
    QUANTITY,
    SYNC_TOKEN_LENGTH,
    UNIT_PRICE,
    DecimalSafeModel,
    TimeStampedDecimalModel,
    at_most,
    document_number_assign,
    money_checks,
    not_negative,
    quantize_decimal_fields,
)
from .campaigns import Campaign
from .contacts import Contact
from .products import Product

TAX_RATE = {"max_digits": 7, "decimal_places": 4}  # a percentage: 6.2500 means 6.25 %


class LineItem(DecimalSafeModel):
    """One document line; `line_total` is always q(quantity × unit_price), set on save."""

    product = models.ForeignKey(Product, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    description = models.CharField(max_length=4000, blank=True)
    quantity = models.DecimalField(
        **QUANTITY, default=1, validators=[not_negative("A quantity"), at_most(MAX_QUANTITY, "A quantity")]
    )
    unit_price = models.DecimalField(
        **UNIT_PRICE, default=0, validators=[not_negative("A price"), at_most(MAX_PRICE, "A price")]
    )
    taxable = models.BooleanField(default=False)
    line_total = models.DecimalField(**MONEY, default=0, editable=False)
    position = models.PositiveSmallIntegerField(default=0)
    quickbooks_line_id = models.CharField(max_length=50, blank=True, help_text="QBO Line.Id.")

    class Meta:
        abstract = True
        ordering = ["position", "id"]
        # A discount or a credit is its own concept (QBO DiscountLineDetail, CreditMemo), never a negative line.
        constraints = [
            money_checks("quantity", MAX_QUANTITY, name="%(app_label)s_%(class)s_quantity_range"),
            money_checks("unit_price", MAX_PRICE, name="%(app_label)s_%(class)s_unit_price_range"),
        ]

    def __str__(self) -> str:
        return self.description or (self.product.name if self.product_id else f"Line {self.position}")

    def save(self, *args, **kwargs) -> None:
        # Round qty and price to their columns first, so the stored amount equals what QBO computes from them.
        quantize_decimal_fields(self)
        self.line_total = line_total(self.quantity, self.unit_price)
        super().save(*args, **kwargs)


class SalesDocument(TimeStampedDecimalModel):
    """What a quote and an invoice share: dates, currency, the stored totals and the QBO sync token."""

    issue_date = models.DateField(default=timezone.localdate)
    currency = models.CharField(max_length=3, default="USD")
    subtotal = models.DecimalField(**MONEY, default=0, editable=False)
    tax_rate = models.DecimalField(
        **TAX_RATE,
        default=0,
        help_text="Percent, e.g. 6.25.",
        validators=[not_negative("A tax rate"), at_most(MAX_TAX_RATE, "A tax rate")],
    )
    tax_amount = models.DecimalField(**MONEY, default=0, editable=False)
    total_amount = models.DecimalField(**MONEY, default=0, editable=False)
    payment_terms = models.CharField(max_length=100, blank=True, help_text="E.g. Net 30 (QBO SalesTermRef name).")
    due_date = models.DateField(null=True, blank=True)
    notes = models.TextField(blank=True)
    quickbooks_sync_token = models.CharField(max_length=SYNC_TOKEN_LENGTH, blank=True)

    class Meta:
        abstract = True
        ordering = ["-issue_date", "-id"]
        indexes = [models.Index(fields=["-issue_date", "-id"], name="%(app_label)s_%(class)s_issued_idx")]  # list order
        constraints = [money_checks("tax_rate", MAX_TAX_RATE, name="%(app_label)s_%(class)s_tax_rate_range")]


class QuoteStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SENT = "sent", "Sent"
    ACCEPTED = "accepted", "Accepted"
    DECLINED = "declined", "Declined"
    EXPIRED = "expired", "Expired"
    CONVERTED = "converted", "Converted to invoice"


class Quote(SalesDocument):
    quote_number = models.CharField(
        max_length=DOC_NUMBER_LENGTH, unique=True, null=True, blank=True, help_text="Left blank: Q-<id>."
    )
    status = models.CharField(max_length=20, choices=QuoteStatus.choices, default=QuoteStatus.DRAFT, db_index=True)
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="quotes")
    campaign = models.ForeignKey(
        Campaign,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="quotes",
        help_text="The campaign this quote came from.",
    )
    expiration_date = models.DateField(null=True, blank=True, help_text="QBO Estimate.ExpirationDate.")
    quickbooks_estimate_id = models.CharField(max_length=50, unique=True, null=True, blank=True)

    class Meta(SalesDocument.Meta):
        permissions = [("push_estimate", "Can push quote to QuickBooks as estimate")]

    def __str__(self) -> str:
        return self.quote_number or f"Quote #{self.pk}"

    def save(self, *args, **kwargs) -> None:
        super().save(*args, **kwargs)
        document_number_assign(self, "quote_number", "Q")


class QuoteItem(LineItem):
    quote = models.ForeignKey(Quote, on_delete=models.CASCADE, related_name="items")

    class Meta(LineItem.Meta):
        pass


class InvoiceStatus(models.TextChoices):
    """The invoice's lifecycle, which people (and QBO's void) change."""

    DRAFT = "draft", "Draft"
    SENT = "sent", "Sent"
    VOID = "void", "Void"


class PaymentStatus(models.TextChoices):
    """What the invoice's money says (the plan's `payment_status`); derived by `crm.services`, never typed."""

    UNPAID = "unpaid", "Unpaid"
    PARTIAL = "partial", "Partially paid"
    PAID = "paid", "Paid"
    OVERDUE = "overdue", "Overdue"


class EmailStatus(models.TextChoices):
    """QBO Invoice.EmailStatus."""

    NOT_SET = "NotSet", "Not set"
    NEED_TO_SEND = "NeedToSend", "Need to send"
    EMAIL_SENT = "EmailSent", "E-mail sent"


class Invoice(SalesDocument):
    invoice_number = models.CharField(
        max_length=DOC_NUMBER_LENGTH, unique=True, null=True, blank=True, help_text="Left blank: INV-<id>."
    )
    status = models.CharField(max_length=20, choices=InvoiceStatus.choices, default=InvoiceStatus.DRAFT, db_index=True)
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="invoices")
    quote = models.ForeignKey(Quote, on_delete=models.SET_NULL, null=True, blank=True, related_name="invoices")
    amount_paid = models.DecimalField(**MONEY, default=0, editable=False)
    balance_due = models.DecimalField(**MONEY, default=0, editable=False)
    payment_status = models.CharField(
        max_length=10, choices=PaymentStatus.choices, default=PaymentStatus.UNPAID, editable=False, db_index=True
    )
    paid_date = models.DateField(null=True, blank=True, editable=False, help_text="When the last payment paid it off.")
    quickbooks_invoice_id = models.CharField(max_length=50, unique=True, null=True, blank=True)
    email_status = models.CharField(max_length=20, choices=EmailStatus.choices, default=EmailStatus.NOT_SET)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta(SalesDocument.Meta):
        permissions = [("send_invoice", "Can send invoice to the customer")]

    def __str__(self) -> str:
        return self.invoice_number or f"Invoice #{self.pk}"

    def save(self, *args, **kwargs) -> None:
        super().save(*args, **kwargs)
        document_number_assign(self, "invoice_number", "INV")


class InvoiceItem(LineItem):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="items")

    class Meta(LineItem.Meta):
        pass


class PaymentMethod(models.TextChoices):
    CHECK = "check", "Check"
    CASH = "cash", "Cash"
    CARD = "card", "Card"
    ACH = "ach", "ACH"
    OTHER = "other", "Other"


class Payment(TimeStampedDecimalModel):
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="payments")
    amount = models.DecimalField(**MONEY, validators=[at_most(MAX_PRICE * 10, "A payment")])
    payment_date = models.DateField(default=timezone.localdate)
    method = models.CharField(max_length=10, choices=PaymentMethod.choices, default=PaymentMethod.CHECK)
    reference = models.CharField(max_length=100, blank=True, help_text="Check number, card authorization…")
    currency = models.CharField(max_length=3, default="USD")
    notes = models.TextField(blank=True)
    quickbooks_payment_id = models.CharField(max_length=50, unique=True, null=True, blank=True)
    quickbooks_sync_token = models.CharField(max_length=SYNC_TOKEN_LENGTH, blank=True)
    invoices = models.ManyToManyField(Invoice, through="PaymentApplication", related_name="payments")

    class Meta:
        ordering = ["-payment_date", "-id"]
        indexes = [models.Index(fields=["-payment_date", "-id"], name="crm_payment_date_idx")]  # the list order
        constraints = [models.CheckConstraint(condition=models.Q(amount__gt=0), name="crm_payment_amount_positive")]

    def __str__(self) -> str:
        return f"{self.amount} on {self.payment_date}"

    def clean(self) -> None:
        # A refund is not a negative payment (QBO has RefundReceipt for that); an empty one pays nothing.
        if self.amount is not None and self.amount <= 0:
            raise ValidationError({"amount": "A payment's amount must be more than zero."})


class PaymentApplication(DecimalSafeModel):
    """How much of one payment goes to one invoice (QBO Payment.Line with a LinkedTxn to the invoice)."""

    payment = models.ForeignKey(Payment, on_delete=models.CASCADE, related_name="applications")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="payment_applications")
    amount = models.DecimalField(**MONEY)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["payment", "invoice"], name="crm_paymentapplication_unique_invoice"),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="crm_paymentapplication_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.amount} → {self.invoice}"
