"""Indexes and cross-object effects: the name, DocNumber, job and per-customer indexes, and what a transaction's
write does to other objects (estimate links, payment links, customer balances)."""

from __future__ import annotations

from typing import Any

from ..facts import NAME_ENTITIES, PARTY_ENTITIES, SALES_ENTITIES, TXN_ENTITIES
from ..values import ZERO, q, ref_value
from .payments import _payment_applied


class LinksMixin:
    """Indexes and follow-on changes after a transaction write."""

    def _index_new(self, entity: str, obj: dict[str, Any]) -> None:
        key = f"{entity}:{obj['Id']}"
        if entity in PARTY_ENTITIES:
            self.realm.name_index.setdefault("party", {})[obj["DisplayName"].strip().lower()] = key
            if entity == "Customer" and ref_value(obj.get("ParentRef")):
                self.realm.children.setdefault(obj["ParentRef"]["value"], set()).add(obj["Id"])
        elif entity in NAME_ENTITIES and obj.get("Name"):
            self.realm.name_index.setdefault(entity, {})[obj["Name"].strip().lower()] = key
        if entity in SALES_ENTITIES and obj.get("DocNumber"):
            self.realm.doc_index.setdefault(entity, {})[obj["DocNumber"]] = obj["Id"]
            self.realm.note_doc_number(entity, obj["DocNumber"])
        if entity in TXN_ENTITIES:
            customer_id = ref_value(obj.get("CustomerRef"))
            if customer_id:
                self.realm.txns_by_customer.setdefault(customer_id, set()).add((entity, obj["Id"]))

    def _unindex(self, entity: str, obj: dict[str, Any]) -> None:
        key = f"{entity}:{obj['Id']}"
        namespace = "party" if entity in PARTY_ENTITIES else entity
        name = obj.get("DisplayName") if entity in PARTY_ENTITIES else obj.get("Name")
        if name and self.realm.name_index.get(namespace, {}).get(name.strip().lower()) == key:
            del self.realm.name_index[namespace][name.strip().lower()]
        if entity == "Customer" and ref_value(obj.get("ParentRef")):
            self.realm.children.get(obj["ParentRef"]["value"], set()).discard(obj["Id"])
        if (
            entity in SALES_ENTITIES
            and obj.get("DocNumber")
            and self.realm.doc_index.get(entity, {}).get(obj["DocNumber"]) == obj["Id"]
        ):
            del self.realm.doc_index[entity][obj["DocNumber"]]
        if entity in TXN_ENTITIES:
            customer_id = ref_value(obj.get("CustomerRef"))
            if customer_id:
                self.realm.txns_by_customer.get(customer_id, set()).discard((entity, obj["Id"]))

    def _after_txn_write(self, entity: str, obj: dict[str, Any] | None, old: dict[str, Any] | None) -> None:
        """Propagate links and balances after a transaction was created, updated, voided or deleted."""
        if entity not in TXN_ENTITIES:
            return
        touched_customers = {ref_value(x.get("CustomerRef")) for x in (obj, old) if x is not None}
        if entity == "Invoice" and obj is not None:
            old_links = {
                link["TxnId"] for link in (old or {}).get("LinkedTxn", []) if link.get("TxnType") == "Estimate"
            }
            new_links = {link["TxnId"] for link in obj.get("LinkedTxn", []) if link.get("TxnType") == "Estimate"}
            for estimate_id in new_links - old_links:
                self._link_estimate(estimate_id, obj["Id"], add=True)
            for estimate_id in old_links - new_links:
                self._link_estimate(estimate_id, obj["Id"], add=False)
        if entity == "Payment":
            old_applied = _payment_applied(old) if old is not None and not old.get("_voided") else {}
            new_applied = _payment_applied(obj) if obj is not None and not obj.get("_voided") else {}
            payment_id = (obj or old or {}).get("Id")
            for invoice_id in set(old_applied) | set(new_applied):
                links = self.realm.payment_links.setdefault(invoice_id, {})
                if invoice_id in new_applied:
                    links[payment_id] = new_applied[invoice_id]
                else:
                    links.pop(payment_id, None)
                if old_applied.get(invoice_id) != new_applied.get(invoice_id):
                    self._refresh_invoice_payments(invoice_id)
        for customer_id in touched_customers:
            if customer_id:
                self.refresh_customer_balance(customer_id)

    def _link_estimate(self, estimate_id: str, invoice_id: str, *, add: bool) -> None:
        estimate = self.realm.get("Estimate", estimate_id)
        if estimate is None:
            return
        links = [
            link
            for link in estimate.get("LinkedTxn", [])
            if not (link.get("TxnType") == "Invoice" and link.get("TxnId") == invoice_id)
        ]
        if add:
            links.append({"TxnId": invoice_id, "TxnType": "Invoice"})
            estimate["TxnStatus"] = "Closed"
        elif not any(link.get("TxnType") == "Invoice" for link in links):
            estimate["TxnStatus"] = "Pending"
        estimate["LinkedTxn"] = links
        if not self.seeding:
            self._bump(estimate)
            self._record("Estimate", estimate_id, "Update")

    def _detach_links(self, entity: str, obj: dict[str, Any], *, keep_estimate: bool = False) -> None:
        """Before delete/void: unapply payments from an invoice, or release an invoice's estimate."""
        if entity == "Invoice":
            for payment_id in list(self.realm.payment_links.get(obj["Id"], {})):
                payment = self.realm.get("Payment", payment_id)
                if payment is None:
                    continue
                new_lines = []
                for line in payment.get("Line", []):
                    remaining = [link for link in line.get("LinkedTxn", []) if link.get("TxnId") != obj["Id"]]
                    if remaining:
                        new_lines.append({**line, "LinkedTxn": remaining})
                payment["Line"] = new_lines
                applied = sum((line["Amount"] for line in new_lines), ZERO)
                payment["UnappliedAmt"] = q(payment.get("TotalAmt", ZERO) - applied)
                if not self.seeding:
                    self._bump(payment)
                    self._record("Payment", payment_id, "Update")
            self.realm.payment_links.pop(obj["Id"], None)
            if not keep_estimate:
                for link in obj.get("LinkedTxn", []):
                    if link.get("TxnType") == "Estimate":
                        self._link_estimate(link["TxnId"], obj["Id"], add=False)
        elif entity == "Estimate":
            for link in obj.get("LinkedTxn", []):
                invoice = self.realm.get("Invoice", link.get("TxnId")) if link.get("TxnType") == "Invoice" else None
                if invoice is not None:
                    invoice["LinkedTxn"] = [
                        x
                        for x in invoice.get("LinkedTxn", [])
                        if not (x.get("TxnType") == "Estimate" and x.get("TxnId") == obj["Id"])
                    ]
                    if not self.seeding:
                        self._bump(invoice)
                        self._record("Invoice", invoice["Id"], "Update")
