"""Quote, invoice and payment admin: line inlines, totals computed by `crm.services`, void instead of delete.

Totals, amounts paid, balances and statuses are read-only everywhere: the services derive them after every save,
so a form can never store a total that disagrees with its lines.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from crm import services
from crm.errors import CrmError, PaymentApplicationError
from crm.models import Invoice, InvoiceItem, Payment, PaymentApplication, Quote, QuoteItem

from .base import CrmModelAdmin, MoneyRecordAdminMixin

LINE_FIELDS = ("position", "product", "description", "quantity", "unit_price", "taxable", "line_amount")
TOTAL_FIELDS = ("subtotal", "tax_amount", "total")


class QuoteItemInline(admin.TabularInline):
    model = QuoteItem
    fields = LINE_FIELDS
    readonly_fields = ("line_amount",)
    autocomplete_fields = ("product",)
    extra = 0


class InvoiceItemInline(QuoteItemInline):
    model = InvoiceItem


# Admin actions write no LogEntry by themselves (STYLE §9): each one below logs its change on the object's history.
def _report(modeladmin: admin.ModelAdmin, request: HttpRequest, done: int, errors: list[str], verb: str) -> None:
    if done:
        modeladmin.message_user(request, f"{done} {verb}.", messages.SUCCESS)
    for error in errors:
        modeladmin.message_user(request, error, messages.ERROR)


@admin.register(Quote)
class QuoteAdmin(CrmModelAdmin):
    list_display = ("__str__", "status", "contact", "campaign", "issue_date", "expiry_date", "total")
    list_filter = ("status", "campaign")
    list_select_related = ("contact", "campaign")
    search_fields = ("quote_number", "contact__first_name", "contact__last_name", "contact__company_name")
    date_hierarchy = "issue_date"
    autocomplete_fields = ("contact", "campaign")
    readonly_fields = (*TOTAL_FIELDS, "quickbooks_estimate_id", "quickbooks_sync_token", "created_at", "updated_at")
    inlines = [QuoteItemInline]
    actions = ["convert_to_invoice"]

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        services.quote_recalculate(quote=form.instance)

    @admin.action(description="Convert selected quotes to invoices", permissions=["add_invoice"])
    def convert_to_invoice(self, request: HttpRequest, queryset: QuerySet[Quote]) -> None:
        done, errors = 0, []
        for quote in queryset:
            try:
                invoice = services.quote_convert_to_invoice(quote=quote)
                self.log_change(request, quote, f"Converted to invoice {invoice}.")
                done += 1
            except CrmError as exc:
                errors.append(str(exc))
        _report(self, request, done, errors, "quote(s) converted to draft invoices")

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


@admin.register(Invoice)
class InvoiceAdmin(MoneyRecordAdminMixin, CrmModelAdmin):
    list_display = ("__str__", "status", "contact", "issue_date", "due_date", "total", "balance_due", "email_status")
    list_filter = ("status", "email_status")
    list_select_related = ("contact",)
    search_fields = ("invoice_number", "contact__first_name", "contact__last_name", "contact__company_name")
    date_hierarchy = "issue_date"
    autocomplete_fields = ("contact", "quote")
    readonly_fields = (
        "status",
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
    actions = ["mark_sent", "void"]

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        services.invoice_recalculate(invoice=form.instance)

    @admin.action(description="Mark selected invoices as sent", permissions=["send_invoice"])
    def mark_sent(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> None:
        done, errors = 0, []
        for invoice in queryset:
            try:
                services.invoice_mark_sent(invoice=invoice)
                self.log_change(request, invoice, "Marked sent.")
                done += 1
            except CrmError as exc:
                errors.append(str(exc))
        _report(self, request, done, errors, "invoice(s) marked sent")

    @admin.action(description="Void selected invoices", permissions=["change"])
    def void(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> None:
        done, errors = 0, []
        for invoice in queryset:
            try:
                services.invoice_void(invoice=invoice)
                self.log_change(request, invoice, "Voided.")
                done += 1
            except CrmError as exc:
                errors.append(str(exc))
        _report(self, request, done, errors, "invoice(s) voided")

    def has_send_invoice_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("crm.send_invoice")


class PaymentApplicationFormSet(forms.BaseInlineFormSet):
    """Validates the payment's applications as a whole through the service's rules."""

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        rows = [
            (form.cleaned_data["invoice"], form.cleaned_data["amount"])
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE") and form.cleaned_data.get("invoice")
        ]
        try:
            services.payment_applications_validate(payment=self.instance, rows=rows)
        except PaymentApplicationError as exc:
            raise ValidationError(str(exc)) from exc


class PaymentApplicationInline(admin.TabularInline):
    model = PaymentApplication
    formset = PaymentApplicationFormSet
    fields = ("invoice", "amount")
    autocomplete_fields = ("invoice",)
    extra = 1


@admin.register(Payment)
class PaymentAdmin(MoneyRecordAdminMixin, CrmModelAdmin):
    list_display = ("payment_date", "contact", "amount", "method", "reference", "quickbooks_payment_id")
    list_filter = ("method",)
    list_select_related = ("contact",)
    search_fields = ("reference", "contact__first_name", "contact__last_name", "contact__company_name")
    date_hierarchy = "payment_date"
    autocomplete_fields = ("contact",)
    readonly_fields = ("quickbooks_payment_id", "quickbooks_sync_token", "created_at", "updated_at")
    inlines = [PaymentApplicationInline]

    def save_related(self, request, form, formsets, change):
        payment = form.instance
        before = set(payment.applications.values_list("invoice_id", flat=True))
        super().save_related(request, form, formsets, change)
        after = set(payment.applications.values_list("invoice_id", flat=True))
        services.invoices_recalculate(invoice_ids=before | after)
