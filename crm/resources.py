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

from import_export import fields, resources, widgets

from crm.models import Activity, Contact, Product

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
