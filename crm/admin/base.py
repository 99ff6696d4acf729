"""Admin building blocks shared by the CRM's admin modules: deletion rules, import/export permissions, phone search,
searches through a foreign key that use the related table's indexes, the extension point other apps fill
(`extensions`), one history page per record, and inlines whose query count does not grow with their rows."""

import re
from collections.abc import Sequence

from django import forms
from django.contrib import admin
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.admin.options import IS_POPUP_VAR, get_content_type_for_model
from django.contrib.admin.utils import flatten_fieldsets, lookup_spawns_duplicates
from django.contrib.admin.views.main import PAGE_VAR
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.constants import LOOKUP_SEP
from django.template.response import TemplateResponse
from django.utils.text import smart_split, unescape_string_literal
from import_export.admin import ImportExportModelAdmin
from import_export.forms import ImportForm

from crm.normalization import phone_to_e164

from . import extensions
from .actions import action_permitted

# A search term that is only phone punctuation around at least 7 digits: "555-0134", "(617) 555-0134", "+1 617…".
PHONE_SEARCH = re.compile(r"^[\d\s().+-]*$")
PHONE_SEARCH_MIN_DIGITS = 7
# The largest file an admin import takes: about 20,000 contact rows. One import is one transaction in one web
# request, previewed then confirmed; a bigger file (a 10 MB one took 135 s and 1 GB) goes in parts.
IMPORT_MAX_BYTES = 2 * 1024 * 1024
# A search through a foreign key asks the related table first and filters by the ids it finds (`search_q`): up to
# this many ids go into the query as a list; past it (a word matching thousands of contacts), as a subquery.
RELATED_SEARCH_MAX_IDS = 5000
SEARCH_PREFIX_LOOKUPS = {"^": "istartswith", "=": "iexact", "": "icontains"}  # as Django's admin search


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


def _forward_relation(model: type[models.Model], name: str) -> models.ForeignKey | None:
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return None
    return field if field.concrete and (field.many_to_one or field.one_to_one) else None


def search_q(
    model: type[models.Model], lookups: Sequence[tuple[str, object]], *, max_ids: int = RELATED_SEARCH_MAX_IDS
) -> Q:
    """`lookups` ORed, as a filter on `model`, with each lookup through a foreign key answered by the related table.

    `Q(summary__icontains="cooper") | Q(contact__last_name__icontains="cooper")` makes PostgreSQL join every activity
    to its contact before it can test either side: an OR across two tables uses no index (110 ms at 100,000
    activities, and a changelist runs its filter four times: count, page, and the date hierarchy's two). Asked as
    `summary LIKE … OR contact_id IN (ids of the contacts whose last name is like cooper)`, each side uses its own
    index (the contact's trigram index, then the activity's trigram and foreign-key indexes): 5 ms. The rows are
    the same, because a forward foreign key is one related row: "its contact matches" is "its contact is one of
    those". A NULL key matches neither way. Past `max_ids` related rows the ids go in as a subquery instead.
    """
    found = Q()
    through: dict[str, tuple[models.ForeignKey, Q]] = {}
    for lookup, value in lookups:
        head, _, rest = lookup.partition(LOOKUP_SEP)
        relation = _forward_relation(model, head)
        if relation is None or not rest:
            found |= Q((lookup, value))
        else:
            related = through.get(head, (relation, Q()))[1]
            through[head] = (relation, related | Q((rest, value)))
    for relation, related in through.values():
        matches = (
            relation.related_model._base_manager.filter(related)
            .order_by()  # any matches will do: the model's ordering would walk its order index instead
            .values_list(relation.target_field.attname, flat=True)
        )
        ids = list(matches[: max_ids + 1])
        found |= Q((f"{relation.attname}__in", ids if len(ids) <= max_ids else matches))
    return found


def _plain_search_lookup(model: type[models.Model], search_field: str) -> str | None:
    """Django's lookup for a search field made only of field names ("name", "^name", "=name", "contact__name"), or
    None for the forms `RelatedSearchMixin` leaves to Django ("@name", "name__exact")."""
    prefix = search_field[:1] if search_field[:1] in "^=@" else ""
    if prefix == "@":
        return None
    path = search_field.removeprefix(prefix)
    opts = model._meta
    for part in path.split(LOOKUP_SEP):
        try:
            field = opts.get_field(opts.pk.name if part == "pk" else part)
        except FieldDoesNotExist:
            return None
        if hasattr(field, "path_infos"):
            opts = field.path_infos[-1].to_opts
    return f"{path}__{SEARCH_PREFIX_LOOKUPS[prefix]}"


class RelatedSearchMixin:
    """Django's admin search, word by word (every word must match one of `search_fields`), with the fields reached
    through a foreign key (`contact__last_name`) searched in their own table (`search_q`), so that at 100,000
    contacts a search of invoices, quotes, payments, activities or campaign recipients by the contact's name uses
    indexes instead of joining every row. Search fields of the forms Django resolves otherwise ("@name",
    "name__exact") send the whole search to Django unchanged."""

    related_search_max_ids = RELATED_SEARCH_MAX_IDS

    def get_search_results(self, request, queryset, search_term):
        search_fields = [str(field) for field in self.get_search_fields(request)]
        lookups = [_plain_search_lookup(queryset.model, field) for field in search_fields]
        if not search_term or None in lookups or not any(LOOKUP_SEP in field for field in search_fields):
            return super().get_search_results(request, queryset, search_term)
        words = []
        for bit in smart_split(search_term):
            if bit.startswith(('"', "'")) and bit[0] == bit[-1]:
                bit = unescape_string_literal(bit)
            words.append(
                search_q(queryset.model, [(lookup, bit) for lookup in lookups], max_ids=self.related_search_max_ids)
            )
        may_have_duplicates = any(lookup_spawns_duplicates(self.opts, lookup) for lookup in lookups)
        return queryset.filter(*words), may_have_duplicates


class PhoneSearchMixin:
    """Search also finds a phone number typed in any format, whole or its last 7+ digits, on the E.164 columns.

    The matches are added to Django's own text search within the queryset it was given, so the changelist's
    filters still apply. A phone field through a foreign key ("contact__phone_e164") is looked up in the related
    table first (`search_q`).
    """

    phone_search_fields: tuple[str, ...] = ()
    related_search_max_ids = RELATED_SEARCH_MAX_IDS

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        digits = re.sub(r"\D", "", term)
        if not self.phone_search_fields or not PHONE_SEARCH.match(term) or len(digits) < PHONE_SEARCH_MIN_DIGITS:
            return results, may_have_duplicates
        e164 = phone_to_e164(term) if len(digits) >= 10 else None  # 7 digits alone parse as a local number
        lookup, value = ("exact", e164) if e164 else ("endswith", digits)
        lookups = [(f"{field}__{lookup}", value) for field in self.phone_search_fields]
        match = search_q(queryset.model, lookups, max_ids=self.related_search_max_ids)
        return results | queryset.filter(match), may_have_duplicates


class ExtensibleAdminMixin:
    """Consults `crm.admin.extensions` at request time for the actions, list columns, read-only fields and history
    entries other apps registered for this model (so `crm` never imports them)."""

    history_per_page = 100  # as Django's own history page
    extension_fieldset_title = "Linked systems"

    def get_actions(self, request):
        actions = super().get_actions(request)
        if self.actions is None or IS_POPUP_VAR in request.GET:
            return actions
        for func in extensions.extensions_for(self.model).actions:
            if action_permitted(self, request, getattr(func, "allowed_permissions", ())):
                func, name, description = self.get_action(func)
                actions[name] = (func, name, description)
        return actions

    def get_list_display(self, request):
        return [*super().get_list_display(request), *extensions.extensions_for(self.model).list_display]

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return fields + [item for item in extensions.extensions_for(self.model).readonly_fields if item not in fields]

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if not self.fieldsets:  # Django's default fieldset already lists every read-only field
            return fieldsets
        shown = set(flatten_fieldsets(fieldsets))
        extra = [item for item in extensions.extensions_for(self.model).readonly_fields if item not in shown]
        return [*fieldsets, (self.extension_fieldset_title, {"fields": extra})] if extra else fieldsets

    def history_view(self, request, object_id, extra_context=None):
        """Django's history page, with the entries of every registered history provider merged in by time."""
        response = super().history_view(request, object_id, extra_context)
        if not isinstance(response, TemplateResponse) or "object" not in (response.context_data or {}):
            return response  # a redirect: the object does not exist
        obj = response.context_data["object"]
        log_entries = (
            LogEntry.objects.filter(content_type=get_content_type_for_model(self.model), object_id=str(obj.pk))
            .select_related("user")
            .order_by("action_time", "id")
        )
        entries = [
            extensions.HistoryEntry(
                at=entry.action_time,
                actor=entry.user.get_username(),
                action=LOG_ACTIONS.get(entry.action_flag, ""),
                source="CRM",
                message=entry.get_change_message(),
            )
            for entry in log_entries
        ]
        for provider in extensions.extensions_for(self.model).history:
            entries.extend(provider(obj=obj))
        entries.sort(key=lambda entry: entry.at)
        paginator = self.get_paginator(request, entries, self.history_per_page)
        page = paginator.get_page(request.GET.get(PAGE_VAR, 1))
        response.context_data.update(
            action_list=page,
            page_range=paginator.get_elided_page_range(page.number),
            pagination_required=paginator.count > self.history_per_page,
        )
        return response


LOG_ACTIONS = {ADDITION: "Added", CHANGE: "Changed", DELETION: "Deleted"}


class CrmModelAdmin(RelatedSearchMixin, ExtensibleAdminMixin, NoBulkDeleteMixin, admin.ModelAdmin):
    list_per_page = 50
    show_full_result_count = False  # one COUNT fewer per changelist page


class CappedImportForm(ImportForm):
    """Refuses a file over `IMPORT_MAX_BYTES` from its size alone, before anything reads it: Django has streamed an
    upload this large to a temporary file (FILE_UPLOAD_MAX_MEMORY_SIZE), so it never sits whole in memory."""

    def clean_import_file(self):
        upload = self.cleaned_data["import_file"]
        if upload.size > IMPORT_MAX_BYTES:
            raise ValidationError(
                f"This file is {upload.size / 1_048_576:.1f} MB; an import takes at most "
                f"{IMPORT_MAX_BYTES / 1_048_576:.0f} MB (about 20,000 rows). Split it into smaller files."
            )
        return upload


class CrmImportExportAdmin(RelatedSearchMixin, ExtensibleAdminMixin, NoBulkDeleteMixin, ImportExportModelAdmin):
    """Import needs the model's add and change permissions, export its view permission.

    The import itself is all-or-nothing: `rollback_on_validation_errors` is forced on for the confirm step too, so
    a file changed between preview and confirm still cannot write half of itself.
    """

    list_per_page = 50
    show_full_result_count = False
    import_form_class = CappedImportForm

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
