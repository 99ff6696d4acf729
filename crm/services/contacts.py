"""A contact's financial summary (total sales, outstanding balance, last payment, average days to pay).

Derived from the CRM's own invoices and payments. The QuickBooks sync may instead write QBO's figures (Customer
Balance) into the same fields; whichever ran last wins, so the CRM recalculates only unlinked contacts (no
`quickbooks_customer_id`): `invoice_recalculate` after every invoice change, the admin after a payment change.
"""

from collections.abc import Iterable
from decimal import Decimal

from django.db.models import Max, Sum

from crm.models import Contact, Invoice, InvoiceStatus, Payment, PaymentApplication
from crm.money import q


def contact_financials_recalculate(*, contact: Contact) -> Contact:
    invoices = Invoice.objects.filter(contact=contact).exclude(status=InvoiceStatus.VOID)
    sums = invoices.aggregate(total=Sum("total"), balance=Sum("balance_due"))
    contact.total_sales = q(sums["total"])
    contact.outstanding_balance = q(sums["balance"])
    contact.last_payment_date = Payment.objects.filter(contact=contact).aggregate(d=Max("payment_date"))["d"]

    # Average days from invoice date to payment date, weighted per application (rows, not amounts: simple
    # and what a bookkeeper expects to read).
    days = [
        (paid - issued).days
        for paid, issued in PaymentApplication.objects.filter(invoice__contact=contact).values_list(
            "payment__payment_date", "invoice__issue_date"
        )
    ]
    contact.average_days_to_pay = q(Decimal(sum(days)) / len(days)) if days else None
    contact.save(
        update_fields=[
            "total_sales",
            "outstanding_balance",
            "last_payment_date",
            "average_days_to_pay",
            "updated_at",
        ]
    )
    return contact


def contacts_financials_recalculate(*, contact_ids: Iterable[int | None]) -> None:
    """Recalculate the summary of each unlinked contact among `contact_ids` (QBO owns a linked contact's)."""
    ids = {pk for pk in contact_ids if pk is not None}
    for contact in Contact.objects.filter(pk__in=ids, quickbooks_customer_id__isnull=True):
        contact_financials_recalculate(contact=contact)
