"""Quotes → QBO estimates: create them (30 to a batch call), update them after edits, check their totals.

Owns the estimate payload of a quote (pure functions), the push of one or many quotes, and storing what QBO answered
on the quote: the estimate id, SyncToken, line ids, and the estimate's JSON in the ledger. It never creates QBO
customers (a contact is linked first, through "Create in QuickBooks" on the contact) and never holds a database
transaction across a QBO call (STYLE §2): each batch's answers are written in one short transaction afterwards.

A push is harmless to repeat, in three layers (RELIABILITY C1, issue 11):

1. Every create carries a `requestid` derived from the quote, uuid5(realm, quote pk, generation), so a double click
   or a transport retry sends the same one and QBO replays its first answer. The generation moves on with each
   recorded failed attempt (a retry after the bookkeeper reactivated an item must not replay the old 610) and with
   each of the quote's estimates QBO deleted.
2. A create after any failed attempt (whose outcome may be unknown: a timeout whose create went through) first looks
   the estimate up by the quote's marker, DocNumber = the quote number confirmed by PrivateNote = "CRM-Q-<pk>",
   because QBO has been seen not to honour `requestid` after a timeout. Only retries pay for that read.
3. A quote already linked is updated (sparse, with its SyncToken) only when what it would send differs from QBO's
   last copy in the ledger, so pushing twice changes nothing the second time.

A 5010 (stale SyncToken) re-reads the estimate: when QBO's changes left the fields a push owns (customer, number,
marker, dates, lines) as the ledger last saw them, the update is re-applied on the new SyncToken; otherwise it is a
conflict for a person: a failure row, QBO's copy untouched, the ledger updated to QBO's copy (so pushing again after
review means "the CRM's version wins"). QBO's TotalAmt is compared with the CRM total to the cent after every push;
a difference is an open `estimate_total` failure row and a warning, never accepted silently.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Count, Prefetch, Sum
from django.utils import timezone
from django_q.tasks import async_task

from crm.models import Invoice, Quote, QuoteItem, QuoteStatus
from crm.models.sales import LineItem
from crm.money import ZERO, line_total
from crm.services import document_totals, quote_recalculate

from ..models import AuditEvent, QuickBooksAuth, QuickBooksSync, SyncFailure
from ..qbo.client import BATCH_MAX_ITEMS, qbo_batch, qbo_create, qbo_query, qbo_read, qbo_update
from ..qbo.errors import (
    AuthenticationError,
    NotConnectedError,
    QuickBooksError,
    StaleObjectError,
    TransientError,
    error_from_response,
)
from ..qbo.numbers import qbo_money
from ..qbo.tokens import connection_load
from .audit import audit_record
from .connection import connection_current
from .failures import failure_record, failure_resolve, failure_retry_register
from .mirror import mirror_apply, mirror_link

logger = logging.getLogger(__name__)

ESTIMATE = "Estimate"
PUSH_PERMISSION = "crm.push_estimate"
KIND = "estimate_push"
TOTAL_KIND = "estimate_total"
TASK = "quickbooks_integration.tasks.estimates_push_task"
HEADER_FIELDS = ("DocNumber", "PrivateNote", "TxnDate", "ExpirationDate", "DueDate", "TxnStatus")
# The customer's answer the CRM learned first (by phone, in person) goes to QBO; other statuses are QBO's own
# (Pending by default, Closed once invoiced), so the payload leaves TxnStatus out for them.
PUSHED_STATUS = {QuoteStatus.ACCEPTED: "Accepted", QuoteStatus.DECLINED: "Rejected"}
CLOSED = "Closed"
ESTIMATE_STATUS = {  # QBO's TxnStatus → Quote.status; Pending says nothing new (`quote_status_pulled`)
    "Accepted": QuoteStatus.ACCEPTED,
    "Rejected": QuoteStatus.DECLINED,
    "Closed": QuoteStatus.CONVERTED,
    "Converted": QuoteStatus.CONVERTED,
}
DB_CHUNK = 500  # quotes loaded per query (well below SQLite's variable limit)
_NAMESPACE = uuid.UUID("8f0b6a52-2a47-4d55-9a53-5b8f4f0c1e21")  # of every requestid this CRM derives

CREATED, UPDATED, UNCHANGED, FOUND, FAILED = "created", "updated", "unchanged", "found", "failed"


class SalesPushError(Exception):
    """A quote or invoice cannot be pushed as asked; the message tells staff what to do about it."""


class PushNotAllowedError(SalesPushError):
    """The actor lacks the permission the service requires (checked here, not only in the admin)."""


class CustomerNotLinkedError(SalesPushError):
    """The quote's contact has no QBO customer yet."""


class ItemNotLinkedError(SalesPushError):
    """A line's product has no QBO item."""


class TotalMismatchError(SalesPushError):
    """QBO's TotalAmt differs from the CRM's total (kept as an open failure row until they agree)."""


class TotalsCompared:
    """A document's outcome with QBO's total and the CRM's, when QBO's copy is known (fields of the dataclass)."""

    outcome: str
    qbo_total: Decimal | None
    crm_total: Decimal | None

    @property
    def ok(self) -> bool:
        return self.outcome != FAILED

    @property
    def total_differs(self) -> bool:
        return self.qbo_total is not None and self.crm_total is not None and self.qbo_total != self.crm_total


@dataclass
class PushResult(TotalsCompared):
    """What happened to one quote; `qbo_total`/`crm_total` are set whenever QBO's copy is known."""

    quote: Quote
    outcome: str
    estimate_id: str = ""
    message: str = ""
    qbo_total: Decimal | None = None
    crm_total: Decimal | None = None


@dataclass
class _Plan:
    """One quote's write: the payload, its requestid, and (for updates) QBO's last copy from the ledger."""

    quote: Quote
    items: list[QuoteItem]
    operation: str  # "create" | "update"
    payload: dict[str, Any]
    request_id: str
    lookup: bool = False
    base: Mapping[str, Any] | None = field(default=None, repr=False)

    @property
    def bid(self) -> str:
        return f"q{self.quote.pk}"  # a batch item's bId: ≤ 10 characters when the batch carries a requestid


# ---------------------------------------------------------------------------------------------------- shared helpers


def permission_require(*, actor, permission: str, action: str, obj=None, what: str) -> None:
    """Services re-check the permission themselves (RELIABILITY E2), not only the admin listing the action.

    `actor=None` is the system: a task queued by a permitted user, or a retry the bookkeeper was allowed to start.
    """
    if actor is None:
        return
    if not actor.has_perm(permission):
        audit_record(action=action, actor=actor, obj=obj, outcome=AuditEvent.Outcome.FAILURE, message="denied")
        raise PushNotAllowedError(f"You may not {what}.")


def connection_for_push() -> QuickBooksAuth:
    """The connected company with its tokens, or NotConnectedError before anything is tried."""
    current = connection_current()
    if current is None or current.status != QuickBooksAuth.Status.CONNECTED:
        raise NotConnectedError("QuickBooks is not connected: connect it first (admin › QuickBooks connection).")
    return connection_load(connection_id=current.pk)


def request_id_for(connection: QuickBooksAuth, *parts: object) -> str:
    """A requestid derived from what is written (36 characters: fits QBO's 50, and its 36 for a batch)."""
    return str(uuid.uuid5(_NAMESPACE, ":".join([connection.realm_id, *(str(part) for part in parts)])))


def attempts_failed(keys: Sequence[str]) -> dict[str, int]:
    """Failed attempts ever recorded per failure key (open or resolved): the generation of the next requestid."""
    rows = SyncFailure.objects.filter(key__in=list(keys)).values("key").annotate(n=Sum("attempts")).order_by()
    return {row["key"]: int(row["n"] or 0) for row in rows}


def fault_error(fault: Mapping[str, Any]) -> QuickBooksError:
    """A batch item's Fault as the typed error the same single call would have raised (errors.py's table)."""
    return error_from_response(status=400, body=json.dumps({"Fault": fault}, default=str))


def error_text(error: BaseException) -> str:
    """QBO's own words for staff: its code and detail (or message)."""
    if isinstance(error, QuickBooksError) and error.code:
        return f"QuickBooks error {error.code}: {error.detail or error.message}"
    return str(error) or type(error).__name__


def sales_lines(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The item lines of an estimate or invoice, in order (QBO adds a SubTotal line, and may hold discounts)."""
    return [line for line in data.get("Line") or [] if line.get("DetailType") == "SalesItemLineDetail"]


def qbo_escape(value: str) -> str:
    """A value inside a quoted QBO query literal: `'` is written `\\'` (API.md §3.2)."""
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _plain(value: Decimal) -> Decimal:
    """475.00000 → 475 and 1.5000 → 1.5: the columns keep 4–5 places, QBO shows what it is sent."""
    value = Decimal(value)
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


def _decimal(value: Any) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else ZERO


def _ref(value: Any) -> str:
    return str(value.get("value") or "") if isinstance(value, Mapping) else ""


def line_payloads(
    lines: Sequence[LineItem], *, tax_exempt: bool, document: object, line_ids: bool = False
) -> list[dict[str, Any]]:
    """SalesItemLineDetail lines: ItemRef, Qty, UnitPrice, Amount = q(Qty × UnitPrice) (QBO checks it, 6070),
    TaxCodeRef TAX/NON (NON for every line of a tax-exempt contact, as the CRM taxes nothing then), Description.
    With `line_ids` (an update) a line keeps its QBO Line.Id, so QBO edits it in place."""
    payloads = []
    for index, line in enumerate(lines, 1):
        product = line.product
        if product is None or not product.quickbooks_item_id:
            name = product.name if product is not None else (line.description or "no product")
            raise ItemNotLinkedError(
                f"{document}: line {index} ({name}) is not linked to a QuickBooks item; choose a product that is "
                "(items come from QuickBooks, or push the product as a QuickBooks item first)."
            )
        payload: dict[str, Any] = {
            "DetailType": "SalesItemLineDetail",
            "Amount": line_total(line.quantity, line.unit_price),
            "Description": (line.description or product.name)[:4000],
            "SalesItemLineDetail": {
                "ItemRef": {"value": product.quickbooks_item_id},
                "Qty": _plain(line.quantity),
                "UnitPrice": _plain(line.unit_price),
                "TaxCodeRef": {"value": "TAX" if line.taxable and not tax_exempt else "NON"},
            },
        }
        if line_ids and line.quickbooks_line_id:
            payload = {"Id": line.quickbooks_line_id, **payload}
        payloads.append(payload)
    if not payloads:
        raise SalesPushError(f"{document} has no lines to send.")
    return payloads


def customer_ref(contact, *, document: object) -> dict[str, str]:
    if not contact.quickbooks_customer_id:
        raise CustomerNotLinkedError(
            f"{document}: the contact {contact.display_name} is not linked to a QuickBooks customer. "
            'Use "Create in QuickBooks" on the contact first (or link it in the review queue).'
        )
    return {"value": contact.quickbooks_customer_id}


def owned_fields(data: Mapping[str, Any], header: Iterable[str] = HEADER_FIELDS) -> dict[str, Any]:
    """What a push writes, read from any copy (ours, QBO's answer, the ledger's JSON) in one comparable shape:
    the customer, the header fields named, and each item line's item, Qty, UnitPrice, Amount, tax code and
    description (line ids left out: QBO may renumber lines whose content is the same)."""
    lines = []
    for line in sales_lines(data):
        detail = line.get("SalesItemLineDetail") or {}
        lines.append(
            (
                _ref(detail.get("ItemRef")),
                _decimal(detail.get("Qty")),
                _decimal(detail.get("UnitPrice")),
                _decimal(line.get("Amount")),
                _ref(detail.get("TaxCodeRef")) or "NON",
                str(line.get("Description") or ""),
            )
        )
    return {
        "customer": _ref(data.get("CustomerRef")),
        **{name: str(data.get(name) or "") for name in header},
        "lines": lines,
    }


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, default=str, sort_keys=True).encode()).hexdigest()[:16]


def _chunks(rows: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


# ---------------------------------------------------------------------------------------------------- the payload


def estimate_marker(quote: Quote) -> str:
    return f"CRM-Q-{quote.pk}"


def estimate_payload(*, quote: Quote, items: Sequence[QuoteItem], line_ids: bool = False) -> dict[str, Any]:
    """Pure: the Estimate a quote becomes (API.md §4.3). DocNumber is the quote number (≤ 21 characters, as QBO);
    PrivateNote carries the marker a retry looks for; TxnStatus the customer's answer when the CRM has one
    (`PUSHED_STATUS`); `line_ids` for an update of the quote's own estimate."""
    payload: dict[str, Any] = {
        "CustomerRef": customer_ref(quote.contact, document=quote),
        "DocNumber": quote.quote_number,
        "PrivateNote": estimate_marker(quote),
        "TxnDate": quote.issue_date.isoformat(),
        "Line": line_payloads(items, tax_exempt=quote.contact.tax_exempt, document=quote, line_ids=line_ids),
    }
    if quote.status in PUSHED_STATUS:
        payload["TxnStatus"] = PUSHED_STATUS[quote.status]
    if quote.expiration_date:
        payload["ExpirationDate"] = quote.expiration_date.isoformat()
    if quote.due_date:
        payload["DueDate"] = quote.due_date.isoformat()
    return payload


def _header(payload: Mapping[str, Any]) -> list[str]:
    return [name for name in HEADER_FIELDS if name in payload]


# ---------------------------------------------------------------------------------------------------- the push


def quote_status_pulled(current: str | None, txn_status: str) -> str:
    """The quote's status once QBO's TxnStatus is known (docs/decisions.md 22). Accepted, Rejected and Closed are the
    customer's answer and win; Pending (QBO's default, which the CRM never pushes over) keeps what the CRM knows
    (a draft, an acceptance by phone, an expiry), and a new quote from QBO is sent. A converted quote stays converted:
    its invoice exists."""
    if current == QuoteStatus.CONVERTED:
        return current
    pulled = ESTIMATE_STATUS.get(txn_status)
    return pulled or current or QuoteStatus.SENT


def push_key(quote: Quote) -> str:
    return f"{KIND}:quote:{quote.pk}"


def total_key(quote: Quote) -> str:
    return f"{TOTAL_KIND}:quote:{quote.pk}"


def estimate_push(*, quote: Quote, actor) -> PushResult:
    """Create or update one quote's estimate (see `estimates_push`)."""
    return estimates_push(quotes=[quote], actor=actor)[0]


def estimates_push(*, quotes: Iterable[Quote], actor) -> list[PushResult]:
    """Create or update the estimates of `quotes`, in batch calls of up to 30 (QBO's limit, API.md §6).

    Returns one result per quote, in order. Every failure (a local one such as an unlinked contact, or QBO's, per
    batch item) is a `SyncFailure` row with QBO's message and a registered retry; the quotes that succeeded are
    recorded whatever happened to the others. Raises only before anything is tried (permission, no connection).
    """
    permission_require(actor=actor, permission=PUSH_PERMISSION, action=KIND, what="push quotes to QuickBooks")
    connection = connection_for_push()
    order = [quote.pk for quote in quotes]
    results: dict[int, PushResult] = {}
    plans: list[_Plan] = []
    for start in range(0, len(order), DB_CHUNK):
        chunk_plans, chunk_results = _prepare(connection, order[start : start + DB_CHUNK], actor)
        plans.extend(chunk_plans)
        results.update(chunk_results)
    lookups = [plan for plan in plans if plan.lookup]
    if lookups:
        remaining, found = _adopt_found(connection, lookups, actor)
        results.update({result.quote.pk: result for result in found})
        plans = [plan for plan in plans if not plan.lookup] + remaining
    results.update({result.quote.pk: result for result in _send(connection, plans, actor)})
    return [results[pk] for pk in order if pk in results]


def _quotes_load(ids: Sequence[int]) -> list[Quote]:
    items = QuoteItem.objects.select_related("product").order_by("position", "id")
    return list(
        Quote.objects.filter(pk__in=ids).select_related("contact").prefetch_related(Prefetch("items", queryset=items))
    )


def _prepare(connection: QuickBooksAuth, ids: Sequence[int], actor) -> tuple[list[_Plan], dict[int, PushResult]]:
    """Build each quote's write: a create (requestid by generation), an update, or nothing when QBO has it all."""
    quotes = _quotes_load(ids)
    failed = attempts_failed([push_key(quote) for quote in quotes])
    deleted = dict(
        QuickBooksSync.objects.filter(
            connection=connection, entity_type=ESTIMATE, local_id__in=[quote.pk for quote in quotes]
        )
        .exclude(deleted_at=None)
        .values_list("local_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    ledger = {
        entry.entity_id: entry
        for entry in QuickBooksSync.objects.filter(
            connection=connection,
            entity_type=ESTIMATE,
            entity_id__in=[quote.quickbooks_estimate_id for quote in quotes if quote.quickbooks_estimate_id],
        )
    }
    plans: list[_Plan] = []
    results: dict[int, PushResult] = {}
    for quote in quotes:
        items = list(quote.items.all())
        entry = ledger.get(quote.quickbooks_estimate_id or "")
        gone = entry is not None and entry.deleted_at is not None  # QBO reported it deleted: make a new one
        creating = gone or not quote.quickbooks_estimate_id
        try:
            _totals_refresh(quote, items)
            payload = estimate_payload(quote=quote, items=items, line_ids=not creating)
        except SalesPushError as exc:
            results[quote.pk] = _fail(connection, quote, exc, actor=actor)
            continue
        if creating:
            generation = failed.get(push_key(quote), 0) + deleted.get(quote.pk, 0)
            request_id = request_id_for(connection, ESTIMATE, "create", quote.pk, generation)
            plans.append(_Plan(quote, items, "create", payload, request_id, lookup=generation > 0))
            continue
        base = entry.payload if entry is not None and entry.payload else None
        token = quote.quickbooks_sync_token
        if base is not None and entry.sync_version is not None and str(entry.sync_version) != token:
            # a pull saw a newer version than the one stored on the quote: its copy is QBO's latest
            token = str(max(entry.sync_version, int(token or 0)))
        if base is None or not token:
            try:  # linked without QBO's copy (or its SyncToken): one read gives both
                base = qbo_read(connection=connection, entity=ESTIMATE, entity_id=quote.quickbooks_estimate_id)
            except QuickBooksError as exc:
                results[quote.pk] = _fail(connection, quote, exc, actor=actor)
                continue
            token = str(base.get("SyncToken", ""))
        if base.get("TxnStatus") == CLOSED:
            payload.pop("TxnStatus", None)  # invoiced in QBO: its status is no longer the customer's answer
        header = _header(payload)
        if owned_fields(payload, header) == owned_fields(base, header):
            results[quote.pk] = _unchanged(connection, quote, base, actor)
            continue
        body = {"Id": quote.quickbooks_estimate_id, "SyncToken": token, "sparse": True, **payload}
        request_id = request_id_for(
            connection, ESTIMATE, "update", quote.quickbooks_estimate_id, token, _digest(owned_fields(payload))
        )
        plans.append(_Plan(quote, items, "update", body, request_id, base=base))
    return plans, results


def _totals_refresh(quote: Quote, items: Sequence[QuoteItem]) -> None:
    """The total compared with QBO's is the one stored on the quote; recompute it first if its lines moved on."""
    totals = document_totals(lines=items, tax_rate=quote.tax_rate, tax_exempt=quote.contact.tax_exempt)
    if (quote.subtotal, quote.tax_amount, quote.total_amount) != (
        totals.subtotal,
        totals.tax_amount,
        totals.total_amount,
    ):
        quote_recalculate(quote=quote)


def _adopt_found(connection: QuickBooksAuth, plans: Sequence[_Plan], actor) -> tuple[list[_Plan], list[PushResult]]:
    """Retries look first for the estimate an earlier attempt may have made: one query per 30 quote numbers, a row
    counting only when its PrivateNote is the quote's marker (another estimate may use the number: that is 6140)."""
    remaining: list[_Plan] = []
    results: list[PushResult] = []
    for chunk in _chunks(plans, BATCH_MAX_ITEMS):
        numbers = ", ".join(f"'{qbo_escape(plan.quote.quote_number)}'" for plan in chunk)
        sql = f"SELECT * FROM Estimate WHERE DocNumber IN ({numbers}) ORDERBY Id"  # noqa: S608  # nosec B608 (QBO's query language, escaped)
        try:
            rows = list(qbo_query(connection=connection, sql=sql))
        except QuickBooksError as exc:
            results.extend(
                _fail(connection, plan.quote, exc, actor=actor, request_id=plan.request_id) for plan in chunk
            )
            continue
        by_marker: dict[str, Mapping[str, Any]] = {}
        for row in rows:
            by_marker.setdefault(str(row.get("PrivateNote") or ""), row)  # ordered by Id: the first one made wins
        matched = []
        for plan in chunk:
            row = by_marker.get(estimate_marker(plan.quote))
            if row is None:
                remaining.append(plan)
            else:
                matched.append((plan, row, FOUND))
        adopted = _apply(connection, matched, actor)
        results.extend(adopted)
        for (plan, row, _), result in zip(matched, adopted, strict=True):
            header = _header(plan.payload)
            if owned_fields(plan.payload, header) != owned_fields(row, header):  # the quote changed since: update
                token = str(row.get("SyncToken", ""))
                body = {"Id": result.estimate_id, "SyncToken": token, "sparse": True, **plan.payload}
                request_id = request_id_for(
                    connection, ESTIMATE, "update", result.estimate_id, token, _digest(owned_fields(plan.payload))
                )
                remaining.append(_Plan(plan.quote, plan.items, "update", body, request_id, base=row))
    return remaining, results


def _send(connection: QuickBooksAuth, plans: Sequence[_Plan], actor) -> list[PushResult]:
    """Send the writes 30 to a batch call (one plan alone: a plain create or update). A connection that stops
    working (reconnect needed) fails the rest without calling QBO again."""
    results: list[PushResult] = []
    stopped: QuickBooksError | None = None
    for chunk in _chunks(list(plans), BATCH_MAX_ITEMS):
        if stopped is not None:
            results.extend(
                _fail(connection, plan.quote, stopped, actor=actor, request_id=plan.request_id) for plan in chunk
            )
            continue
        try:
            results.extend(
                _send_one(connection, chunk[0], actor) if len(chunk) == 1 else _send_batch(connection, chunk, actor)
            )
        except (AuthenticationError, NotConnectedError) as exc:
            stopped = exc
            results.extend(
                _fail(connection, plan.quote, exc, actor=actor, request_id=plan.request_id) for plan in chunk
            )
    return results


def _fatal(error: QuickBooksError) -> bool:
    return isinstance(error, AuthenticationError | NotConnectedError)


def _send_one(connection: QuickBooksAuth, plan: _Plan, actor) -> list[PushResult]:
    write = qbo_create if plan.operation == "create" else qbo_update
    try:
        estimate = write(connection=connection, entity=ESTIMATE, payload=plan.payload, request_id=plan.request_id)
    except StaleObjectError as exc:
        return [_stale(connection, plan, exc, actor)]
    except QuickBooksError as exc:
        if _fatal(exc):
            raise
        return [_fail(connection, plan.quote, exc, actor=actor, request_id=plan.request_id)]
    return _apply(connection, [(plan, estimate, CREATED if plan.operation == "create" else UPDATED)], actor)


def _send_batch(connection: QuickBooksAuth, plans: Sequence[_Plan], actor) -> list[PushResult]:
    """One batch call. Items succeed or fail on their own (a 200 carries per-item Faults, API.md §6): successes are
    written together, each Fault becomes its quote's failure row, a 5010 goes through `_stale`."""
    items = [{"bId": plan.bid, "operation": plan.operation, ESTIMATE: plan.payload} for plan in plans]
    batch_id = request_id_for(connection, ESTIMATE, "batch", *sorted(plan.request_id for plan in plans))
    try:
        answers = qbo_batch(connection=connection, items=items, request_id=batch_id)
    except QuickBooksError as exc:
        if _fatal(exc):
            raise
        return [_fail(connection, plan.quote, exc, actor=actor, request_id=batch_id) for plan in plans]
    by_bid = {str(answer.get("bId")): answer for answer in answers}
    done: list[tuple[_Plan, Mapping[str, Any], str]] = []
    results: list[PushResult] = []
    for plan in plans:
        answer = by_bid.get(plan.bid)
        if answer is None:
            missing = TransientError("QuickBooks' batch answer has no item for this quote; its outcome is unknown.")
            results.append(_fail(connection, plan.quote, missing, actor=actor, request_id=batch_id))
        elif "Fault" in answer:
            error = fault_error(answer["Fault"])
            if isinstance(error, StaleObjectError):
                results.append(_stale(connection, plan, error, actor))
            else:
                results.append(_fail(connection, plan.quote, error, actor=actor, request_id=batch_id))
        elif ESTIMATE in answer:
            done.append((plan, answer[ESTIMATE], CREATED if plan.operation == "create" else UPDATED))
        else:
            odd = TransientError("QuickBooks' batch answer for this quote holds neither an estimate nor a fault.")
            results.append(_fail(connection, plan.quote, odd, actor=actor, request_id=batch_id))
    return _apply(connection, done, actor) + results


def _stale(connection: QuickBooksAuth, plan: _Plan, error: StaleObjectError, actor) -> PushResult:
    """5010: merge, or stop as a conflict (module docstring; RELIABILITY C2)."""
    quote = plan.quote
    if plan.operation != "update":  # a create cannot be stale; answer it as the failure it is
        return _fail(connection, quote, error, actor=actor, request_id=plan.request_id)
    try:
        current = qbo_read(connection=connection, entity=ESTIMATE, entity_id=quote.quickbooks_estimate_id)
    except QuickBooksError as exc:
        return _fail(connection, quote, exc, actor=actor, request_id=plan.request_id)
    header = _header(plan.payload)
    if plan.base is None or owned_fields(current, header) != owned_fields(plan.base, header):
        with transaction.atomic():  # QBO's copy becomes the next push's base; the quote keeps its content
            mirror_apply(connection=connection, entity_type=ESTIMATE, rows=[current])
            _status_follow(quote, current)
        conflict = StaleObjectError(
            "QuickBooks changed this estimate's customer, number, dates, status or lines since the CRM last pushed it, "
            "so nothing was overwritten. Compare the two; pushing the quote again replaces QuickBooks' version.",
            code="5010",
            detail=error.detail,
            http_status=error.http_status,
            intuit_tid=error.intuit_tid,
        )
        return _fail(connection, quote, conflict, actor=actor, request_id=plan.request_id, plain=True)
    token = str(current.get("SyncToken", ""))
    body = {**plan.payload, "SyncToken": token}
    request_id = request_id_for(
        connection, ESTIMATE, "update", quote.quickbooks_estimate_id, token, _digest(owned_fields(body))
    )
    try:
        estimate = qbo_update(connection=connection, entity=ESTIMATE, payload=body, request_id=request_id)
    except QuickBooksError as exc:
        return _fail(connection, quote, exc, actor=actor, request_id=request_id)
    return _apply(connection, [(plan, estimate, UPDATED)], actor)[0]


# ---------------------------------------------------------------------------------------------------- outcomes


def _apply(
    connection: QuickBooksAuth, entries: Sequence[tuple[_Plan, Mapping[str, Any], str]], actor
) -> list[PushResult]:
    """Store what QBO answered, for a whole batch in one short transaction: ids and SyncTokens on the quotes, line
    ids on their lines (QBO's item lines, in order), the ledger copy, resolved failures, totals checked, audit."""
    if not entries:
        return []
    now = timezone.now()
    results = []
    with transaction.atomic():
        mirror_apply(connection=connection, entity_type=ESTIMATE, rows=[estimate for _, estimate, _ in entries])
        mirror_link(
            connection=connection,
            entity_type=ESTIMATE,
            links={str(estimate["Id"]): plan.quote.pk for plan, estimate, _ in entries},
        )
        quotes, lines_changed = [], []
        for plan, estimate, outcome in entries:
            quote = plan.quote
            quote.quickbooks_estimate_id = str(estimate["Id"])
            quote.quickbooks_sync_token = str(estimate.get("SyncToken", ""))
            quote.status = quote_status_pulled(quote.status, str(estimate.get("TxnStatus") or ""))
            quote.updated_at = now
            quotes.append(quote)
            qbo_lines = sales_lines(estimate)
            for item, line in zip(plan.items, qbo_lines, strict=False):
                line_id = str(line.get("Id") or "")
                if item.quickbooks_line_id != line_id:
                    item.quickbooks_line_id = line_id
                    lines_changed.append(item)
            failure_resolve(
                key=push_key(quote), actor=actor, resolution=f"estimate {quote.quickbooks_estimate_id} {outcome}"
            )
            result = _totals_check(connection, quote, estimate, outcome, actor)
            if len(qbo_lines) != len(plan.items):
                result.message = (
                    f"{result.message} QuickBooks holds {len(qbo_lines)} item lines, the quote {len(plan.items)}."
                ).strip()
            audit_record(
                action=KIND,
                actor=actor,
                obj=quote,
                after={
                    "estimate_id": quote.quickbooks_estimate_id,
                    "sync_token": quote.quickbooks_sync_token,
                    "outcome": outcome,
                    "qbo_total": str(result.qbo_total),
                    "crm_total": str(result.crm_total),
                },
                outcome=AuditEvent.Outcome.WARNING if result.total_differs else AuditEvent.Outcome.SUCCESS,
                message=result.message or f"estimate {quote.quickbooks_estimate_id} {outcome}",
            )
            results.append(result)
        Quote.objects.bulk_update(quotes, ["quickbooks_estimate_id", "quickbooks_sync_token", "status", "updated_at"])
        QuoteItem.objects.bulk_update(lines_changed, ["quickbooks_line_id"])
    return results


def _totals_check(
    connection: QuickBooksAuth, quote: Quote, estimate: Mapping[str, Any], outcome: str, actor
) -> PushResult:
    """QBO's TotalAmt against the CRM's total, to the cent: a difference is an open failure row, and goes away
    (resolved) once a later push agrees."""
    qbo_total = qbo_money(estimate.get("TotalAmt"))
    result = PushResult(
        quote=quote,
        outcome=outcome,
        estimate_id=str(estimate["Id"]),
        qbo_total=qbo_total,
        crm_total=quote.total_amount,
    )
    if result.total_differs:
        result.message = total_mismatch_record(
            connection=connection,
            document=quote,
            data=estimate,
            entity=ESTIMATE,
            kind=TOTAL_KIND,
            key=total_key(quote),
            direction=SyncFailure.Direction.PUSH,
            retry_args={"quote_id": quote.pk},
            advice="check the tax rate and the lines.",
        )
    else:
        failure_resolve(key=total_key(quote), actor=actor, resolution=f"totals agree at {qbo_total}")
    return result


def total_mismatch_record(
    *,
    connection: QuickBooksAuth,
    document: Quote | Invoice,
    data: Mapping[str, Any],
    entity: str,
    kind: str,
    key: str,
    direction: str,
    retry_args: Mapping[str, Any],
    advice: str,
) -> str:
    """QBO's TotalAmt differing from the CRM document's total, as the one open failure row for `key` (never accepted
    silently: issue 11), naming both totals and both taxes; returns the message. Pushes and pulls share it."""
    qbo_tax = qbo_money((data.get("TxnTaxDetail") or {}).get("TotalTax"))
    message = (
        f"QuickBooks' total {qbo_money(data.get('TotalAmt'))} differs from the CRM's {document.total_amount} "
        f"(tax: QuickBooks {qbo_tax}, CRM {document.tax_amount}); {advice}"
    )
    failure_record(
        kind=kind,
        key=key,
        direction=direction,
        error=TotalMismatchError(message),
        connection_id=connection.pk,
        entity_type=entity,
        entity_id=str(data.get("Id") or ""),
        obj=document,
        retry_args=dict(retry_args),
    )
    return message


def _status_follow(quote: Quote, estimate: Mapping[str, Any]) -> None:
    """The quote's status after QBO's copy of its estimate (`quote_status_pulled`): a copy the push stores in the
    ledger is one the pulls will not apply again, so the customer's answer it carries must reach the quote here."""
    status = quote_status_pulled(quote.status, str(estimate.get("TxnStatus") or ""))
    if status != quote.status:
        quote.status = status
        Quote.objects.filter(pk=quote.pk).update(status=status, updated_at=timezone.now())


def _unchanged(connection: QuickBooksAuth, quote: Quote, estimate: Mapping[str, Any], actor) -> PushResult:
    """Nothing to send: QBO already has this quote as it is. Its totals are still compared (the CRM's tax rate may
    have changed without the lines)."""
    with transaction.atomic():
        _status_follow(quote, estimate)
        failure_resolve(key=push_key(quote), actor=actor, resolution="QuickBooks already had it")
        return _totals_check(connection, quote, estimate, UNCHANGED, actor)


def _fail(
    connection: QuickBooksAuth,
    quote: Quote,
    error: BaseException,
    *,
    actor,
    request_id: str = "",
    plain: bool = False,
) -> PushResult:
    """A failure row (one open per quote, attempts counted) with QBO's code and message, and an audit line."""
    message = str(error) if plain or not isinstance(error, QuickBooksError) else error_text(error)
    failure_record(
        kind=KIND,
        key=push_key(quote),
        direction=SyncFailure.Direction.PUSH,
        error=error,
        connection_id=connection.pk,
        entity_type=ESTIMATE,
        entity_id=quote.quickbooks_estimate_id or "",
        obj=quote,
        request_id=request_id,
        retry_args={"quote_id": quote.pk},
    )
    audit_record(action=KIND, actor=actor, obj=quote, outcome=AuditEvent.Outcome.FAILURE, message=message)
    return PushResult(quote=quote, outcome=FAILED, estimate_id=quote.quickbooks_estimate_id or "", message=message)


# ---------------------------------------------------------------------------------------------------- queue, retry


def estimates_push_enqueue(*, quote_ids: Sequence[int], actor) -> int:
    """Queue a push for a worker (selections too large for one web request); the worker re-checks `actor`'s
    permission. Returns how many quotes were queued."""
    ids = list(quote_ids)
    actor_id = actor.pk if actor is not None else None
    transaction.on_commit(lambda: async_task(TASK, ids, actor_id, task_name=f"qbo-estimates-{ids[0]}-{len(ids)}"))
    return len(ids)


@failure_retry_register(KIND)
def _push_retry(failure: SyncFailure) -> str:
    """Retrying a failed push pushes the quote again, in a worker (a total QBO disagreed with: `sales_pull`)."""
    quote_id = int(failure.retry_args["quote_id"])
    estimates_push_enqueue(quote_ids=[quote_id], actor=None)
    return f"push of quote #{quote_id} queued"
