"""Names: Customer, Vendor and Employee (one DisplayName namespace, 6240), customer jobs (ParentRef, Level, the
"Parent:Job" renames), address ids, and the rules every names list shares: a unique name and deactivation
(" (deleted)")."""

from __future__ import annotations

from typing import Any

from ..facts import PARTY_ENTITIES
from ..faults import fault
from ..values import ZERO, check_email, currency, is_valid_id, ref_value

DELETED_SUFFIX = " (deleted)"
DELIVERY_METHODS = {"Print", "Email", "None"}


class PartiesMixin:
    """Derivation of names-list entities: parties and the shared Name rules."""

    def _rename_jobs(self, parent: dict[str, Any]) -> None:
        """A renamed (or deactivated) customer renames its jobs' FullyQualifiedName "Parent:Job", all the way down;
        each renamed job is a changed object (new SyncToken, an Update in the change log)."""
        for child_id in sorted(self.realm.children.get(parent["Id"], ()), key=int):
            child = self.realm.get("Customer", child_id)
            if child is None:
                continue
            name = f"{parent['FullyQualifiedName']}:{child['DisplayName']}"
            if child.get("FullyQualifiedName") != name:
                child["FullyQualifiedName"] = name
                self._bump(child)
                self._record("Customer", child_id, "Update")
                self._rename_jobs(child)

    def _check_unique(self, namespace: str, name: str, own_key: str | None, detail: str) -> None:
        holder = self.realm.name_index.get(namespace, {}).get(name.strip().lower())
        if holder is not None and holder != own_key:
            raise fault("6240", detail)

    def _apply_active(self, entity: str, obj: dict[str, Any], existing: dict[str, Any] | None, name_key: str) -> None:
        active = obj.get("Active", True)
        obj["Active"] = bool(active)
        was_active = existing is None or existing.get("Active", True)
        name = obj.get(name_key, "")
        if not obj["Active"] and was_active:
            if existing is not None and not name.endswith(DELETED_SUFFIX):
                obj[name_key] = name + DELETED_SUFFIX
        elif obj["Active"] and existing is not None and not was_active and name.endswith(DELETED_SUFFIX):
            plain = name[: -len(DELETED_SUFFIX)]
            namespace = "party" if entity in PARTY_ENTITIES else entity
            if self.realm.name_index.get(namespace, {}).get(plain.lower()) in (None, f"{entity}:{existing['Id']}"):
                obj[name_key] = plain

    def _derive_party(self, entity: str, data: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
        obj = dict(data)
        if not obj.get("DisplayName"):
            parts = [obj.get(k) for k in ("Title", "GivenName", "MiddleName", "FamilyName", "Suffix")]
            built = " ".join(p for p in parts if p)
            if not built and existing is not None:
                built = existing.get("DisplayName", "")
            if not built:
                raise fault(
                    "2020",
                    "DisplayName or one of Title, GivenName, MiddleName, FamilyName, Suffix",
                    element="DisplayName",
                )
            obj["DisplayName"] = built
        name = obj["DisplayName"]
        if any(ch in name for ch in (":", "\t", "\n")):
            raise fault("6000", "DisplayName cannot contain a colon (:), tab or newline.", element="DisplayName")
        if len(name) > 500:
            raise fault("2050", "DisplayName is longer than 500 characters", element="DisplayName")
        for key in ("PrimaryEmailAddr",):
            address = (obj.get(key) or {}).get("Address")
            if address:
                check_email(address, f"{key}.Address")
        own_key = f"{entity}:{existing['Id']}" if existing else None
        self._apply_active(entity, obj, existing, "DisplayName")
        if obj["Active"] and not (existing is not None and obj["DisplayName"] == existing.get("DisplayName")):
            self._check_unique(
                "party",
                obj["DisplayName"],
                own_key,
                "Another customer, vendor or employee is already using this name. Please use a different name.",
            )
        obj.setdefault("PrintOnCheckName", obj["DisplayName"].removesuffix(DELETED_SUFFIX)[:110])
        obj["CurrencyRef"] = currency(obj.get("CurrencyRef"))
        self._address_ids(obj, existing)
        if entity == "Customer":
            self._derive_customer(obj, existing)
        elif entity == "Vendor":
            obj.setdefault("Balance", ZERO)
            obj.setdefault("Vendor1099", False)
        elif entity == "Employee":
            obj.setdefault("BillableTime", False)
            obj.pop("CurrencyRef", None)
        return obj

    def _derive_customer(self, obj: dict[str, Any], existing: dict[str, Any] | None) -> None:
        obj["Taxable"] = bool(obj.get("Taxable", True))
        if obj["Taxable"]:
            if "DefaultTaxCodeRef" in obj:
                self.optional_tax_code(obj)
            elif self.realm.get("TaxCode", "2") is not None:
                obj["DefaultTaxCodeRef"] = {"value": "2"}
        method = obj.get("PreferredDeliveryMethod", "Print")
        if method not in DELIVERY_METHODS:
            raise fault("2170", f"PreferredDeliveryMethod {method}", element="PreferredDeliveryMethod")
        obj["PreferredDeliveryMethod"] = method
        self.optional_ref("Term", obj, "SalesTermRef")
        self.optional_ref("PaymentMethod", obj, "PaymentMethodRef")
        parent = None
        if "ParentRef" in obj:
            parent = self.require_ref("Customer", obj["ParentRef"], "ParentRef")
            if existing is not None and parent["Id"] == existing["Id"]:
                raise fault("6000", "A customer cannot be its own parent.", element="ParentRef")
            obj["ParentRef"] = {"value": parent["Id"]}
            obj["Job"] = True if obj.get("Job") is None else bool(obj.get("Job"))
            obj["Level"] = int(parent.get("Level", 0)) + 1
            if obj["Level"] > 4:
                raise fault("6000", "Sub-customers can be nested at most 4 levels deep.", element="ParentRef")
            obj["FullyQualifiedName"] = (
                f"{parent.get('FullyQualifiedName', parent['DisplayName'])}:{obj['DisplayName']}"
            )
        else:
            obj["Job"] = bool(obj.get("Job", False))
            obj.pop("Level", None)
            obj["FullyQualifiedName"] = obj["DisplayName"]
        obj["BillWithParent"] = bool(obj.get("BillWithParent", False))
        balance = existing.get("Balance", ZERO) if existing else ZERO
        if existing is not None and existing.get("Active", True) and obj.get("Active") is False:
            with_jobs = existing.get("BalanceWithJobs", balance)
            if balance != 0 or with_jobs != 0:
                raise fault(
                    "6000",
                    "Delete List Has Balance Error : This customer cannot be deleted because it has a"
                    " non-zero balance.",
                    message="Delete List Has Balance Error",
                    raw_detail=True,
                )
        obj["Balance"] = balance
        obj["BalanceWithJobs"] = existing.get("BalanceWithJobs", balance) if existing else ZERO
        if existing is None:
            obj.setdefault("IsProject", False)

    def _address_ids(self, obj: dict[str, Any], existing: dict[str, Any] | None) -> None:
        """Addresses get a system-assigned Id (kept when an update leaves the address in place)."""
        for key in ("BillAddr", "ShipAddr", "ShipFromAddr"):
            address = obj.get(key)
            if not isinstance(address, dict) or not address:
                continue
            if not is_valid_id(address.get("Id")):
                old = (existing or {}).get(key) or {}
                address["Id"] = old.get("Id") if is_valid_id(old.get("Id")) else self.realm.allocate_id("Addr")
            else:
                address["Id"] = str(address["Id"])
                if self.seeding:
                    self.realm.note_id("Addr", address["Id"])

    def optional_tax_code(self, obj: dict[str, Any]) -> None:
        code = ref_value(obj.get("DefaultTaxCodeRef"))
        if code and self.realm.get("TaxCode", code) is None and code not in ("TAX", "NON"):
            raise fault("2500", f"TaxCode Id={code}", element="DefaultTaxCodeRef")
        if code:
            obj["DefaultTaxCodeRef"] = {"value": code}

    def _derive_simple_named(
        self,
        entity: str,
        data: dict[str, Any],
        existing: dict[str, Any] | None,
        *,
        defaults: dict[str, Any] | None = None,
        name_key: str = "Name",
    ) -> dict[str, Any]:
        obj = dict(data)
        if not obj.get(name_key):
            if existing is not None and existing.get(name_key):
                obj[name_key] = existing[name_key]
            else:
                raise fault("2020", name_key, element=name_key)
        own_key = f"{entity}:{existing['Id']}" if existing else None
        self._apply_active(entity, obj, existing, name_key)
        if obj["Active"] and not (existing is not None and obj[name_key] == existing.get(name_key)):
            self._check_unique(
                entity,
                obj[name_key],
                own_key,
                f"Another {entity.lower()} is already using this name. Please use a different name.",
            )
        for key, value in (defaults or {}).items():
            obj.setdefault(key, value)
        return obj
