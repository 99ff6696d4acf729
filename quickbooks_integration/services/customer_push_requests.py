"""The stored `requestid` of each customer create (push, issue 10): kept before the first attempt, replayed
until QBO answers for sure, then closed.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from crm.models import Contact

from ..models import AuditEvent, QuickBooksAuth
from ..qbo.client import qbo_batch, qbo_create
from ..qbo.errors import (
    DuplicateNameError,
    NotFoundError,
    QuickBooksError,
    QuickBooksValidationError,
    StaleObjectError,
    error_from_response,
)
from .audit import audit_record
from .customer_payload import CUSTOMER

REQUESTED = "customer.push_requested"
ANSWERED = "customer.push"
CONTACT_LABEL = Contact._meta.label


@dataclass(frozen=True)
class PushRequest:
    """A create's requestid as stored before the first attempt; `bid` when it was one item of a batch."""

    request_id: str
    bid: str = ""
    display_name: str = ""


def _request_latest(*, connection: QuickBooksAuth, contact_id: int) -> AuditEvent | None:
    return (
        AuditEvent.objects.filter(
            object_type=CONTACT_LABEL,
            object_id=str(contact_id),
            action__in=[REQUESTED, ANSWERED],
            after__connection=connection.pk,
        )
        .order_by("-id")
        .first()
    )


def push_request_pending(*, connection: QuickBooksAuth, contact_id: int) -> PushRequest | None:
    """The contact's create request QBO never answered for sure (a timeout, a crash, a lost batch), if any."""
    event = _request_latest(connection=connection, contact_id=contact_id)
    if event is None or event.action != REQUESTED:
        return None
    after = event.after or {}
    return PushRequest(str(after.get("request_id", "")), str(after.get("bid", "")), str(after.get("display_name", "")))


def requests_store(
    *,
    connection: QuickBooksAuth,
    contacts: Sequence[Contact],
    actor,
    display_names: Mapping[int, str],
    batch_id: str = "",
) -> dict[int, PushRequest]:
    """Store (or reuse, when one is still unanswered) each contact's requestid before anything is sent.

    The contacts are locked for the moment it takes, so two clicks on the same contact share one requestid and QBO
    makes one customer; a contact linked meanwhile (the other click won) gets none. A batch shares one requestid
    (≤ 36 chars) and numbers its items (bId ≤ 10 chars).

    One requestid per create, stored before the first attempt (API.md §3.4: QBO answers a repeated requestid with
    the first answer instead of acting again). It is written as a `customer.push_requested` AuditEvent on the
    contact, in a short transaction that locks the contact, so a second click, a retry after a timeout or a crash
    reuses it and gets the customer the first attempt made. A request counts as answered once QBO's answer was
    definitive (`customer.push`, success or failure); only then does a new attempt get a new id.
    """
    stored: dict[int, PushRequest] = {}
    with transaction.atomic():
        locked = Contact.objects.select_for_update().filter(pk__in=[c.pk for c in contacts]).order_by("pk")
        linked = {pk for pk, customer_id in locked.values_list("pk", "quickbooks_customer_id") if customer_id}
        for index, contact in enumerate(contacts):
            if contact.pk in linked:
                continue
            pending = push_request_pending(connection=connection, contact_id=contact.pk)
            if pending is not None:
                stored[contact.pk] = pending
                continue
            request = PushRequest(
                request_id=batch_id or uuid.uuid4().hex,
                bid=f"c{index}" if batch_id else "",
                display_name=display_names[contact.pk],
            )
            audit_record(
                action=REQUESTED,
                actor=actor,
                obj=contact,
                after={
                    "connection": connection.pk,
                    "request_id": request.request_id,
                    "bid": request.bid,
                    "display_name": request.display_name,
                },
                message=f"requestid {request.request_id}{f' item {request.bid}' if request.bid else ''}",
            )
            stored[contact.pk] = request
    return stored


def answered(
    *,
    connection: QuickBooksAuth,
    contact: Contact,
    actor,
    request: PushRequest,
    customer_id: str = "",
    error: BaseException | None = None,
    note: str = "",
) -> None:
    """QBO answered this request for sure: the next attempt gets a new requestid."""
    audit_record(
        action=ANSWERED,
        actor=actor,
        obj=contact,
        after={"connection": connection.pk, "request_id": request.request_id, "quickbooks_customer_id": customer_id},
        outcome=AuditEvent.Outcome.FAILURE if error is not None or note else AuditEvent.Outcome.SUCCESS,
        message=note or (str(error) if error is not None else f"created QuickBooks customer {customer_id}"),
    )


def definitive(error: BaseException) -> bool:
    """QBO looked at the request and refused it (a 400 fault): repeating the requestid would only replay that."""
    return isinstance(error, (QuickBooksValidationError, DuplicateNameError, NotFoundError, StaleObjectError))


class BatchItemMissing(Exception):
    """QBO's answer to the replayed batch has no item for this contact: the first request never ran this item."""


def send_create(*, connection: QuickBooksAuth, payload: dict, request: PushRequest) -> dict:
    """One create: a plain POST, or the replay of the batch item it was (same requestid and bId).

    QBO replays the whole first answer of a batch, whatever the new body holds; if the first never arrived, only
    this item runs.
    """
    if not request.bid:
        return qbo_create(connection=connection, entity=CUSTOMER, payload=payload, request_id=request.request_id)
    answers = qbo_batch(
        connection=connection,
        items=[{"bId": request.bid, "operation": "create", CUSTOMER: payload}],
        request_id=request.request_id,
    )
    answer = next((a for a in answers if a.get("bId") == request.bid), None)
    if answer is None:  # QBO replayed a first run of that batch that did not hold this item
        raise BatchItemMissing(f"batch {request.request_id} has no item {request.bid}")
    if "Fault" in answer:
        raise batch_item_error(answer["Fault"])
    return answer[CUSTOMER]


def batch_item_error(fault: Mapping[str, Any]) -> QuickBooksError:
    """The typed error of one batch item's Fault (the batch itself answered 200, API.md §6)."""
    return error_from_response(status=200, body=json.dumps({"Fault": fault}))


def request_one(*, connection: QuickBooksAuth, contact: Contact, actor, display_name: str) -> PushRequest | None:
    """The contact's requestid (stored now, or the unanswered one); None when it got linked meanwhile."""
    stored = requests_store(
        connection=connection, contacts=[contact], actor=actor, display_names={contact.pk: display_name}
    )
    return stored.get(contact.pk)
