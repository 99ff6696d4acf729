"""Reconciliation: every linked invoice's total and balance, and every linked contact's balance, against QBO's.

A selector (STYLE §2): it reads, compares and returns a `Reconciliation`; it writes nothing and fixes nothing. Two
callers print or show it: `manage.py quickbooks_reconcile` and the admin page "Reconcile with QuickBooks"
(admin/reconcile.py). QBO's figures are the ledger's last copies (no API call) or, with `live`, read again through
the client; amounts are converted with the pulls' own `qbo_money`, so "agree" means what the pulls mean by it.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Max
from django.utils import timezone

from crm.models import Contact, Invoice, InvoiceStatus
from crm.money import q

from ..models import QuickBooksAuth, QuickBooksSync, SyncRun
from ..qbo.client import qbo_query
from ..qbo.numbers import qbo_money
from .customers import KIND as KIND_CUSTOMERS
from .sales_mapping import CUSTOMER, INVOICE
from .sales_pull import KIND_INVOICES

AMOUNT_FIGURES = ("total", "balance")  # the figures both sides hold as money; "exists" compares presence


@dataclass(frozen=True)
class Difference:
    """One figure the CRM and QBO disagree on: `what` names the CRM row and the QBO entity, `model` ("crm.invoice",
    "crm.contact") and `pk` find the CRM row again (the page links to it)."""

    what: str
    figure: str
    crm: str
    qbo: str
    model: str = ""
    pk: int | None = None

    def __str__(self) -> str:
        return f"{self.what}: {self.figure} CRM {self.crm}, QuickBooks {self.qbo}"

    @property
    def amount(self) -> Decimal | None:
        """CRM minus QuickBooks, for a money figure; None for "exists" (there is no second amount)."""
        if self.figure not in AMOUNT_FIGURES:
            return None
        return Decimal(self.crm) - Decimal(self.qbo)


@dataclass(frozen=True)
class Reconciliation:
    """What one comparison found, and what it compared: the summary line needs the counts as much as the list."""

    differences: list[Difference]
    invoices: int
    contacts: int
    live: bool
    as_of: datetime.datetime | None  # when QBO's figures were read: now (live) or the last sync; None if never

    @property
    def summary(self) -> str:
        def plural(count: int, word: str) -> str:
            return f"{count} {word}{'' if count == 1 else 's'}"

        return (
            f"{plural(self.invoices, 'invoice')} and {plural(self.contacts, 'contact')} compared; "
            f"{plural(len(self.differences), 'difference')}"
        )


def _qbo_copies(
    *, connection: QuickBooksAuth, entity: str, live: bool, where: str = "", interactive: bool = False
) -> dict[str, dict | None]:
    """QBO id → its JSON: the ledger's last copy (None when QBO deleted it), or with `live` every entity read again
    from QBO, one query per 1000 (API.md §3.2)."""
    if live:
        sql = f"SELECT * FROM {entity}" + (f" WHERE {where}" if where else "") + " ORDERBY Id"  # noqa: S608  # nosec B608 (QBO's query language, constants only)
        rows = qbo_query(connection=connection, sql=sql, interactive=interactive)
        return {str(row["Id"]): row for row in rows}
    return {
        entity_id: (None if deleted_at is not None else payload)
        for entity_id, payload, deleted_at in QuickBooksSync.objects.filter(
            connection=connection, entity_type=entity
        ).values_list("entity_id", "payload", "deleted_at")
    }


def _ledger_as_of(*, connection: QuickBooksAuth) -> datetime.datetime | None:
    """When the ledger's copies were last known good: the later of its newest invoice or customer row (a webhook
    writes one without a run) and the last succeeded customers or invoices run (a pull that found nothing changed
    rewrites no row, yet vouches for all of them)."""
    row = QuickBooksSync.objects.filter(connection=connection, entity_type__in=[INVOICE, CUSTOMER]).aggregate(
        at=Max("last_synced")
    )["at"]
    run = SyncRun.objects.filter(
        connection=connection, kind__in=[KIND_CUSTOMERS, KIND_INVOICES], status=SyncRun.Status.SUCCEEDED
    ).aggregate(at=Max("finished_at"))["at"]
    return max((moment for moment in (row, run) if moment is not None), default=None)


def sales_reconcile(*, connection: QuickBooksAuth, live: bool = False, interactive: bool = False) -> Reconciliation:
    """Every linked invoice's total and balance, and every linked contact's balance, against QBO's figures.

    Without `live` QBO's figures are the ledger's last copies (no API call); with `live` they are read again
    (`SELECT * FROM Invoice` and every Customer, active or not, a call per 1000; `interactive` for a web request:
    one attempt per call and a short limiter wait, so a throttled or refused read is an error to show at once). A
    contact's balance is its customer's BalanceWithJobs (its jobs' invoices roll up to it, as the customers import
    writes it). Four queries plus two for the ledger's time, however many rows: each side is
    read once into memory (`only` the compared columns) and matched by QBO id.
    """
    as_of = timezone.now() if live else _ledger_as_of(connection=connection)
    differences: list[Difference] = []
    invoices = _qbo_copies(connection=connection, entity=INVOICE, live=live, interactive=interactive)
    invoice_rows = (
        Invoice.objects.exclude(quickbooks_invoice_id=None)
        .only("invoice_number", "quickbooks_invoice_id", "status", "total_amount", "balance_due")
        .order_by("pk")
    )
    invoice_count = 0
    for invoice in invoice_rows:
        invoice_count += 1
        what = f"invoice {invoice} (QuickBooks {invoice.quickbooks_invoice_id})"
        data = invoices.get(invoice.quickbooks_invoice_id)
        if data is None:
            if invoice.status != InvoiceStatus.VOID:
                differences.append(
                    Difference(
                        what, "exists", invoice.get_status_display().lower(), "not found", "crm.invoice", invoice.pk
                    )
                )
            continue
        for figure, crm, qbo in (
            ("total", invoice.total_amount, qbo_money(data.get("TotalAmt"))),
            ("balance", invoice.balance_due, qbo_money(data.get("Balance"))),
        ):
            if q(crm) != qbo:
                differences.append(Difference(what, figure, str(q(crm)), str(qbo), "crm.invoice", invoice.pk))
    customers = _qbo_copies(
        connection=connection, entity=CUSTOMER, live=live, where="Active IN (true, false)", interactive=interactive
    )
    contact_rows = (
        Contact.objects.exclude(quickbooks_customer_id=None)
        .only(
            "first_name", "last_name", "company_name", "phone", "email", "quickbooks_customer_id", "outstanding_balance"
        )
        .order_by("pk")
    )
    contact_count = 0
    for contact in contact_rows:
        contact_count += 1
        what = f"contact {contact} (QuickBooks customer {contact.quickbooks_customer_id})"
        data = customers.get(contact.quickbooks_customer_id)
        if data is None:
            differences.append(Difference(what, "exists", "linked", "not found", "crm.contact", contact.pk))
            continue
        qbo = qbo_money(data.get("BalanceWithJobs", data.get("Balance")))
        crm = q(contact.outstanding_balance)
        if crm != qbo:
            differences.append(Difference(what, "balance", str(crm), str(qbo), "crm.contact", contact.pk))
    return Reconciliation(
        differences=differences, invoices=invoice_count, contacts=contact_count, live=live, as_of=as_of
    )
