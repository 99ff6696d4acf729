"""Writes the demo's quotes, invoices and payments in bulk, with every amount from the CRM's money rules.

Lines get ``line_total`` from ``crm.money.line_total``, documents their subtotal/tax/total from
``crm.services.document_totals`` (the function ``quote_recalculate``/``invoice_recalculate`` use), payment
portions become cents with ``crm.money.q``, and an invoice's status comes from the services' own status rule, so
running ``invoice_recalculate`` afterwards changes nothing (the tests check exactly that). Per-row service calls
would be simpler but cost a few queries per document on every ``make demo``.
"""

import datetime
from datetime import time
from decimal import Decimal

from crm.demo.contacts import LOCAL
from crm.demo.plan import DemoPlan
from crm.models import (
    Contact,
    EmailStatus,
    Invoice,
    InvoiceItem,
    InvoiceStatus,
    Payment,
    PaymentApplication,
    PaymentStatus,
    Quote,
    QuoteItem,
)
from crm.models.base import quantize_decimal_fields
from crm.money import ZERO, line_total, q
from crm.services import contact_financials_recalculate, document_totals
from crm.services.documents import invoice_payment_status_derive as invoice_payment_status

BATCH = 500
TAX_RATE = Decimal("6.25")  # Massachusetts sales tax, percent; only material lines are taxable
TERMS = "Net 30"


def _lines(model, rows: list[dict], products: dict, **parent) -> list:
    lines = []
    for position, row in enumerate(rows):
        line = model(
            product=products[row["sku"]],
            description=row["description"],
            quantity=Decimal(row["quantity"]),
            unit_price=Decimal(row["unit_price"]),
            taxable=row["taxable"],
            position=position,
            **parent,
        )
        quantize_decimal_fields(line)
        line.line_total = line_total(line.quantity, line.unit_price)
        lines.append(line)
    return lines


def _priced(document, lines: list, contact: Contact) -> None:
    totals = document_totals(lines=lines, tax_rate=document.tax_rate, tax_exempt=contact.tax_exempt)
    document.subtotal, document.tax_amount = totals.subtotal, totals.tax_amount
    document.total_amount = totals.total_amount
    quantize_decimal_fields(document)


def _quotes(plan: DemoPlan, products, campaigns, contacts) -> tuple[dict[str, Quote], list[Quote], list[QuoteItem]]:
    numbers = [row["number"] for row in plan.quotes]
    by_number = {quote.quote_number: quote for quote in Quote.objects.filter(quote_number__in=numbers)}
    new, items = [], []
    for row in plan.quotes:
        if row["number"] in by_number:
            continue
        contact = contacts[row["contact"]]
        quote = Quote(
            quote_number=row["number"],
            status=row["status"],
            contact=contact,
            campaign=campaigns[row["campaign"]] if row["campaign"] else None,
            issue_date=row["quote_date"],
            expiration_date=row["expiration_date"],
            tax_rate=TAX_RATE,
            payment_terms=TERMS,
            notes=row["customer_memo"],
        )
        lines = _lines(QuoteItem, row["lines"], products, quote=quote)
        _priced(quote, lines, contact)
        by_number[row["number"]] = quote
        new.append(quote)
        items += lines
    return by_number, new, items


def _invoices(plan: DemoPlan, products, contacts, quotes) -> tuple[dict[str, Invoice], list[InvoiceItem]]:
    """New invoices by number (existing ones are left alone) and their lines, priced but not yet paid."""
    numbers = [row["number"] for row in plan.invoices]
    existing = set(Invoice.objects.filter(invoice_number__in=numbers).values_list("invoice_number", flat=True))
    new, items = {}, []
    for row in plan.invoices:
        if row["number"] in existing:
            continue
        contact = contacts[row["contact"]]
        invoice = Invoice(
            invoice_number=row["number"],
            status=InvoiceStatus.SENT,
            contact=contact,
            quote=quotes.get(row["quote"]),
            issue_date=row["issue_date"],
            due_date=row["due_date"],
            tax_rate=TAX_RATE,
            payment_terms=row["payment_terms"],
            notes=row["customer_memo"],
            email_status=EmailStatus.EMAIL_SENT,
            sent_at=datetime.datetime.combine(row["issue_date"], time(17, 30), tzinfo=LOCAL),
        )
        lines = _lines(InvoiceItem, row["lines"], products, invoice=invoice)
        _priced(invoice, lines, contact)
        new[row["number"]] = invoice
        items += lines
    return new, items


def _payments(plan: DemoPlan, contacts, invoices: dict[str, Invoice], today: datetime.date) -> tuple[list, list]:
    """Payments whose invoices are all new in this run, with portions turned into cents against the totals."""
    payments, applications = [], []
    applied = {number: ZERO for number in invoices}
    last_paid: dict[str, datetime.date] = {}
    for row in plan.payments:
        if not all(app["invoice"] in invoices for app in row["applications"]):
            continue
        payment = Payment(
            contact=contacts[row["contact"]],
            payment_date=row["date"],
            method=row["method"],
            reference=row["reference"],
            amount=ZERO,
        )
        for app in row["applications"]:
            invoice = invoices[app["invoice"]]
            left = invoice.total_amount - applied[app["invoice"]]
            amount = q(invoice.total_amount / 2) if app["portion"] == "half" else q(left)
            applied[app["invoice"]] += amount
            last_paid[app["invoice"]] = max(last_paid.get(app["invoice"], row["date"]), row["date"])
            payment.amount += amount
            applications.append(PaymentApplication(payment=payment, invoice=invoice, amount=amount))
        payments.append(payment)
    for number, invoice in invoices.items():
        invoice.amount_paid = q(applied[number])
        invoice.balance_due = q(invoice.total_amount - invoice.amount_paid)
        invoice.payment_status = invoice_payment_status(invoice, today)
        invoice.paid_date = last_paid.get(number) if invoice.payment_status == PaymentStatus.PAID else None
    return payments, applications


def documents_write(plan: DemoPlan, *, products, campaigns, contacts, today: datetime.date) -> dict[str, int]:
    """Create the missing quotes, invoices and payments (with lines and applications); returns created counts."""
    quotes, new_quotes, quote_items = _quotes(plan, products, campaigns, contacts)
    invoices, invoice_items = _invoices(plan, products, contacts, quotes)
    payments, applications = _payments(plan, contacts, invoices, today)
    Quote.objects.bulk_create(new_quotes, batch_size=BATCH)
    QuoteItem.objects.bulk_create(quote_items, batch_size=BATCH)
    Invoice.objects.bulk_create(invoices.values(), batch_size=BATCH)
    InvoiceItem.objects.bulk_create(invoice_items, batch_size=BATCH)
    Payment.objects.bulk_create(payments, batch_size=BATCH)
    PaymentApplication.objects.bulk_create(applications, batch_size=BATCH)
    # The contact summary (total sales, balance, days to pay) is the service's: a few queries per customer.
    for contact in {invoice.contact for invoice in invoices.values()}:
        contact_financials_recalculate(contact=contact)
    return {
        "quotes": len(new_quotes),
        "quote lines": len(quote_items),
        "invoices": len(invoices),
        "invoice lines": len(invoice_items),
        "payments": len(payments),
        "payment applications": len(applications),
    }


def documents_reset(plan: DemoPlan) -> dict[str, int]:
    """Delete the plan's payments, invoices and quotes (payments first: applications protect invoices)."""
    invoices = Invoice.objects.filter(invoice_number__in=[row["number"] for row in plan.invoices])
    deleted = {
        "payments": Payment.objects.filter(applications__invoice__in=invoices)
        .distinct()
        .delete()[1]
        .get("crm.Payment", 0)
    }
    deleted["invoices"] = invoices.delete()[1].get("crm.Invoice", 0)
    deleted["quotes"] = (
        Quote.objects.filter(quote_number__in=[row["number"] for row in plan.quotes]).delete()[1].get("crm.Quote", 0)
    )
    return deleted
