"""The one table of entity facts, and the company's time zone.

One row per QBO entity the emulator serves (`EntityFacts`): its family, whether it is a names list, whether queries
hide its inactive rows, the properties it accepts on input and may be queried on (vocabularies in `fields.py`), the
input keys the server owns and the keys a full update keeps. The rows are in dependency order (the order seeds are
loaded in). Every entity list elsewhere (`entities`, `query`, `loader`, `batch`, `cdc`, the seeds) is derived here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from . import fields as f

try:
    from zoneinfo import ZoneInfo

    COMPANY_TZ: dt.tzinfo = ZoneInfo("America/Los_Angeles")  # the sandbox companies' zone (samples' -07:00/-08:00)
except Exception:  # pragma: no cover - no tz database
    COMPANY_TZ = dt.timezone(dt.timedelta(hours=-8))

# families: which part of `company/` derives the entity
PARTY = "party"  # Customer, Vendor, Employee: one DisplayName namespace (6240)
ITEM = "item"
LIST = "list"  # Term, Account, PaymentMethod: Name-keyed lists
SALES = "sales"  # Estimate, Invoice
PAYMENT = "payment"
READONLY = "readonly"  # served, never written through the API
SINGLETON = "singleton"  # one object per company
FAMILIES = (PARTY, ITEM, LIST, SALES, PAYMENT, READONLY, SINGLETON)


@dataclass(frozen=True)
class EntityFacts:
    """What the emulator knows about one entity.

    `name_list`: a writable names-list entity: a full update keeps `Active`, a deactivation is logged as Delete, its
    name is unique. `hides_inactive`: a query hides `Active = false` rows unless its WHERE names `Active` (API.md
    §3.4); true for every names list, the read-only TaxCode and TaxRate included. `known_fields`: None means the
    input is not checked for unknown properties."""

    name: str
    family: str
    name_list: bool
    hides_inactive: bool
    known_fields: frozenset[str] | None
    documented_fields: frozenset[str]
    readonly: frozenset[str] = frozenset()  # server-owned input keys, besides COMMON_READONLY
    preserved_on_full_update: frozenset[str] = frozenset()  # kept from the stored object (server-owned or set-once)
    in_cdc: bool = True  # /cdc serves it (otherwise 500 "Unsupported Operation")
    label: str | None = None  # the property a query sorts by without ORDERBY (None: by Id)
    hierarchical: bool = False  # sub-records (ParentRef): sorted by FullyQualifiedName, "Parent:Job" after "Parent"

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"{self.name}: unknown family {self.family!r}")

    @property
    def party(self) -> bool:
        return self.family == PARTY

    @property
    def txn(self) -> bool:
        return self.family in (SALES, PAYMENT)


_SALES_READONLY = {"TotalAmt", "HomeTotalAmt", "ExchangeRate", "GlobalTaxCalculation", "FreeFormAddress", "HomeBalance"}
_SALES_KEPT = {"CurrencyRef", "DocNumber", "TxnDate", "EmailStatus", "DeliveryInfo"}

# fmt: off
_TABLE = (
    EntityFacts("CompanyInfo", SINGLETON, name_list=False, hides_inactive=False, known_fields=None,
                documented_fields=f.DOCUMENTED_COMPANY_INFO),
    EntityFacts("Preferences", SINGLETON, name_list=False, hides_inactive=False, known_fields=None,
                documented_fields=f.DOCUMENTED_PREFERENCES),
    EntityFacts("Term", LIST, name_list=True, hides_inactive=True, known_fields=f.KNOWN_TERM,
                documented_fields=f.DOCUMENTED_TERM, readonly=frozenset({"Type"}),
                label="Name"),
    EntityFacts("TaxCode", READONLY, name_list=False, hides_inactive=True, known_fields=None,
                documented_fields=f.DOCUMENTED_TAX_CODE, in_cdc=False,
                label="Name"),
    EntityFacts("TaxRate", READONLY, name_list=False, hides_inactive=True, known_fields=None,
                documented_fields=f.DOCUMENTED_TAX_RATE, in_cdc=False,
                label="Name"),
    EntityFacts("Account", LIST, name_list=True, hides_inactive=True, known_fields=f.KNOWN_ACCOUNT,
                documented_fields=f.DOCUMENTED_ACCOUNT,
                readonly=frozenset({"FullyQualifiedName", "CurrentBalance", "CurrentBalanceWithSubAccounts",
                                    "Classification"}),
                label="Name", hierarchical=True),
    EntityFacts("PaymentMethod", LIST, name_list=True, hides_inactive=True, known_fields=f.KNOWN_PAYMENT_METHOD,
                documented_fields=f.DOCUMENTED_PAYMENT_METHOD,
                label="Name"),
    EntityFacts("Item", ITEM, name_list=True, hides_inactive=True, known_fields=f.KNOWN_ITEM,
                documented_fields=f.DOCUMENTED_ITEM, readonly=frozenset({"FullyQualifiedName", "Level"}),
                label="Name", hierarchical=True),
    EntityFacts("Customer", PARTY, name_list=True, hides_inactive=True, known_fields=f.KNOWN_CUSTOMER,
                documented_fields=f.DOCUMENTED_CUSTOMER,
                readonly=frozenset({"Balance", "BalanceWithJobs", "FullyQualifiedName", "Level", "IsProject",
                                    "OpenBalanceDate"}),
                preserved_on_full_update=frozenset({"CurrencyRef", "Balance", "BalanceWithJobs"}),
                label="DisplayName", hierarchical=True),
    EntityFacts("Vendor", PARTY, name_list=True, hides_inactive=True, known_fields=f.KNOWN_VENDOR,
                documented_fields=f.DOCUMENTED_VENDOR, readonly=frozenset({"Balance"}),
                preserved_on_full_update=frozenset({"CurrencyRef", "Balance"}),
                label="DisplayName"),
    EntityFacts("Employee", PARTY, name_list=True, hides_inactive=True, known_fields=f.KNOWN_EMPLOYEE,
                documented_fields=f.DOCUMENTED_EMPLOYEE,
                label="DisplayName"),
    EntityFacts("Estimate", SALES, name_list=False, hides_inactive=False, known_fields=f.KNOWN_ESTIMATE,
                documented_fields=f.DOCUMENTED_ESTIMATE, readonly=frozenset(_SALES_READONLY | {"Balance"}),
                preserved_on_full_update=frozenset(_SALES_KEPT | {"LinkedTxn"})),
    EntityFacts("Invoice", SALES, name_list=False, hides_inactive=False, known_fields=f.KNOWN_INVOICE,
                documented_fields=f.DOCUMENTED_INVOICE,
                readonly=frozenset(_SALES_READONLY | {"Balance", "InvoiceLink"}),
                preserved_on_full_update=frozenset(_SALES_KEPT)),
    EntityFacts("Payment", PAYMENT, name_list=False, hides_inactive=False, known_fields=f.KNOWN_PAYMENT,
                documented_fields=f.DOCUMENTED_PAYMENT,
                readonly=frozenset({"UnappliedAmt", "HomeTotalAmt", "ExchangeRate"}),
                preserved_on_full_update=frozenset({"CurrencyRef", "TxnDate"})),
)
# fmt: on

FACTS: dict[str, EntityFacts] = {row.name: row for row in _TABLE}


def _names(keep: Callable[[EntityFacts], bool]) -> tuple[str, ...]:
    return tuple(row.name for row in _TABLE if keep(row))


# derived views (table order, i.e. dependency order)
ENTITY_ORDER = ALL_ENTITIES = tuple(FACTS)
PARTY_ENTITIES = _names(lambda row: row.party)
NAME_ENTITIES = _names(lambda row: row.name_list)
NAME_LIST_ENTITIES = frozenset(_names(lambda row: row.hides_inactive))
SALES_ENTITIES = _names(lambda row: row.family == SALES)
TXN_ENTITIES = _names(lambda row: row.txn)
READONLY_ENTITIES = _names(lambda row: row.family == READONLY)
SINGLETONS = _names(lambda row: row.family == SINGLETON)
URL_NAMES = {name.lower(): name for name in ALL_ENTITIES}
KNOWN_FIELDS = {row.name: row.known_fields for row in _TABLE if row.known_fields is not None}
DOCUMENTED_FIELDS = {row.name: row.documented_fields for row in _TABLE}
ENTITY_READONLY = {row.name: row.readonly for row in _TABLE}
PRESERVED_ON_FULL_UPDATE = {row.name: row.preserved_on_full_update for row in _TABLE if row.preserved_on_full_update}
