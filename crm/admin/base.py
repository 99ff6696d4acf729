"""Admin building blocks shared by the CRM's admin modules: deletion rules, import/export permissions, phone search
and inlines whose query count does not grow with their rows."""

import re

from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import AutocompleteSelect
from django.db.models import Q
from import_export.admin import ImportExportModelAdmin

from crm.normalization import phone_to_e164

# A search term that is only phone punctuation around at least 7 digits: "555-0134", "(617) 555-0134", "+1 617…".
PHONE_SEARCH = re.compile(r"^[\d\s().+-]*$")
PHONE_SEARCH_MIN_DIGITS = 7


class NoBulkDeleteMixin:
    """Drop Django's `delete_selected` action for everyone but superusers: deleting a page of rows is too easy."""

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not request.user.is_superuser:
            actions.pop("delete_selected", None)
        return actions


class MoneyRecordAdminMixin(NoBulkDeleteMixin):
    """Money records (invoices, payments) are voided, never deleted, except by a superuser (RELIABILITY §E4)."""

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


class PhoneSearchMixin:
    """Search also finds a phone number typed in any format, whole or its last 7+ digits, on the E.164 columns.

    The matches are added to Django's own text search within the queryset it was given, so the changelist's
    filters still apply.
    """

    phone_search_fields: tuple[str, ...] = ()

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        digits = re.sub(r"\D", "", term)
        if not self.phone_search_fields or not PHONE_SEARCH.match(term) or len(digits) < PHONE_SEARCH_MIN_DIGITS:
            return results, may_have_duplicates
        e164 = phone_to_e164(term) if len(digits) >= 10 else None  # 7 digits alone parse as a local number
        lookup, value = ("exact", e164) if e164 else ("endswith", digits)
        match = Q()
        for field in self.phone_search_fields:
            match |= Q(**{f"{field}__{lookup}": value})
        return results | queryset.filter(match), may_have_duplicates


class CrmModelAdmin(NoBulkDeleteMixin, admin.ModelAdmin):
    list_per_page = 50
    show_full_result_count = False  # one COUNT fewer per changelist page


class CrmImportExportAdmin(NoBulkDeleteMixin, ImportExportModelAdmin):
    """Import needs the model's add and change permissions, export its view permission.

    The import itself is all-or-nothing: `rollback_on_validation_errors` is forced on for the confirm step too, so
    a file changed between preview and confirm still cannot write half of itself.
    """

    list_per_page = 50
    show_full_result_count = False

    def has_import_permission(self, request):
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.add_{opts.model_name}") and request.user.has_perm(
            f"{opts.app_label}.change_{opts.model_name}"
        )

    def has_export_permission(self, request):
        return self.has_view_permission(request)

    def get_import_data_kwargs(self, **kwargs):
        kwargs = super().get_import_data_kwargs(**kwargs)
        kwargs["rollback_on_validation_errors"] = True
        return kwargs


class PreloadedAutocompleteSelect(AutocompleteSelect):
    """An autocomplete that labels a row's current choice from the object loaded with the row (`preloaded`).

    Django's widget runs one query per row to label the selected option, so a change page's query count would grow
    with its lines; `PreloadedFormSet` hands each row's already-fetched object to its widget instead.
    """

    preloaded = None

    def optgroups(self, name, value, attr=None):
        obj = self.preloaded
        if obj is None or [str(v) for v in value if v not in (None, "")] != [str(obj.pk)]:
            return super().optgroups(name, value, attr)
        options = [] if self.is_required else [self.create_option(name, "", "", False, 0)]
        label = self.choices.field.label_from_instance(obj)
        options.append(self.create_option(name, obj.pk, label, True, len(options)))
        return [(None, options, 0)]


class PreloadedFormSet(forms.BaseInlineFormSet):
    """Gives each row's `PreloadedAutocompleteSelect` the related object its instance already holds."""

    def add_fields(self, form, index):
        super().add_fields(form, index)
        for name, field in form.fields.items():
            widget = getattr(field.widget, "widget", field.widget)  # inside RelatedFieldWidgetWrapper
            if isinstance(widget, PreloadedAutocompleteSelect):
                model_field = form.instance._meta.get_field(name)
                if model_field.is_cached(form.instance):
                    widget.preloaded = getattr(form.instance, name)


class PreloadedAutocompleteInline(admin.TabularInline):
    """An inline whose autocomplete fields are fetched with the rows (`select_related`), not one query each."""

    formset = PreloadedFormSet

    def get_queryset(self, request):
        return super().get_queryset(request).select_related(*self.autocomplete_fields)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = PreloadedAutocompleteSelect(db_field, self.admin_site, using=kwargs.get("using"))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
