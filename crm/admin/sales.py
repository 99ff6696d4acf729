"""Quote, invoice and payment admin: line inlines, totals computed by `crm.services`, void instead of delete.

Totals, amounts paid, balances and statuses are read-only everywhere: the services derive them after every save,
so a form can never store a total that disagrees with its lines.
"""

from decimal import Decimal

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.timezone import localdate as today

from crm import services
from crm.errors import DocumentStateError, PaymentApplicationError
from crm.models import (
    Invoice,
    InvoiceItem,
    InvoiceStatus,
    Payment,
    PaymentApplication,
    PaymentStatus,
    Quote,
    QuoteItem,
)

from .actions import object_action
from .base import CrmModelAdmin, MoneyRecordAdminMixin, PhoneSearchMixin, PreloadedAutocompleteInline, PreloadedFormSet

LINE_FIELDS = ("position", "product", "description", "quantity", "unit_price", "taxable", "line_total")
TOTAL_FIELDS = ("subtotal", "tax_amount", "total_amount")
CONTACT_PHONES = ("contact__phone_e164", "contact__mobile_phone_e164")


def price_display(value: Decimal) -> Decimal:
    """A unit price with the precision it has, but at least cents: 475.00000 → 475.00, 0.12500 → 0.125."""
    value = Decimal(value)
    return value.quantize(Decimal("0.01")) if value == value.quantize(Decimal("0.01")) else value.normalize()


class LineForm(forms.ModelForm):
    """A line whose price is left blank takes its product's price and taxability, as QBO fills a line from its
    item; otherwise picking "Crack injection" would quote it at $0 and untaxed. A price typed is kept as typed."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "unit_price" in self.fields:
            self.fields["unit_price"].required = False
            self.fields["unit_price"].help_text = "Blank: the product's price and tax setting."
            if self.instance.pk is None:  # no "0" to overwrite: the field's own initial is the model default
                self.initial.pop("unit_price", None)
                self.fields["unit_price"].initial = None
            elif self.initial.get("unit_price") is not None:  # "475.00" and "0.125", not "475.00000"
                self.initial["unit_price"] = price_display(self.initial["unit_price"])

    def clean(self):
        cleaned = super().clean()
        if "unit_price" in self.fields and cleaned.get("unit_price") is None and "unit_price" not in self.errors:
            product = cleaned.get("product")
            if product is None:
                self.add_error("unit_price", "Enter a price, or choose a product to take its price.")
            else:
                cleaned["unit_price"], cleaned["taxable"] = product.unit_price, product.taxable
        return cleaned


class QuoteItemInline(PreloadedAutocompleteInline):
    model = QuoteItem
    form = LineForm
    fields = LINE_FIELDS
    readonly_fields = ("line_total",)
    autocomplete_fields = ("product",)
    extra = 0


class InvoiceItemFormSet(PreloadedFormSet):
    """Refuses lines (or a contact or tax rate on the invoice form) that the payments already applied contradict."""

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        lines = [
            InvoiceItem(
                quantity=form.cleaned_data["quantity"],
                unit_price=form.cleaned_data["unit_price"],
                taxable=form.cleaned_data.get("taxable", False),
            )
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]
        try:
            services.invoice_changes_validate(invoice=self.instance, lines=lines)
        except DocumentStateError as exc:
            raise ValidationError(str(exc)) from exc


class InvoiceItemInline(QuoteItemInline):
    model = InvoiceItem
    formset = InvoiceItemFormSet


# Named for the CRM alone: `convert_to_invoice` is the QuickBooks integration's action (the estimate's invoice).
@object_action(
    description="Convert selected quotes to CRM invoices",
    permissions=["add_invoice"],
    done="converted to draft invoices",
)
def convert_to_crm_invoice(request: HttpRequest, quote: Quote) -> str:
    return f"Converted to invoice {services.quote_convert_to_invoice(quote=quote)}."


@object_action(description="Mark selected invoices as sent", permissions=["send_invoice"], done="marked sent")
def mark_sent(request: HttpRequest, invoice: Invoice) -> str:
    services.invoice_mark_sent(invoice=invoice)
    return "Marked sent."


@object_action(description="Void selected invoices", permissions=["change"], done="voided")
def void(request: HttpRequest, invoice: Invoice) -> str:
    services.invoice_void(invoice=invoice)
    return "Voided."


@admin.register(Quote)
class QuoteAdmin(PhoneSearchMixin, CrmModelAdmin):
    list_display = ("__str__", "status", "contact", "campaign", "issue_date", "expiration_date", "total_amount")
    list_filter = ("status", "campaign")
    list_select_related = ("contact", "campaign")
    search_fields = ("quote_number", "contact__first_name", "contact__last_name", "contact__company_name")
    phone_search_fields = CONTACT_PHONES
    date_hierarchy = "issue_date"
    autocomplete_fields = ("contact", "campaign")
    readonly_fields = (*TOTAL_FIELDS, "quickbooks_estimate_id", "quickbooks_sync_token", "created_at", "updated_at")
    inlines = [QuoteItemInline]
    actions = [convert_to_crm_invoice]

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        services.quote_recalculate(quote=form.instance)

    def has_add_invoice_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("crm.add_invoice")


class InvoicePaymentsInline(admin.TabularInline):
    """The payments applied to this invoice, read-only here: applications are edited from the payment."""

    model = PaymentApplication
    fields = ("payment", "amount")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("payment")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class PaymentStatusFilter(admin.SimpleListFilter):
    """Payment status as of today (`services.invoice_payment_status_expression`): the stored one is as of the last
    save, and an unpaid invoice falls overdue without one."""

    title = "payment status"
    parameter_name = "payment_status"

    def lookups(self, request, model_admin):
        return PaymentStatus.choices

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(_payment_status_today=self.value())
        return queryset


@admin.register(Invoice)
class InvoiceAdmin(PhoneSearchMixin, MoneyRecordAdminMixin, CrmModelAdmin):
    list_display = (
        "__str__",
        "status",
        "payment_status_today",
        "contact",
        "issue_date",
        "due_date",
        "total_amount",
        "balance_due",
        "email_status",
    )
    list_filter = ("status", PaymentStatusFilter, "email_status")
    list_select_related = ("contact",)
    search_fields = ("invoice_number", "contact__first_name", "contact__last_name", "contact__company_name")
    phone_search_fields = CONTACT_PHONES
    date_hierarchy = "issue_date"
    autocomplete_fields = ("contact", "quote")
    readonly_fields = (
        "status",  # changed by the actions (mark sent, void), not typed
        "payment_status_today",
        "paid_date",
        *TOTAL_FIELDS,
        "amount_paid",
        "balance_due",
        "email_status",
        "sent_at",
        "quickbooks_invoice_id",
        "quickbooks_sync_token",
        "created_at",
        "updated_at",
    )
    inlines = [InvoiceItemInline, InvoicePaymentsInline]
    actions = [mark_sent, void]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(_payment_status_today=services.invoice_payment_status_expression(today()))
        )

    def has_change_permission(self, request, obj=None):
        """A void invoice is kept as voided: readable, no longer editable (but by a superuser)."""
        if obj is not None and obj.status == InvoiceStatus.VOID and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    @admin.display(description="Payment status", ordering="_payment_status_today")
    def payment_status_today(self, obj: Invoice) -> str:
        return PaymentStatus(services.invoice_payment_status_derive(obj, today())).label

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        services.invoice_recalculate(invoice=form.instance)
        if change and "contact" in form.changed_data:  # the previous contact no longer owes this invoice
            services.contacts_financials_recalculate(contact_ids=[form.initial.get("contact")])

    def delete_model(self, request, obj):
        self.delete_queryset(request, Invoice.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        """Superusers only (MoneyRecordAdminMixin), and only unpaid invoices (applications protect the rest)."""
        contact_ids = set(queryset.values_list("contact_id", flat=True))
        super().delete_queryset(request, queryset)
        services.contacts_financials_recalculate(contact_ids=contact_ids)

    def has_send_invoice_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("crm.send_invoice")


class PaymentApplicationFormSet(PreloadedFormSet):
    """Form wiring only: the rows become the payment's whole set of applications, which the payment services check
    (in `clean`, so a refusal is a form error, under locks the admin's transaction keeps) and write (`save`)."""

    def application_rows(self) -> list[tuple[Invoice, Decimal]]:
        return [
            (form.cleaned_data["invoice"], form.cleaned_data["amount"])
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE") and form.cleaned_data.get("invoice")
        ]

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        try:
            services.payment_applications_check(payment=self.instance, rows=self.application_rows())
        except PaymentApplicationError as exc:
            raise ValidationError(str(exc)) from exc

    def save(self, commit=True):
        applications = services.payment_applications_set(payment=self.instance, rows=self.application_rows())
        # What Django's change message (the history page) reads from a formset that saved itself.
        saved = {application.invoice_id: application for application in applications}
        self.new_objects, self.changed_objects, self.deleted_objects = [], [], []
        for form in self.forms:
            if not form.has_changed() and form in self.initial_forms:
                continue
            if self._should_delete_form(form) or not form.cleaned_data.get("invoice"):
                if form in self.initial_forms:
                    self.deleted_objects.append(form.instance)
            elif form in self.initial_forms:
                self.changed_objects.append((saved[form.cleaned_data["invoice"].pk], form.changed_data))
            else:
                self.new_objects.append(saved[form.cleaned_data["invoice"].pk])
        return applications


class PaymentApplicationInline(PreloadedAutocompleteInline):
    model = PaymentApplication
    formset = PaymentApplicationFormSet
    fields = ("invoice", "amount")
    autocomplete_fields = ("invoice",)
    extra = 1


@admin.register(Payment)
class PaymentAdmin(PhoneSearchMixin, MoneyRecordAdminMixin, CrmModelAdmin):
    list_display = ("payment_date", "contact", "amount", "method", "reference", "quickbooks_payment_id")
    list_filter = ("method",)
    list_select_related = ("contact",)
    search_fields = ("reference", "contact__first_name", "contact__last_name", "contact__company_name")
    phone_search_fields = CONTACT_PHONES
    date_hierarchy = "payment_date"
    autocomplete_fields = ("contact",)
    readonly_fields = ("quickbooks_payment_id", "quickbooks_sync_token", "created_at", "updated_at")
    inlines = [PaymentApplicationInline]

    def save_model(self, request, obj, form, change):
        services.payment_save(payment=obj)

    def delete_model(self, request, obj):
        self.delete_queryset(request, Payment.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        """Superusers only (MoneyRecordAdminMixin)."""
        services.payments_delete(payments=queryset)
