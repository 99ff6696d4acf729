"""Entity CRUD and QBO's derived fields (totals, tax, balances, links, DocNumbers, due dates, deactivation)."""

from __future__ import annotations

import copy
import datetime as dt
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from .clock import meta_time
from .faults import Fault, fault
from .fields import KNOWN_FIELDS
from .store import RealmState, Store

OBJECT_NOT_FOUND_INACTIVE = (
    "Object Not Found : Something you're trying to use has been made inactive. "
    "Check the fields with accounts, customers, items, vendors or employees."
)
CENT = Decimal("0.01")
ZERO = Decimal("0")
USD = {"value": "USD", "name": "United States Dollar"}
DELETED_SUFFIX = " (deleted)"
DEFAULT_CUSTOM_FIELD = [{"DefinitionId": "1", "Name": "Crew #", "Type": "StringType"}]

PARTY_ENTITIES = ("Customer", "Vendor", "Employee")  # share one DisplayName namespace (6240)
NAME_ENTITIES = ("Customer", "Vendor", "Employee", "Item", "Term", "Account", "PaymentMethod")
TXN_ENTITIES = ("Estimate", "Invoice", "Payment")
READONLY_ENTITIES = ("TaxCode", "TaxRate")
SINGLETONS = ("CompanyInfo", "Preferences")
ALL_ENTITIES = NAME_ENTITIES + TXN_ENTITIES + READONLY_ENTITIES + SINGLETONS
URL_NAMES = {name.lower(): name for name in ALL_ENTITIES}

# input keys never taken from a request (server-owned); per entity extras below
COMMON_READONLY = {"Id", "SyncToken", "MetaData", "domain", "sparse", "status", "time"}
ENTITY_READONLY: dict[str, set[str]] = {
    "Customer": {"Balance", "BalanceWithJobs", "FullyQualifiedName", "Level", "IsProject", "OpenBalanceDate"},
    "Vendor": {"Balance"},
    "Employee": set(),
    "Item": {"FullyQualifiedName", "Level"},
    "Account": {"FullyQualifiedName", "CurrentBalance", "CurrentBalanceWithSubAccounts", "Classification"},
    "Term": {"Type"},
    "PaymentMethod": set(),
    "Estimate": {
        "TotalAmt",
        "HomeTotalAmt",
        "ExchangeRate",
        "GlobalTaxCalculation",
        "FreeFormAddress",
        "HomeBalance",
        "Balance",
    },
    "Invoice": {
        "TotalAmt",
        "Balance",
        "HomeBalance",
        "HomeTotalAmt",
        "ExchangeRate",
        "GlobalTaxCalculation",
        "FreeFormAddress",
        "InvoiceLink",
    },
    "Payment": {"UnappliedAmt", "HomeTotalAmt", "ExchangeRate"},
    "CompanyInfo": set(),
    "Preferences": set(),
}
# kept from the stored object on a full update (server-owned or set-once)
PRESERVED_ON_FULL_UPDATE: dict[str, set[str]] = {
    "Customer": {"CurrencyRef", "Balance", "BalanceWithJobs"},
    "Vendor": {"CurrencyRef", "Balance"},
    "Estimate": {"CurrencyRef", "DocNumber", "TxnDate", "LinkedTxn", "EmailStatus", "DeliveryInfo"},
    "Invoice": {"CurrencyRef", "DocNumber", "TxnDate", "EmailStatus", "DeliveryInfo"},
    "Payment": {"CurrencyRef", "TxnDate"},
}
MONEY_KEYS = {
    "Amount",
    "UnitPrice",
    "Qty",
    "TotalAmt",
    "DiscountPercent",
    "Deposit",
    "Balance",
    "QtyOnHand",
    "PurchaseCost",
    "TaxPercent",
    "RateValue",
    "NetAmountTaxable",
    "TotalTax",
    "DiscountAmount",
}
INT_KEYS = {"DueDays", "DiscountDays", "DayOfMonthDue", "DueNextMonthDays", "DiscountDayOfMonth"}
NUMERIC_KEYS = MONEY_KEYS | INT_KEYS
ZERO_MEANS_ABSENT = ("LineNum", "TxnLineId", "TaxInclusiveAmt")  # python-quickbooks' defaults for server-set values
REF_DROP = ("name", "type")
EMAIL_STATUS = {"NotSet", "NeedToSend", "EmailSent"}
PRINT_STATUS = {"NotSet", "NeedToPrint", "PrintComplete"}
ESTIMATE_STATUS = {"Accepted", "Closed", "Pending", "Rejected", "Converted"}
ITEM_TYPES = {"Inventory", "Service", "NonInventory", "Category", "Group"}
DELIVERY_METHODS = {"Print", "Email", "None"}
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


def q(value: Decimal) -> Decimal:
    """Round half-up to cents, as QBO does for amounts and tax."""
    if not isinstance(value, Decimal):
        value = Decimal(value)
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def to_decimal(value: Any, key: str) -> Decimal:
    if isinstance(value, bool):
        raise fault("2010", f"{key} (not a number)")
    if isinstance(value, Decimal):
        return value
    try:
        if isinstance(value, float):
            return Decimal(repr(value))
        return Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise fault("2010", f"{key} (invalid number {value!r})") from exc


def clean(value: Any, key: str = "") -> Any:
    """Normalize request JSON: "" and None mean absent, [] means absent, refs lose name/type, numbers become Decimal."""
    if isinstance(value, dict):
        return _clean_object(value, key)
    if isinstance(value, list):
        items = [clean(v, key) for v in value]
        items = [v for v in items if v is not None]
        return items or None
    if value is None or value == "":
        return None
    if isinstance(value, str):
        if key in MONEY_KEYS:
            return to_decimal(value, key)
        if key in INT_KEYS:
            try:
                return int(Decimal(value))
            except InvalidOperation as exc:
                raise fault("2010", f"{key} (invalid number {value!r})") from exc
        return value
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float, Decimal)):
        if key in INT_KEYS:
            return int(value)
        if key in MONEY_KEYS or isinstance(value, float):
            return to_decimal(value, key)
        return value
    return value


def _clean_object(value: dict[str, Any], key: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    is_ref = "value" in value and key.endswith("Ref")
    for k, v in value.items():
        if type(v) is str and k not in NUMERIC_KEYS:  # the common case, without a call (100,000-customer seeds)
            if v and not (is_ref and k in REF_DROP):
                out[k] = v
            continue
        if is_ref and k in REF_DROP:
            continue
        if k in ZERO_MEANS_ABSENT and (v in (0, "", None)):
            continue
        cv = clean(v, k)
        if cv is not None:
            out[k] = cv
    return out


def currency(ref: Any) -> dict[str, str]:
    value = ref_value(ref) or "USD"
    return dict(USD) if value == "USD" else {"value": value, "name": (ref or {}).get("name", value)}


def ref_value(ref: Any) -> str | None:
    if isinstance(ref, dict) and ref.get("value") not in (None, ""):
        return str(ref["value"])
    return None


def is_valid_id(value: Any) -> bool:
    return isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).isdigit()


class Company:
    """Operations on one realm; callers hold `realm.lock`.

    `seeding=True` loads history: no change log, keeps the given Ids and MetaData."""

    def __init__(self, store: Store, realm: RealmState, now: dt.datetime, *, seeding: bool = False) -> None:
        self.store = store
        self.realm = realm
        self.now = now
        self.seeding = seeding
        self.today = now.astimezone(_company_tz()).date()

    # ------------------------------------------------------------------ helpers
    def _stamp_new(self, entity: str, obj: dict[str, Any], given: dict[str, Any] | None = None) -> None:
        if self.seeding and given is not None and given.get("Id"):
            obj["Id"] = str(given["Id"])
            self.realm.note_id(entity, obj["Id"])
            obj["SyncToken"] = str(given.get("SyncToken", "0"))
            meta = given.get("MetaData") or {}
            stamp = meta_time(self.now)
            obj["MetaData"] = {
                "CreateTime": meta.get("CreateTime", stamp),
                "LastUpdatedTime": meta.get("LastUpdatedTime", stamp),
            }
        else:
            obj["Id"] = self.realm.allocate_id(entity)
            obj["SyncToken"] = "0"
            stamp = meta_time(self.now)
            obj["MetaData"] = {"CreateTime": stamp, "LastUpdatedTime": stamp}

    def _bump(self, obj: dict[str, Any]) -> None:
        obj["SyncToken"] = str(int(obj.get("SyncToken", "0")) + 1)
        meta = obj.setdefault("MetaData", {})
        meta["LastUpdatedTime"] = meta_time(self.now)

    def _record(self, entity: str, obj_id: str, op: str) -> None:
        """Log a change. Every change is logged, in-place edits of other objects included, so this is also where
        the table learns that its cached query orders are stale."""
        if not self.seeding:
            self.realm.table(entity).touch()
            self.store.record(self.realm, self.now, entity, obj_id, op)

    def _finish(self, entity: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Order keys like QBO (domain, sparse, Id, SyncToken, MetaData first) is cosmetic; keep common keys present."""
        obj.setdefault("domain", "QBO")
        obj["sparse"] = False
        return obj

    def require_ref(self, entity: str, ref: Any, field_name: str, *, allow_inactive: bool = False) -> dict[str, Any]:
        value = ref_value(ref)
        if value is None:
            raise fault("2020", field_name, element=field_name)
        target = self.realm.get(entity, value)
        if target is None:
            raise fault(
                "2500",
                f"{entity} assigned to this transaction has been deleted or does not exist. Id={value}",
                element=field_name,
            )
        if not allow_inactive and target.get("Active") is False:
            raise fault("610", element=field_name)
        return target

    def optional_ref(self, entity: str, obj: dict[str, Any], key: str) -> dict[str, Any] | None:
        if key not in obj:
            return None
        target = self.require_ref(entity, obj[key], key)
        obj[key] = (
            {"value": target["Id"], "name": display_of(entity, target)}
            if display_of(entity, target)
            else {"value": target["Id"]}
        )
        return target

    def read(self, entity: str, obj_id: str) -> dict[str, Any]:
        if not is_valid_id(obj_id):
            raise fault("2030", str(obj_id), element="Id")
        obj = self.realm.get(entity, str(obj_id))
        if obj is None:
            raise fault(
                "610",
                OBJECT_NOT_FOUND_INACTIVE,
                raw_detail=True,
            )
        return obj

    def singleton(self, entity: str) -> dict[str, Any]:
        table = self.realm.table(entity)
        if not table:
            raise fault("610")
        return next(iter(table.values()))

    def preferences(self) -> dict[str, Any]:
        table = self.realm.table("Preferences")
        return next(iter(table.values())) if table else {}

    # ------------------------------------------------------------------ public write API
    def create(self, entity: str, body: Any) -> dict[str, Any]:
        if entity in READONLY_ENTITIES or entity in SINGLETONS:
            raise fault("500", f"create for {entity}", message="Unsupported Operation")
        if not isinstance(body, dict):
            raise fault("2010", "request body must be a JSON object")
        given = body
        data = self._input(entity, body)
        obj = self._derive(entity, data, None)
        self._stamp_new(entity, obj, given if self.seeding else None)
        self._finish(entity, obj)
        self._index_new(entity, obj)
        self.realm.table(entity)[obj["Id"]] = obj
        self._record(entity, obj["Id"], "Create")
        self._after_txn_write(entity, obj, None)  # follow-on changes (links, balances) are logged after it
        return obj

    def update(self, entity: str, body: Any, *, include_void: bool = False) -> dict[str, Any]:
        if entity in READONLY_ENTITIES:
            raise fault("500", f"update for {entity}", message="Unsupported Operation")
        if not isinstance(body, dict):
            raise fault("2010", "request body must be a JSON object")
        existing = self._existing_for_write(entity, body)
        if include_void:
            return self.void(entity, body)
        sparse = body.get("sparse") is True or str(body.get("sparse")).lower() == "true"
        data = self._input(entity, body)
        internal = ("Id", "SyncToken", "MetaData", "domain", "sparse")
        if sparse:
            merged = copy.deepcopy(existing)
            merged.update(data)
            candidate = {k: v for k, v in merged.items() if k not in internal and not k.startswith("_")}
        else:
            candidate = dict(data)
            for key in PRESERVED_ON_FULL_UPDATE.get(entity, set()):
                if key not in candidate and key in existing:
                    candidate[key] = copy.deepcopy(existing[key])
            if entity in NAME_ENTITIES and "Active" not in candidate:
                candidate["Active"] = existing.get("Active", True)
        if entity in SINGLETONS:
            obj = copy.deepcopy(existing) if sparse else {}
            obj.update(candidate)
        else:
            obj = self._derive(entity, candidate, existing)
        for key in ("Id", "SyncToken", "MetaData", "domain"):
            if key in existing:
                obj[key] = copy.deepcopy(existing[key])
        self._finish(entity, obj)
        if _same(obj, existing):
            return existing  # a no-op update leaves the SyncToken alone
        op = "Update"
        if entity in NAME_ENTITIES and existing.get("Active", True) and obj.get("Active") is False:
            op = "Delete"  # QBO reports a deactivation of a names-list entity as Delete (stricter choice; UNCONFIRMED)
        self._bump(obj)
        self._unindex(entity, existing)
        self._index_new(entity, obj)
        self.realm.table(entity)[obj["Id"]] = obj
        self._record(entity, obj["Id"], op)
        self._after_txn_write(entity, obj, existing)
        if entity == "Customer" and obj.get("FullyQualifiedName") != existing.get("FullyQualifiedName"):
            self._rename_jobs(obj)
        return obj

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

    def delete(self, entity: str, body: Any) -> dict[str, Any]:
        if entity not in TXN_ENTITIES:
            raise fault("500", f"delete for {entity}", message="Unsupported Operation")
        existing = self._existing_for_write(entity, body)
        obj_id = existing["Id"]
        self._detach_links(entity, existing)
        self._unindex(entity, existing)
        del self.realm.table(entity)[obj_id]
        self._record(entity, obj_id, "Delete")
        self._after_txn_write(entity, None, existing)
        return {"domain": "QBO", "status": "Deleted", "Id": obj_id}

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
        if entity not in ("Invoice", "Estimate"):
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

    # ------------------------------------------------------------------ input + existing
    def _input(self, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        known = KNOWN_FIELDS.get(entity)
        if known is not None and not self.seeding:
            unknown = [key for key in body if key not in known]
            if unknown:
                names = ", ".join(f'"{name}"' for name in sorted(known))
                raise Fault(
                    400,
                    "2010",
                    "Request has invalid or unsupported property",
                    f'Property Name:Unrecognized field "{unknown[0]}" (class com.intuit.schema.finance.v3.{entity}), '
                    f"not marked as ignorable ({len(known)} known properties: {names}])"
                    "\n specified is unsupported or invalid",
                    element=None,  # the recorded 2010 has no element key (samples/fault_unrecognized_property_400)
                )
        data = clean(body) or {}
        for key in COMMON_READONLY | ENTITY_READONLY.get(entity, set()):
            data.pop(key, None)
        return data

    def _existing_for_write(self, entity: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise fault("2010", "request body must be a JSON object")
        obj_id = body.get("Id")
        if obj_id in (None, "", 0):
            raise fault("2020", "Id", element="Id")
        if not is_valid_id(obj_id):
            raise fault("2030", str(obj_id), element="Id")
        if entity in SINGLETONS:
            existing = self.realm.get(entity, str(obj_id)) or (
                self.singleton(entity) if self.realm.table(entity) else None
            )
        else:
            existing = self.realm.get(entity, str(obj_id))
        if existing is None:
            raise fault(
                "610",
                "Object Not Found : Another user has deleted this transaction."
                if entity in TXN_ENTITIES
                else OBJECT_NOT_FOUND_INACTIVE,
                raw_detail=True,
            )
        token = body.get("SyncToken")
        if token in (None, ""):
            raise fault("2020", "SyncToken", element="SyncToken")
        if str(token) != str(existing.get("SyncToken", "0")):
            raise fault("5010")
        return existing

    # ------------------------------------------------------------------ derivation dispatch
    def _derive(self, entity: str, data: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
        if entity in PARTY_ENTITIES:
            return self._derive_party(entity, data, existing)
        if entity == "Item":
            return self._derive_item(data, existing)
        if entity == "Term":
            return self._derive_term(data, existing)
        if entity == "Account":
            return self._derive_account(data, existing)
        if entity == "PaymentMethod":
            return self._derive_simple_named("PaymentMethod", data, existing, defaults={"Type": "NON_CREDIT_CARD"})
        if entity in ("Estimate", "Invoice"):
            return self._derive_sales(entity, data, existing)
        if entity == "Payment":
            return self._derive_payment(data, existing)
        raise fault("500", f"write for {entity}", message="Unsupported Operation")

    # ------------------------------------------------------------------ names
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

    # ------------------------------------------------------------------ sales transactions
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

    def _date(self, value: Any, key: str) -> str | None:
        if value in (None, ""):
            return None
        try:
            return dt.date.fromisoformat(str(value)[:10]).isoformat()
        except ValueError as exc:
            raise fault("2010", f"{key} (invalid date {value!r})", element=key) from exc

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

    # ------------------------------------------------------------------ payments
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

    # ------------------------------------------------------------------ indexes and cross-object effects
    def _index_new(self, entity: str, obj: dict[str, Any]) -> None:
        key = f"{entity}:{obj['Id']}"
        if entity in PARTY_ENTITIES:
            self.realm.name_index.setdefault("party", {})[obj["DisplayName"].strip().lower()] = key
            if entity == "Customer" and ref_value(obj.get("ParentRef")):
                self.realm.children.setdefault(obj["ParentRef"]["value"], set()).add(obj["Id"])
        elif entity in NAME_ENTITIES and obj.get("Name"):
            self.realm.name_index.setdefault(entity, {})[obj["Name"].strip().lower()] = key
        if entity in ("Estimate", "Invoice") and obj.get("DocNumber"):
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
            entity in ("Estimate", "Invoice")
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


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    strip = ("MetaData", "SyncToken")
    return {k: v for k, v in a.items() if k not in strip} == {k: v for k, v in b.items() if k not in strip}


def display_of(entity: str, obj: dict[str, Any]) -> str:
    if entity in PARTY_ENTITIES:
        return obj.get("DisplayName", "")
    return obj.get("Name", obj.get("DocNumber", "")) or ""


def check_email(address: str, element: str) -> None:
    """2210 unless every comma-separated address is plausible: Intuit's sandbox vendor 45 holds
    "Nateyecare@intuit.com, pauliejones15@intuit.com" (minimul/qbo_api get/inactive_vendors.yml)."""
    if not all(_plausible_email(part.strip()) for part in address.split(",")):
        raise Fault(
            400,
            "2210",
            "Email Address does not conform to the syntax rules of RFC 822",
            f"Email Address does not conform to the syntax rules of RFC 822 : {address}",
            element=element,
        )


def _plausible_email(address: str) -> bool:
    at = address.find("@")
    return at > 0 and "." in address[at:] and not address.endswith(".") and " " not in address


def public(obj: dict[str, Any]) -> dict[str, Any]:
    """The wire view of a stored object (drops internal underscore keys)."""
    if any(key.startswith("_") for key in obj):
        return {k: v for k, v in obj.items() if not k.startswith("_")}
    return obj


def _company_tz() -> dt.tzinfo:
    from .clock import COMPANY_TZ

    return COMPANY_TZ
