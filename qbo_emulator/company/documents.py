"""A sales document's life after its lines: DocNumbers (6140), invoice due dates, deposits and LinkedTxn, and the
void and send (e-mail) operations."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from ..clock import meta_time
from ..facts import SALES_ENTITIES
from ..faults import fault
from ..values import ZERO, check_email, q, ref_value, to_decimal


class DocumentsMixin:
    """DocNumber, due date and invoice links; void and send."""

    def void(self, entity: str, body: Any) -> dict[str, Any]:
        if entity not in ("Invoice", "Payment"):
            raise fault("500", f"void for {entity}", message="Unsupported Operation")
        existing = self._existing_for_write(entity, body)
        obj = copy.deepcopy(existing)
        self._detach_links(entity, existing, keep_estimate=True)
        for line in obj.get("Line", []):
            line["Amount"] = ZERO
        obj["TotalAmt"] = ZERO
        obj["PrivateNote"] = "Voided"
        if entity == "Invoice":
            obj["Balance"] = ZERO
            obj["TxnTaxDetail"] = {"TotalTax": ZERO}
            obj["LinkedTxn"] = [link for link in obj.get("LinkedTxn", []) if link.get("TxnType") != "Payment"]
            obj.pop("Deposit", None)
        else:
            obj["UnappliedAmt"] = ZERO
        obj["_voided"] = True
        self._bump(obj)
        self.realm.table(entity)[obj["Id"]] = obj
        self._record(entity, obj["Id"], "Void")
        self._after_txn_write(entity, obj, existing)
        return obj

    def send(self, entity: str, obj_id: str, send_to: str | None) -> dict[str, Any]:
        if entity not in SALES_ENTITIES:
            raise fault("500", f"send for {entity}", message="Unsupported Operation")
        existing = self.read(entity, obj_id)
        obj = copy.deepcopy(existing)
        if send_to is not None:
            check_email(send_to, "sendTo")
            obj["BillEmail"] = {"Address": send_to}
        address = (obj.get("BillEmail") or {}).get("Address")
        if not address:
            raise fault(
                "6000",
                "Email address is required. Please provide a BillEmail address or the sendTo parameter.",
                element="BillEmail",
            )
        obj["EmailStatus"] = "EmailSent"
        obj["DeliveryInfo"] = {"DeliveryType": "Email", "DeliveryTime": meta_time(self.now)}
        self._bump(obj)
        self.realm.table(entity)[obj["Id"]] = obj
        self.realm.sent_emails.append({"entity": entity, "id": obj["Id"], "to": address, "time": meta_time(self.now)})
        self._record(entity, obj["Id"], "Emailed")
        return obj

    def _doc_number(self, entity: str, obj: dict[str, Any], existing: dict[str, Any] | None) -> None:
        doc = obj.get("DocNumber")
        own_id = existing["Id"] if existing else None
        if doc:
            doc = str(doc)
            if len(doc) > 21:
                raise fault("2050", "DocNumber is longer than 21 characters", element="DocNumber")
            holder = self.realm.doc_index.get(entity, {}).get(doc)
            if holder is not None and holder != own_id and not self.seeding:
                raise fault("6140", doc, detail2=entity, detail3=holder)
            obj["DocNumber"] = doc
        else:
            obj["DocNumber"] = (
                existing.get("DocNumber")
                if existing and existing.get("DocNumber")
                else self.realm.allocate_doc_number(entity)
            )

    def _due_days(self, term: dict[str, Any] | None, txn_date: dt.date) -> dt.date:
        if term is None:
            return txn_date + dt.timedelta(days=30)
        if term.get("DueDays") is not None:
            return txn_date + dt.timedelta(days=int(term["DueDays"]))
        day = int(term.get("DayOfMonthDue") or 1)
        year, month = (txn_date.year + (txn_date.month // 12), txn_date.month % 12 + 1)
        for candidate_day in range(day, 0, -1):
            try:
                return dt.date(year, month, candidate_day)
            except ValueError:
                continue
        return txn_date + dt.timedelta(days=30)

    def _invoice_fields(
        self,
        obj: dict[str, Any],
        customer: dict[str, Any],
        term: dict[str, Any] | None,
        existing: dict[str, Any] | None,
    ) -> None:
        txn_date = dt.date.fromisoformat(obj["TxnDate"])
        if obj.get("DueDate"):
            obj["DueDate"] = self._date(obj["DueDate"], "DueDate")
        else:
            if term is None:
                term_id = ref_value(customer.get("SalesTermRef"))
                if term_id is None:
                    sales_prefs = self.preferences().get("SalesFormsPrefs") or {}
                    term_id = ref_value(sales_prefs.get("DefaultTerms"))
                term = self.realm.get("Term", term_id) if term_id else None
                if term_id and term is not None and ref_value(customer.get("SalesTermRef")):
                    obj["SalesTermRef"] = {"value": term["Id"], "name": term.get("Name", "")}
            obj["DueDate"] = self._due_days(term, txn_date).isoformat()
        for key in ("AllowIPNPayment", "AllowOnlinePayment", "AllowOnlineCreditCardPayment", "AllowOnlineACHPayment"):
            obj[key] = bool(obj.get(key, False))
        for key in ("ShipDate",):
            if key in obj:
                obj[key] = self._date(obj[key], key)
        deposit = to_decimal(obj.get("Deposit", ZERO), "Deposit")
        if deposit:
            obj["Deposit"] = q(deposit)
        else:
            obj.pop("Deposit", None)
        # estimate links from input; payment links are derived
        estimate_links = []
        source = obj.get("LinkedTxn")
        if source is None and existing is not None:
            source = existing.get("LinkedTxn", [])
        for link in source or []:
            txn_type = link.get("TxnType")
            if txn_type == "Payment":
                continue
            if txn_type != "Estimate":
                raise fault(
                    "6000",
                    f"The entity {txn_type} {link.get('TxnId')} cannot be linked to an invoice.",
                    element="LinkedTxn",
                )
            estimate = self.realm.get("Estimate", str(link.get("TxnId")))
            if estimate is None:
                raise fault(
                    "6000",
                    f"The entity Estimate {link.get('TxnId')} that you are trying to link does not exist."
                    f" Estimate {link.get('TxnId')}",
                    element="LinkedTxn",
                )
            if ref_value(estimate.get("CustomerRef")) != customer["Id"]:
                raise fault("6000", f"Estimate {estimate['Id']} belongs to another customer.", element="LinkedTxn")
            estimate_links.append({"TxnId": estimate["Id"], "TxnType": "Estimate"})
        applied = ZERO
        payment_links = []
        if existing is not None:
            for payment_id, amount in self.realm.payment_links.get(existing["Id"], {}).items():
                applied += amount
                payment_links.append({"TxnId": payment_id, "TxnType": "Payment"})
        obj["LinkedTxn"] = estimate_links + payment_links
        balance = obj["TotalAmt"] - deposit - applied
        if balance < 0:
            raise fault(
                "6000", "The invoice total is less than the payments already applied to it.", element="TotalAmt"
            )
        obj["Balance"] = q(balance)
