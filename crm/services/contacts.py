"""A contact's financial summary (total sales, outstanding balance, last payment, average days to pay).

Total sales, the last payment and the average days to pay are derived from the CRM's invoices and payments, which for
a contact linked to a QBO customer include the ones the sales pulls bring in. The outstanding balance is the one
figure QBO owns once the contact is linked: the customers import writes the customer's BalanceWithJobs, which counts
what the CRM may not hold (a job's invoice of another contact, a credit memo), so the CRM leaves it alone
(`crm_owns_balance`). `invoice_recalculate` calls this after every invoice change, the payment services after a
payment change.
"""

from collections.abc import Iterable
from decimal import Decimal

from django.db.models import Max, Sum

from crm.models import Contact, Invoice, InvoiceStatus, Payment, PaymentApplication
from crm.money import q

SUMMARY_FIELDS = ("total_sales", "last_payment_date", "average_days_to_pay")


def crm_owns_balance(contact: Contact) -> bool:
    """The one rule of who owns a contact's outstanding balance: QuickBooks, once the contact is linked to a QBO
    customer (the customers import writes QBO's Balance there); the CRM, from its own invoices, otherwise. Every
    recalculation goes through `contacts_financials_recalculate`, the only place that applies it."""
    return contact.quickbooks_customer_id is None


def contacts_financials_recalculate(*, contact_ids: Iterable[int | None]) -> list[Contact]:
    """Recalculate the summary of each contact among `contact_ids` (the balance only where the CRM owns it, see
    `crm_owns_balance`); returns the contacts."""
    ids = {pk for pk in contact_ids if pk is not None}
    contacts = list(Contact.objects.filter(pk__in=ids))
    for contact in contacts:
        _summary_write(contact, balance=crm_owns_balance(contact))
    return contacts


def contact_financials_recalculate(*, contact: Contact) -> Contact:
    """The summary of one contact (its balance left as QBO's when it is linked)."""
    recalculated = contacts_financials_recalculate(contact_ids=[contact.pk])
    return recalculated[0] if recalculated else contact


def _summary_write(contact: Contact, *, balance: bool) -> None:
    invoices = Invoice.objects.filter(contact=contact).exclude(status=InvoiceStatus.VOID)
    sums = invoices.aggregate(total=Sum("total_amount"), balance=Sum("balance_due"))
    contact.total_sales = q(sums["total"])
    if balance:
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
    fields = [*SUMMARY_FIELDS, *(["outstanding_balance"] if balance else []), "updated_at"]
    contact.save(update_fields=fields)
