"""The plan's names and fields (issue 11, "The plan's schema"), keeping every row's data.

Renames are RenameField (the column keeps its values): Product.unit_cost → cost; Quote/Invoice total → total_amount
and terms → payment_terms; Quote.expiry_date → expiration_date; QuoteItem/InvoiceItem line_amount → line_total.
New: Product quantity_on_hand, reorder_point, income/expense account names (and the expense account id beside the
income one); Quote.due_date; lines' quickbooks_line_id; Invoice payment_status and paid_date.

Invoice.status used to mix the lifecycle with the money (draft, sent, partially_paid, paid, overdue, void). It is
split: `status` keeps the lifecycle (draft, sent, void) and `payment_status` takes the money's part (unpaid,
partial, paid, overdue). The data step maps each old value; `paid_date` of a paid invoice is the date of the
latest payment applied to it. Backwards, the old combined value is rebuilt from the two.
"""

from django.db import migrations, models
from django.db.models import Max

MONEY_TO_LIFECYCLE = {"partially_paid": ("sent", "partial"), "paid": ("sent", "paid"), "overdue": ("sent", "overdue")}


def _settle(schema_editor):
    """Fire PostgreSQL's deferred constraint checks for the rows just updated, so the schema changes that follow in
    this transaction are allowed ("cannot ALTER TABLE because it has pending trigger events")."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def split_invoice_status(apps, schema_editor):
    Invoice = apps.get_model("crm", "Invoice")
    for old, (status, payment_status) in MONEY_TO_LIFECYCLE.items():
        Invoice.objects.filter(status=old).update(status=status, payment_status=payment_status)
    # A draft that was already paid into was shown by its money (the old status said so only past the draft).
    Invoice.objects.filter(status__in=["draft", "sent"], payment_status="unpaid", amount_paid__gt=0).update(
        payment_status="partial"
    )
    last_payment = Max("payment_applications__payment__payment_date")
    paid = Invoice.objects.filter(payment_status="paid").annotate(last=last_payment)
    for invoice in paid.exclude(last=None).only("pk"):
        Invoice.objects.filter(pk=invoice.pk).update(paid_date=invoice.last)
    _settle(schema_editor)


def join_invoice_status(apps, schema_editor):
    Invoice = apps.get_model("crm", "Invoice")
    for old, (status, payment_status) in MONEY_TO_LIFECYCLE.items():
        Invoice.objects.filter(status=status, payment_status=payment_status).update(status=old)
    _settle(schema_editor)


class Migration(migrations.Migration):
    dependencies = [("crm", "0002_roles")]

    operations = [
        # Product
        migrations.RenameField("product", "unit_cost", "cost"),
        migrations.AddField(
            "product",
            "quantity_on_hand",
            models.DecimalField(
                blank=True, decimal_places=4, help_text="QBO QtyOnHand (inventory).", max_digits=14, null=True
            ),
        ),
        migrations.AddField(
            "product",
            "reorder_point",
            models.DecimalField(
                blank=True, decimal_places=4, help_text="QBO ReorderPoint (inventory).", max_digits=14, null=True
            ),
        ),
        migrations.AddField(
            "product",
            "income_account",
            models.CharField(blank=True, help_text="QBO IncomeAccountRef name.", max_length=100),
        ),
        migrations.AddField(
            "product",
            "expense_account",
            models.CharField(blank=True, help_text="QBO ExpenseAccountRef name.", max_length=100),
        ),
        migrations.AddField(
            "product",
            "expense_account_id",
            models.CharField(blank=True, help_text="QBO ExpenseAccountRef value.", max_length=50),
        ),
        # Quote and Invoice (SalesDocument)
        migrations.RenameField("quote", "total", "total_amount"),
        migrations.RenameField("invoice", "total", "total_amount"),
        migrations.RenameField("quote", "terms", "payment_terms"),
        migrations.RenameField("invoice", "terms", "payment_terms"),
        migrations.AlterField(
            "quote",
            "payment_terms",
            models.CharField(blank=True, help_text="E.g. Net 30 (QBO SalesTermRef name).", max_length=100),
        ),
        migrations.AlterField(
            "invoice",
            "payment_terms",
            models.CharField(blank=True, help_text="E.g. Net 30 (QBO SalesTermRef name).", max_length=100),
        ),
        migrations.AddField("quote", "due_date", models.DateField(blank=True, null=True)),
        migrations.RenameField("quote", "expiry_date", "expiration_date"),
        migrations.AlterField(
            "quote",
            "expiration_date",
            models.DateField(blank=True, help_text="QBO Estimate.ExpirationDate.", null=True),
        ),
        # Lines
        migrations.RenameField("quoteitem", "line_amount", "line_total"),
        migrations.RenameField("invoiceitem", "line_amount", "line_total"),
        migrations.AddField(
            "quoteitem",
            "quickbooks_line_id",
            models.CharField(blank=True, help_text="QBO Line.Id.", max_length=50),
        ),
        migrations.AddField(
            "invoiceitem",
            "quickbooks_line_id",
            models.CharField(blank=True, help_text="QBO Line.Id.", max_length=50),
        ),
        # Invoice: lifecycle and payment status
        migrations.AlterField(
            "invoice",
            "status",
            models.CharField(
                choices=[("draft", "Draft"), ("sent", "Sent"), ("void", "Void")],
                db_index=True,
                default="draft",
                max_length=20,
            ),
        ),
        migrations.AddField(
            "invoice",
            "payment_status",
            models.CharField(
                choices=[("unpaid", "Unpaid"), ("partial", "Partially paid"), ("paid", "Paid"), ("overdue", "Overdue")],
                db_index=True,
                default="unpaid",
                editable=False,
                max_length=10,
            ),
        ),
        migrations.AddField(
            "invoice",
            "paid_date",
            models.DateField(blank=True, editable=False, help_text="When the last payment paid it off.", null=True),
        ),
        migrations.RunPython(split_invoice_status, join_invoice_status),
    ]
