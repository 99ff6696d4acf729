"""django-import-export resources: CSV import/export of contacts, activities and products.

Every resource validates each row with the model's `full_clean()` (`clean_model_instances`), which also
normalizes phones and e-mails (the models' `clean()`), and imports in one transaction (`use_transactions`): one
bad row means nothing is written and the preview names the row and field (STACK §2). QuickBooks ids, sync tokens
and the contact's financial fields are not importable or exported: the integration and the bookkeeper own them.

Exports are safe to open in a spreadsheet: a text cell starting with =, +, -, @, a tab or a carriage return would
run as a formula (CSV injection, OWASP), so it is written with a leading apostrophe, which spreadsheets show as
text; an import removes that apostrophe again, so a file exported and re-imported round-trips ("+1 617…" stays).
django-import-export's own `IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT` (on in settings) only drops a leading "=".
"""

from django.db.models import Q
from import_export import fields, resources, widgets

from crm.models import Activity, Contact, Product
from crm.normalization import email_normalize, phone_to_e164

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell_escape(value: object) -> object:
    """A text cell a spreadsheet would run as a formula, made text ("'=HYPERLINK(…)"); anything else unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def cell_unescape(value: object) -> object:
    """Undo `cell_escape` on an imported cell."""
    if isinstance(value, str) and value.startswith("'") and value[1:].startswith(FORMULA_STARTS):
        return value[1:]
    return value


class StrictResource(resources.ModelResource):
    """Common options: validate every instance, all-or-nothing, report unchanged rows as skipped.

    `id` finds the row to update but is never written: an unknown id (a file from another system) makes a new
    row with its own key, not one at that key, which PostgreSQL's sequence would later collide with.
    """

    id = fields.Field(attribute="id", column_name="id", widget=widgets.IntegerWidget(), readonly=True)

    class Meta:
        abstract = True
        clean_model_instances = True
        use_transactions = True
        skip_unchanged = True
        report_skipped = True

    def export_field(self, field, instance, **kwargs):
        return cell_escape(super().export_field(field, instance, **kwargs))

    def before_import_row(self, row, **kwargs):
        for key, value in list(row.items()):
            row[key] = cell_unescape(value)
        super().before_import_row(row, **kwargs)


class ContactResource(StrictResource):
    """Contacts; a row whose phone or e-mail another contact already has is imported, with a warning on the result
    (`result.duplicate_warnings`, shown by the admin): households share numbers, so it must not block, but a second
    contact for the same person is how CRM duplicates begin (issue 10)."""

    DUPLICATE_LOOKUP_CHUNK = 500

    def before_import(self, dataset, **kwargs):
        super().before_import(dataset, **kwargs)
        self.duplicate_warnings = contact_rows_duplicates(dataset)

    def after_import(self, dataset, result, **kwargs):
        super().after_import(dataset, result, **kwargs)
        result.duplicate_warnings = list(getattr(self, "duplicate_warnings", []))

    class Meta(StrictResource.Meta):
        model = Contact
        fields = (
            "id",
            "first_name",
            "last_name",
            "company_name",
            "phone",
            "mobile_phone",
            "email",
            "address_line1",
            "address_line2",
            "city",
            "state",
            "zip_code",
            "source",
        )
        export_order = fields


class ActivityResource(StrictResource):
    """Activities reference their contact by id (phone numbers are shared by households, so not a key)."""

    contact = fields.Field(
        attribute="contact", column_name="contact", widget=widgets.ForeignKeyWidget(Contact, field="pk")
    )

    class Meta(StrictResource.Meta):
        model = Activity
        fields = ("id", "contact", "kind", "direction", "occurred_at", "phone_number", "summary", "duration_seconds")
        export_order = fields


class ProductResource(StrictResource):
    class Meta(StrictResource.Meta):
        model = Product
        fields = ("id", "name", "description", "item_type", "unit_price", "cost", "taxable", "active", "sku")
        export_order = fields


def contact_rows_duplicates(dataset, *, chunk: int = ContactResource.DUPLICATE_LOOKUP_CHUNK) -> list[str]:
    """One line per imported row whose phone, mobile or e-mail is already a contact's (other than the row's own,
    when it updates one by id) or an earlier row's; a few queries for the whole file, not one per row."""
    headers = set(dataset.headers or ())
    rows = []
    for number, values in enumerate(dataset.dict, start=1):
        row_id = str(cell_unescape(values.get("id") or "")).strip() if "id" in headers else ""
        keys = []
        for column in ("phone", "mobile_phone"):
            raw = cell_unescape(values.get(column) or "") if column in headers else ""
            e164 = phone_to_e164(str(raw)) if raw else None
            if e164:
                keys.append(("phone", e164, str(raw).strip()))
        email = email_normalize(str(cell_unescape(values.get("email") or ""))) if "email" in headers else ""
        if email:
            keys.append(("email", email, email))
        rows.append((number, int(row_id) if row_id.isdigit() else None, keys))
    phones = sorted({key for _, _, keys in rows for kind, key, _ in keys if kind == "phone"})
    emails = sorted({key for _, _, keys in rows for kind, key, _ in keys if kind == "email"})
    owners: dict[str, list[tuple[int, str]]] = {}
    for values, lookup in ((phones, ("phone_e164", "mobile_phone_e164")), (emails, ("email",))):
        for start in range(0, len(values), chunk):
            part = values[start : start + chunk]
            match = Q()
            for field in lookup:
                match |= Q(**{f"{field}__in": part})
            for contact in Contact.objects.filter(match).only(
                "pk", "first_name", "last_name", "company_name", "phone", "email", "phone_e164", "mobile_phone_e164"
            ):
                for key in {contact.phone_e164, contact.mobile_phone_e164, contact.email} & set(part):
                    owners.setdefault(key, []).append((contact.pk, str(contact)))
    warnings: list[str] = []
    first_row: dict[str, int] = {}
    for number, row_id, keys in rows:
        found = []
        for kind, key, shown in keys:
            others = [f"{name} (#{pk})" for pk, name in owners.get(key, []) if pk != row_id]
            if key in first_row:
                others.append(f"row {first_row[key]} of this file")
            else:
                first_row[key] = number
            if others:
                found.append(f"{kind} {shown} is already on {', '.join(others[:3])}")
        if found:
            warnings.append(f"Row {number}: " + "; ".join(found) + ".")
    return warnings
