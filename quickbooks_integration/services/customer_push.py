"""Push: creating QBO customers from CRM contacts and sending contact changes to them (issue 10, "Push").

Owns the way a contact becomes a QBO customer without ever making a duplicate, and the way its later changes reach
QBO without overwriting someone else's. Must not hold a database transaction across a QBO call (STYLE §2), link
anything itself (`customer_links.customer_link` does), or decide a doubtful pair (the bookkeeper's review queue
does, through `match_review.match_candidate_propose`).

The rules, and why each:

1. **Look before creating.** QBO is searched by phone (every usual way of typing the number, since QBO keeps
   `FreeFormNumber` as typed and has no OR), e-mail and DisplayName, and so is the ledger (phones in any format
   there). A customer that plausibly is this person (a shared phone or e-mail, or the same name with nothing to
   tell them apart) becomes a review candidate instead: a duplicate customer is the most common complaint about
   CRM-QuickBooks integrations, and a candidate costs the bookkeeper one click. A pair she rejected is no longer
   an obstacle. Only active top-level customers count (jobs repeat their parent's phone; a deactivated customer
   is out of the way, and its " (deleted)" name frees the DisplayName).
2. **One `requestid` per create, stored before the first attempt** (API.md §3.4: QBO answers a repeated requestid
   with the first answer instead of acting again). It is written as a `customer.push_requested` AuditEvent on
   the contact, in a short transaction that locks the contact, so a second click, a retry after a timeout or a
   crash reuses it and gets the customer the first attempt made. A request counts as answered once QBO's answer
   was definitive (`customer.push`, success or failure); only then does a new attempt get a new id. A create
   that was one item of a batch is replayed as a batch with the same requestid and bId: QBO replays the whole
   first answer, whatever the new body holds (and if the first never arrived, only this item runs).
3. **DisplayName** is unique across customers, vendors and employees and may not hold `:`, tab or newline
   (API.md §4.1). On 6240 the holder is read: if it looks like this person it becomes a candidate, otherwise the
   name gets the contact's city or a number (" (2)") that QBO does not know yet, and the create is sent once more.
4. **Batches of at most 30** creates for many contacts (API.md §6), each item answered on its own: a failed item is
   one `SyncFailure`, the others are linked.
5. **Updates are sparse**, with the stored SyncToken, and never clear a QBO field the CRM left empty (an empty
   CRM detail is filled from QBO, `update_contact_from_customer`). A field with an open `ContactConflict` is not
   sent: the bookkeeper decides it. On 5010 (stale) the customer is read again: what we send is re-applied when QBO
   did not change those fields since our last copy (the ledger's payload); a field QBO changed to something else is
   a conflict (a `ContactConflict` and a `SyncFailure`), never overwritten.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Q

from crm.models import Contact
from crm.normalization import email_normalize, phone_to_e164

from ..models import AuditEvent, ContactConflict, QuickBooksAuth, QuickBooksSync, SyncFailure
from ..qbo.client import BATCH_MAX_ITEMS, qbo_batch, qbo_create, qbo_query, qbo_read, qbo_update
from ..qbo.errors import (
    DuplicateNameError,
    NotFoundError,
    QuickBooksError,
    QuickBooksValidationError,
    StaleObjectError,
    error_from_response,
)
from .audit import audit_record
from .customer_links import LinkError, customer_link, update_contact_from_customer
from .failures import failure_record, failure_resolve, failure_retry_register
from .match_review import contact_row, match_candidate_propose
from .matching import (
    AGREE,
    CONFLICT,
    PARTIAL,
    Assessment,
    contact_keys,
    customer_row_from_qbo,
    pair_assess,
    phone_keys,
)
from .mirror import mirror_apply, mirror_get

logger = logging.getLogger(__name__)

CUSTOMER = "Customer"
PUSH_PERMISSION = "quickbooks_integration.push_to_quickbooks"
KIND_CREATE = "customer_create"
KIND_UPDATE = "customer_update"
REQUESTED = "customer.push_requested"
ANSWERED = "customer.push"
UPDATED = "customer.push_update"
CONTACT_LABEL = Contact._meta.label

# API.md §4.1 lengths.
DISPLAY_NAME_MAX = 500
NAME_MAX = 100
PHONE_MAX = 30
EMAIL_MAX = 100
_FORBIDDEN_IN_NAME = re.compile(r"[:\t\r\n]+")
_SPACES = re.compile(r"\s+")
IN_CHUNK = 100  # values per `IN (…)`: a statement of a few KB, so 30 contacts' phones take a few calls per field

# Payload key -> the contact fields it carries (for conflicts, which are recorded per contact field).
PAYLOAD_FIELDS: dict[str, tuple[str, ...]] = {
    "DisplayName": ("first_name", "last_name", "company_name"),
    "GivenName": ("first_name",),
    "FamilyName": ("last_name",),
    "CompanyName": ("company_name",),
    "PrimaryPhone": ("phone",),
    "Mobile": ("mobile_phone",),
    "PrimaryEmailAddr": ("email",),
    "BillAddr": ("address_line1", "address_line2", "city", "state", "zip_code"),
}
UPDATABLE = ("GivenName", "FamilyName", "CompanyName", "PrimaryPhone", "Mobile", "PrimaryEmailAddr", "BillAddr")
ADDRESS_KEYS = {
    "Line1": "address_line1",
    "Line2": "address_line2",
    "City": "city",
    "CountrySubDivisionCode": "state",
    "PostalCode": "zip_code",
}


class PushError(Exception):
    """The push cannot be made as asked (not allowed, not connected, contact not linked…): say why, for a person."""


class PushConflictError(StaleObjectError):
    """5010 with QBO's own change to a field we send: the CRM's value is not written over it."""


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


# ---------------------------------------------------------------------------------------------------- payload


def display_name_clean(text: str, *, limit: int = DISPLAY_NAME_MAX) -> str:
    """A DisplayName QBO accepts: no `:`, tab or newline (6000 otherwise), single spaces, at most `limit` chars."""
    cleaned = _SPACES.sub(" ", _FORBIDDEN_IN_NAME.sub(" ", text or "")).strip()
    return cleaned[:limit].rstrip()


def _text(value: str, limit: int) -> str:
    return _SPACES.sub(" ", (value or "").replace("\t", " ")).strip()[:limit].rstrip()


def _phone(raw: str) -> dict[str, str] | None:
    """`{"FreeFormNumber": …}` as typed (QBO keeps free text, ≤ 30); a longer entry ("617-555-0134 ext. 22 (ask
    for the office manager)") is sent as the E.164 number found in it."""
    raw = (raw or "").strip()
    if not raw:
        return None
    if len(raw) <= PHONE_MAX:
        return {"FreeFormNumber": raw}
    e164 = phone_to_e164(raw) or next(iter(phone_keys(raw)), None)
    return {"FreeFormNumber": e164} if e164 else None


def customer_payload_from_contact(contact: Contact) -> dict[str, Any]:
    """The QBO Customer body for a contact (create, or the source of a sparse update); pure, input untouched.

    DisplayName is the CRM's own display name ("First Last (Company)", else the company, phone or e-mail), cleaned
    for QBO. Empty details are left out. An e-mail over QBO's 100 characters, or one QBO would refuse as not an
    address (2210), is left out rather than failing the push: the CRM keeps it.
    """
    payload: dict[str, Any] = {
        "DisplayName": display_name_clean(contact.display_name) or f"Contact {contact.pk}",
    }
    for key, value in (
        ("GivenName", contact.first_name),
        ("FamilyName", contact.last_name),
        ("CompanyName", contact.company_name),
    ):
        text = _text(value, NAME_MAX)
        if text:
            payload[key] = text
    for key, raw in (("PrimaryPhone", contact.phone), ("Mobile", contact.mobile_phone)):
        phone = _phone(raw)
        if phone:
            payload[key] = phone
    email = email_normalize(contact.email)
    if email and len(email) <= EMAIL_MAX and "@" in email and "." in email.rpartition("@")[2]:
        payload["PrimaryEmailAddr"] = {"Address": email}
    address = {
        key: _text(getattr(contact, field), 255 if key != "PostalCode" else 30) for key, field in ADDRESS_KEYS.items()
    }
    address = {key: value for key, value in address.items() if value}
    if address:
        payload["BillAddr"] = address
    return payload


def _comparable(key: str, value: Any) -> Any:
    """A payload value as compared between the CRM, the ledger and QBO: phones by E.164, e-mails lower-cased,
    names case- and space-insensitive, addresses by their lines."""
    if key in ("PrimaryPhone", "Mobile", "AlternatePhone"):
        raw = str(value.get("FreeFormNumber") or "").strip() if isinstance(value, Mapping) else ""
        return phone_to_e164(raw) or raw
    if key == "PrimaryEmailAddr":
        return email_normalize(value.get("Address") if isinstance(value, Mapping) else "")
    if key == "BillAddr":
        value = value if isinstance(value, Mapping) else {}
        return tuple(_SPACES.sub(" ", str(value.get(k) or "")).strip().casefold() for k in ADDRESS_KEYS)
    return _SPACES.sub(" ", str(value or "")).strip().casefold()


def _address_differs(ours: Mapping[str, Any], theirs: Any) -> bool:
    """Only the lines the contact has count: an empty CRM line never clears QBO's."""
    theirs = theirs if isinstance(theirs, Mapping) else {}
    return any(
        _comparable("DisplayName", value) != _comparable("DisplayName", theirs.get(key)) for key, value in ours.items()
    )


# ---------------------------------------------------------------------------------------------------- looking first


def _quote(value: str) -> str:
    """A literal of QBO's query language: quotes and backslashes escaped with a backslash (API.md §3.2)."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def phone_variants(raw: str) -> list[str]:
    """The ways people type one number, for an exact `IN (…)` on QBO's free-text phone fields (QBO has no OR, and
    LIKE cannot serve many contacts at once): the typed text and the nine usual US layouts of its E.164 form.
    Rarer layouts are caught by the ledger search, which compares numbers, not text."""
    variants = [raw.strip()] if raw and raw.strip() else []
    e164 = phone_to_e164(raw)
    if e164 and e164.startswith("+1") and len(e164) == 12:
        a, b, c = e164[2:5], e164[5:8], e164[8:]
        variants += [
            f"({a}) {b}-{c}",
            f"{a}-{b}-{c}",
            f"{a}.{b}.{c}",
            f"{a}{b}{c}",
            f"{a} {b} {c}",
            f"1-{a}-{b}-{c}",
            f"+1 {a}-{b}-{c}",
            f"+1 ({a}) {b}-{c}",
            f"+1{a}{b}{c}",
        ]
    elif e164:
        variants.append(e164)
    return list(dict.fromkeys(v for v in variants if len(v) <= PHONE_MAX))


def _contact_names(contact: Contact) -> list[str]:
    """The DisplayNames this contact could already have in QBO: ours, the person alone, the company alone."""
    person = " ".join(part for part in (contact.first_name, contact.last_name) if part)
    names = [customer_payload_from_contact(contact)["DisplayName"], person, contact.company_name]
    return list(dict.fromkeys(display_name_clean(n) for n in names if n and display_name_clean(n)))


def _query_in(*, connection: QuickBooksAuth, entity: str, prop: str, values: Iterable[str]) -> list[dict]:
    values = sorted({v for v in values if v}, key=str.casefold)
    rows: list[dict] = []
    for start in range(0, len(values), IN_CHUNK):
        chunk = ", ".join(_quote(v) for v in values[start : start + IN_CHUNK])
        # QBO's query language sent to QBO (not SQL); every value escaped by _quote
        sql = f"SELECT * FROM {entity} WHERE {prop} IN ({chunk}) ORDERBY Id"  # noqa: S608  # nosec B608
        rows.extend(qbo_query(connection=connection, sql=sql))
    return rows


def _qbo_lookup(*, connection: QuickBooksAuth, contacts: Sequence[Contact]) -> list[dict]:
    """Active customers QBO holds with any of these contacts' phones, e-mails or names (a few calls per 50)."""
    phones = {v for c in contacts for raw in (c.phone, c.mobile_phone) if raw for v in phone_variants(raw)}
    emails = {email_normalize(c.email) for c in contacts if c.email}
    names = {name for c in contacts for name in _contact_names(c)}
    found: dict[str, dict] = {}
    for prop, values in (
        ("PrimaryEmailAddr", emails),
        ("DisplayName", names),
        ("PrimaryPhone", phones),
        ("Mobile", phones),
        ("AlternatePhone", phones),
    ):
        for row in _query_in(connection=connection, entity=CUSTOMER, prop=prop, values=values):
            found[str(row["Id"])] = row
    return list(found.values())


def _digits_tail(raw: str) -> str:
    digits = re.sub(r"\D", "", phone_to_e164(raw) or "")
    return digits[-4:] if len(digits) >= 7 else ""


def _ledger_lookup(*, connection: QuickBooksAuth, contacts: Sequence[Contact]) -> list[dict]:
    """Customers the ledger holds with these contacts' phones (in any format), e-mails or names: a customer made
    in QBO in an odd format, or one the search above cannot reach, is still found."""
    found: dict[str, dict] = {}
    for start in range(0, len(contacts), 20):
        match = Q()
        for contact in contacts[start : start + 20]:
            for raw in (contact.phone, contact.mobile_phone):
                tail = _digits_tail(raw)
                if tail:
                    for key in ("PrimaryPhone", "Mobile", "AlternatePhone"):
                        match |= Q(**{f"payload__{key}__FreeFormNumber__icontains": tail})
            if contact.email:
                match |= Q(payload__PrimaryEmailAddr__Address__icontains=email_normalize(contact.email))
            for name in _contact_names(contact):
                match |= Q(payload__DisplayName__iexact=name)
        if not match:
            continue
        entries = QuickBooksSync.objects.filter(
            match, connection=connection, entity_type=CUSTOMER, deleted_at__isnull=True
        ).only("entity_id", "payload")
        for entry in entries:
            if entry.payload:
                found[entry.entity_id] = dict(entry.payload)
    return list(found.values())


def _top_level_active(customer: Mapping[str, Any]) -> bool:
    return customer.get("Active", True) is not False and not customer.get("Job") and not customer.get("ParentRef")


def plausibly_same(assessment: Assessment) -> bool:
    """A shared phone or e-mail, or names that agree with nothing to tell the two apart (no phones or e-mails on
    one side): enough doubt that a new customer could be a duplicate."""
    if assessment.phones or assessment.emails:
        return True
    keys_differ = any(reason.get("rule") == "keys_differ" for reason in assessment.reasons)
    return assessment.verdict == AGREE and not keys_differ


def _candidate_kind(assessment: Assessment) -> str:
    """The main doubt, in the matching engine's words (so the queue's filter groups them with the import's)."""
    if not (assessment.phones or assessment.emails):
        return "name_only"
    if assessment.verdict == CONFLICT:
        return "name_conflict"
    if assessment.verdict == PARTIAL:
        return "name_partial"
    if assessment.detail == "company_vs_person":
        return "company_vs_person"
    return "email_only" if not assessment.phones else "unconfirmed"


def existing_customers_find(
    *, connection: QuickBooksAuth, contacts: Sequence[Contact]
) -> dict[int, list[tuple[dict, Assessment]]]:
    """contact id → the active top-level customers (QBO and the ledger) that plausibly are that contact, best first.

    What QBO sent is kept in the ledger (everything QBO sends goes through it), so the review queue reads it there.
    """
    if not contacts:
        return {}
    customers: dict[str, dict] = {str(c["Id"]): c for c in _ledger_lookup(connection=connection, contacts=contacts)}
    fetched = _qbo_lookup(connection=connection, contacts=contacts)
    if fetched:
        with transaction.atomic():
            mirror_apply(connection=connection, entity_type=CUSTOMER, rows=fetched)
        customers.update({str(c["Id"]): c for c in fetched})  # QBO's copy is the newer one
    rows = [(c, customer_row_from_qbo(c)) for c in customers.values() if _top_level_active(c)]
    hits: dict[int, list[tuple[dict, Assessment]]] = defaultdict(list)
    for contact in contacts:
        row = contact_row(contact)
        for customer, customer_row in rows:
            assessment = pair_assess(row, customer_row)
            if plausibly_same(assessment):
                hits[contact.pk].append((customer, assessment))
        hits[contact.pk].sort(key=lambda hit: -hit[1].score)
    return dict(hits)


def _propose(
    *, connection: QuickBooksAuth, contact: Contact, actor, hits: Sequence[tuple[dict, Assessment]], why: str
) -> list[str]:
    """Queue each plausible customer for the bookkeeper; returns the ids still pending (rejected pairs drop out)."""
    pending: list[str] = []
    by = actor.get_username() if actor is not None and getattr(actor, "is_authenticated", False) else "system"
    for customer, assessment in hits:
        candidate = match_candidate_propose(
            connection=connection,
            contact=contact,
            customer=customer,
            score=assessment.score,
            kind=_candidate_kind(assessment),
            reasons=[*assessment.reasons, {"rule": why, "by": by}],
        )
        if candidate is not None and candidate.status == candidate.Status.PENDING:
            pending.append(str(customer["Id"]))
    return pending


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


# ---------------------------------------------------------------------------------------------------- request ids


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


def _requests_store(
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


def _answered(
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


def _definitive(error: BaseException) -> bool:
    """QBO looked at the request and refused it (a 400 fault): repeating the requestid would only replay that."""
    return isinstance(error, (QuickBooksValidationError, DuplicateNameError, NotFoundError, StaleObjectError))


# ---------------------------------------------------------------------------------------------------- creating


def _failure_key(kind: str, contact_id: int) -> str:
    return f"{kind}:contact:{contact_id}"


def _failed(
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
    if request is not None and _definitive(error):
        _answered(connection=connection, contact=contact, actor=actor, request=request, error=error)
    failure_record(
        kind=kind,
        key=_failure_key(kind, contact.pk),
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
            _answered(connection=connection, contact=contact, actor=actor, request=request, customer_id=customer_id)
    except LinkError as error:  # linked to another customer meanwhile: the new customer must not go unnoticed
        with transaction.atomic():
            mirror_apply(connection=connection, entity_type=CUSTOMER, rows=[customer])
            _answered(connection=connection, contact=contact, actor=actor, request=request, customer_id=customer_id)
        unlinked = LinkError(f"QuickBooks customer {customer_id} was created but not linked: {error}")
        return _failed(connection=connection, contact=contact, actor=actor, error=unlinked, request=None)
    failure_resolve(key=_failure_key(KIND_CREATE, contact.pk), resolution=f"created customer {customer_id}")
    return PushOutcome(contact.pk, "created", customer_id=customer_id)


def _free_display_name(*, connection: QuickBooksAuth, contact: Contact, taken_name: str) -> str:
    """A DisplayName QBO does not have yet: the name with the contact's city, else " (2)" … " (9)", else the
    contact's id. One query per names list (customers, vendors and employees share the namespace, API.md §4.1)."""
    base = taken_name
    options = []
    if contact.city and contact.city.casefold() not in base.casefold():
        options.append(f"{base} ({contact.city})")
    options += [f"{base} ({n})" for n in range(2, 10)]
    options = [display_name_clean(option) for option in options]
    taken: set[str] = set()
    for entity in ("Customer", "Vendor", "Employee"):
        rows = _query_in(connection=connection, entity=entity, prop="DisplayName", values=options)
        taken |= {str(row.get("DisplayName", "")).casefold() for row in rows}
    for option in options:
        if option.casefold() not in taken:
            return option
    return display_name_clean(f"{base} (CRM {contact.pk})")


class _BatchItemMissing(Exception):
    """QBO's answer to the replayed batch has no item for this contact: the first request never ran this item."""


def _send_create(*, connection: QuickBooksAuth, payload: dict, request: PushRequest) -> dict:
    """One create: a plain POST, or the replay of the batch item it was (same requestid and bId)."""
    if not request.bid:
        return qbo_create(connection=connection, entity=CUSTOMER, payload=payload, request_id=request.request_id)
    answers = qbo_batch(
        connection=connection,
        items=[{"bId": request.bid, "operation": "create", CUSTOMER: payload}],
        request_id=request.request_id,
    )
    answer = next((a for a in answers if a.get("bId") == request.bid), None)
    if answer is None:  # QBO replayed a first run of that batch that did not hold this item
        raise _BatchItemMissing(f"batch {request.request_id} has no item {request.bid}")
    if "Fault" in answer:
        raise batch_item_error(answer["Fault"])
    return answer[CUSTOMER]


def batch_item_error(fault: Mapping[str, Any]) -> QuickBooksError:
    """The typed error of one batch item's Fault (the batch itself answered 200, API.md §6)."""
    return error_from_response(status=200, body=json.dumps({"Fault": fault}))


def _request_one(*, connection: QuickBooksAuth, contact: Contact, actor, display_name: str) -> PushRequest | None:
    """The contact's requestid (stored now, or the unanswered one); None when it got linked meanwhile."""
    stored = _requests_store(
        connection=connection, contacts=[contact], actor=actor, display_names={contact.pk: display_name}
    )
    return stored.get(contact.pk)


def _linked_meanwhile(contact: Contact) -> PushOutcome:
    customer_id = Contact.objects.filter(pk=contact.pk).values_list("quickbooks_customer_id", flat=True).first()
    return PushOutcome(contact.pk, "skipped", customer_id or "", "already linked")


def _create_one(
    *, connection: QuickBooksAuth, contact: Contact, actor, payload: dict, request: PushRequest, rename: bool = True
) -> PushOutcome:
    try:
        customer = _send_create(connection=connection, payload=payload, request=request)
    except _BatchItemMissing as missing:
        _answered(connection=connection, contact=contact, actor=actor, request=request, note=str(missing))
        fresh = _request_one(connection=connection, contact=contact, actor=actor, display_name=payload["DisplayName"])
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
        return _failed(connection=connection, contact=contact, actor=actor, error=error, request=request)
    _answered(connection=connection, contact=contact, actor=actor, request=request, error=error)
    try:
        return _duplicate_name(connection=connection, contact=contact, actor=actor, payload=payload)
    except QuickBooksError as lookup_error:
        return _failed(connection=connection, contact=contact, actor=actor, error=lookup_error, request=None)


def _duplicate_name(*, connection: QuickBooksAuth, contact: Contact, actor, payload: dict) -> PushOutcome:
    """6240: the customer holding the name may be this person (then a candidate), else send once more with a
    name QBO does not know yet."""
    name = payload["DisplayName"]
    holders = [
        c
        for c in _query_in(connection=connection, entity=CUSTOMER, prop="DisplayName", values=[name])
        if _top_level_active(c)
    ]
    if holders:
        with transaction.atomic():
            mirror_apply(connection=connection, entity_type=CUSTOMER, rows=holders)
    row = contact_row(contact)
    same = [(c, a) for c in holders if plausibly_same(a := pair_assess(row, customer_row_from_qbo(c)))]
    if same:
        pending = _propose(connection=connection, contact=contact, actor=actor, hits=same, why="display_name_taken")
        if pending:
            return _queued(contact=contact, actor=actor, customer_ids=pending, why="display_name_taken")
    renamed = {**payload, "DisplayName": _free_display_name(connection=connection, contact=contact, taken_name=name)}
    request = _request_one(connection=connection, contact=contact, actor=actor, display_name=renamed["DisplayName"])
    if request is None:
        return _linked_meanwhile(contact)
    return _create_one(
        connection=connection, contact=contact, actor=actor, payload=renamed, request=request, rename=False
    )


def _permission_check(actor) -> None:
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
        pending = _propose(
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
    _permission_check(actor)
    contact = Contact.objects.get(pk=contact.pk)
    if contact.quickbooks_customer_id:
        return PushOutcome(contact.pk, "skipped", contact.quickbooks_customer_id, "already linked")
    payload = customer_payload_from_contact(contact)
    pending = push_request_pending(connection=connection, contact_id=contact.pk)
    if pending is None:
        try:
            to_create, queued = _precheck(connection=connection, contacts=[contact], actor=actor)
        except QuickBooksError as error:
            return _failed(connection=connection, contact=contact, actor=actor, error=error, request=None)
        if queued:
            return queued[contact.pk]
    request = _request_one(connection=connection, contact=contact, actor=actor, display_name=payload["DisplayName"])
    if request is None:
        return _linked_meanwhile(contact)
    if request.display_name and request.display_name != payload["DisplayName"]:
        payload["DisplayName"] = request.display_name  # a replay: the body of the first attempt
    return _create_one(connection=connection, contact=contact, actor=actor, payload=payload, request=request)


def contacts_push_create(*, connection: QuickBooksAuth, contacts: Iterable[Contact], actor) -> list[PushOutcome]:
    """Create customers for many contacts: one search for all of them, then batches of ≤ 30 creates.

    Each item is answered on its own: a fault fails (or renames, on 6240) that contact only. Contacts with an
    unanswered earlier request go one by one through `contact_push_create`, which replays it.
    """
    _permission_check(actor)
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
    fresh, later = _selection_split(fresh)
    if len(fresh) == 1:
        outcomes[fresh[0].pk] = contact_push_create(connection=connection, contact=fresh[0], actor=actor)
        fresh = []
    if fresh:
        try:
            to_create, queued = _precheck(connection=connection, contacts=fresh, actor=actor)
        except QuickBooksError as error:
            for contact in fresh:
                outcomes[contact.pk] = _failed(
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


def _selection_split(contacts: Sequence[Contact]) -> tuple[list[Contact], list[Contact]]:
    """Contacts sharing a phone or e-mail with an earlier one of the same selection wait for the batches: items of
    one batch cannot see each other (API.md §6), so both would be created, a duplicate in QBO."""
    seen: set[str] = set()
    first: list[Contact] = []
    later: list[Contact] = []
    for contact in contacts:
        keys = set(contact_keys(contact_row(contact)).all)
        (later if keys & seen else first).append(contact)
        seen |= keys
    return first, later


def _batch_create(*, connection: QuickBooksAuth, contacts: Sequence[Contact], actor) -> dict[int, PushOutcome]:
    """One batch call for ≤ 30 creates; each item's answer is handled like a single create's."""
    payloads = {c.pk: customer_payload_from_contact(c) for c in contacts}
    batch_id = uuid.uuid4().hex
    pending = _requests_store(
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
            outcomes[contact.pk] = _failed(
                connection=connection, contact=contact, actor=actor, error=error, request=pending[contact.pk]
            )
        return outcomes
    by_bid = {str(answer.get("bId")): answer for answer in answers}
    for contact in batched:
        request, payload = pending[contact.pk], payloads[contact.pk]
        answer = by_bid.get(request.bid)
        if answer is None:  # not answered for sure: the request stays open, a retry replays the batch
            error = QuickBooksError(f"QuickBooks' batch answer has no item {request.bid}")
            outcomes[contact.pk] = _failed(
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


# ---------------------------------------------------------------------------------------------------- updating


def _open_conflict_fields(contact: Contact) -> set[str]:
    return set(
        ContactConflict.objects.filter(contact=contact, resolved_at__isnull=True).values_list("field", flat=True)
    )


def _changes(*, payload: Mapping[str, Any], base: Mapping[str, Any], skip: set[str]) -> dict[str, Any]:
    """The sparse body's fields: what the contact has and QBO's last copy (`base`) lacks or holds differently."""
    changes: dict[str, Any] = {}
    for key in UPDATABLE:
        ours = payload.get(key)
        if ours is None or skip.intersection(PAYLOAD_FIELDS[key]):
            continue
        if key == "BillAddr":
            if _address_differs(ours, base.get(key)):
                merged = dict(base.get(key) or {})  # a sparse update replaces the whole address object
                merged.update(ours)
                changes[key] = merged
        elif _comparable(key, ours) != _comparable(key, base.get(key)):
            changes[key] = ours
    names_changed = changes.keys() & {"GivenName", "FamilyName", "CompanyName"}
    new_name = _comparable("DisplayName", payload["DisplayName"]) != _comparable("DisplayName", base.get("DisplayName"))
    if (
        names_changed
        and new_name
        and _display_name_from_names(base)
        and not skip.intersection(PAYLOAD_FIELDS["DisplayName"])
    ):
        changes["DisplayName"] = payload["DisplayName"]
    return changes


def _display_name_from_names(customer: Mapping[str, Any]) -> bool:
    """Whether the customer's DisplayName was made from its names the way ours is ("First Last (Company)", maybe
    with a " (city)" or " (2)" we added): only then does it follow a change of name. A name the bookkeeper chose
    ("Amy's Bird Sanctuary") is hers, and stays."""
    person = " ".join(str(customer.get(k) or "").strip() for k in ("GivenName", "FamilyName")).strip()
    company = str(customer.get("CompanyName") or "").strip()
    made = f"{person} ({company})" if person and company else person or company
    if not made:
        return False
    display = _comparable("DisplayName", customer.get("DisplayName"))
    made = _comparable("DisplayName", display_name_clean(made))
    return display == made or display.startswith(made + " (")


def _same_value(key: str, a: Any, b: Any) -> bool:
    if key == "BillAddr":
        return not _address_differs(a or {}, b)
    return _comparable(key, a) == _comparable(key, b)


def _conflicts_open(
    *, connection: QuickBooksAuth, contact: Contact, customer: Mapping[str, Any], keys: Iterable[str]
) -> list[str]:
    """An open ContactConflict per contact field QBO changed under us (shown on the contact; the bookkeeper
    decides). Returns the contact fields."""
    qbo_values: dict[str, str] = {}
    for key in keys:
        if key == "BillAddr":
            address = customer.get(key) or {}
            for line, field in ADDRESS_KEYS.items():
                qbo_values[field] = str(address.get(line) or "")
        elif key in ("PrimaryPhone", "Mobile"):
            qbo_values[PAYLOAD_FIELDS[key][0]] = str((customer.get(key) or {}).get("FreeFormNumber") or "")
        elif key == "PrimaryEmailAddr":
            qbo_values["email"] = str((customer.get(key) or {}).get("Address") or "")
        elif key in PAYLOAD_FIELDS and len(PAYLOAD_FIELDS[key]) == 1:
            qbo_values[PAYLOAD_FIELDS[key][0]] = str(customer.get(key) or "")
    fields = []
    for field, qbo_value in qbo_values.items():
        crm_value = str(getattr(contact, field) or "")
        if not crm_value or _comparable("DisplayName", crm_value) == _comparable("DisplayName", qbo_value):
            continue
        ContactConflict.objects.update_or_create(
            contact=contact,
            field=field,
            resolved_at__isnull=True,
            defaults={
                "connection": connection,
                "quickbooks_customer_id": str(customer.get("Id", "")),
                "crm_value": crm_value,
                "qbo_value": qbo_value,
            },
        )
        fields.append(field)
    return fields


def _updated(
    *, connection: QuickBooksAuth, contact: Contact, actor, customer: Mapping[str, Any], sent: Mapping[str, Any]
) -> None:
    """QBO's answer into the ledger, its SyncToken and financial fields onto the contact, audited."""
    with transaction.atomic():
        mirror_apply(connection=connection, entity_type=CUSTOMER, rows=[customer])
        update_contact_from_customer(connection=connection, contact=contact, customer=customer)
        audit_record(
            action=UPDATED,
            actor=actor,
            obj=contact,
            after={
                "quickbooks_customer_id": str(customer["Id"]),
                "fields": sorted(sent),
                "SyncToken": customer.get("SyncToken"),
            },
            message=f"sent {', '.join(sorted(sent))}",
        )


def contact_push_update(*, connection: QuickBooksAuth, contact: Contact, actor) -> PushOutcome:
    """Send the contact's changed details to its QBO customer as a sparse update with the stored SyncToken.

    On 5010 (stale, API.md §3.4) the customer is read again: fields QBO did not change since our last copy are
    re-applied on the new SyncToken; a field QBO changed to another value becomes an open ContactConflict and a
    `SyncFailure` (code 5010), and is not sent.
    """
    _permission_check(actor)
    contact = Contact.objects.get(pk=contact.pk)
    customer_id = contact.quickbooks_customer_id
    if not customer_id:
        raise PushError(f"{contact} is not linked to a QuickBooks customer: create it in QuickBooks first.")
    key = _failure_key(KIND_UPDATE, contact.pk)
    try:
        entry = mirror_get(connection=connection, entity_type=CUSTOMER, entity_id=customer_id)
        if entry is None or not entry.payload:
            base = qbo_read(connection=connection, entity=CUSTOMER, entity_id=customer_id)
            with transaction.atomic():
                mirror_apply(connection=connection, entity_type=CUSTOMER, rows=[base])
        else:
            base = dict(entry.payload)
        skip = _open_conflict_fields(contact)
        changes = _changes(payload=customer_payload_from_contact(contact), base=base, skip=skip)
        if not changes:
            if not skip:
                failure_resolve(key=key, resolution="nothing left to send")
            return PushOutcome(contact.pk, "unchanged", customer_id, _waiting(skip))
        token = contact.quickbooks_sync_token or str(base.get("SyncToken", "0"))
        body = {"Id": customer_id, "SyncToken": token, "sparse": True, **changes}
        try:
            customer = qbo_update(connection=connection, entity=CUSTOMER, payload=body, request_id=uuid.uuid4().hex)
        except DuplicateNameError:
            if "DisplayName" not in changes:
                raise
            changes["DisplayName"] = _free_display_name(
                connection=connection, contact=contact, taken_name=changes["DisplayName"]
            )
            body = {"Id": customer_id, "SyncToken": token, "sparse": True, **changes}
            customer = qbo_update(connection=connection, entity=CUSTOMER, payload=body, request_id=uuid.uuid4().hex)
        except StaleObjectError:
            return _stale(connection=connection, contact=contact, actor=actor, base=base, changes=changes)
    except QuickBooksError as error:
        return _failed(connection=connection, contact=contact, actor=actor, error=error, request=None, kind=KIND_UPDATE)
    _updated(connection=connection, contact=contact, actor=actor, customer=customer, sent=changes)
    if not skip:
        failure_resolve(key=key, resolution=f"updated (SyncToken {customer.get('SyncToken')})")
    return PushOutcome(contact.pk, "updated", customer_id, _waiting(skip))


def _waiting(skip: set[str]) -> str:
    return f"not sent while the conflict is open: {', '.join(sorted(skip))}" if skip else ""


def _stale(
    *, connection: QuickBooksAuth, contact: Contact, actor, base: Mapping[str, Any], changes: dict[str, Any]
) -> PushOutcome:
    """5010: re-read; what QBO changed since `base` to something else than ours is a conflict, the rest is sent."""
    customer_id = contact.quickbooks_customer_id
    fresh = qbo_read(connection=connection, entity=CUSTOMER, entity_id=customer_id)
    with transaction.atomic():
        mirror_apply(connection=connection, entity_type=CUSTOMER, rows=[fresh])
    conflicted = [
        k
        for k in changes
        if not _same_value(k, base.get(k), fresh.get(k)) and not _same_value(k, changes[k], fresh.get(k))
    ]
    remaining = {k: v for k, v in changes.items() if k not in conflicted and not _same_value(k, v, fresh.get(k))}
    customer = fresh
    if remaining:
        body = {"Id": customer_id, "SyncToken": str(fresh.get("SyncToken")), "sparse": True, **remaining}
        customer = qbo_update(connection=connection, entity=CUSTOMER, payload=body, request_id=uuid.uuid4().hex)
    if not conflicted:
        _updated(connection=connection, contact=contact, actor=actor, customer=customer, sent=remaining)
        failure_resolve(key=_failure_key(KIND_UPDATE, contact.pk), resolution="re-applied after 5010")
        return PushOutcome(contact.pk, "updated", customer_id, "re-applied on QuickBooks' newer version")
    with transaction.atomic():
        fields = _conflicts_open(connection=connection, contact=contact, customer=fresh, keys=conflicted)
        _updated(connection=connection, contact=contact, actor=actor, customer=customer, sent=remaining)
    error = PushConflictError(
        f"QuickBooks changed {', '.join(sorted(conflicted))} of customer {customer_id} since the CRM last read it; "
        f"the CRM's {', '.join(fields) or 'values'} were not sent. Decide each conflict on the contact, then retry.",
        code="5010",
        detail=f"fields: {', '.join(sorted(conflicted))}",
        element=", ".join(sorted(conflicted)),
    )
    return _failed(connection=connection, contact=contact, actor=actor, error=error, request=None, kind=KIND_UPDATE)


# ---------------------------------------------------------------------------------------------------- retries


def _retry_contact(failure: SyncFailure) -> tuple[QuickBooksAuth, Contact]:
    from ..qbo.tokens import connection_load

    connection = connection_load(connection_id=failure.retry_args.get("connection_id") or failure.connection_id)
    contact = Contact.objects.get(pk=failure.retry_args["contact_id"])
    return connection, contact


@failure_retry_register(KIND_CREATE)
def _create_retry(failure: SyncFailure) -> str:
    """Retrying a failed create runs it again now: an unanswered request is replayed with its requestid."""
    connection, contact = _retry_contact(failure)
    outcome = contact_push_create(connection=connection, contact=contact, actor=None)
    return f"{contact}: {outcome.status}" + (f" ({outcome.message})" if outcome.message else "")


@failure_retry_register(KIND_UPDATE)
def _update_retry(failure: SyncFailure) -> str:
    """Retrying a failed update sends the contact's details again (fields with an open conflict excepted)."""
    connection, contact = _retry_contact(failure)
    try:
        outcome = contact_push_update(connection=connection, contact=contact, actor=None)
    except PushError as error:
        return str(error)
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
    "contact_push_update",
    "contacts_push_create",
    "customer_payload_from_contact",
    "existing_customers_find",
    "push_request_pending",
]
