"""CRM business logic as plain keyword-only functions (STYLE §2); admin, commands and the integration call these.

- `documents`: quote and invoice totals the way QBO computes them, conversion, voiding, sending.
- `payments`: applying payments to invoices and keeping amount paid, balance and status in step.
- `contacts`: the financial summary on a contact, derived from its invoices and payments.
"""

from .contacts import contact_financials_recalculate, contacts_financials_recalculate
from .documents import (
    DocumentTotals,
    document_totals,
    invoice_changes_validate,
    invoice_mark_sent,
    invoice_recalculate,
    invoice_status_derive,
    invoice_status_expression,
    invoice_void,
    quote_convert_to_invoice,
    quote_recalculate,
)
from .payments import invoices_recalculate, payment_applications_validate, payment_apply, payment_unapplied_amount

__all__ = [
    "DocumentTotals",
    "contact_financials_recalculate",
    "contacts_financials_recalculate",
    "document_totals",
    "invoice_changes_validate",
    "invoice_mark_sent",
    "invoices_recalculate",
    "invoice_recalculate",
    "invoice_status_derive",
    "invoice_status_expression",
    "invoice_void",
    "payment_applications_validate",
    "payment_apply",
    "payment_unapplied_amount",
    "quote_convert_to_invoice",
    "quote_recalculate",
]
