"""A contact's financial summary (total sales, outstanding balance, last payment, average days to pay).

Derived from the CRM's own invoices and payments for an unlinked contact; a contact linked to a QBO customer carries
QBO's figures (Customer Balance), which the sync writes, and the CRM leaves them alone (`CRM_OWNS_SUMMARY`).
`invoice_recalculate` calls this after every invoice change, the payment services after a payment change.
"""

from collections.abc import Iterable
from decimal import Decimal

from django.db.models import Max, Q, Sum

from crm.models import Contact, Invoice, InvoiceStatus, Payment, PaymentApplication
from crm.money import q

# The one rule of who owns a contact's summary: QuickBooks, once the contact is linked to a QBO customer (the sync
# writes QBO's Balance there); the CRM, from its own invoices and payments, otherwise. Every recalculation goes
# through `contacts_financials_recalculate`, the only place that applies it.
CRM_OWNS_SUMMARY = Q(quickbooks_customer_id__isnull=True)


def contacts_financials_recalculate(*, contact_ids: Iterable[int | None]) -> list[Contact]:
    """Recalculate the summary of each contact among `contact_ids` whose summary the CRM owns; returns those."""
    ids = {pk for pk in contact_ids if pk is not None}
    contacts = list(Contact.objects.filter(CRM_OWNS_SUMMARY, pk__in=ids))
    for contact in contacts:
        _summary_write(contact)
    return contacts


def contact_financials_recalculate(*, contact: Contact) -> Contact:
    """The summary of one contact; a linked contact is returned as it is (QuickBooks owns its figures)."""
    recalculated = contacts_financials_recalculate(contact_ids=[contact.pk])
    return recalculated[0] if recalculated else contact


def _summary_write(contact: Contact) -> None:
    invoices = Invoice.objects.filter(contact=contact).exclude(status=InvoiceStatus.VOID)
    sums = invoices.aggregate(total=Sum("total_amount"), balance=Sum("balance_due"))
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
