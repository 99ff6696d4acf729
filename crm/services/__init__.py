"""CRM business logic as plain keyword-only functions (STYLE §2); admin, commands and the integration call these.

- `documents`: quote and invoice totals the way QBO computes them, conversion, voiding, sending.
- `payments`: saving payments and setting the invoices they pay, keeping amount paid, balance and status in step.
- `contacts`: the financial summary on a contact, derived from its invoices and payments.
"""

from .contacts import contact_financials_recalculate, contacts_financials_recalculate
from .documents import (
    DocumentTotals,
    document_totals,
    invoice_changes_validate,
    invoice_mark_sent,
    invoice_payment_status_derive,
    invoice_payment_status_expression,
    invoice_recalculate,
    invoice_void,
    quote_convert_to_invoice,
    quote_recalculate,
)
from .payments import (
    invoices_recalculate,
    payment_applications_check,
    payment_applications_set,
    payment_apply,
    payment_save,
    payment_unapplied_amount,
    payments_delete,
)

__all__ = [
    "DocumentTotals",
    "contact_financials_recalculate",
    "contacts_financials_recalculate",
    "document_totals",
    "invoice_changes_validate",
    "invoice_mark_sent",
    "invoices_recalculate",
    "invoice_recalculate",
    "invoice_payment_status_derive",
    "invoice_payment_status_expression",
    "invoice_void",
    "payment_applications_check",
    "payment_applications_set",
    "payment_apply",
    "payment_save",
    "payment_unapplied_amount",
    "payments_delete",
    "quote_convert_to_invoice",
    "quote_recalculate",
]
