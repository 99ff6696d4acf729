"""The customers import: every QBO customer into the ledger, matched to CRM contacts, and the plan applied.

Owns the `customers` sync kind (services/runs.py) and nothing else: transport is `qbo/client.py`, the ledger
`mirror.py`, the decisions `matching.py`, single links `customer_links.py`, candidates `match_review.py`.

A run has two steps, each resumable from the run's cursor:

1. **Pull.** The first run (or `full`) counts every customer, active and inactive (QBO hides inactive ones unless
   the WHERE clause names `Active`, API.md §3.4), then reads them `ORDERBY Id` in pages of 1000 (QBO's maximum,
   API.md §3.2): COUNT + ceil(N/1000) calls, no trailing empty page. Later runs ask CDC for what changed since the
   last good run's start, minus a margin, with an explicit UTC offset (QBO reads a naive time in the company's
   zone, and python-quickbooks drops the offset of a `datetime`, API.md §5); a window past CDC's 30 days, or an
   answer at CDC's 1000-object cap, falls back to a full pull. Each page is one transaction: `mirror_apply`, then
   the changed customers that are linked are applied (a deleted, merged or deactivated one is unlinked, an updated
   one enriches its contact), then the checkpoint. A crash loses at most the page in flight.
2. **Apply.** Matching runs once over every live ledger customer and every contact, and its plan is written in
   chunks of customers, each chunk one transaction and a checkpoint: automatic links, review candidates, new
   contacts (type customer, linked), then jobs and sub-customers pointed at their parent's contact. Re-planning
   after a crash is safe because what was applied drops out of the plan. New contacts are new matching keys, so
   the plan is made again until it proposes nothing new (at most `MAX_ROUNDS`): a second run then changes nothing.

Thousands of automatic links per chunk would take minutes through `customer_link` (it locks, re-reads and walks the
ledger's JSON for jobs one contact at a time), so `customers_link_bulk`, `contacts_create_bulk` and
`contacts_update_bulk` do what `customer_link`, `contact_create_from_customer` and `update_contact_from_customer`
do (fields, conflicts, ledger pointer, the same audit actions) with a fixed number of queries per chunk or page;
a test holds each pair to the same result. Unlinking stays `customer_unlink`, one at a time: it is rare.
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from crm.models import Contact
from crm.models.base import quantize_decimal_fields

from ..models import AuditEvent, ContactConflict, MatchCandidate, QuickBooksAuth, QuickBooksSync, SyncFailure, SyncRun
from ..qbo.client import qbo_count, qbo_get
from .bulk import rows_update
from .customer_links import (
    contact_enrich,
    contact_fields_from_customer,
    customer_unlink,
)
from .failures import failure_record, failure_resolve, failure_retry_register
from .imports import PAGE_SIZE, cdc_pull, import_mode_choose
from .match_review import match_candidates_write
from .matching import DELETED_SUFFIX, ContactRow, CustomerRow, MatchPlan, customer_row_from_qbo, match_plan
from .mirror import mirror_apply, mirror_mark_error
from .runs import RunContext, sync_kind_register, sync_run_enqueue, sync_run_execute, sync_run_queue
from .webhooks import webhook_entity_register

logger = logging.getLogger(__name__)

KIND = "customers"
CUSTOMER = "Customer"
ALL_CUSTOMERS = "Active IN (true, false)"  # inactive customers are hidden unless Active is named (API.md §3.4)
APPLY_CHUNK = 1000  # customers per apply transaction
MAX_ROUNDS = 3
STAT_KEYS = (
    "customers",
    "linked",
    "created",
    "queued",
    "updated",
    "unlinked",
    "children",
    "failed",
    "unchanged",
    "inactive",
    "candidates",
    "api_calls",
    "api_minimum",
)
CHANGE_KEYS = ("linked", "created", "queued", "updated", "unlinked", "children", "failed")


# ---------------------------------------------------------------------------------------------------- entry points


def customers_import_run(*, connection_id: int, full: bool = False) -> SyncRun | None:
    """Run the import inline (the command): resume the newest unfinished run, or start one; `full` starts a new
    full pull. Returns the run, or None when another worker holds it."""
    if full:
        run = sync_run_queue(connection_id=connection_id, kind=KIND)
        SyncRun.objects.filter(pk=run.pk).update(cursor={"full": True})
    return sync_run_execute(connection_id=connection_id, kind=KIND)


def customers_import_enqueue(*, connection_id: int) -> SyncRun:
    """Queue an import for a worker, after the caller's transaction commits."""
    return sync_run_enqueue(connection_id=connection_id, kind=KIND)


@failure_retry_register("customer_import")
def _customer_retry(failure: SyncFailure) -> str:
    """A customer the import could not apply is applied again by the next run (it re-plans every live customer)."""
    run = customers_import_enqueue(connection_id=failure.connection_id)
    return f"customers import #{run.pk} queued"


# ---------------------------------------------------------------------------------------------------- the run


@sync_kind_register(KIND)
def customers_import(run: RunContext) -> None:
    """The `customers` sync: pull (full pages or CDC) into the ledger, then match and apply. See the module."""
    cursor = dict(run.cursor)
    if "mode" not in cursor:
        cursor = import_mode_choose(run, kind=KIND)
        run.stats = _stats_fresh()
    if cursor["mode"] == "cdc" and cursor.get("step", "pull") == "pull":
        cursor = _cdc_pull(run, cursor)
    if cursor["mode"] == "full" and cursor.get("step", "count") in ("count", "pages"):
        cursor = _full_pull(run, cursor)
    if cursor.get("step") == "apply":
        _apply(run, cursor)


def _stats_fresh() -> dict[str, Any]:
    return {key: 0 for key in STAT_KEYS}


def _timed(stats: dict[str, Any], phase: str, started: float) -> dict[str, Any]:
    """Add the seconds since `started` to `stats["seconds"][phase]` (pull, match, apply: where a run's time goes)."""
    seconds = dict(stats.get("seconds") or {})
    seconds[phase] = round(seconds.get(phase, 0.0) + time.monotonic() - started, 3)
    return {**stats, "seconds": seconds}


def _page_sql(start: int) -> str:
    return f"SELECT * FROM Customer WHERE {ALL_CUSTOMERS} ORDERBY Id STARTPOSITION {start} MAXRESULTS {PAGE_SIZE}"  # noqa: S608  # nosec B608 (QBO's query language, constants only)


def _page_rows(envelope: Mapping[str, Any]) -> list[dict]:
    rows = (envelope.get("QueryResponse") or {}).get(CUSTOMER)
    return list(rows) if isinstance(rows, list) else []


def _full_pull(run: RunContext, cursor: dict[str, Any]) -> dict[str, Any]:
    """COUNT, then page by page; each page and its checkpoint commit together (a rerun continues at the next)."""
    connection = run.connection
    if cursor.get("step", "count") == "count":
        started = time.monotonic()
        total = qbo_count(connection=connection, entity=CUSTOMER, where=ALL_CUSTOMERS)
        pages = math.ceil(total / PAGE_SIZE)
        cursor = {**cursor, "step": "pages" if pages else "apply", "total": total, "pages": pages, "page": 1}
        stats = {**run.stats, "api_minimum": run.stats.get("api_minimum", 0) + 1 + pages}
        run.checkpoint(cursor=cursor, stats=_timed(stats, "pull", started), progress=f"page 0 of {pages}")
    pages = int(cursor["pages"])
    for page in range(int(cursor["page"]), pages + 1):
        started = time.monotonic()
        envelope = qbo_get(connection=connection, path="query", params={"query": _page_sql((page - 1) * PAGE_SIZE + 1)})
        rows = _page_rows(envelope)
        with transaction.atomic():
            stats = customers_page_apply(connection=connection, rows=rows, stats=dict(run.stats))
            stats = _timed(stats, "pull", started)
            cursor = {**cursor, "page": page + 1, "step": "pages" if page < pages else "apply"}
            run.checkpoint(cursor=cursor, stats=stats, progress=f"page {page} of {pages}")
        if len(rows) < PAGE_SIZE and page < pages:  # fewer customers than counted (deleted meanwhile): done
            with transaction.atomic():
                cursor = {**cursor, "step": "apply"}
                run.checkpoint(cursor=cursor, stats=run.stats, progress=f"page {page} of {pages}")
            break
    return cursor


def _cdc_pull(run: RunContext, cursor: dict[str, Any]) -> dict[str, Any]:
    started = time.monotonic()

    def apply(rows: list[dict], stats: dict[str, Any]) -> dict[str, Any]:
        return _timed(customers_page_apply(connection=run.connection, rows=rows, stats=stats), "pull", started)

    return cdc_pull(run, entity=CUSTOMER, cursor=cursor, apply=apply, next_step="apply")


def customer_is_gone(entry: QuickBooksSync) -> bool:
    """Deleted or merged away (CDC's `Deleted` stub), or deactivated (QBO appends " (deleted)", API.md §3.4)."""
    payload = entry.payload or {}
    return bool(
        entry.deleted_at
        or payload.get("Active") is False
        or str(payload.get("DisplayName") or "").endswith(DELETED_SUFFIX)
    )


def customers_page_apply(
    *, connection: QuickBooksAuth, rows: Sequence[Mapping[str, Any]], stats: dict[str, Any]
) -> dict[str, Any]:
    """One page (or CDC answer) into the ledger, and its changed customers that are linked onto their contacts:
    the ones deleted, merged or deactivated since the ledger last saw them are unlinked (history kept) and their
    ledger rows marked deleted; the others are enriched in bulk. A link the bookkeeper made to a customer that was
    already inactive stays, and a row marked deleted stays so while the customer stays inactive (so matching never
    proposes it again). Unlinked customers wait for matching.

    A fixed number of queries whatever the page's size (on PostgreSQL; SQLite's 999-parameter limit makes Django
    split big bulk statements), plus `customer_unlink`'s per contact for the rare deleted one. Call inside the
    page's transaction; returns `stats` with `updated` and `unlinked` counted.
    """
    known = QuickBooksSync.objects.filter(
        connection=connection, entity_type=CUSTOMER, entity_id__in=[str(row["Id"]) for row in rows if "Id" in row]
    )
    was_inactive = set(known.filter(payload__Active=False).values_list("entity_id", flat=True))
    was_deleted = dict(known.filter(deleted_at__isnull=False).values_list("entity_id", "deleted_at"))
    result = mirror_apply(connection=connection, entity_type=CUSTOMER, rows=rows)
    changed = {entry.entity_id: entry for entry in result.changed}
    if not changed:
        return stats
    linked = {c.quickbooks_customer_id: c for c in Contact.objects.filter(quickbooks_customer_id__in=list(changed))}
    updates: list[tuple[Contact, Mapping[str, Any]]] = []
    marked = []
    for customer_id, entry in changed.items():
        contact, gone = linked.get(customer_id), customer_is_gone(entry)
        if contact is not None and not entry.deleted_at and (customer_id in was_inactive or not gone):
            updates.append((contact, entry.payload))
        elif contact is not None:
            reason = "deleted or merged in QuickBooks" if entry.deleted_at else "deactivated in QuickBooks"
            customer_unlink(connection=connection, contact=contact, reason=reason)
            stats["unlinked"] = stats.get("unlinked", 0) + 1
            if entry.deleted_at is None:
                entry.deleted_at = entry.qbo_updated_at or timezone.now()
                marked.append(entry)
        elif gone and entry.deleted_at is None and customer_id in was_deleted:
            entry.deleted_at = was_deleted[customer_id]
            marked.append(entry)
    stats["updated"] = stats.get("updated", 0) + len(contacts_update_bulk(connection=connection, pairs=updates))
    rows_update(marked, ["deleted_at"])
    return stats


@webhook_entity_register(CUSTOMER)
def customers_from_webhooks(
    connection: QuickBooksAuth, rows: Sequence[Mapping[str, Any]], deleted_ids: Sequence[str]
) -> None:
    """Webhook re-reads of customers onto contacts; the webhook service already put the newer copies in the ledger.

    A linked customer that changed enriches its contact (conflicts recorded); one deactivated, deleted or merged
    away is unlinked with its history kept. A customer nobody is linked to needs matching against every contact,
    which is the import's job: a customers run (CDC, then matching) is queued for it.
    """
    ids = [str(row["Id"]) for row in rows] + [str(entity_id) for entity_id in deleted_ids]
    linked = {c.quickbooks_customer_id: c for c in Contact.objects.filter(quickbooks_customer_id__in=ids)}
    updates: list[tuple[Contact, Mapping[str, Any]]] = []
    unmatched = False
    for row in rows:
        contact = linked.get(str(row["Id"]))
        if contact is None:
            unmatched = unmatched or not (row.get("Job") or row.get("ParentRef"))
        elif row.get("Active") is False or str(row.get("DisplayName") or "").endswith(DELETED_SUFFIX):
            customer_unlink(connection=connection, contact=contact, reason="deactivated in QuickBooks")
        else:
            updates.append((contact, row))
    for entity_id in deleted_ids:
        contact = linked.get(str(entity_id))
        if contact is not None:
            customer_unlink(connection=connection, contact=contact, reason="deleted or merged in QuickBooks")
    contacts_update_bulk(connection=connection, pairs=updates)
    already_queued = SyncRun.objects.filter(connection=connection, kind=KIND, status=SyncRun.Status.QUEUED).exists()
    if unmatched and not already_queued:
        sync_run_enqueue(connection_id=connection.pk, kind=KIND)


# ---------------------------------------------------------------------------------------------------- apply


@dataclass
class _Books:
    """What matching needs, loaded once per round: rows for `match_plan`, names, and who is gone or a job."""

    contacts: list[ContactRow] = field(default_factory=list)
    customers: list[CustomerRow] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)
    gone: list[str] = field(default_factory=list)
    rejected: frozenset[tuple[int, str]] = frozenset()


def _books_load(connection: QuickBooksAuth) -> _Books:
    """Contacts and live ledger customers as plain rows (payloads dropped as they are read, to bound memory)."""
    books = _Books()
    fields = (
        "pk",
        "first_name",
        "last_name",
        "company_name",
        "phone",
        "mobile_phone",
        "email",
        "quickbooks_customer_id",
    )
    for pk, first, last, company, phone, mobile, email, linked in Contact.objects.values_list(*fields).iterator(
        chunk_size=5000
    ):
        books.contacts.append(
            ContactRow(
                id=pk,
                first_name=first,
                last_name=last,
                company_name=company,
                phones=(phone, mobile),
                email=email,
                quickbooks_customer_id=linked,
            )
        )
    ledger = QuickBooksSync.objects.filter(connection=connection, entity_type=CUSTOMER)
    for entity_id, payload, deleted_at in ledger.values_list("entity_id", "payload", "deleted_at").iterator(
        chunk_size=2000
    ):
        if deleted_at is not None or not payload:
            books.gone.append(entity_id)
            continue
        books.customers.append(customer_row_from_qbo(payload))
        books.names[entity_id] = str(payload.get("DisplayName") or "")
    rejected = MatchCandidate.objects.filter(connection=connection, status=MatchCandidate.Status.REJECTED)
    books.rejected = frozenset(rejected.values_list("contact_id", "quickbooks_customer_id"))
    return books


def _natural(customer_id: str) -> tuple[int, str]:
    return (int(customer_id), "") if customer_id.isdigit() else (1 << 62, customer_id)


def _apply(run: RunContext, cursor: dict[str, Any]) -> None:
    """Plan and apply until the plan proposes nothing new; then point jobs at their parents and finish."""
    connection = run.connection
    stats = dict(run.stats)
    first_round = int(cursor.get("round", 1))
    for round_no in range(first_round, MAX_ROUNDS + 1):
        run.checkpoint(cursor={**cursor, "round": round_no}, stats=stats, progress=f"matching (round {round_no})")
        started = time.monotonic()
        books = _books_load(connection)
        plan = match_plan(contacts=books.contacts, customers=books.customers, rejected=books.rejected)
        stats = _timed(stats, "match", started)
        stats["inactive"] = len(plan.unmatched_inactive)
        created = _plan_apply(run, cursor={**cursor, "round": round_no}, books=books, plan=plan, stats=stats)
        stats = dict(run.stats)
        if not created:
            break
    with transaction.atomic():
        started = time.monotonic()
        stats["children"] = stats.get("children", 0) + _children_point(connection=connection)
        stats["customers"] = QuickBooksSync.objects.filter(connection=connection, entity_type=CUSTOMER).count()
        stats["api_calls"] = SyncRun.objects.values_list("api_calls", flat=True).get(pk=run.run.pk)
        changes = sum(int(stats.get(key, 0)) for key in CHANGE_KEYS)
        stats["unchanged"] = max(0, stats["customers"] - changes)
        stats.pop("progress", None)
        run.checkpoint(cursor={**cursor, "step": "done"}, stats=_timed(stats, "apply", started))


def _plan_apply(
    run: RunContext, *, cursor: dict[str, Any], books: _Books, plan: MatchPlan, stats: dict[str, Any]
) -> int:
    """Write one plan, chunk by chunk of customers (all of them: pending pairs of customers the plan no longer
    proposes are superseded). Returns how many contacts were created (new matching keys for the next round)."""
    connection = run.connection
    links = {link.customer_id: link.contact_id for link in plan.links}
    new = set(plan.new_contacts)
    candidates: dict[str, list] = defaultdict(list)
    for candidate in plan.candidates:
        candidates[candidate.customer_id].append(candidate)
    scope = sorted([*books.names, *books.gone], key=_natural)
    chunks = [scope[i : i + APPLY_CHUNK] for i in range(0, len(scope), APPLY_CHUNK)] or [[]]
    created_total = 0
    for index, chunk in enumerate(chunks, start=1):
        started = time.monotonic()
        with transaction.atomic():
            wanted = [kid for kid in chunk if kid in links or kid in new]
            payloads = _payloads(connection=connection, customer_ids=wanted) if wanted else {}
            linked = customers_link_bulk(
                connection=connection,
                pairs=[(links[kid], payloads[kid]) for kid in chunk if kid in links],
                source="auto",
            )
            made = contacts_create_bulk(
                connection=connection, customers=[payloads[kid] for kid in chunk if kid in new], source="auto"
            )
            chunk_candidates = [c for kid in chunk for c in candidates.get(kid, ())]
            queued = _candidates_write(connection=connection, candidates=chunk_candidates, books=books, scope=chunk)
            failed = {**linked.failed, **made.failed}
            _failures_record(connection=connection, failed=failed)
            _failures_resolve(connection=connection, applied=[*linked.linked, *made.linked])
            stats["linked"] = stats.get("linked", 0) + len(linked.linked)
            stats["created"] = stats.get("created", 0) + len(made.linked)
            stats["queued"] = stats.get("queued", 0) + queued["customers"]
            stats["candidates"] = stats.get("candidates", 0) + queued["created"]
            stats["failed"] = stats.get("failed", 0) + len(failed)
            created_total += len(made.linked)
            stats = _timed(stats, "apply", started)
            run.checkpoint(
                cursor={**cursor, "chunk": index}, stats=stats, progress=f"applying {index} of {len(chunks)}"
            )
    return created_total


def _payloads(*, connection: QuickBooksAuth, customer_ids: list[str]) -> dict[str, dict]:
    ledger = QuickBooksSync.objects.filter(connection=connection, entity_type=CUSTOMER, entity_id__in=customer_ids)
    return dict(ledger.values_list("entity_id", "payload"))


def _candidates_write(
    *, connection: QuickBooksAuth, candidates: list, books: _Books, scope: list[str]
) -> dict[str, int]:
    """`match_candidates_write` for one chunk, plus how many customers got a pair they did not have (queued)."""
    pairs = {(c.contact_id, c.customer_id) for c in candidates}
    existing = MatchCandidate.objects.filter(
        connection=connection, quickbooks_customer_id__in=sorted({kid for _, kid in pairs})
    )
    known = set(existing.values_list("contact_id", "quickbooks_customer_id")) if pairs else set()
    counts = match_candidates_write(
        connection=connection, candidates=candidates, names=books.names, scope_customer_ids=scope
    )
    counts["customers"] = len({kid for cid, kid in pairs if (cid, kid) not in known})
    return counts


def _failures_record(*, connection: QuickBooksAuth, failed: Mapping[str, str]) -> None:
    """A customer the plan could not apply: its ledger row says why, and a failure row the bookkeeper sees."""
    for customer_id, reason in failed.items():
        mirror_mark_error(connection=connection, entity_type=CUSTOMER, entity_ids=[customer_id], message=reason)
        failure_record(
            kind="customer_import",
            key=f"customer_import:{connection.pk}:{customer_id}",
            direction=SyncFailure.Direction.PULL,
            error=LinkConflict(reason),
            connection_id=connection.pk,
            entity_type=CUSTOMER,
            entity_id=customer_id,
        )


def _failures_resolve(*, connection: QuickBooksAuth, applied: Iterable[str]) -> None:
    """Close the open failure rows of customers applied now (one query when there are none, the usual case)."""
    prefix = f"customer_import:{connection.pk}:"
    open_keys = set(
        SyncFailure.objects.filter(kind="customer_import", key__startswith=prefix, resolved_at=None).values_list(
            "key", flat=True
        )
    )
    for customer_id in applied:
        if prefix + customer_id in open_keys:
            failure_resolve(key=prefix + customer_id, resolution="applied by a later customers import")


def _children_point(*, connection: QuickBooksAuth) -> int:
    """Jobs and sub-customers map to their top-level parent's contact (or to nothing while it is unlinked);
    returns how many ledger rows changed. They never get a contact of their own (issue 10)."""
    ledger = QuickBooksSync.objects.filter(connection=connection, entity_type=CUSTOMER)
    parent_of = {
        entity_id: str(parent)
        for entity_id, parent in ledger.filter(payload__ParentRef__isnull=False).values_list(
            "entity_id", "payload__ParentRef__value"
        )
        if parent
    }
    if not parent_of:
        return 0
    top: dict[str, str] = {}
    for child in parent_of:
        seen, node = {child}, parent_of[child]
        while node in parent_of and parent_of[node] not in seen:
            seen.add(node)
            node = parent_of[node]
        top[child] = node
    contact_of = dict(
        Contact.objects.filter(quickbooks_customer_id__in=set(top.values())).values_list("quickbooks_customer_id", "pk")
    )
    entries = list(ledger.filter(entity_id__in=list(top)))
    changed = []
    for entry in entries:
        wanted = contact_of.get(top[entry.entity_id])
        if entry.local_id != wanted:
            entry.local_id = wanted
            changed.append(entry)
    rows_update(changed, ["local_id"])
    return len(changed)


# ---------------------------------------------------------------------------------------------------- bulk links


class LinkConflict(Exception):
    """The import could not link a customer (the same rules as `customer_link`'s LinkError)."""


@dataclass
class BulkOutcome:
    linked: list[str] = field(default_factory=list)  # customer ids linked
    failed: dict[str, str] = field(default_factory=dict)  # customer id -> why not


def _audit_rows(action: str, contacts: Iterable[Contact], after: Mapping[int, dict]) -> list[AuditEvent]:
    label = Contact._meta.label
    return [
        AuditEvent(
            action=action,
            actor=None,
            actor_label="system",
            object_type=label,
            object_id=str(c.pk),
            before={},
            after=after[c.pk],
            outcome=AuditEvent.Outcome.SUCCESS,
            message="",
        )
        for c in contacts
    ]


def _conflicts_write(*, connection: QuickBooksAuth, differing: Mapping[int, tuple[str, dict]]) -> None:
    """`_conflicts_record` of customer_links for many contacts: open conflicts created, changed, or closed."""
    if not differing:
        return
    now = timezone.now()
    open_rows: dict[tuple[int, str], ContactConflict] = {
        (row.contact_id, row.field): row
        for row in ContactConflict.objects.filter(contact_id__in=list(differing), resolved_at__isnull=True)
    }
    new, changed = [], []
    for (contact_id, name), row in open_rows.items():
        if name not in differing[contact_id][1]:
            row.resolved_at, row.resolution, row.updated_at = now, ContactConflict.Resolution.GONE, now
            changed.append(row)
    for contact_id, (customer_id, fields) in differing.items():
        for name, (crm_value, qbo_value) in fields.items():
            row = open_rows.get((contact_id, name))
            if row is None:
                new.append(
                    ContactConflict(
                        connection=connection,
                        contact_id=contact_id,
                        quickbooks_customer_id=customer_id,
                        field=name,
                        crm_value=crm_value,
                        qbo_value=qbo_value,
                    )
                )
            elif (row.crm_value, row.qbo_value) != (crm_value, qbo_value):
                row.crm_value, row.qbo_value, row.quickbooks_customer_id = crm_value, qbo_value, customer_id
                row.updated_at = now
                changed.append(row)
    ContactConflict.objects.bulk_create(new)
    rows_update(
        changed, ["crm_value", "qbo_value", "quickbooks_customer_id", "resolved_at", "resolution", "updated_at"]
    )


def contacts_update_bulk(
    *, connection: QuickBooksAuth, pairs: Sequence[tuple[Contact, Mapping[str, Any]]], extra_fields: Iterable[str] = ()
) -> list[Contact]:
    """`update_contact_from_customer` for many (contact, customer JSON) pairs in a fixed number of queries: QBO's
    financial fields copied, empty details filled, differing details kept as open conflicts (and conflicts that no
    longer differ closed). Returns the contacts whose fields changed (`extra_fields`, set by the caller, are saved
    for every contact given)."""
    if not pairs:
        return []
    now = timezone.now()
    extra = set(extra_fields)
    fields: set[str] = set(extra)
    changed_contacts: list[Contact] = []
    differing: dict[int, tuple[str, dict]] = {}
    for contact, customer in pairs:
        changed, conflicts = contact_enrich(contact, customer)
        differing[contact.pk] = (str(customer.get("Id", "")), conflicts)
        if changed or extra:
            fields.update(changed)
            contact.normalize()
            quantize_decimal_fields(contact)
            contact.updated_at = now
        if changed:
            changed_contacts.append(contact)
    if fields:
        if {"phone", "mobile_phone", "email"} & fields:
            fields.update({"phone_e164", "mobile_phone_e164", "email"})
        saved = [contact for contact, _ in pairs] if extra else changed_contacts
        rows_update(saved, sorted(fields | {"updated_at"}))
    _conflicts_write(connection=connection, differing=differing)
    return changed_contacts


def customers_link_bulk(
    *, connection: QuickBooksAuth, pairs: Sequence[tuple[int, Mapping[str, Any]]], source: str
) -> BulkOutcome:
    """`customer_link` for many (contact id, customer JSON) pairs: the same refusals (contact linked elsewhere,
    customer linked to another contact, a job), the same fields and conflicts, the ledger row pointed at the contact
    and one "customer.link" audit row per link, in a fixed number of queries. Jobs are pointed by the caller
    (`_children_point`) in one pass. Call inside a transaction."""
    outcome = BulkOutcome()
    if not pairs:
        return outcome
    contacts = {c.pk: c for c in Contact.objects.select_for_update().filter(pk__in=[cid for cid, _ in pairs])}
    customer_ids = [str(customer["Id"]) for _, customer in pairs]
    holders = dict(
        Contact.objects.filter(quickbooks_customer_id__in=customer_ids).values_list("quickbooks_customer_id", "pk")
    )
    to_link: list[tuple[Contact, Mapping[str, Any]]] = []
    for contact_id, customer in pairs:
        customer_id, name = str(customer["Id"]), str(customer.get("DisplayName", ""))
        contact = contacts.get(contact_id)
        reason = ""
        if contact is None:
            reason = f"contact {contact_id} no longer exists"
        elif contact.quickbooks_customer_id and contact.quickbooks_customer_id != customer_id:
            reason = f"{contact} is already linked to QuickBooks customer {contact.quickbooks_customer_id}"
        elif customer.get("Job") or customer.get("ParentRef"):
            reason = f"QuickBooks customer {name or customer_id} is a job or sub-customer"
        elif holders.get(customer_id, contact_id) != contact_id:
            reason = f"QuickBooks customer {name or customer_id} is already linked to contact {holders[customer_id]}"
        if reason:
            outcome.failed[customer_id] = reason
            continue
        holders[customer_id] = contact_id
        if contact.quickbooks_customer_id == customer_id:  # already linked: nothing to link (the plan never asks)
            continue
        contact.quickbooks_customer_id = customer_id
        to_link.append((contact, customer))
        outcome.linked.append(customer_id)
    contacts_update_bulk(connection=connection, pairs=to_link, extra_fields=["quickbooks_customer_id"])
    contact_of = {contact.quickbooks_customer_id: contact.pk for contact, _ in to_link}
    entries = list(QuickBooksSync.objects.filter(connection=connection, entity_type=CUSTOMER, entity_id__in=contact_of))
    for entry in entries:
        entry.local_id = contact_of[entry.entity_id]
        if entry.sync_status == QuickBooksSync.Status.ERROR:
            entry.sync_status, entry.error_message = QuickBooksSync.Status.SYNCED, ""
    rows_update(entries, ["local_id", "sync_status", "error_message"])
    after = {
        contact.pk: {
            "quickbooks_customer_id": contact.quickbooks_customer_id,
            "customer": str(customer.get("DisplayName", "")),
            "source": source,
        }
        for contact, customer in to_link
    }
    AuditEvent.objects.bulk_create(_audit_rows("customer.link", [c for c, _ in to_link], after))
    return outcome


def contacts_create_bulk(
    *, connection: QuickBooksAuth, customers: Sequence[Mapping[str, Any]], source: str
) -> BulkOutcome:
    """`contact_create_from_customer` for many customers nobody in the CRM matches: new contacts (type customer)
    with the "contact.create_from_customer" audit row each, then linked by `customers_link_bulk`."""
    if not customers:
        return BulkOutcome()
    ids = [str(c["Id"]) for c in customers]
    taken = set(Contact.objects.filter(quickbooks_customer_id__in=ids).values_list("quickbooks_customer_id", flat=True))
    outcome = BulkOutcome()
    fresh: list[tuple[Contact, Mapping[str, Any]]] = []
    for customer in customers:
        customer_id = str(customer["Id"])
        if customer_id in taken:
            outcome.failed[customer_id] = f"QuickBooks customer {customer_id} is already linked"
            continue
        if customer.get("Job") or customer.get("ParentRef"):
            outcome.failed[customer_id] = f"QuickBooks customer {customer_id} is a job or sub-customer"
            continue
        contact = Contact(**contact_fields_from_customer(customer))
        contact.normalize()
        quantize_decimal_fields(contact)
        fresh.append((contact, customer))
    made = Contact.objects.bulk_create([contact for contact, _ in fresh])
    after = {
        contact.pk: {"quickbooks_customer_id": str(customer["Id"]), "customer": str(customer.get("DisplayName", ""))}
        for contact, customer in fresh
    }
    AuditEvent.objects.bulk_create(_audit_rows("contact.create_from_customer", made, after))
    linked = customers_link_bulk(
        connection=connection, pairs=[(contact.pk, customer) for contact, customer in fresh], source=source
    )
    outcome.linked.extend(linked.linked)
    outcome.failed.update(linked.failed)
    return outcome
