"""Indexes for the admin changelists at 100,000 contacts and 50,000 invoices (issue 14, "Scale").

Two kinds:

- b-tree indexes in the models' Meta, on every engine: the default order of the activity, campaign recipient, quote,
  invoice and payment lists, so a page is an index walk, not a sort of the whole table. Not for contacts, on
  purpose: with an index in the contact order (last name, first name, company, id), PostgreSQL answered a search
  for "Smith" by walking that index from "A" until it had 50 Smiths (275 ms), since it assumes matches are spread
  evenly through the order, and a name search's matches are bunched in it; without it the page sorts its matches
  (1 ms) and the unfiltered list sorts 100,000 rows for its top 50 (about 15 ms). Nor `created_at` for the contact
  date hierarchy: PostgreSQL answered the hierarchy's MIN/MAX over a one-row search by walking it end to end
  (140 ms instead of 1 ms);
- on PostgreSQL only, GIN trigram indexes (pg_trgm) for the text searches. Django's admin search is `icontains`,
  which PostgreSQL runs as `UPPER(col::text) LIKE UPPER('%term%')`: a b-tree cannot serve a leading `%`, a trigram
  index on the same expression, `UPPER(col) gin_trgm_ops`, can. The E.164 columns are indexed raw, for the
  "last 7 digits" search (`endswith`, `LIKE '%5550134'`); their exact lookups use their own b-tree (db_index). One
  multi-column GIN index per table serves an OR over its columns (a BitmapOr of its columns). These are created
  with SQL on PostgreSQL only (SQLite has no GIN), so the model state does not know them and `makemigrations`
  stays clean; `INDEX_NAMES` lists every index made here (the changelist benchmark drops them to show "before").

pg_trgm is a trusted extension since PostgreSQL 13: the database's owner may create it without superuser rights.
Unapplying drops the indexes but keeps the extension (something else may use it). Django's `TrigramExtension`
operation is not used: its reverse queries `pg_extension` on every engine, so SQLite could not migrate back.
Building the indexes locks writes to the tables for a few seconds at 100,000 rows (measured: about 2 s for the
contact index).
"""

from django.db import migrations, models

TRIGRAM_INDEXES = {
    "crm_contact_search_trgm": (
        "crm_contact",
        [
            "UPPER(first_name) gin_trgm_ops",
            "UPPER(last_name) gin_trgm_ops",
            "UPPER(company_name) gin_trgm_ops",
            "UPPER(email) gin_trgm_ops",
            "UPPER(phone) gin_trgm_ops",
            "UPPER(mobile_phone) gin_trgm_ops",
            "UPPER(zip_code) gin_trgm_ops",
            "phone_e164 gin_trgm_ops",
            "mobile_phone_e164 gin_trgm_ops",
        ],
    ),
    "crm_activity_search_trgm": (
        "crm_activity",
        ["UPPER(summary) gin_trgm_ops", "UPPER(phone_number) gin_trgm_ops", "phone_number_e164 gin_trgm_ops"],
    ),
    "crm_quote_number_trgm": ("crm_quote", ["UPPER(quote_number) gin_trgm_ops"]),
    "crm_invoice_number_trgm": ("crm_invoice", ["UPPER(invoice_number) gin_trgm_ops"]),
    "crm_payment_reference_trgm": ("crm_payment", ["UPPER(reference) gin_trgm_ops"]),
}

ORDER_INDEXES = {
    "activity": models.Index(fields=["-occurred_at", "-id"], name="crm_activity_occurred_idx"),
    "campaignrecipient": models.Index(fields=["-sent_at", "id"], name="crm_recipient_sent_idx"),
    "invoice": models.Index(fields=["-issue_date", "-id"], name="crm_invoice_issued_idx"),
    "payment": models.Index(fields=["-payment_date", "-id"], name="crm_payment_date_idx"),
    "quote": models.Index(fields=["-issue_date", "-id"], name="crm_quote_issued_idx"),
}
INDEX_NAMES = [*TRIGRAM_INDEXES, *(index.name for index in ORDER_INDEXES.values())]


def trigram_indexes_create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, (table, columns) in TRIGRAM_INDEXES.items():
        schema_editor.execute(f"CREATE INDEX {name} ON {table} USING gin ({', '.join(columns)})")


def trigram_indexes_drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in TRIGRAM_INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("crm", "0005_contact_merge")]

    operations = [
        *(migrations.AddIndex(model_name=model, index=index) for model, index in ORDER_INDEXES.items()),
        migrations.RunPython(trigram_indexes_create, trigram_indexes_drop, elidable=False),
    ]
