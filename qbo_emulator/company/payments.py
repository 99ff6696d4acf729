"""Payments: applying amounts to invoices, the invoices' balances they leave, and customer balances (with jobs)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..faults import fault
from ..values import ZERO, currency, q, ref_value, to_decimal


class PaymentsMixin:
    """Derivation of Payment and the balances it moves."""

    def _derive_payment(self, data: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
        obj = dict(data)
        customer = self._customer_for(obj)
        if "TotalAmt" not in obj:
            raise fault("2020", "TotalAmt", element="TotalAmt")
        total = q(to_decimal(obj["TotalAmt"], "TotalAmt"))
        if total < 0:
            raise fault("6000", "TotalAmt cannot be negative.", element="TotalAmt")
        obj["TotalAmt"] = total
        own_id = existing["Id"] if existing else None
        lines = []
        applied_total = ZERO
        per_invoice: dict[str, Decimal] = {}
        for index, raw in enumerate(obj.get("Line") or []):
            amount = q(to_decimal(raw.get("Amount", ZERO), "Amount"))
            links = raw.get("LinkedTxn") or []
            if not links:
                raise fault("2020", f"Line[{index}].LinkedTxn", element="Line.LinkedTxn")
            out_links = []
            for link in links:
                if link.get("TxnType") != "Invoice":
                    raise fault(
                        "6000",
                        f"Payments can be applied to invoices only (got {link.get('TxnType')}).",
                        element="LinkedTxn",
                    )
                invoice = self.realm.get("Invoice", str(link.get("TxnId")))
                if invoice is None:
                    raise fault("2500", f"Invoice Id={link.get('TxnId')}", element="Line.LinkedTxn.TxnId")
                if ref_value(invoice.get("CustomerRef")) != customer["Id"]:
                    raise fault(
                        "6000", f"Invoice {invoice['Id']} belongs to another customer.", element="Line.LinkedTxn"
                    )
                out_links.append({"TxnId": invoice["Id"], "TxnType": "Invoice"})
                per_invoice[invoice["Id"]] = per_invoice.get(invoice["Id"], ZERO) + amount
            applied_total += amount
            lines.append({"Amount": amount, "LinkedTxn": out_links})
        for invoice_id, amount in per_invoice.items():
            invoice = self.realm.table("Invoice")[invoice_id]
            already = self.realm.payment_links.get(invoice_id, {}).get(own_id, ZERO) if own_id else ZERO
            if amount > invoice.get("Balance", ZERO) + already:
                raise fault(
                    "6000",
                    f"The payment amount {amount} exceeds the open balance of invoice"
                    f" {invoice.get('DocNumber', invoice_id)}.",
                    element="Line.Amount",
                )
        if applied_total > total:
            raise fault("6000", "The amount applied to invoices exceeds the payment total.", element="TotalAmt")
        obj["Line"] = lines
        obj["UnappliedAmt"] = q(total - applied_total)
        obj["TxnDate"] = self._date(obj.get("TxnDate"), "TxnDate") or self.today.isoformat()
        obj["CurrencyRef"] = currency(obj.get("CurrencyRef"))
        obj.setdefault("ProcessPayment", False)
        if "DepositToAccountRef" in obj:
            self.optional_ref("Account", obj, "DepositToAccountRef")
        elif self.realm.get("Account", "4") is not None:
            obj["DepositToAccountRef"] = {"value": "4"}
        self.optional_ref("PaymentMethod", obj, "PaymentMethodRef")
        return obj

    def _refresh_invoice_payments(self, invoice_id: str) -> None:
        invoice = self.realm.get("Invoice", invoice_id)
        if invoice is None:
            return
        applied_map = self.realm.payment_links.get(invoice_id, {})
        applied = sum(applied_map.values(), ZERO)
        links = [link for link in invoice.get("LinkedTxn", []) if link.get("TxnType") != "Payment"]
        links += [{"TxnId": pid, "TxnType": "Payment"} for pid in applied_map]
        invoice["LinkedTxn"] = links
        if not invoice.get("_voided"):
            invoice["Balance"] = q(
                invoice.get("TotalAmt", ZERO) - to_decimal(invoice.get("Deposit", ZERO), "Deposit") - applied
            )
        if not self.seeding:
            self._bump(invoice)
            self._record("Invoice", invoice_id, "Update")

    def refresh_customer_balance(self, customer_id: str) -> None:
        """Customer.Balance = open invoice balances - unapplied payments.

        BalanceWithJobs adds the jobs' balances, up the parent chain. A customer whose balance changed is a changed
        object: new SyncToken and LastUpdatedTime, and an Update in the change log (CDC, webhooks). QBO's exact
        behaviour is UNCONFIRMED; this is the stricter choice (a SyncToken read before the invoice is now stale)."""
        customer = self.realm.get("Customer", customer_id)
        if customer is None:
            return
        before = self._balances_up_the_chain(customer)
        self._recompute_balance(customer)
        self._refresh_with_jobs(customer)
        for node_id, old in before.items():
            node = self.realm.get("Customer", node_id)
            if node is not None and not self.seeding and _balances(node) != old:
                self._bump(node)
                self._record("Customer", node_id, "Update")

    def _balances_up_the_chain(self, customer: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
        """(Balance, BalanceWithJobs) of the customer and each of its parents, by Id."""
        out: dict[str, tuple[Any, Any]] = {}
        node: dict[str, Any] | None = customer
        while node is not None and node["Id"] not in out:
            out[node["Id"]] = _balances(node)
            parent_id = ref_value(node.get("ParentRef"))
            node = self.realm.get("Customer", parent_id) if parent_id else None
        return out

    def _recompute_balance(self, customer: dict[str, Any]) -> None:
        customer_id = customer["Id"]
        balance = ZERO
        for entity, txn_id in self.realm.txns_by_customer.get(customer_id, ()):
            txn = self.realm.get(entity, txn_id)
            if txn is None:
                continue
            if entity == "Invoice":
                balance += txn.get("Balance", ZERO)
            elif entity == "Payment":
                balance -= txn.get("UnappliedAmt", ZERO)
        customer["Balance"] = q(balance)

    def _refresh_with_jobs(self, customer: dict[str, Any]) -> None:
        seen: set[str] = set()
        node: dict[str, Any] | None = customer
        while node is not None and node["Id"] not in seen:
            seen.add(node["Id"])
            total = node.get("Balance", ZERO)
            for child_id in self.realm.children.get(node["Id"], ()):
                child = self.realm.get("Customer", child_id)
                if child is not None:
                    total += child.get("BalanceWithJobs", child.get("Balance", ZERO))
            node["BalanceWithJobs"] = q(total)
            parent_id = ref_value(node.get("ParentRef"))
            node = self.realm.get("Customer", parent_id) if parent_id else None


def _balances(customer: dict[str, Any]) -> tuple[Any, Any]:
    return customer.get("Balance"), customer.get("BalanceWithJobs")


def _payment_applied(payment: dict[str, Any] | None) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for line in (payment or {}).get("Line", []):
        for link in line.get("LinkedTxn", []):
            if link.get("TxnType") == "Invoice":
                out[link["TxnId"]] = out.get(link["TxnId"], ZERO) + line.get("Amount", ZERO)
    return out
