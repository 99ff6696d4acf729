"""Push: creating QBO customers from CRM contacts without ever making a duplicate (issue 10, "Push").

The entry points, their outcome and errors, and the create's failure retry. Must not hold a database transaction
across a QBO call (STYLE §2), link anything itself (`customer_links.customer_link` does), or decide a doubtful pair
(the bookkeeper's review queue does). Looking first is `customer_lookup`, the body `customer_payload`, the stored
requestids `customer_push_requests`; sending a contact's changes is `customer_update`.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from crm.models import Contact

from ..models import AuditEvent, QuickBooksAuth, SyncFailure
from ..qbo.client import BATCH_MAX_ITEMS, qbo_batch
from ..qbo.errors import DuplicateNameError, QuickBooksError
from .audit import audit_record
from .customer_links import LinkError, customer_link
from .customer_lookup import (
    existing_customers_find,
    free_display_name,
    plausibly_same,
    propose,
    query_in,
    selection_split,
    top_level_active,
)
from .customer_payload import CUSTOMER, customer_payload_from_contact
from .customer_push_requests import (
    BatchItemMissing,
    PushRequest,
    answered,
    batch_item_error,
    definitive,
    push_request_pending,
    request_one,
    requests_store,
    send_create,
)
from .failures import failure_record, failure_resolve, failure_retry_register
from .match_review import contact_row
from .matching import customer_row_from_qbo, pair_assess
from .mirror import mirror_apply

logger = logging.getLogger(__name__)

PUSH_PERMISSION = "quickbooks_integration.push_to_quickbooks"
KIND_CREATE = "customer_create"


class PushError(Exception):
    """The push cannot be made as asked (not allowed, not connected, contact not linked…): say why, for a person."""


@dataclass(frozen=True)
class PushOutcome:
    """What happened to one contact: created, linked (a replayed create), queued, updated, unchanged, skipped or
    failed; `message` says why for anything but a plain success."""

    contact_id: int
    status: str
    customer_id: str = ""
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status != "failed"


def failure_key(kind: str, contact_id: int) -> str:
    return f"{kind}:contact:{contact_id}"


def failed(
    *,
    connection: QuickBooksAuth,
    contact: Contact,
    actor,
    error: BaseException,
    request: PushRequest | None,
    kind: str = KIND_CREATE,
) -> PushOutcome:
    """A failure row the bookkeeper can retry; the request stays unanswered when QBO's answer was not definitive,
    so the retry replays it instead of creating a second customer."""
    if request is not None and definitive(error):
        answered(connection=connection, contact=contact, actor=actor, request=request, error=error)
    failure_record(
        kind=kind,
        key=failure_key(kind, contact.pk),
        direction=SyncFailure.Direction.PUSH,
        error=error,
        connection_id=connection.pk,
        entity_type=CUSTOMER,
        entity_id=contact.quickbooks_customer_id or "",
        obj=contact,
        request_id=request.request_id if request is not None else "",
        retry_args={"contact_id": contact.pk, "connection_id": connection.pk},
    )
    return PushOutcome(contact.pk, "failed", message=str(getattr(error, "message", "") or error))


def _created(
    *, connection: QuickBooksAuth, contact: Contact, actor, request: PushRequest, customer: Mapping[str, Any]
) -> PushOutcome:
    """Keep QBO's answer in the ledger, link the contact to it (enriching it) and close the request and failure."""
    customer_id = str(customer["Id"])
    try:
        with transaction.atomic():
            mirror_apply(connection=connection, entity_type=CUSTOMER, rows=[customer])
            customer_link(connection=connection, contact=contact, customer=customer, actor=actor, source="push")
            answered(connection=connection, contact=contact, actor=actor, request=request, customer_id=customer_id)
    except LinkError as error:  # linked to another customer meanwhile: the new customer must not go unnoticed
        with transaction.atomic():
            mirror_apply(connection=connection, entity_type=CUSTOMER, rows=[customer])
            answered(connection=connection, contact=contact, actor=actor, request=request, customer_id=customer_id)
        unlinked = LinkError(f"QuickBooks customer {customer_id} was created but not linked: {error}")
        return failed(connection=connection, contact=contact, actor=actor, error=unlinked, request=None)
    failure_resolve(key=failure_key(KIND_CREATE, contact.pk), resolution=f"created customer {customer_id}")
    return PushOutcome(contact.pk, "created", customer_id=customer_id)


def _linked_meanwhile(contact: Contact) -> PushOutcome:
    customer_id = Contact.objects.filter(pk=contact.pk).values_list("quickbooks_customer_id", flat=True).first()
    return PushOutcome(contact.pk, "skipped", customer_id or "", "already linked")


def _create_one(
    *, connection: QuickBooksAuth, contact: Contact, actor, payload: dict, request: PushRequest, rename: bool = True
) -> PushOutcome:
    try:
        customer = send_create(connection=connection, payload=payload, request=request)
    except BatchItemMissing as missing:
        answered(connection=connection, contact=contact, actor=actor, request=request, note=str(missing))
        fresh = request_one(connection=connection, contact=contact, actor=actor, display_name=payload["DisplayName"])
        if fresh is None:
            return _linked_meanwhile(contact)
        return _create_one(connection=connection, contact=contact, actor=actor, payload=payload, request=fresh)
    except QuickBooksError as error:
        return _create_refused(
            connection=connection,
            contact=contact,
            actor=actor,
            payload=payload,
            request=request,
            error=error,
            rename=rename,
        )
    return _created(connection=connection, contact=contact, actor=actor, request=request, customer=customer)


def _create_refused(
    *,
    connection: QuickBooksAuth,
    contact: Contact,
    actor,
    payload: dict,
    request: PushRequest,
    error: QuickBooksError,
    rename: bool = True,
) -> PushOutcome:
    """A create (or batch item) QBO refused: 6240 is handled once (candidate or new name), anything else fails."""
    if not isinstance(error, DuplicateNameError) or not rename:
        return failed(connection=connection, contact=contact, actor=actor, error=error, request=request)
    answered(connection=connection, contact=contact, actor=actor, request=request, error=error)
    try:
        return _duplicate_name(connection=connection, contact=contact, actor=actor, payload=payload)
    except QuickBooksError as lookup_error:
        return failed(connection=connection, contact=contact, actor=actor, error=lookup_error, request=None)


def _duplicate_name(*, connection: QuickBooksAuth, contact: Contact, actor, payload: dict) -> PushOutcome:
    """6240: the customer holding the name may be this person (then a candidate), else send once more with a
    name QBO does not know yet.

    DisplayName is unique across customers, vendors and employees and may not hold `:`, tab or newline (API.md
    §4.1). On 6240 the holder is read: if it looks like this person it becomes a candidate, otherwise the name gets
    the contact's city or a number (" (2)") that QBO does not know yet, and the create is sent once more.
    """
    name = payload["DisplayName"]
    holders = [
        c
        for c in query_in(connection=connection, entity=CUSTOMER, prop="DisplayName", values=[name])
        if top_level_active(c)
    ]
    if holders:
        with transaction.atomic():
            mirror_apply(connection=connection, entity_type=CUSTOMER, rows=holders)
    row = contact_row(contact)
    same = [(c, a) for c in holders if plausibly_same(a := pair_assess(row, customer_row_from_qbo(c)))]
    if same:
        pending = propose(connection=connection, contact=contact, actor=actor, hits=same, why="display_name_taken")
        if pending:
            return _queued(contact=contact, actor=actor, customer_ids=pending, why="display_name_taken")
    renamed = {**payload, "DisplayName": free_display_name(connection=connection, contact=contact, taken_name=name)}
    request = request_one(connection=connection, contact=contact, actor=actor, display_name=renamed["DisplayName"])
    if request is None:
        return _linked_meanwhile(contact)
    return _create_one(
        connection=connection, contact=contact, actor=actor, payload=renamed, request=request, rename=False
    )


def _queued(*, contact: Contact, actor, customer_ids: list[str], why: str) -> PushOutcome:
    message = (
        f"QuickBooks already has {len(customer_ids)} customer{'s' if len(customer_ids) != 1 else ''} that may be "
        f"{contact} (id {', '.join(customer_ids)}): queued for the bookkeeper's review instead of creating another."
    )
    audit_record(
        action="customer.push_queued",
        actor=actor,
        obj=contact,
        after={"candidates": customer_ids, "why": why},
        outcome=AuditEvent.Outcome.WARNING,
        message=message,
    )
    return PushOutcome(contact.pk, "queued", message=message)


def permission_check(actor) -> None:
    """Re-checked here, not only where the action is listed (STYLE §2); `None` is the system (a retry, a task)."""
    if actor is not None and not actor.has_perm(PUSH_PERMISSION):
        raise PushError("You may not create or update customers in QuickBooks.")


def _precheck(
    *, connection: QuickBooksAuth, contacts: Sequence[Contact], actor
) -> tuple[list[Contact], dict[int, PushOutcome]]:
    """Split contacts into those to create and those queued for review (a plausible customer exists)."""
    hits = existing_customers_find(connection=connection, contacts=contacts)
    to_create: list[Contact] = []
    outcomes: dict[int, PushOutcome] = {}
    for contact in contacts:
        pending = propose(
            connection=connection, contact=contact, actor=actor, hits=hits.get(contact.pk, []), why="found_on_push"
        )
        if pending:
            outcomes[contact.pk] = _queued(contact=contact, actor=actor, customer_ids=pending, why="found_on_push")
        else:
            to_create.append(contact)
    return to_create, outcomes


def contact_push_create(*, connection: QuickBooksAuth, contact: Contact, actor) -> PushOutcome:
    """Create the contact's QBO customer and link it, unless one plausibly exists (then a review candidate).

    An earlier request QBO never answered for sure is replayed first (same requestid), before any search: its
    customer may exist already, and the search would take it for someone else.
    """
    permission_check(actor)
    contact = Contact.objects.get(pk=contact.pk)
    if contact.quickbooks_customer_id:
        return PushOutcome(contact.pk, "skipped", contact.quickbooks_customer_id, "already linked")
    payload = customer_payload_from_contact(contact)
    pending = push_request_pending(connection=connection, contact_id=contact.pk)
    if pending is None:
        try:
            to_create, queued = _precheck(connection=connection, contacts=[contact], actor=actor)
        except QuickBooksError as error:
            return failed(connection=connection, contact=contact, actor=actor, error=error, request=None)
        if queued:
            return queued[contact.pk]
    request = request_one(connection=connection, contact=contact, actor=actor, display_name=payload["DisplayName"])
    if request is None:
        return _linked_meanwhile(contact)
    if request.display_name and request.display_name != payload["DisplayName"]:
        payload["DisplayName"] = request.display_name  # a replay: the body of the first attempt
    return _create_one(connection=connection, contact=contact, actor=actor, payload=payload, request=request)


def contacts_push_create(*, connection: QuickBooksAuth, contacts: Iterable[Contact], actor) -> list[PushOutcome]:
    """Create customers for many contacts: one search for all of them, then batches of ≤ 30 creates (API.md §6).

    Each item is answered on its own: a fault fails (or renames, on 6240) that contact only, as one `SyncFailure`,
    and the others are linked. Contacts with an unanswered earlier request go one by one through
    `contact_push_create`, which replays it.
    """
    permission_check(actor)
    contacts = list(Contact.objects.filter(pk__in=[c.pk for c in contacts]).order_by("pk"))
    outcomes: dict[int, PushOutcome] = {}
    fresh: list[Contact] = []
    for contact in contacts:
        if contact.quickbooks_customer_id:
            outcomes[contact.pk] = PushOutcome(contact.pk, "skipped", contact.quickbooks_customer_id, "already linked")
        elif push_request_pending(connection=connection, contact_id=contact.pk) is not None:
            outcomes[contact.pk] = contact_push_create(connection=connection, contact=contact, actor=actor)
        else:
            fresh.append(contact)
    fresh, later = selection_split(fresh)
    if len(fresh) == 1:
        outcomes[fresh[0].pk] = contact_push_create(connection=connection, contact=fresh[0], actor=actor)
        fresh = []
    if fresh:
        try:
            to_create, queued = _precheck(connection=connection, contacts=fresh, actor=actor)
        except QuickBooksError as error:
            for contact in fresh:
                outcomes[contact.pk] = failed(
                    connection=connection, contact=contact, actor=actor, error=error, request=None
                )
            to_create, queued = [], {}
        outcomes.update(queued)
        for start in range(0, len(to_create), BATCH_MAX_ITEMS):
            chunk = to_create[start : start + BATCH_MAX_ITEMS]
            outcomes.update(_batch_create(connection=connection, contacts=chunk, actor=actor))
    for contact in later:  # now checked against the customers the batches just made
        outcomes[contact.pk] = contact_push_create(connection=connection, contact=contact, actor=actor)
    return [outcomes[c.pk] for c in contacts]


def _batch_create(*, connection: QuickBooksAuth, contacts: Sequence[Contact], actor) -> dict[int, PushOutcome]:
    """One batch call for ≤ 30 creates; each item's answer is handled like a single create's."""
    payloads = {c.pk: customer_payload_from_contact(c) for c in contacts}
    batch_id = uuid.uuid4().hex
    pending = requests_store(
        connection=connection,
        contacts=contacts,
        actor=actor,
        display_names={pk: p["DisplayName"] for pk, p in payloads.items()},
        batch_id=batch_id,
    )
    outcomes: dict[int, PushOutcome] = {}
    batched: list[Contact] = []
    for contact in contacts:
        request = pending.get(contact.pk)
        if request is None:
            outcomes[contact.pk] = _linked_meanwhile(contact)
        elif request.request_id != batch_id:  # another click's request, unanswered: replay that one
            payload = {
                **payloads[contact.pk],
                "DisplayName": request.display_name or payloads[contact.pk]["DisplayName"],
            }
            outcomes[contact.pk] = _create_one(
                connection=connection, contact=contact, actor=actor, payload=payload, request=request
            )
        else:
            batched.append(contact)
    if not batched:
        return outcomes
    items = [{"bId": pending[c.pk].bid, "operation": "create", CUSTOMER: payloads[c.pk]} for c in batched]
    try:
        answers = qbo_batch(connection=connection, items=items, request_id=batch_id)
    except QuickBooksError as error:
        for contact in batched:
            outcomes[contact.pk] = failed(
                connection=connection, contact=contact, actor=actor, error=error, request=pending[contact.pk]
            )
        return outcomes
    by_bid = {str(answer.get("bId")): answer for answer in answers}
    for contact in batched:
        request, payload = pending[contact.pk], payloads[contact.pk]
        answer = by_bid.get(request.bid)
        if answer is None:  # not answered for sure: the request stays open, a retry replays the batch
            error = QuickBooksError(f"QuickBooks' batch answer has no item {request.bid}")
            outcomes[contact.pk] = failed(
                connection=connection, contact=contact, actor=actor, error=error, request=request
            )
        elif "Fault" in answer:
            outcomes[contact.pk] = _create_refused(
                connection=connection,
                contact=contact,
                actor=actor,
                payload=payload,
                request=request,
                error=batch_item_error(answer["Fault"]),
            )
        else:
            outcomes[contact.pk] = _created(
                connection=connection, contact=contact, actor=actor, request=request, customer=answer[CUSTOMER]
            )
    return outcomes


def retry_contact(failure: SyncFailure) -> tuple[QuickBooksAuth, Contact]:
    from ..qbo.tokens import connection_load

    connection = connection_load(connection_id=failure.retry_args.get("connection_id") or failure.connection_id)
    contact = Contact.objects.get(pk=failure.retry_args["contact_id"])
    return connection, contact


@failure_retry_register(KIND_CREATE)
def _create_retry(failure: SyncFailure) -> str:
    """Retrying a failed create runs it again now: an unanswered request is replayed with its requestid."""
    connection, contact = retry_contact(failure)
    outcome = contact_push_create(connection=connection, contact=contact, actor=None)
    return f"{contact}: {outcome.status}" + (f" ({outcome.message})" if outcome.message else "")


def push_outcomes_count(outcomes: Iterable[PushOutcome]) -> dict[str, int]:
    """Outcomes by status, for the admin's one-line summary."""
    counts: dict[str, int] = defaultdict(int)
    for outcome in outcomes:
        counts[outcome.status] += 1
    return dict(counts)


__all__ = [
    "PushError",
    "PushOutcome",
    "contact_push_create",
    "contacts_push_create",
]
