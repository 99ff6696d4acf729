"""Sales transactions (Estimate, Invoice): lines, discounts, tax, header defaults, statuses and the inventory start
date check."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from ..faults import fault
from ..values import ZERO, check_email, currency, is_valid_id, q, ref_value, to_decimal

DEFAULT_CUSTOM_FIELD = [{"DefinitionId": "1", "Name": "Crew #", "Type": "StringType"}]
EMAIL_STATUS = {"NotSet", "NeedToSend", "EmailSent"}
PRINT_STATUS = {"NotSet", "NeedToPrint", "PrintComplete"}
ESTIMATE_STATUS = {"Accepted", "Closed", "Pending", "Rejected", "Converted"}


class SalesMixin:
    """Derivation of Estimate and Invoice."""

    def _customer_for(self, obj: dict[str, Any]) -> dict[str, Any]:
        customer = self.require_ref("Customer", obj.get("CustomerRef"), "CustomerRef")
        obj["CustomerRef"] = {"value": customer["Id"], "name": customer["DisplayName"]}
        return customer

    def _derive_sales(self, entity: str, data: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
        obj = dict(data)
        customer = self._customer_for(obj)
        raw_lines = obj.get("Line") or []
        if not isinstance(raw_lines, list):
            raise fault("2010", "Line must be a list", element="Line")
        used_ids = [int(line["Id"]) for line in raw_lines if isinstance(line, dict) and is_valid_id(line.get("Id"))]
        next_line_id = max(used_ids, default=0) + 1
        lines: list[dict[str, Any]] = []
        discounts: list[dict[str, Any]] = []
        subtotal = ZERO
        taxable = ZERO
        for index, raw in enumerate(raw_lines):
            if not isinstance(raw, dict):
                raise fault("2010", f"Line[{index}]", element="Line")
            detail_type = raw.get("DetailType") or _infer_detail_type(raw)
            if detail_type == "SubTotalLineDetail":
                continue
            line = dict(raw)
            line["DetailType"] = detail_type
            if detail_type == "SalesItemLineDetail":
                amount, is_taxable = self._sales_line(line, index)
                subtotal += amount
                if is_taxable:
                    taxable += amount
            elif detail_type == "DiscountLineDetail":
                discounts.append(line)
                continue
            elif detail_type in ("DescriptionOnly", "DescriptionLineDetail"):
                line["DetailType"] = "DescriptionOnly"
                line.setdefault("DescriptionLineDetail", {})
                line.pop("Amount", None)
            elif detail_type == "GroupLineDetail":
                raise fault("6000", "Group lines are not supported.", element="Line.GroupLineDetail")
            else:
                raise fault("2170", f"DetailType {detail_type}", element="Line.DetailType")
            if not is_valid_id(line.get("Id")):
                line["Id"] = str(next_line_id)
                next_line_id += 1
            line["Id"] = str(line["Id"])
            lines.append(line)
        if not any(line["DetailType"] == "SalesItemLineDetail" for line in lines):
            raise fault("2020", "Line", element="Line")
        for number, line in enumerate(lines, start=1):
            line["LineNum"] = number
        subtotal = q(subtotal)
        discount_total = ZERO
        out_discounts = []
        for line in discounts:
            detail = dict(line.get("DiscountLineDetail") or {})
            if detail.get("PercentBased") and "DiscountPercent" in detail:
                amount = q(subtotal * to_decimal(detail["DiscountPercent"], "DiscountPercent") / 100)
            else:
                amount = q(to_decimal(line.get("Amount", ZERO), "Amount"))
                detail.setdefault("PercentBased", False)
            if "DiscountAccountRef" in detail:
                self.optional_ref("Account", detail, "DiscountAccountRef")
            discount_total += amount
            out_discounts.append(
                {
                    k: v
                    for k, v in {
                        "Amount": amount,
                        "DetailType": "DiscountLineDetail",
                        "DiscountLineDetail": detail,
                        "Description": line.get("Description"),
                    }.items()
                    if v is not None
                }
            )
        apply_after = bool(obj.get("ApplyTaxAfterDiscount", False))
        obj["ApplyTaxAfterDiscount"] = apply_after
        if apply_after and subtotal and discount_total:
            taxable = taxable - q(discount_total * taxable / subtotal)
        tax_detail = self._tax(obj, customer, q(taxable))
        obj["TxnTaxDetail"] = tax_detail
        total = q(subtotal - discount_total + tax_detail["TotalTax"])
        obj["Line"] = (
            lines + [{"Amount": subtotal, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}}] + out_discounts
        )
        obj["TotalAmt"] = total
        # header defaults
        obj["CurrencyRef"] = currency(obj.get("CurrencyRef"))
        obj["TxnDate"] = self._date(obj.get("TxnDate"), "TxnDate") or self.today.isoformat()
        self._check_inventory_start(lines, obj["TxnDate"])
        self._doc_number(entity, obj, existing)
        obj.setdefault("CustomField", copy.deepcopy(DEFAULT_CUSTOM_FIELD))
        for key, allowed in (("EmailStatus", EMAIL_STATUS), ("PrintStatus", PRINT_STATUS)):
            if key in obj and obj[key] not in allowed:
                raise fault("2170", f"{key} {obj[key]}", element=key)
        if (
            obj.get("PrintStatus") in (None, "NotSet")
            and customer.get("PreferredDeliveryMethod") == "Print"
            and existing is None
        ):
            obj["PrintStatus"] = "NeedToPrint"
        obj.setdefault("PrintStatus", "NotSet")
        obj.setdefault("EmailStatus", "NotSet")
        if obj.get("EmailStatus") == "NeedToSend" and not (obj.get("BillEmail") or {}).get("Address"):
            raise fault("6000", "BillEmail is required when EmailStatus is NeedToSend.", element="BillEmail")
        if (obj.get("BillEmail") or {}).get("Address"):
            check_email(obj["BillEmail"]["Address"], "BillEmail.Address")
        for key in ("BillAddr", "ShipAddr"):
            if key not in obj and key in customer:
                obj[key] = copy.deepcopy(customer[key])
        self._address_ids(obj, existing)
        term = self.optional_ref("Term", obj, "SalesTermRef")
        if entity == "Invoice":
            self._invoice_fields(obj, customer, term, existing)
        else:
            status = obj.get("TxnStatus", "Pending")
            if status not in ESTIMATE_STATUS:
                raise fault("2170", f"TxnStatus {status}", element="TxnStatus")
            obj["TxnStatus"] = status
            if existing is not None:
                obj["LinkedTxn"] = copy.deepcopy(existing.get("LinkedTxn", []))
            else:
                obj.pop("LinkedTxn", None)
            for key in ("ExpirationDate", "AcceptedDate", "DueDate", "ShipDate"):
                if key in obj:
                    obj[key] = self._date(obj[key], key)
        return obj

    def _check_inventory_start(self, lines: list[dict[str, Any]], txn_date: str) -> None:
        """6270: a sales transaction may not be dated before an Inventory item's InvStartDate (docs/emulator.md)."""
        for line in lines:
            if line.get("DetailType") != "SalesItemLineDetail":
                continue
            item = self.realm.get("Item", line["SalesItemLineDetail"]["ItemRef"]["value"]) or {}
            start = self._date(item.get("InvStartDate"), "InvStartDate") if item.get("Type") == "Inventory" else None
            if start and txn_date < start:
                raise fault("6270", "Transaction date is prior to start date for inventory item", raw_detail=True)

    def _sales_line(self, line: dict[str, Any], index: int) -> tuple[Decimal, bool]:
        detail = dict(line.get("SalesItemLineDetail") or {})
        item = self.require_ref("Item", detail.get("ItemRef"), "Line.SalesItemLineDetail.ItemRef")
        if item.get("Type") == "Category":
            raise fault(
                "6000", f"Category item {item.get('Name')} cannot be used on a transaction line.", element="ItemRef"
            )
        detail["ItemRef"] = {"value": item["Id"], "name": item.get("Name", "")}
        qty = detail.get("Qty")
        price = detail.get("UnitPrice")
        if qty is not None and price is not None and qty == 0 and price == 0:
            detail.pop("Qty")
            detail.pop("UnitPrice")  # python-quickbooks' zero defaults mean "not given"
            qty = price = None
        amount = line.get("Amount")
        if amount is None:
            if qty is not None and price is not None:
                amount = q(qty * price)
            else:
                raise fault("2020", "Line.Amount", element="Line.Amount")
        amount = to_decimal(amount, "Amount")
        if qty is not None and price is not None and q(qty * price) != amount:
            raise fault(
                "6070",
                f"Supplied value:{amount} (Line {index + 1}: UnitPrice {price} * Qty {qty} = {q(qty * price)})",
                element="Line.Amount",
            )
        if amount != q(amount):
            raise fault(
                "6000", f"Line {index + 1}: Amount {amount} has more than 2 decimal places.", element="Line.Amount"
            )
        tax_code = ref_value(detail.get("TaxCodeRef")) or "NON"
        if tax_code not in ("TAX", "NON") and self.realm.get("TaxCode", tax_code) is None:
            raise fault("2500", f"TaxCode Id={tax_code}", element="TaxCodeRef")
        detail["TaxCodeRef"] = {"value": tax_code}
        if "ServiceDate" in detail:
            detail["ServiceDate"] = self._date(detail["ServiceDate"], "ServiceDate")
        line["SalesItemLineDetail"] = detail
        line["Amount"] = amount
        for key in ("LinkedTxn", "CustomField"):
            line.pop(key, None)
        return amount, tax_code != "NON"

    def _tax(self, obj: dict[str, Any], customer: dict[str, Any], taxable: Decimal) -> dict[str, Any]:
        if taxable <= 0:
            return {"TotalTax": ZERO}
        given = ref_value((obj.get("TxnTaxDetail") or {}).get("TxnTaxCodeRef"))
        code_id = given or ref_value(customer.get("DefaultTaxCodeRef")) or "2"
        code = self.realm.get("TaxCode", code_id)
        rate_id, percent = None, Decimal("8")
        if code is None and given:
            raise fault("2500", f"TaxCode Id={given}", element="TxnTaxCodeRef")
        if code is not None:
            details = ((code.get("SalesTaxRateList") or {}).get("TaxRateDetail")) or []
            if details:
                rate_id = ref_value(details[0].get("TaxRateRef"))
                rate = self.realm.get("TaxRate", rate_id) if rate_id else None
                if rate is not None and rate.get("RateValue") is not None:
                    percent = to_decimal(rate["RateValue"], "RateValue")
        tax = q(taxable * percent / 100)
        line_detail: dict[str, Any] = {"PercentBased": True, "TaxPercent": percent, "NetAmountTaxable": taxable}
        if rate_id:
            line_detail = {"TaxRateRef": {"value": rate_id}, **line_detail}
        return {
            "TxnTaxCodeRef": {"value": code_id},
            "TotalTax": tax,
            "TaxLine": [{"Amount": tax, "DetailType": "TaxLineDetail", "TaxLineDetail": line_detail}],
        }


def _infer_detail_type(line: dict[str, Any]) -> str:
    for key in (
        "SalesItemLineDetail",
        "SubTotalLineDetail",
        "DiscountLineDetail",
        "DescriptionLineDetail",
        "GroupLineDetail",
    ):
        if key in line:
            return "DescriptionOnly" if key == "DescriptionLineDetail" else key
    raise fault("2020", "Line.DetailType", element="Line.DetailType")
