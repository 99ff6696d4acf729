"""Products → items (issue 11): CRM products pushed as QBO items, linked through `products.products_apply`.

Decision, and why:

**Push creates Service (or NonInventory) items**; an Inventory item needs a start quantity, date and asset
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
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction

from crm.models import ItemType, Product
from crm.models.base import UNIT_PRICE

from ..models import AuditEvent, QuickBooksAuth, QuickBooksSync, SyncFailure
from ..qbo.client import BATCH_MAX_ITEMS, qbo_batch, qbo_query
from ..qbo.errors import (
    DuplicateNameError,
    NotFoundError,
    QuickBooksError,
    QuickBooksValidationError,
    StaleObjectError,
    error_from_response,
)
from ..qbo.numbers import qbo_number
from ..qbo.tokens import connection_load
from .audit import audit_record
from .failures import failure_record, failure_resolve, failure_retry_register
from .mirror import mirror_apply
from .products import ITEM, PUSH_TYPES, SELECT_ITEMS, item_payload_from_product, products_apply

PUSH_PERMISSION = "quickbooks_integration.push_to_quickbooks"
KIND_PUSH = "item_push"
REQUESTED = "item.push_requested"
ANSWERED = "item.push"
PRODUCT_LABEL = Product._meta.label
# The income account a pushed item gets when its product names none: the sandbox's own accounts (API.md §9).
DEFAULT_INCOME_ACCOUNTS = {
    ItemType.SERVICE: ("Services", "Sales of Product Income"),
    ItemType.NON_INVENTORY: ("Sales of Product Income", "Services"),
}
INCOME_TYPES = {"Income", "Other Income"}
EXPENSE_TYPES = {"Cost of Goods Sold", "Expense", "Other Expense"}
NAME_FORBIDDEN = (":", "\t", "\n")  # ":" separates a sub-item from its parent in FullyQualifiedName


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
    price = qbo_number(item.get("UnitPrice"), UNIT_PRICE["decimal_places"]) or Decimal(0)
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
