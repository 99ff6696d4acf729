"""Looking before creating (push, issue 10): the customers QBO and the ledger hold that plausibly are a contact,
proposed to the bookkeeper's review queue, and a DisplayName QBO does not know yet.

Decides no pair itself (the review queue does, through `match_review.match_candidate_propose`).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.db import transaction
from django.db.models import Q

from crm.models import Contact
from crm.normalization import email_normalize, phone_to_e164

from ..models import QuickBooksAuth, QuickBooksSync
from ..qbo.client import qbo_query
from .customer_payload import CUSTOMER, customer_payload_from_contact, display_name_clean, phone_variants
from .match_review import contact_row, match_candidate_propose
from .matching import AGREE, CONFLICT, PARTIAL, Assessment, contact_keys, customer_row_from_qbo, pair_assess
from .mirror import mirror_apply

IN_CHUNK = 100  # values per `IN (…)`: a statement of a few KB, so 30 contacts' phones take a few calls per field


def _quote(value: str) -> str:
    """A literal of QBO's query language: quotes and backslashes escaped with a backslash (API.md §3.2)."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _contact_names(contact: Contact) -> list[str]:
    """The DisplayNames this contact could already have in QBO: ours, the person alone, the company alone."""
    person = " ".join(part for part in (contact.first_name, contact.last_name) if part)
    names = [customer_payload_from_contact(contact)["DisplayName"], person, contact.company_name]
    return list(dict.fromkeys(display_name_clean(n) for n in names if n and display_name_clean(n)))


def query_in(*, connection: QuickBooksAuth, entity: str, prop: str, values: Iterable[str]) -> list[dict]:
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
        for row in query_in(connection=connection, entity=CUSTOMER, prop=prop, values=values):
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


def top_level_active(customer: Mapping[str, Any]) -> bool:
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

    Look before creating: QBO is searched by phone (every usual way of typing the number, since QBO keeps
    `FreeFormNumber` as typed and has no OR), e-mail and DisplayName, and so is the ledger (phones in any format
    there). A customer that plausibly is this person (a shared phone or e-mail, or the same name with nothing to
    tell them apart) becomes a review candidate instead: a duplicate customer is the most common complaint about
    CRM-QuickBooks integrations, and a candidate costs the bookkeeper one click. A pair she rejected is no longer
    an obstacle. Only active top-level customers count (jobs repeat their parent's phone; a deactivated customer
    is out of the way, and its " (deleted)" name frees the DisplayName).

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
    rows = [(c, customer_row_from_qbo(c)) for c in customers.values() if top_level_active(c)]
    hits: dict[int, list[tuple[dict, Assessment]]] = defaultdict(list)
    for contact in contacts:
        row = contact_row(contact)
        for customer, customer_row in rows:
            assessment = pair_assess(row, customer_row)
            if plausibly_same(assessment):
                hits[contact.pk].append((customer, assessment))
        hits[contact.pk].sort(key=lambda hit: -hit[1].score)
    return dict(hits)


def propose(
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


def selection_split(contacts: Sequence[Contact]) -> tuple[list[Contact], list[Contact]]:
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


def free_display_name(*, connection: QuickBooksAuth, contact: Contact, taken_name: str) -> str:
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
        rows = query_in(connection=connection, entity=entity, prop="DisplayName", values=options)
        taken |= {str(row.get("DisplayName", "")).casefold() for row in rows}
    for option in options:
        if option.casefold() not in taken:
            return option
    return display_name_clean(f"{base} (CRM {contact.pk})")
