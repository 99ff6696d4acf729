"""Duplicates on both sides (issue 10): QBO customers that look like one person, CRM contacts sharing a phone or
e-mail; the "not a duplicate" dismissals; and following a CRM merge in the ledger.

Selectors for the two admin pages (`admin/duplicates.py`). The deciding is the matching engine's
(`matching.customer_duplicates` / `matching.contact_duplicates`, pure); this module loads rows (customers from the
ledger, so the page makes no QBO call), remembers dismissals and hands out pairs. It must not merge anything in QBO
(the bookkeeper does that in QuickBooks; the next import sees the customer merged away).

A dismissal is an AuditEvent (`duplicate.dismiss`, undone by `duplicate.restore`), not a model: the pair's latest
event decides, and the history of who dismissed what, and when, comes for free.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.dispatch import receiver

from crm.models import Contact
from crm.services.contact_merge import contact_merged

from ..models import AuditEvent, QuickBooksAuth, QuickBooksSync
from .audit import audit_record
from .match_review import contact_row
from .matching import Reason, contact_duplicates, customer_duplicates, customer_row_from_qbo

CUSTOMER = "Customer"
DISMISS = "duplicate.dismiss"
RESTORE = "duplicate.restore"
CUSTOMERS = "customers"
CONTACTS = "contacts"
REVIEW_PERMISSION = "quickbooks_integration.approve_match"  # the bookkeeper: dismisses customer pairs
MERGE_PERMISSION = "crm.merge_contact"  # staff: merges and dismisses contact pairs


@dataclass(frozen=True)
class DuplicatePair:
    """Two rows that look like one person; `a` and `b` are the customers' JSON or the contacts."""

    key: str
    a: Any
    b: Any
    reasons: tuple[Reason, ...]
    shares_key: bool
    dismissed: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def reasons_text(self) -> list[str]:
        return [reason_text(r) for r in self.reasons]


def reason_text(reason: Mapping[str, Any]) -> str:
    """One reason as a person reads it."""
    rule = reason.get("rule")
    if rule in ("phone", "email"):
        holders = reason.get("holders", 2)
        shared = f" (held by {holders})" if holders and holders > 2 else ""
        return f"same {'phone' if rule == 'phone' else 'e-mail'} {reason.get('value')}{shared}"
    if rule == "name":
        return f"names {reason.get('verdict')} ({str(reason.get('detail', '')).replace('_', ' ')})"
    return str(rule or reason)


def pair_key(a: Any, b: Any) -> str:
    first, second = sorted((str(a), str(b)), key=lambda v: (len(v), v))
    return f"{first}|{second}"


def _dismissed(*, kind: str, connection_id: int | None) -> set[str]:
    """Pairs whose latest event is a dismissal."""
    events = AuditEvent.objects.filter(action__in=[DISMISS, RESTORE], after__kind=kind)
    if connection_id is not None:
        events = events.filter(after__connection=connection_id)
    state: dict[str, bool] = {}
    for action, after in events.order_by("id").values_list("action", "after"):
        state[str((after or {}).get("pair", ""))] = action == DISMISS
    return {pair for pair, dismissed in state.items() if dismissed}


def _shares_key(reasons: Iterable[Reason]) -> bool:
    return any(r.get("rule") in ("phone", "email") for r in reasons)


def customer_duplicates_list(
    *, connection: QuickBooksAuth, dismissed: bool = False, keys_only: bool = False
) -> list[DuplicatePair]:
    """Active top-level QBO customers (from the ledger) that look like one person, pairs sharing a phone or e-mail
    first; `dismissed` lists the pairs dismissed instead. `extra` maps each side's id to its linked contact."""
    entries = QuickBooksSync.objects.filter(
        connection=connection, entity_type=CUSTOMER, deleted_at__isnull=True
    ).values_list("entity_id", "payload")
    customers = {entity_id: payload for entity_id, payload in entries if payload}
    rows = [customer_row_from_qbo(payload) for payload in customers.values()]
    hidden = _dismissed(kind=CUSTOMERS, connection_id=connection.pk)
    pairs = []
    for a, b, reasons in customer_duplicates(rows):
        key = pair_key(a, b)
        if (key in hidden) != dismissed or (keys_only and not _shares_key(reasons)):
            continue
        pairs.append(DuplicatePair(key, customers[a], customers[b], reasons, _shares_key(reasons), key in hidden))
    linked = dict(
        Contact.objects.filter(
            quickbooks_customer_id__in={str(p.a["Id"]) for p in pairs} | {str(p.b["Id"]) for p in pairs}
        ).values_list("quickbooks_customer_id", "pk")
    )
    contacts = Contact.objects.in_bulk(list(linked.values()))
    pairs = [
        DuplicatePair(
            p.key,
            p.a,
            p.b,
            p.reasons,
            p.shares_key,
            p.dismissed,
            {side: contacts.get(linked.get(str(c["Id"]))) for side, c in (("a", p.a), ("b", p.b))},
        )
        for p in pairs
    ]
    return sorted(pairs, key=lambda p: (not p.shares_key, _natural(p.a["Id"]), _natural(p.b["Id"])))


def contact_duplicates_list(*, dismissed: bool = False, keys_only: bool = True) -> list[DuplicatePair]:
    """CRM contacts sharing a phone or e-mail (`keys_only=False` adds pairs whose names agree); households and
    offices appear too, the name reason tells them apart, and a dismissal hides them for good."""
    fields = ("pk", "first_name", "last_name", "company_name", "phone", "mobile_phone", "email")
    contacts = {c.pk: c for c in Contact.objects.only(*fields, "quickbooks_customer_id", "city")}
    hidden = _dismissed(kind=CONTACTS, connection_id=None)
    pairs = []
    for a, b, reasons in contact_duplicates(contact_row(c) for c in contacts.values()):
        key = pair_key(a, b)
        if (key in hidden) != dismissed or (keys_only and not _shares_key(reasons)):
            continue
        pairs.append(DuplicatePair(key, contacts[a], contacts[b], reasons, _shares_key(reasons), key in hidden))
    return sorted(pairs, key=lambda p: (not p.shares_key, p.a.pk, p.b.pk))


def _natural(value: Any) -> tuple[int, str]:
    text = str(value)
    return (int(text), "") if text.isdigit() else (10**12, text)


def duplicate_dismiss(
    *, kind: str, a: Any, b: Any, actor, connection: QuickBooksAuth | None = None, restore: bool = False
) -> AuditEvent:
    """Remember that `a` and `b` are not one person (or undo that): the pair leaves (returns to) the list."""
    if kind not in (CUSTOMERS, CONTACTS):
        raise ValueError(f"unknown duplicate kind {kind!r}")
    permission = REVIEW_PERMISSION if kind == CUSTOMERS else MERGE_PERMISSION
    if not actor.has_perm(permission):
        raise PermissionError("You may not dismiss these duplicates.")
    obj = None
    if kind == CONTACTS:
        obj = Contact.objects.filter(pk__in=[a, b]).order_by("pk").first()
    return audit_record(
        action=RESTORE if restore else DISMISS,
        actor=actor,
        obj=obj,
        after={
            "kind": kind,
            "pair": pair_key(a, b),
            "connection": connection.pk if connection is not None else None,
        },
        message=f"{'restored' if restore else 'not a duplicate'}: {kind} {a} and {b}",
    )


@receiver(contact_merged, dispatch_uid="quickbooks_integration.duplicates.ledger_follows_merge")
def ledger_follows_merge(
    sender, *, survivor: Contact, duplicate_id: int, link_moved: bool, customer_id: str | None, **kwargs
) -> None:
    """A CRM merge: the ledger's customer rows (and their jobs') that mapped to the merged-away contact now map to
    the survivor, and a moved link is recorded in the integration's history of the survivor."""
    with transaction.atomic():
        QuickBooksSync.objects.filter(entity_type=CUSTOMER, local_id=duplicate_id).update(local_id=survivor.pk)
        if link_moved:
            audit_record(
                action="customer.link",
                obj=survivor,
                after={"quickbooks_customer_id": customer_id, "source": "merge", "merged_contact": duplicate_id},
                message=f"link moved from merged contact #{duplicate_id}",
            )
