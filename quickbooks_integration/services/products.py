"""Items ⇄ products: QBO items pulled into `crm.Product` through the ledger, and CRM products pushed as QBO items.

Owns the `items` sync kind, the pure item ⇄ product mapping, `products_apply` (the one writer of QBO items onto
products: pull pages, CDC, pushes and webhooks all go through it) and `products_push`. Transport is
`qbo/client.py`, the ledger `mirror.py`; no database transaction is held across a QBO call (STYLE §2).

Decisions, and why:

1. **Category and Group items stay in the ledger, not in `Product`.** They group or bundle sellable items and cannot
   go on a sales line (QBO refuses a Category `ItemRef`), and `Product` has neither a category type nor a parent: a
   Product row would be offered on quotes. Their JSON is kept in `QuickBooksSync` (`local_id` empty), and a sub-item
   keeps its category in its own `ParentRef` there.
2. **QBO wins on a pulled item**: every field of the plan, and the Name as QBO spells it (a deactivated item reads
   "Pump (deleted)", API.md §3.4, and gets its name back when reactivated). An unlinked CRM product with the same
   name (QBO item names are unique, case-insensitively) is taken as that item instead of being duplicated. A name
   another linked product already holds (two deactivated "X (deleted)") gets " [QBO item 12]": `Product.name` is
   unique.
3. **Full import, then CDC.** COUNT of every item, active or not (inactive ones are hidden unless the WHERE clause
   names `Active`, API.md §3.4), then pages of 1000 `ORDERBY Id` (API.md §3.2): COUNT + ceil(N/1000) calls, no
   trailing empty page. Later runs ask CDC for what changed since the last good run's start, minus a margin, with the
   UTC offset written out (python-quickbooks drops a datetime's offset and QBO reads a naive time in the company's
   zone, API.md §5); a window past 30 days, or an answer at CDC's 1000-object cap, falls back to a full import.
   Items changed while a full import pages are caught by the next CDC, which starts before it.
4. **Push creates Service (or NonInventory) items**; an Inventory item needs a start quantity, date and asset
   account that the CRM does not own. `IncomeAccountRef` is required: the product's own account (id, or name looked
   up), else the company's "Services" / "Sales of Product Income" income account, read with one Account query per
   push. Each create's `requestid` is stored before the first attempt (an `item.push_requested` AuditEvent on the
   product, as `customer_push.py` does) and reused until QBO answers definitively (`item.push`), so a double click,
   a timeout or a crash replays the first answer instead of making a second item; a batch (≤ 30 items, API.md §6)
   shares one requestid and numbers its items. On 6240 (duplicate name) the item of that name is read: the same
   product (type, price and description agree, linked to no other product) is linked, anything else is a failure row.
"""

from __future__ import annotations

import json
import logging
import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models.functions import Lower
from django.utils import timezone

from crm.models import ItemType, Product
from crm.models.base import QUANTITY, UNIT_PRICE, quantize_decimal_fields

from ..models import AuditEvent, QuickBooksAuth, QuickBooksSync, SyncFailure, SyncRun
from ..qbo.client import BATCH_MAX_ITEMS, qbo_batch, qbo_count, qbo_get, qbo_query
from ..qbo.errors import (
    DuplicateNameError,
    NotFoundError,
    QuickBooksError,
    QuickBooksValidationError,
    StaleObjectError,
    error_from_response,
)
from ..qbo.tokens import connection_load
from .audit import audit_record
from .failures import failure_record, failure_resolve, failure_retry_register
from .imports import PAGE_SIZE, cdc_pull, import_mode_choose
from .mirror import mirror_apply, mirror_link, mirror_mark_error
from .runs import RunContext, sync_kind_register, sync_run_execute, sync_run_queue
from .webhooks import webhook_entity_register

logger = logging.getLogger(__name__)

KIND = "items"
ITEM = "Item"
ALL_ITEMS = "Active IN (true, false)"  # inactive items are hidden unless Active is named (API.md §3.4)
SELECT_ITEMS = "SELECT *, Sku FROM Item"  # Sku only comes back when named (API.md §2.4, python-quickbooks 0.9.12)
PUSH_PERMISSION = "quickbooks_integration.push_to_quickbooks"
KIND_PUSH = "item_push"
KIND_PULL = "item_pull"
REQUESTED = "item.push_requested"
ANSWERED = "item.push"
PRODUCT_LABEL = Product._meta.label

SELLABLE_TYPES = {"Service": ItemType.SERVICE, "NonInventory": ItemType.NON_INVENTORY, "Inventory": ItemType.INVENTORY}
PUSH_TYPES = {ItemType.SERVICE: "Service", ItemType.NON_INVENTORY: "NonInventory"}
# The income account a pushed item gets when its product names none: the sandbox's own accounts (API.md §9).
DEFAULT_INCOME_ACCOUNTS = {
    ItemType.SERVICE: ("Services", "Sales of Product Income"),
    ItemType.NON_INVENTORY: ("Sales of Product Income", "Services"),
}
INCOME_TYPES = {"Income", "Other Income"}
EXPENSE_TYPES = {"Cost of Goods Sold", "Expense", "Other Expense"}
NAME_MAX = 100  # Item.Name ≤ 100 (API.md §4.2)
DESCRIPTION_MAX = 4000
NAME_FORBIDDEN = (":", "\t", "\n")  # ":" separates a sub-item from its parent in FullyQualifiedName
APPLIED_FIELDS = [
    "name",
    "description",
    "item_type",
    "unit_price",
    "cost",
    "quantity_on_hand",
    "reorder_point",
    "taxable",
    "active",
    "sku",
    "income_account",
    "income_account_id",
    "expense_account",
    "expense_account_id",
    "quickbooks_item_id",
    "quickbooks_sync_token",
    "last_synced_at",
    "updated_at",
]
STAT_KEYS = ("items", "created", "updated", "deactivated", "groupings", "failed", "unchanged", "api_minimum")


# ---------------------------------------------------------------------------------------------------- mapping


class NotSellableError(ValueError):
    """A Category or Group item: it groups or bundles products and is not one (decision 1 of the module)."""


def item_is_sellable(item: Mapping[str, Any]) -> bool:
    return item.get("Type") in SELLABLE_TYPES


def _decimal(value: Any, places: int) -> Decimal | None:
    """QBO number → Decimal at the column's places, half-up; python-quickbooks hands Decimals, ints or strings."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, float):
        value = repr(value)
    try:
        return Decimal(str(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    except InvalidOperation:
        raise ValueError(f"not a number: {value!r}") from None


def _ref(item: Mapping[str, Any], key: str) -> tuple[str, str]:
    ref = item.get(key)
    if not isinstance(ref, Mapping):
        return "", ""
    return str(ref.get("name") or "").strip(), str(ref.get("value") or "").strip()


def product_fields_from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """The plan's Product fields for one sellable QBO item (pure: no database, input untouched).

    Prices and costs keep `UnitPrice`/`PurchaseCost`'s own precision (5 places, like QBO's unit prices), rounded
    half-up; the quantity on hand only for items that track it. Raises `NotSellableError` for Category and Group.
    """
    item_type = item.get("Type")
    if item_type not in SELLABLE_TYPES:
        raise NotSellableError(f"QBO item {item.get('Id')} is a {item_type or 'typeless'} item, not a product")
    income_name, income_id = _ref(item, "IncomeAccountRef")
    expense_name, expense_id = _ref(item, "ExpenseAccountRef")
    tracks = bool(item.get("TrackQtyOnHand"))
    unit_price = _decimal(item.get("UnitPrice"), UNIT_PRICE["decimal_places"])
    return {
        "name": str(item.get("Name") or "").strip()[:NAME_MAX],
        "description": str(item.get("Description") or "").strip(),
        "item_type": SELLABLE_TYPES[item_type],
        "unit_price": unit_price if unit_price is not None else Decimal("0.00000"),
        "cost": _decimal(item.get("PurchaseCost"), UNIT_PRICE["decimal_places"]),
        "quantity_on_hand": _decimal(item.get("QtyOnHand"), QUANTITY["decimal_places"]) if tracks else None,
        "reorder_point": _decimal(item.get("ReorderPoint"), QUANTITY["decimal_places"]) if tracks else None,
        "taxable": bool(item.get("Taxable")),
        "active": item.get("Active", True) is not False,
        "sku": str(item.get("Sku") or "").strip()[:100],
        "income_account": income_name[:100],
        "income_account_id": income_id[:50],
        "expense_account": expense_name[:100],
        "expense_account_id": expense_id[:50],
        "quickbooks_item_id": str(item["Id"]),
        "quickbooks_sync_token": str(item.get("SyncToken") or ""),
    }


def _wire(value: Decimal) -> Decimal:
    """A Decimal as QBO writes it: 75.00000 → 75, 22.50000 → 22.5 (never "1E+2")."""
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


def item_payload_from_product(
    product: Product, *, income_account: Mapping[str, str], expense_account: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The create body of a Service/NonInventory item for `product` (API.md §4.2; IncomeAccountRef is required)."""
    payload: dict[str, Any] = {
        "Name": product.name,
        "Type": PUSH_TYPES[product.item_type],
        "UnitPrice": _wire(Decimal(product.unit_price)),
        "Taxable": bool(product.taxable),
        "TrackQtyOnHand": False,
        "IncomeAccountRef": dict(income_account),
    }
    if product.description:
        payload["Description"] = product.description[:DESCRIPTION_MAX]
    if product.sku:
        payload["Sku"] = product.sku
    if product.cost is not None:
        payload["PurchaseCost"] = _wire(Decimal(product.cost))
    if expense_account:
        payload["ExpenseAccountRef"] = dict(expense_account)
    return payload


# ---------------------------------------------------------------------------------------------------- apply


@dataclass
class ApplyResult:
    """What one `products_apply` did; `linked` maps each applied QBO item id to its product's pk."""

    created: int = 0
    updated: int = 0
    deactivated: int = 0
    groupings: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    linked: dict[str, int] = field(default_factory=dict)

    def add_to(self, stats: dict[str, Any]) -> dict[str, Any]:
        for key, value in (
            ("created", self.created),
            ("updated", self.updated),
            ("deactivated", self.deactivated),
            ("groupings", self.groupings),
            ("failed", len(self.failed)),
        ):
            stats[key] = stats.get(key, 0) + value
        return stats


def _free_name(name: str, *, item_id: str, taken: set[str]) -> str:
    """`name`, or `name [QBO item 12]` when another product holds it (Product.name is unique)."""
    if name not in taken:
        return name
    suffix = f" [QBO item {item_id}]"
    return name[: NAME_MAX - len(suffix)] + suffix


def _namesake(namesakes: Sequence[Product], name: str, claimed: set[int]) -> Product | None:
    """An unlinked product with this name (QBO compares names case-insensitively): exact first, else the only one."""
    free = [p for p in namesakes if not p.quickbooks_item_id and p.pk not in claimed]
    exact = [p for p in free if p.name == name]
    if exact:
        return exact[0]
    folded = [p for p in free if p.name.casefold() == name.casefold()]
    return folded[0] if len(folded) == 1 else None


def products_apply(
    *,
    connection: QuickBooksAuth,
    entries: Sequence[QuickBooksSync],
    targets: Mapping[str, Product] | None = None,
) -> ApplyResult:
    """Write changed ledger items onto products (create, update, deactivate) and link the ledger rows to them.

    Call inside the transaction of `mirror_apply` with its changed rows. A fixed number of queries whatever the page
    size; an item whose values the CRM refuses (a price past its limit) marks its ledger row and gets a failure row
    instead of failing the page. `targets` names the product an item belongs to when the caller knows (a push).
    """
    result = ApplyResult()
    now = timezone.now()
    targets = dict(targets or {})
    sellable: list[QuickBooksSync] = []
    gone: list[QuickBooksSync] = []
    for entry in entries:
        if entry.deleted_at is not None:
            gone.append(entry)
        elif item_is_sellable(entry.payload or {}):
            sellable.append(entry)
        else:
            result.groupings += 1
    ids = [entry.entity_id for entry in [*sellable, *gone]]
    if not ids:
        return result
    linked = {p.quickbooks_item_id: p for p in Product.objects.filter(quickbooks_item_id__in=ids)}
    linked.update(targets)
    fields_by_id = {}
    for entry in sellable:
        try:
            fields_by_id[entry.entity_id] = product_fields_from_item(entry.payload)
        except ValueError as exc:  # a number QBO should never send
            result.failed[entry.entity_id] = str(exc)
    sellable = [entry for entry in sellable if entry.entity_id in fields_by_id]
    folded = {fields["name"].casefold() for fields in fields_by_id.values()}
    namesakes = list(Product.objects.annotate(folded=Lower("name")).filter(folded__in=[n.lower() for n in folded]))
    namesakes = [p for p in namesakes if p.name.casefold() in folded]
    claimed = {p.pk for p in linked.values() if p.pk}
    taken = {p.name for p in namesakes}
    created: list[Product] = []
    updated: list[Product] = []
    adopted: list[Product] = []
    for entry in sellable:
        fields = fields_by_id[entry.entity_id]
        product = linked.get(entry.entity_id)
        if product is None:
            product = _namesake(namesakes, fields["name"], claimed)
            if product is not None:
                adopted.append(product)
        is_new = product is None
        product = product or Product()
        if product.pk:
            claimed.add(product.pk)
        own_name = product.name if product.pk else None
        name = _free_name(fields["name"], item_id=entry.entity_id, taken=taken - {own_name} if own_name else taken)
        for key, value in {**fields, "name": name, "last_synced_at": now, "updated_at": now}.items():
            setattr(product, key, value)
        try:
            quantize_decimal_fields(product)
            product.clean_fields(exclude=["created_at", "updated_at"])
        except ValidationError as exc:
            result.failed[entry.entity_id] = "; ".join(
                f"{key}: {' '.join(errors)}" for key, errors in exc.message_dict.items()
            )
            if product in adopted:
                adopted.remove(product)
            continue
        taken.add(name)
        (created if is_new else updated).append(product)
    deactivated = []
    for entry in gone:
        product = linked.get(entry.entity_id)
        if product is not None and product.active:
            product.active = False
            product.last_synced_at = now
            product.updated_at = now
            deactivated.append(product)
    Product.objects.bulk_create(created)
    if created and created[0].pk is None:  # backends without RETURNING ids on bulk insert
        pks = dict(
            Product.objects.filter(quickbooks_item_id__in=[p.quickbooks_item_id for p in created]).values_list(
                "quickbooks_item_id", "pk"
            )
        )
        for product in created:
            product.pk = pks[product.quickbooks_item_id]
    Product.objects.bulk_update(updated, APPLIED_FIELDS)
    Product.objects.bulk_update(deactivated, ["active", "last_synced_at", "updated_at"])
    result.created, result.updated, result.deactivated = len(created), len(updated), len(deactivated)
    result.linked = {p.quickbooks_item_id: p.pk for p in [*created, *updated]}
    result.linked.update({entry.entity_id: linked[entry.entity_id].pk for entry in gone if entry.entity_id in linked})
    mirror_link(connection=connection, entity_type=ITEM, links=result.linked)
    for product in adopted:
        audit_record(
            action="item.link",
            obj=product,
            after={"connection": connection.pk, "quickbooks_item_id": product.quickbooks_item_id},
            message=f"linked by name to QuickBooks item {product.quickbooks_item_id}",
        )
    _pull_failures_note(connection=connection, result=result)
    return result


def _pull_key(connection: QuickBooksAuth, item_id: str) -> str:
    return f"{KIND_PULL}:{connection.pk}:{item_id}"


def _pull_failures_note(*, connection: QuickBooksAuth, result: ApplyResult) -> None:
    """Failure rows for the items the CRM refused; the open ones of items now applied are resolved."""
    for item_id, reason in result.failed.items():
        mirror_mark_error(connection=connection, entity_type=ITEM, entity_ids=[item_id], message=reason)
        failure_record(
            kind=KIND_PULL,
            key=_pull_key(connection, item_id),
            direction=SyncFailure.Direction.PULL,
            error=QuickBooksValidationError(f"QuickBooks item {item_id} does not fit the CRM's product: {reason}"),
            connection_id=connection.pk,
            entity_type=ITEM,
            entity_id=item_id,
            retry_args={"connection_id": connection.pk, "item_id": item_id},
        )
    keys = [_pull_key(connection, item_id) for item_id in result.linked]
    if keys:
        for key in SyncFailure.objects.filter(key__in=keys, resolved_at__isnull=True).values_list("key", flat=True):
            failure_resolve(key=key, resolution="applied by a later sync")


def items_apply(*, connection: QuickBooksAuth, rows: Sequence[Mapping[str, Any]]) -> ApplyResult:
    """Ledger and products for QBO items read anywhere (a page, CDC, a webhook's re-read), in one transaction."""
    with transaction.atomic():
        mirrored = mirror_apply(connection=connection, entity_type=ITEM, rows=rows)
        return products_apply(connection=connection, entries=mirrored.changed)


@webhook_entity_register(ITEM)
def _items_from_webhooks(
    connection: QuickBooksAuth, rows: Sequence[Mapping[str, Any]], deleted_ids: Sequence[str]
) -> None:
    """Webhook re-reads of items onto products: the webhook service has already put the newer copies (and the
    stubs of items QBO no longer returns) in the ledger, inside the transaction this runs in."""
    ids = [str(row["Id"]) for row in rows] + [str(entity_id) for entity_id in deleted_ids]
    entries = list(QuickBooksSync.objects.filter(connection=connection, entity_type=ITEM, entity_id__in=ids))
    products_apply(connection=connection, entries=entries)


@failure_retry_register(KIND_PULL)
def _pull_retry(failure: SyncFailure) -> str:
    """Apply the ledger's copy of the item again (the cause may have been a CRM product that is now fixed)."""
    entry = QuickBooksSync.objects.get(
        connection_id=failure.retry_args["connection_id"], entity_type=ITEM, entity_id=failure.retry_args["item_id"]
    )
    with transaction.atomic():
        result = products_apply(connection=entry.connection, entries=[entry])
    if result.failed:
        return f"item {entry.entity_id}: {result.failed[entry.entity_id]}"
    return f"item {entry.entity_id} applied"


# ---------------------------------------------------------------------------------------------------- the items sync


def items_import_run(*, connection_id: int, full: bool = False) -> SyncRun | None:
    """Run the items sync inline (the command): resume the newest unfinished run or start one; `full` starts a new
    full import. Returns the run, or None when another worker holds it."""
    if full:
        run = sync_run_queue(connection_id=connection_id, kind=KIND)
        SyncRun.objects.filter(pk=run.pk).update(cursor={"full": True})
    return sync_run_execute(connection_id=connection_id, kind=KIND)


@sync_kind_register(KIND)
def items_sync(run: RunContext) -> None:
    """The `items` sync: a full import the first time (or on request), CDC afterwards; see the module docstring."""
    cursor = dict(run.cursor)
    if "mode" not in cursor:
        cursor = import_mode_choose(run, kind=KIND)
        run.stats = dict.fromkeys(STAT_KEYS, 0)
    if cursor["mode"] == "cdc" and cursor.get("step") == "pull":
        cursor = _cdc_pull(run, cursor)
    if cursor["mode"] == "full" and cursor.get("step") in ("count", "pages"):
        cursor = _full_pull(run, cursor)
    stats = dict(run.stats)
    stats["api_calls"] = SyncRun.objects.values_list("api_calls", flat=True).get(pk=run.run.pk)
    stats.pop("progress", None)
    with transaction.atomic():
        run.checkpoint(cursor={**cursor, "step": "done"}, stats=stats)


def _page_sql(start: int) -> str:
    return f"{SELECT_ITEMS} WHERE {ALL_ITEMS} ORDERBY Id STARTPOSITION {start} MAXRESULTS {PAGE_SIZE}"  # noqa: S608  # nosec B608 (QBO's query language, constants only)


def _full_pull(run: RunContext, cursor: dict[str, Any]) -> dict[str, Any]:
    """COUNT, then page by page; each page and its checkpoint commit together (a rerun continues at the next)."""
    connection = run.connection
    if cursor.get("step") == "count":
        total = qbo_count(connection=connection, entity=ITEM, where=ALL_ITEMS)
        pages = math.ceil(total / PAGE_SIZE)
        cursor = {**cursor, "step": "pages", "total": total, "pages": pages, "page": 1}
        stats = {**run.stats, "api_minimum": run.stats.get("api_minimum", 0) + 1 + pages}
        with transaction.atomic():
            run.checkpoint(cursor=cursor, stats=stats, progress=f"page 0 of {pages}")
    pages = int(cursor["pages"])
    for page in range(int(cursor["page"]), pages + 1):
        envelope = qbo_get(connection=connection, path="query", params={"query": _page_sql((page - 1) * PAGE_SIZE + 1)})
        rows = (envelope.get("QueryResponse") or {}).get(ITEM) or []
        with transaction.atomic():
            mirrored = mirror_apply(connection=connection, entity_type=ITEM, rows=rows)
            stats = products_apply(connection=connection, entries=mirrored.changed).add_to(dict(run.stats))
            stats["items"] = stats.get("items", 0) + len(rows)
            stats["unchanged"] = stats.get("unchanged", 0) + mirrored.unchanged
            cursor = {**cursor, "page": page + 1}
            run.checkpoint(cursor=cursor, stats=stats, progress=f"page {page} of {pages}")
        if len(rows) < PAGE_SIZE:  # fewer items than counted: nothing after this page
            break
    return {**cursor, "step": "done"}


def _cdc_pull(run: RunContext, cursor: dict[str, Any]) -> dict[str, Any]:
    def apply(rows: list[dict], stats: dict[str, Any]) -> dict[str, Any]:
        mirrored = mirror_apply(connection=run.connection, entity_type=ITEM, rows=rows)
        stats = products_apply(connection=run.connection, entries=mirrored.changed).add_to(stats)
        stats["items"] = stats.get("items", 0) + len(rows)
        stats["unchanged"] = stats.get("unchanged", 0) + mirrored.unchanged
        return stats

    return cdc_pull(run, entity=ITEM, cursor=cursor, apply=apply, next_step="done")


# ---------------------------------------------------------------------------------------------------- push


@dataclass(frozen=True)
class PushOutcome:
    """One product's result: created, linked (to the item of its name), skipped (not sent) or failed."""

    product_id: int
    status: str
    item_id: str = ""
    message: str = ""


@dataclass
class PushResult:
    outcomes: list[PushOutcome] = field(default_factory=list)

    def of(self, status: str) -> list[PushOutcome]:
        return [outcome for outcome in self.outcomes if outcome.status == status]


@dataclass(frozen=True)
class PushRequest:
    """A create's requestid as stored before the first attempt, and its item number in the batch."""

    request_id: str
    bid: str


def _permission_check(actor) -> None:
    """`actor=None` is the system (a retry the failures page already authorised, a task)."""
    if actor is not None and not actor.has_perm(PUSH_PERMISSION):
        audit_record(
            action="item.push_denied", actor=actor, outcome=AuditEvent.Outcome.FAILURE, message="no permission"
        )
        raise PermissionDenied("You may not create items in QuickBooks.")


def _refusal(product: Product) -> str:
    """Why a product is not sent at all (nothing to fix in QBO), or ""."""
    if product.quickbooks_item_id:
        return f"already in QuickBooks (item {product.quickbooks_item_id})"
    if not product.active:
        return "inactive products are not pushed"
    if product.item_type not in PUSH_TYPES:
        return "inventory items are created in QuickBooks (they need a start quantity, date and asset account)"
    if not product.name.strip() or any(char in product.name for char in NAME_FORBIDDEN):
        return "a QuickBooks item name cannot be empty or hold ':', a tab or a line break"
    return ""


@dataclass
class _Accounts:
    """The company's active accounts, read once per push (one query), by lower-cased Name and FullyQualifiedName."""

    by_name: dict[str, list[dict]] = field(default_factory=dict)

    @classmethod
    def load(cls, connection: QuickBooksAuth) -> _Accounts:
        accounts = cls()
        for account in qbo_query(connection=connection, sql="SELECT * FROM Account ORDERBY Id"):
            for key in {str(account.get("Name") or ""), str(account.get("FullyQualifiedName") or "")} - {""}:
                accounts.by_name.setdefault(key.casefold(), []).append(account)
        return accounts

    def find(self, name: str, types: set[str]) -> dict[str, str] | None:
        for account in self.by_name.get(name.strip().casefold(), []):
            if account.get("AccountType") in types:
                return {"value": str(account["Id"]), "name": str(account.get("Name") or name)}
        return None


def _accounts_for(product: Product, accounts: _Accounts) -> tuple[dict[str, str], dict[str, str] | None]:
    """IncomeAccountRef (required for Service, API.md §4.2) and ExpenseAccountRef; ValueError says what is missing."""
    if product.income_account_id:
        income = {"value": product.income_account_id, "name": product.income_account or product.income_account_id}
    elif product.income_account:
        income = accounts.find(product.income_account, INCOME_TYPES)
        if income is None:
            raise ValueError(f"QuickBooks has no active income account named {product.income_account!r}")
    else:
        names = DEFAULT_INCOME_ACCOUNTS[product.item_type]
        income = next((found for name in names if (found := accounts.find(name, INCOME_TYPES))), None)
        if income is None:
            raise ValueError(f"QuickBooks has no income account named {' or '.join(names)}: set the product's")
    expense = None
    if product.expense_account_id:
        expense = {"value": product.expense_account_id, "name": product.expense_account or product.expense_account_id}
    elif product.expense_account:
        expense = accounts.find(product.expense_account, EXPENSE_TYPES)
        if expense is None:
            raise ValueError(f"QuickBooks has no active expense account named {product.expense_account!r}")
    return income, expense


def push_request_pending(*, connection: QuickBooksAuth, product_id: int) -> PushRequest | None:
    """The product's create request QBO never answered for sure (a timeout, a crash, a lost batch), if any."""
    event = (
        AuditEvent.objects.filter(
            object_type=PRODUCT_LABEL,
            object_id=str(product_id),
            action__in=[REQUESTED, ANSWERED],
            after__connection=connection.pk,
        )
        .order_by("-id")
        .first()
    )
    if event is None or event.action != REQUESTED:
        return None
    return PushRequest(str(event.after.get("request_id", "")), str(event.after.get("bid", "")))


def _requests_store(*, connection: QuickBooksAuth, products: Sequence[Product], actor) -> dict[int, PushRequest]:
    """Store (or reuse, while unanswered) each product's requestid before anything is sent.

    The products are locked for the moment it takes, so two clicks share one requestid and QBO makes one item. New
    requests are cut into batches of ≤ 30 (API.md §6), each with its own requestid (≤ 36 chars) and bIds p0…p29.
    """
    stored: dict[int, PushRequest] = {}
    with transaction.atomic():
        list(Product.objects.select_for_update().filter(pk__in=[p.pk for p in products]).values_list("pk"))
        fresh = []
        for product in products:
            pending = push_request_pending(connection=connection, product_id=product.pk)
            if pending is not None:
                stored[product.pk] = pending
            else:
                fresh.append(product)
        for start in range(0, len(fresh), BATCH_MAX_ITEMS):
            batch_id = uuid.uuid4().hex
            for index, product in enumerate(fresh[start : start + BATCH_MAX_ITEMS]):
                request = PushRequest(request_id=batch_id, bid=f"p{index}")
                audit_record(
                    action=REQUESTED,
                    actor=actor,
                    obj=product,
                    after={
                        "connection": connection.pk,
                        "request_id": batch_id,
                        "bid": request.bid,
                        "name": product.name,
                    },
                    message=f"requestid {batch_id} item {request.bid}",
                )
                stored[product.pk] = request
    return stored


def _definitive(error: BaseException) -> bool:
    """QBO looked at the request and refused it (a 400 fault): repeating the requestid would only replay that."""
    return isinstance(error, (QuickBooksValidationError, DuplicateNameError, NotFoundError, StaleObjectError))


def _answered(*, connection, product: Product, actor, request: PushRequest, item_id: str = "", error=None) -> None:
    """QBO answered this request for sure: the next attempt gets a new requestid."""
    audit_record(
        action=ANSWERED,
        actor=actor,
        obj=product,
        after={"connection": connection.pk, "request_id": request.request_id, "quickbooks_item_id": item_id},
        outcome=AuditEvent.Outcome.FAILURE if error is not None else AuditEvent.Outcome.SUCCESS,
        message=str(error) if error is not None else f"QuickBooks item {item_id}",
    )


def _push_key(connection: QuickBooksAuth, product_id: int) -> str:
    return f"{KIND_PUSH}:{connection.pk}:product:{product_id}"


def _failed(*, connection, product: Product, actor, error: BaseException, request: PushRequest | None) -> PushOutcome:
    """A failure row with QBO's words; the request stays pending when QBO's answer was not definitive."""
    if request is not None and _definitive(error):
        _answered(connection=connection, product=product, actor=actor, request=request, error=error)
    failure_record(
        kind=KIND_PUSH,
        key=_push_key(connection, product.pk),
        direction=SyncFailure.Direction.PUSH,
        error=error,
        connection_id=connection.pk,
        entity_type=ITEM,
        obj=product,
        request_id=request.request_id if request is not None else "",
        retry_args={"connection_id": connection.pk, "product_id": product.pk},
    )
    return PushOutcome(product.pk, "failed", message=str(getattr(error, "message", "") or error))


class _NotApplied(Exception):
    """The CRM refused QBO's copy of the item (rolls the link back)."""


def _linked(*, connection, product: Product, actor, request: PushRequest, item: Mapping, status: str) -> PushOutcome:
    """Keep QBO's item in the ledger, write it onto the product (linking it) and close the request and failure."""
    item_id = str(item["Id"])
    try:
        with transaction.atomic():
            mirrored = mirror_apply(connection=connection, entity_type=ITEM, rows=[item])
            entries = mirrored.changed or list(
                QuickBooksSync.objects.filter(connection=connection, entity_type=ITEM, entity_id=item_id)
            )
            applied = products_apply(connection=connection, entries=entries, targets={item_id: product})
            if item_id in applied.failed:
                raise _NotApplied(applied.failed[item_id])
            _answered(connection=connection, product=product, actor=actor, request=request, item_id=item_id)
    except _NotApplied as exc:
        error = QuickBooksValidationError(f"QuickBooks item {item_id} was made but the CRM refused it: {exc}")
        _answered(connection=connection, product=product, actor=actor, request=request, item_id=item_id, error=error)
        return _failed(connection=connection, product=product, actor=actor, error=error, request=None)
    failure_resolve(key=_push_key(connection, product.pk), resolution=f"{status} QuickBooks item {item_id}")
    return PushOutcome(product.pk, status, item_id=item_id)


def _fault(answer: Mapping[str, Any]) -> QuickBooksError:
    """A batch item's Fault as the typed error its code maps to (the batch itself answered 200, API.md §6)."""
    return error_from_response(status=400, body=json.dumps({"Fault": answer["Fault"]}, default=str))


def _same_item(product: Product, payload: Mapping[str, Any], item: Mapping[str, Any]) -> bool:
    """The item QBO holds under this name is this product (our lost create, or the same thing made by hand)."""
    if Product.objects.filter(quickbooks_item_id=str(item.get("Id"))).exclude(pk=product.pk).exists():
        return False
    price = _decimal(item.get("UnitPrice"), UNIT_PRICE["decimal_places"]) or Decimal(0)
    return (
        item.get("Type") == payload["Type"]
        and price == Decimal(product.unit_price)
        and str(item.get("Description") or "").strip() == str(payload.get("Description") or "").strip()
    )


def _quoted(name: str) -> str:
    return "'" + name.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _duplicates_resolve(
    *, connection, actor, duplicates: list[tuple[Product, dict, PushRequest, QuickBooksError]]
) -> list[PushOutcome]:
    """6240: read the items of those names (one query) and link each product to its own; the rest fail."""
    names = sorted({product.name for product, *_ in duplicates})
    sql = f"{SELECT_ITEMS} WHERE Name IN ({', '.join(_quoted(n) for n in names)})"  # noqa: S608  # nosec B608 (QBO query, quoted)
    try:
        found = {str(item.get("Name") or "").casefold(): item for item in qbo_query(connection=connection, sql=sql)}
    except QuickBooksError as error:
        return [
            _failed(connection=connection, product=p, actor=actor, error=error, request=r) for p, _, r, _ in duplicates
        ]
    outcomes = []
    for product, payload, request, error in duplicates:
        item = found.get(product.name.casefold())
        if item is not None and _same_item(product, payload, item):
            outcomes.append(
                _linked(
                    connection=connection, product=product, actor=actor, request=request, item=item, status="linked"
                )
            )
            continue
        if item is not None:
            error.message = (
                f"QuickBooks already has an item named {item.get('Name')!r} (item {item.get('Id')}, "
                f"{item.get('Type')}, {item.get('UnitPrice')}) that is not this product: rename one of them"
            )
        outcomes.append(_failed(connection=connection, product=product, actor=actor, error=error, request=request))
    return outcomes


def _batch_send(
    *, connection, actor, request_id: str, members: list[tuple[Product, dict, PushRequest]]
) -> list[PushOutcome]:
    """One batch call; each item answered on its own (API.md §6): created, 6240 looked up, anything else failed."""
    items = [{"bId": request.bid, "operation": "create", ITEM: payload} for _, payload, request in members]
    try:
        answers = qbo_batch(connection=connection, items=items, request_id=request_id)
    except QuickBooksError as error:
        return [_failed(connection=connection, product=p, actor=actor, error=error, request=r) for p, _, r in members]
    by_bid = {str(answer.get("bId")): answer for answer in answers}
    outcomes: list[PushOutcome] = []
    duplicates = []
    for product, payload, request in members:
        answer = by_bid.get(request.bid)
        if answer is not None and ITEM in answer:
            outcomes.append(
                _linked(
                    connection=connection,
                    product=product,
                    actor=actor,
                    request=request,
                    item=answer[ITEM],
                    status="created",
                )
            )
        elif answer is not None and "Fault" in answer:
            error = _fault(answer)
            if isinstance(error, DuplicateNameError):
                duplicates.append((product, payload, request, error))
            else:
                outcomes.append(
                    _failed(connection=connection, product=product, actor=actor, error=error, request=request)
                )
        else:  # a replayed batch that never held this item: that request is spent, the next push sends a new one
            error = QuickBooksValidationError("QuickBooks' answer to this item's earlier request did not include it")
            outcomes.append(_failed(connection=connection, product=product, actor=actor, error=error, request=request))
    if duplicates:
        outcomes += _duplicates_resolve(connection=connection, actor=actor, duplicates=duplicates)
    return outcomes


def products_push(*, connection: QuickBooksAuth, products: Iterable[Product], actor) -> PushResult:
    """Create QBO items for CRM products and link them; returns one outcome per product.

    Rechecks `push_to_quickbooks` (the admin only hides the action). Products that cannot be sent are skipped with
    the reason; the others go in batches of ≤ 30 with stored requestids (see the module docstring).
    """
    _permission_check(actor)
    result = PushResult()
    products = list(Product.objects.filter(pk__in=[p.pk for p in products]).order_by("pk"))
    ready = []
    for product in products:
        reason = _refusal(product)
        if reason:
            result.outcomes.append(
                PushOutcome(product.pk, "skipped", item_id=product.quickbooks_item_id or "", message=reason)
            )
        else:
            ready.append(product)
    if not ready:
        return result
    lookups = [p for p in ready if not p.income_account_id or (p.expense_account and not p.expense_account_id)]
    try:
        accounts = _Accounts.load(connection) if lookups else _Accounts()
    except QuickBooksError as error:
        result.outcomes += [
            _failed(connection=connection, product=p, actor=actor, error=error, request=None) for p in ready
        ]
        return result
    payloads: dict[int, dict] = {}
    for product in ready:
        try:
            income, expense = _accounts_for(product, accounts)
        except ValueError as exc:
            result.outcomes.append(PushOutcome(product.pk, "skipped", message=str(exc)))
            continue
        payloads[product.pk] = item_payload_from_product(product, income_account=income, expense_account=expense)
    sendable = [p for p in ready if p.pk in payloads]
    requests = _requests_store(connection=connection, products=sendable, actor=actor)
    batches: dict[str, list[tuple[Product, dict, PushRequest]]] = {}
    for product in sendable:
        request = requests[product.pk]
        batches.setdefault(request.request_id, []).append((product, payloads[product.pk], request))
    for request_id, members in batches.items():
        result.outcomes += _batch_send(connection=connection, actor=actor, request_id=request_id, members=members)
    return result


@failure_retry_register(KIND_PUSH)
def _push_retry(failure: SyncFailure) -> str:
    """Retrying a failed push runs it again now: an unanswered request is replayed with its requestid."""
    connection = connection_load(connection_id=failure.retry_args["connection_id"])
    product = Product.objects.get(pk=failure.retry_args["product_id"])
    outcome = products_push(connection=connection, products=[product], actor=None).outcomes[0]
    return f"{product}: {outcome.status}" + (f" ({outcome.message})" if outcome.message else "")
