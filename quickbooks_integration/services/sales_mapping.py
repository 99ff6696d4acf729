"""QBO estimates, invoices and payments as CRM field values: the pure half of the sales pulls (`sales_pull.py`).

Every function here reads QBO's JSON and returns plain values (no database, input untouched), so each is tested on
QBO's saved samples. Amounts become Decimals at the CRM's column precision, half-up, never floats.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.utils.dateparse import parse_date, parse_datetime

from crm.models import InvoiceStatus, PaymentMethod
from crm.models.base import QUANTITY, UNIT_PRICE
from crm.models.sales import TAX_RATE, EmailStatus
from crm.money import ZERO, q

from ..qbo.numbers import qbo_money, qbo_places
from . import estimates as estimate_push
from .estimates import quote_status_pulled

ESTIMATE, INVOICE, PAYMENT, CUSTOMER = "Estimate", "Invoice", "Payment", "Customer"
VOIDED_NOTE = "Voided"  # QBO's PrivateNote on a voided transaction (invoice_void_response.json)
CARD_NAMES = ("visa", "mastercard", "master card", "american express", "amex", "discover", "diners", "card")


# ---------------------------------------------------------------------------------------------------- mapping (pure)


def _ref_value(value: Any) -> str:
    return str(value.get("value") or "").strip() if isinstance(value, Mapping) else ""


def _ref_name(value: Any) -> str:
    return str(value.get("name") or "").strip() if isinstance(value, Mapping) else ""


def qbo_date(value: Any) -> datetime.date | None:
    return parse_date(str(value)[:10]) if value else None


def customer_id_of(data: Mapping[str, Any]) -> str:
    return _ref_value(data.get("CustomerRef"))


def linked_ids(data: Mapping[str, Any], txn_type: str) -> list[str]:
    """Ids of the transactions of `txn_type` this one names in LinkedTxn (an invoice's Estimate, say)."""
    return [
        str(link.get("TxnId"))
        for link in data.get("LinkedTxn") or []
        if link.get("TxnType") == txn_type and link.get("TxnId")
    ]


def document_is_voided(data: Mapping[str, Any]) -> bool:
    """QBO voids a transaction by zeroing TotalAmt and writing PrivateNote "Voided" (invoice_void_response.json)."""
    return str(data.get("PrivateNote") or "").strip() == VOIDED_NOTE and qbo_money(data.get("TotalAmt")) == ZERO


def document_tax_rate(data: Mapping[str, Any]) -> Decimal:
    """The percentage QBO charged: the sum of TxnTaxDetail.TaxLine TaxPercent (a combined code has several); 0 when
    no tax was charged."""
    detail = data.get("TxnTaxDetail") or {}
    if qbo_money(detail.get("TotalTax")) == ZERO:
        return qbo_places(0, TAX_RATE["decimal_places"])
    rate = sum(
        (
            qbo_places((line.get("TaxLineDetail") or {}).get("TaxPercent"), TAX_RATE["decimal_places"])
            for line in detail.get("TaxLine") or []
        ),
        Decimal(0),
    )
    return qbo_places(rate, TAX_RATE["decimal_places"])


def document_lines_from_qbo(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The item lines (SalesItemLineDetail; SubTotal and Discount lines have no CRM row) as line fields plus the QBO
    item id. A line without Qty/UnitPrice (QBO allows an Amount alone) is 1 × Amount; a voided line (Amount 0 with
    its Qty and price kept) gets quantity 0, so the CRM's total is QBO's 0."""
    lines = []
    for position, line in enumerate(estimate_push.sales_lines(data)):
        detail = line.get("SalesItemLineDetail") or {}
        amount = qbo_money(line.get("Amount"))
        if detail.get("Qty") in (None, "") and detail.get("UnitPrice") in (None, ""):
            quantity, price = (
                qbo_places(1, QUANTITY["decimal_places"]),
                qbo_places(amount, UNIT_PRICE["decimal_places"]),
            )
        else:
            quantity = qbo_places(detail.get("Qty", 1), QUANTITY["decimal_places"])
            price = qbo_places(detail.get("UnitPrice"), UNIT_PRICE["decimal_places"])
            if amount == ZERO and q(quantity * price) != ZERO:
                quantity = qbo_places(0, QUANTITY["decimal_places"])
        lines.append(
            {
                "item_id": _ref_value(detail.get("ItemRef")),
                "description": str(line.get("Description") or _ref_name(detail.get("ItemRef")))[:4000],
                "quantity": quantity,
                "unit_price": price,
                "taxable": _ref_value(detail.get("TaxCodeRef")) not in ("", "NON"),
                "line_total": q(quantity * price),
                "position": position,
                "quickbooks_line_id": str(line.get("Id") or "")[:50],
            }
        )
    return lines


def _header_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    memo = data.get("CustomerMemo")
    return {
        "issue_date": qbo_date(data.get("TxnDate")),
        "due_date": qbo_date(data.get("DueDate")),
        "currency": (_ref_value(data.get("CurrencyRef")) or "USD")[:3],
        "tax_rate": document_tax_rate(data),
        "notes": str(memo.get("value") or "") if isinstance(memo, Mapping) else "",
        "quickbooks_sync_token": str(data.get("SyncToken") or ""),
    }


def quote_fields_from_estimate(data: Mapping[str, Any], *, current_status: str | None = None) -> dict[str, Any]:
    """The Quote's fields for a QBO estimate (pure: no database, input untouched); `current_status` is the linked
    quote's, None for a new one."""
    return {
        **_header_fields(data),
        "quote_number": str(data.get("DocNumber") or "") or None,
        "status": quote_status_pulled(current_status, str(data.get("TxnStatus") or "")),
        "expiration_date": qbo_date(data.get("ExpirationDate")),
        "quickbooks_estimate_id": str(data["Id"]),
    }


def invoice_fields_from_qbo(data: Mapping[str, Any]) -> dict[str, Any]:
    """The Invoice's fields for a QBO invoice (pure). QBO has no draft invoice: one that exists was issued, so it is
    sent, or void when QBO voided it. The payment figures are not copied: the payment pull derives them."""
    email = str(data.get("EmailStatus") or EmailStatus.NOT_SET)
    delivered = (data.get("DeliveryInfo") or {}).get("DeliveryTime")
    return {
        **_header_fields(data),
        "invoice_number": str(data.get("DocNumber") or "") or None,
        "status": InvoiceStatus.VOID if document_is_voided(data) else InvoiceStatus.SENT,
        "payment_terms": _ref_name(data.get("SalesTermRef"))[:100],
        "email_status": email if email in EmailStatus.values else EmailStatus.NOT_SET,
        "sent_at": parse_datetime(str(delivered)) if delivered else None,
        "quickbooks_invoice_id": str(data["Id"]),
    }


def payment_method_from_qbo(name: str) -> str:
    """PaymentMethodRef's name (QBO's own list: Cash, Check, Visa, …) as the CRM's method; unnamed is "other"."""
    folded = name.casefold()
    if "cash" in folded:
        return PaymentMethod.CASH
    if "check" in folded or "cheque" in folded:
        return PaymentMethod.CHECK
    if any(card in folded for card in CARD_NAMES):
        return PaymentMethod.CARD
    if "ach" in folded.split() or "bank" in folded or "transfer" in folded:
        return PaymentMethod.ACH
    return PaymentMethod.OTHER


def payment_fields_from_qbo(data: Mapping[str, Any]) -> dict[str, Any]:
    """The Payment's fields for a QBO payment (pure)."""
    return {
        "amount": qbo_money(data.get("TotalAmt")),
        "payment_date": qbo_date(data.get("TxnDate")),
        "method": payment_method_from_qbo(_ref_name(data.get("PaymentMethodRef"))),
        "reference": str(data.get("PaymentRefNum") or "")[:100],
        "currency": (_ref_value(data.get("CurrencyRef")) or "USD")[:3],
        "notes": str(data.get("PrivateNote") or ""),
        "quickbooks_payment_id": str(data["Id"]),
        "quickbooks_sync_token": str(data.get("SyncToken") or ""),
    }


def payment_applications_from_qbo(data: Mapping[str, Any]) -> dict[str, Decimal]:
    """QBO invoice id → amount this payment applies to it (a Line's Amount, summed when two lines name one)."""
    applied: dict[str, Decimal] = {}
    for line in data.get("Line") or []:
        for invoice_id in linked_ids(line, INVOICE):
            applied[invoice_id] = q(applied.get(invoice_id, ZERO) + qbo_money(line.get("Amount")))
    return {invoice_id: amount for invoice_id, amount in applied.items() if amount > ZERO}
