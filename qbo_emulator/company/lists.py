"""The other names lists: Item (types, inventory, sub-items), Term (standard or date-driven) and Account
(classification, sub-accounts). PaymentMethod needs only the shared Name rules; TaxCode and TaxRate are read-only."""

from __future__ import annotations

from typing import Any

from ..faults import fault
from ..values import ZERO, currency

ITEM_TYPES = {"Inventory", "Service", "NonInventory", "Category", "Group"}
ACCOUNT_CLASSIFICATION = {
    "Bank": "Asset",
    "Other Current Asset": "Asset",
    "Fixed Asset": "Asset",
    "Other Asset": "Asset",
    "Accounts Receivable": "Asset",
    "Equity": "Equity",
    "Expense": "Expense",
    "Other Expense": "Expense",
    "Cost of Goods Sold": "Expense",
    "Accounts Payable": "Liability",
    "Credit Card": "Liability",
    "Long Term Liability": "Liability",
    "Other Current Liability": "Liability",
    "Income": "Revenue",
    "Other Income": "Revenue",
}


class ListsMixin:
    """Derivation of Item, Term and Account."""

    def _derive_item(self, data: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
        obj = self._derive_simple_named("Item", data, existing)
        item_type = obj.get("Type") or (existing or {}).get("Type")
        if not item_type:
            raise fault("2020", "Type", element="Type")
        if item_type not in ITEM_TYPES:
            raise fault("2170", f"Type {item_type}", element="Type")
        if item_type == "Group":
            raise fault("6000", "Group items cannot be created through the API.", element="Type")
        obj["Type"] = item_type
        if item_type in ("Service", "NonInventory", "Inventory"):
            if "IncomeAccountRef" not in obj:
                raise fault("2020", "IncomeAccountRef", element="IncomeAccountRef")
            self.optional_ref("Account", obj, "IncomeAccountRef")
            self.optional_ref("Account", obj, "ExpenseAccountRef")
        if item_type == "Inventory":
            for key in ("QtyOnHand", "InvStartDate", "AssetAccountRef"):
                if key not in obj:
                    raise fault("2020", key, element=key)
            self.optional_ref("Account", obj, "AssetAccountRef")
            obj["TrackQtyOnHand"] = True
        elif existing is not None and existing.get("TrackQtyOnHand") and obj.get("TrackQtyOnHand") is False:
            raise fault("6000", "TrackQtyOnHand cannot be turned off.", element="TrackQtyOnHand")
        if item_type != "Category":
            obj.setdefault("UnitPrice", ZERO)
            obj.setdefault("PurchaseCost", ZERO)
            obj.setdefault("Taxable", False)
            obj.setdefault("TrackQtyOnHand", False)
        if item_type == "Category" and existing is not None and obj.get("Active") is False:
            raise fault("6000", "Category items cannot be made inactive.", element="Active")
        parent = None
        if "ParentRef" in obj:
            parent = self.require_ref("Item", obj["ParentRef"], "ParentRef")
            obj["ParentRef"] = {"value": parent["Id"], "name": parent.get("Name", "")}
            obj["SubItem"] = True
            obj["Level"] = int(parent.get("Level", 0)) + 1
            obj["FullyQualifiedName"] = f"{parent.get('FullyQualifiedName', parent.get('Name'))}:{obj['Name']}"
        else:
            obj["SubItem"] = False
            obj["FullyQualifiedName"] = obj["Name"]
        return obj

    def _derive_term(self, data: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
        obj = self._derive_simple_named("Term", data, existing)
        if "DueDays" in obj:
            if not 0 <= int(obj["DueDays"]) <= 999:
                raise fault("6000", "DueDays must be between 0 and 999.", element="DueDays")
            obj["Type"] = "STANDARD"
        elif "DayOfMonthDue" in obj:
            if not 1 <= int(obj["DayOfMonthDue"]) <= 31:
                raise fault("6000", "DayOfMonthDue must be between 1 and 31.", element="DayOfMonthDue")
            obj["Type"] = "DATE_DRIVEN"
        else:
            raise fault("2020", "DueDays or DayOfMonthDue", element="DueDays")
        return obj

    def _derive_account(self, data: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
        obj = self._derive_simple_named("Account", data, existing)
        account_type = obj.get("AccountType")
        if not account_type:
            raise fault("2020", "AccountType", element="AccountType")
        if account_type not in ACCOUNT_CLASSIFICATION:
            raise fault("2170", f"AccountType {account_type}", element="AccountType")
        obj["Classification"] = ACCOUNT_CLASSIFICATION[account_type]
        obj["CurrencyRef"] = currency(obj.get("CurrencyRef"))  # named, as real accounts carry it
        obj["CurrentBalance"] = (existing or {}).get("CurrentBalance", ZERO)
        obj["CurrentBalanceWithSubAccounts"] = (existing or {}).get("CurrentBalanceWithSubAccounts", ZERO)
        if "ParentRef" in obj:
            parent = self.require_ref("Account", obj["ParentRef"], "ParentRef")
            obj["SubAccount"] = True
            obj["FullyQualifiedName"] = f"{parent.get('FullyQualifiedName', parent.get('Name'))}:{obj['Name']}"
        else:
            obj["SubAccount"] = False
            obj["FullyQualifiedName"] = obj["Name"]
        return obj
