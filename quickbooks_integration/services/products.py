"""Items ⇄ products: QBO items pulled into `crm.Product` through the ledger, and CRM products pushed as QBO items.

Owns the `items` sync kind, the pure item ⇄ product mapping, `products_apply` (the one writer of QBO items onto
products: pull pages, CDC, pushes and webhooks all go through it); the push is `products_push.py`. Transport is
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
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models.functions import Lower
from django.utils import timezone

from crm.models import ItemType, Product
from crm.models.base import QUANTITY, UNIT_PRICE, quantize_decimal_fields

from ..models import QuickBooksAuth, QuickBooksSync, SyncFailure, SyncRun
from ..qbo.client import qbo_count, qbo_get
from ..qbo.errors import QuickBooksValidationError
from ..qbo.numbers import qbo_number
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
KIND_PULL = "item_pull"

SELLABLE_TYPES = {"Service": ItemType.SERVICE, "NonInventory": ItemType.NON_INVENTORY, "Inventory": ItemType.INVENTORY}
PUSH_TYPES = {ItemType.SERVICE: "Service", ItemType.NON_INVENTORY: "NonInventory"}
NAME_MAX = 100  # Item.Name ≤ 100 (API.md §4.2)
DESCRIPTION_MAX = 4000
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
    unit_price = qbo_number(item.get("UnitPrice"), UNIT_PRICE["decimal_places"])
    return {
        "name": str(item.get("Name") or "").strip()[:NAME_MAX],
        "description": str(item.get("Description") or "").strip(),
        "item_type": SELLABLE_TYPES[item_type],
        "unit_price": unit_price if unit_price is not None else Decimal("0.00000"),
        "cost": qbo_number(item.get("PurchaseCost"), UNIT_PRICE["decimal_places"]),
        "quantity_on_hand": qbo_number(item.get("QtyOnHand"), QUANTITY["decimal_places"]) if tracks else None,
        "reorder_point": qbo_number(item.get("ReorderPoint"), QUANTITY["decimal_places"]) if tracks else None,
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
