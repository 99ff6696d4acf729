"""Quote, invoice and payment admin: line inlines, totals computed by `crm.services`, void instead of delete.

Totals, amounts paid, balances and statuses are read-only everywhere: the services derive them after every save,
so a form can never store a total that disagrees with its lines.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.timezone import localdate as today

from crm import services
from crm.errors import CrmError, DocumentStateError, PaymentApplicationError
from crm.models import Invoice, InvoiceItem, InvoiceStatus, Payment, PaymentApplication, Quote, QuoteItem

from .base import CrmModelAdmin, MoneyRecordAdminMixin, PhoneSearchMixin, PreloadedAutocompleteInline, PreloadedFormSet

LINE_FIELDS = ("position", "product", "description", "quantity", "unit_price", "taxable", "line_amount")
TOTAL_FIELDS = ("subtotal", "tax_amount", "total")
CONTACT_PHONES = ("contact__phone_e164", "contact__mobile_phone_e164")


class LineForm(forms.ModelForm):
    """A line whose price is left blank takes its product's price and taxability, as QBO fills a line from its
    item; otherwise picking "Crack injection" would quote it at $0 and untaxed. A price typed is kept as typed."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "unit_price" in self.fields:
            self.fields["unit_price"].required = False
            self.fields["unit_price"].help_text = "Blank: the product's price and tax setting."
            if self.instance.pk is None:
                self.initial.pop("unit_price", None)  # no "0" to overwrite

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
    readonly_fields = ("line_amount",)
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
        if self.instance.pk is not None:  # against payments being applied right now (see PaymentApplicationFormSet)
            list(Invoice.objects.select_for_update().filter(pk=self.instance.pk).values_list("pk"))
        try:
            services.invoice_changes_validate(invoice=self.instance, lines=lines)
        except DocumentStateError as exc:
            raise ValidationError(str(exc)) from exc


class InvoiceItemInline(QuoteItemInline):
    model = InvoiceItem
    formset = InvoiceItemFormSet


# Admin actions write no LogEntry by themselves (STYLE §9): each one below logs its change on the object's history.
def _report(modeladmin: admin.ModelAdmin, request: HttpRequest, done: int, errors: list[str], verb: str) -> None:
    if done:
        modeladmin.message_user(request, f"{done} {verb}.", messages.SUCCESS)
    for error in errors:
        modeladmin.message_user(request, error, messages.ERROR)


@admin.register(Quote)
class QuoteAdmin(PhoneSearchMixin, CrmModelAdmin):
    list_display = ("__str__", "status", "contact", "campaign", "issue_date", "expiry_date", "total")
    list_filter = ("status", "campaign")
    list_select_related = ("contact", "campaign")
    search_fields = ("quote_number", "contact__first_name", "contact__last_name", "contact__company_name")
    phone_search_fields = CONTACT_PHONES
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


class InvoiceStatusFilter(admin.SimpleListFilter):
    """Status as of today (`services.invoice_status_expression`): the stored one is as of the last save, and an
    unpaid invoice falls overdue without one."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return InvoiceStatus.choices

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(_status_today=self.value())
        return queryset


@admin.register(Invoice)
class InvoiceAdmin(PhoneSearchMixin, MoneyRecordAdminMixin, CrmModelAdmin):
    list_display = (
        "__str__",
        "status_today",
        "contact",
        "issue_date",
        "due_date",
        "total",
        "balance_due",
        "email_status",
    )
    list_filter = (InvoiceStatusFilter, "email_status")
    list_select_related = ("contact",)
    search_fields = ("invoice_number", "contact__first_name", "contact__last_name", "contact__company_name")
    phone_search_fields = CONTACT_PHONES
    date_hierarchy = "issue_date"
    autocomplete_fields = ("contact", "quote")
    exclude = ("status",)  # derived: shown as `status_today`
    readonly_fields = (
        "status_today",
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

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_status_today=services.invoice_status_expression(today()))

    def has_change_permission(self, request, obj=None):
        """A void invoice is kept as voided: readable, no longer editable (but by a superuser)."""
        if obj is not None and obj.status == InvoiceStatus.VOID and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    @admin.display(description="Status", ordering="_status_today")
    def status_today(self, obj: Invoice) -> str:
        return InvoiceStatus(services.invoice_status_derive(obj, today())).label

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


class PaymentApplicationFormSet(PreloadedFormSet):
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
        # Lock the invoices, re-read, for the rest of the admin's transaction (PostgreSQL): a second bookkeeper
        # paying the same invoice waits here and then sees this payment, as `payment_apply` does.
        ids = sorted({invoice.pk for invoice, _ in rows})
        locked = {
            invoice.pk: invoice for invoice in Invoice.objects.select_for_update().filter(pk__in=ids).order_by("pk")
        }
        rows = [(locked[invoice.pk], amount) for invoice, amount in rows]
        try:
            services.payment_applications_validate(payment=self.instance, rows=rows)
        except PaymentApplicationError as exc:
            raise ValidationError(str(exc)) from exc


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

    def save_related(self, request, form, formsets, change):
        payment = form.instance
        before = set(payment.applications.values_list("invoice_id", flat=True))
        super().save_related(request, form, formsets, change)
        after = set(payment.applications.values_list("invoice_id", flat=True))
        services.invoices_recalculate(invoice_ids=before | after)
        # Last payment date (and, for a moved payment, the previous contact's figures).
        services.contacts_financials_recalculate(contact_ids=[payment.contact_id, form.initial.get("contact")])

    def delete_model(self, request, obj):
        self.delete_queryset(request, Payment.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        """Superusers only (MoneyRecordAdminMixin): the invoices the payments paid owe that money again."""
        invoice_ids = set(PaymentApplication.objects.filter(payment__in=queryset).values_list("invoice_id", flat=True))
        contact_ids = set(queryset.values_list("contact_id", flat=True))
        super().delete_queryset(request, queryset)
        services.invoices_recalculate(invoice_ids=invoice_ids)
        services.contacts_financials_recalculate(contact_ids=contact_ids)
