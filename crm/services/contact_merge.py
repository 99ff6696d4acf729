"""Merging two contacts that are one person: everything of the duplicate moves to the survivor, then it goes.

Owns the merge inside the CRM. It must not import `quickbooks_integration` (DESIGN §1), yet the integration's rows
that point at contacts (match candidates, conflicts) must move too: so every relation is found generically, from
`Contact._meta` (any model's foreign key to Contact, whichever app declares it), and the integration is told through
the `contact_merged` signal, on which it re-points what is not a foreign key (its ledger's `local_id`).

Rules, and why:

- **Both rows are locked** (in primary-key order, so two merges cannot deadlock) for the whole merge.
- **Every row moves**: activities, quotes, invoices, payments, campaign memberships, and any other app's rows. Where
  a unique constraint would then hold twice (the survivor is already in that campaign, already has that candidate
  or an open conflict on that field), the duplicate's row is the redundant one and is deleted, and counted.
- **The QuickBooks link moves** when only the duplicate has one (with its SyncToken and the financial fields QBO
  owns); two contacts linked to different customers are refused: that is two customers in QBO, which the bookkeeper
  must merge there first, or it would leave one customer without its contact.
- **Details**: the survivor's empty fields are filled from the duplicate; a phone of the duplicate the survivor does
  not have fills its empty phone slot. What could not be kept is named in the audit message, never lost silently.
- **Money**: the survivor's summary is recalculated from its invoices and payments (the CRM's when unlinked).
- **Audited** as Django `LogEntry` rows (the CRM cannot write the integration's AuditEvent): a change on the
  survivor listing what moved, and a deletion of the duplicate naming the survivor.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.db import models, transaction
from django.dispatch import Signal

from crm.errors import CrmError
from crm.models import Contact
from crm.models.contacts import CONTACT_FINANCIAL_FIELDS, CustomerType
from crm.services.contacts import contacts_financials_recalculate

MERGE_PERMISSION = "crm.merge_contact"
# Filled from the duplicate when empty on the survivor (CRM-owned details, and the terms the bookkeeper typed).
FILLABLE_FIELDS = (
    "first_name",
    "last_name",
    "company_name",
    "email",
    "address_line1",
    "address_line2",
    "city",
    "state",
    "zip_code",
    "payment_terms",
    "credit_limit",
)
PHONE_FIELDS = ("phone", "mobile_phone")
QUICKBOOKS_LINK_FIELDS = ("quickbooks_customer_id", "quickbooks_sync_token")

# Sent inside the merge's transaction, after the rows moved and before the duplicate is deleted:
# `survivor` (Contact), `duplicate_id` (int), `link_moved` (bool), `customer_id` (str | None).
contact_merged = Signal()


class ContactMergeError(CrmError):
    """The two contacts cannot be merged as asked; the message says why, for a person."""


def _relations() -> list[models.ForeignObjectRel]:
    """Every reverse foreign key (or one-to-one) to Contact, hidden ones too (an auto-created many-to-many
    table's); the many-to-many relations themselves are covered by their through models' foreign keys."""
    return [
        rel
        for rel in Contact._meta.get_fields(include_hidden=True)
        if rel.auto_created and not rel.concrete and (rel.one_to_many or rel.one_to_one)
    ]


def _label(rel: models.ForeignObjectRel) -> str:
    model = rel.related_model._meta
    label = str(model.verbose_name_plural)
    return label if rel.field.name == "contact" else f"{label} ({rel.field.verbose_name})"


def _rows(rel: models.ForeignObjectRel, contact: Contact) -> models.QuerySet:
    return rel.related_model._base_manager.filter(**{rel.field.name: contact})


def _unique_sets(rel: models.ForeignObjectRel) -> list[tuple[list[str], models.Q | None]]:
    """The unique field sets of the related model that include the foreign key: (other fields, condition)."""
    model, name = rel.related_model, rel.field.name
    sets: list[tuple[list[str], models.Q | None]] = []
    if rel.field.unique:
        sets.append(([], None))
    for fields in model._meta.unique_together:
        if name in fields:
            sets.append(([f for f in fields if f != name], None))
    for constraint in model._meta.constraints:
        fields = list(getattr(constraint, "fields", ()) or ())
        if isinstance(constraint, models.UniqueConstraint) and name in fields:
            sets.append(([f for f in fields if f != name], constraint.condition))
    return sets


def _colliding(rel: models.ForeignObjectRel, *, survivor: Contact, duplicate: Contact) -> list[int]:
    """The duplicate's rows that would break a unique constraint once moved (the survivor has their twin)."""
    model, name = rel.related_model, rel.field.name
    manager = model._base_manager
    doomed: set[int] = set()
    for others, condition in _unique_sets(rel):
        rows = _rows(rel, duplicate)
        if condition is not None:
            rows = rows.filter(condition)
        for row in rows:
            lookup: dict[str, Any] = {name: survivor}
            for field_name in others:
                field = model._meta.get_field(field_name)
                lookup[field.attname] = getattr(row, field.attname)
            twins = manager.filter(**lookup)
            if condition is not None:
                twins = twins.filter(condition)
            if twins.exists():
                doomed.add(row.pk)
    return sorted(doomed)


def contacts_merge_preview(*, survivor: Contact, duplicate: Contact) -> dict[str, Any]:
    """What merging `duplicate` into `survivor` would do: rows moved (and dropped as redundant) per relation, the
    fields filled, the QuickBooks link's fate, and the reason it is refused, if it is."""
    moves: dict[str, int] = {}
    dropped: dict[str, int] = {}
    for rel in _relations():
        count = _rows(rel, duplicate).count()
        if count:
            collide = len(_colliding(rel, survivor=survivor, duplicate=duplicate))
            moves[_label(rel)] = count - collide
            if collide:
                dropped[_label(rel)] = collide
    fills, unkept = _details_merge(survivor=survivor, duplicate=duplicate, apply=False)
    return {
        "moves": moves,
        "dropped": dropped,
        "fills": fills,
        "unkept": unkept,
        "quickbooks": _link_plan(survivor=survivor, duplicate=duplicate),
        "refusal": _refusal(survivor=survivor, duplicate=duplicate),
    }


def _refusal(*, survivor: Contact, duplicate: Contact) -> str:
    if survivor.pk == duplicate.pk:
        return "A contact cannot be merged into itself."
    a, b = survivor.quickbooks_customer_id, duplicate.quickbooks_customer_id
    if a and b and a != b:
        return (
            f"{survivor} is linked to QuickBooks customer {a} and {duplicate} to customer {b}: merge the two customers "
            "in QuickBooks first (then unlink the one merged away), or the CRM would lose one customer's link."
        )
    return ""


def _link_plan(*, survivor: Contact, duplicate: Contact) -> str:
    if duplicate.quickbooks_customer_id and not survivor.quickbooks_customer_id:
        return f"moves: QuickBooks customer {duplicate.quickbooks_customer_id}"
    if survivor.quickbooks_customer_id:
        return f"kept: QuickBooks customer {survivor.quickbooks_customer_id}"
    return "none"


def _details_merge(*, survivor: Contact, duplicate: Contact, apply: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """(fields filled on the survivor, duplicate values that could not be kept); sets them when `apply`."""
    fills: dict[str, Any] = {}
    unkept: dict[str, Any] = {}
    for name in FILLABLE_FIELDS:
        mine, theirs = getattr(survivor, name), getattr(duplicate, name)
        if theirs in (None, ""):
            continue
        if mine in (None, ""):
            fills[name] = theirs
        elif str(mine).strip().casefold() != str(theirs).strip().casefold():
            unkept[name] = theirs
    if survivor.source == Contact._meta.get_field("source").default and duplicate.source != survivor.source:
        fills["source"] = duplicate.source
    if survivor.customer_type == CustomerType.PROSPECT and duplicate.customer_type != CustomerType.PROSPECT:
        fills["customer_type"] = duplicate.customer_type
    have = {e for e in (survivor.phone_e164, survivor.mobile_phone_e164) if e}
    free = [name for name in PHONE_FIELDS if not getattr(survivor, name)]
    for name in PHONE_FIELDS:
        raw, e164 = getattr(duplicate, name), getattr(duplicate, f"{name}_e164")
        if not raw or (e164 and e164 in have):
            continue
        if name in free:
            slot = name
        elif free:
            slot = free[0]
        else:
            unkept[name] = raw
            continue
        free.remove(slot)
        fills[slot] = raw
        have.add(e164)
    if apply:
        for name, value in fills.items():
            setattr(survivor, name, value)
    return fills, unkept


def contacts_merge(*, survivor: Contact, duplicate: Contact, actor) -> Contact:
    """Merge `duplicate` into `survivor` (see the module docstring); returns the survivor, saved.

    Raises ContactMergeError when the actor may not merge, or the two are linked to different QBO customers.
    """
    if actor is None or not actor.has_perm(MERGE_PERMISSION):
        raise ContactMergeError("You may not merge contacts.")
    with transaction.atomic():
        locked = {c.pk: c for c in Contact.objects.select_for_update().filter(pk__in=[survivor.pk, duplicate.pk])}
        if len(locked) != 2 or survivor.pk == duplicate.pk:
            raise ContactMergeError(
                "A contact cannot be merged into itself."
                if survivor.pk == duplicate.pk
                else "One of the two contacts no longer exists."
            )
        survivor, duplicate = locked[survivor.pk], locked[duplicate.pk]
        refusal = _refusal(survivor=survivor, duplicate=duplicate)
        if refusal:
            raise ContactMergeError(refusal)
        moved, dropped = _relations_move(survivor=survivor, duplicate=duplicate)
        link_moved, customer_id = _link_move(survivor=survivor, duplicate=duplicate)
        fills, unkept = _details_merge(survivor=survivor, duplicate=duplicate, apply=True)
        duplicate_label, duplicate_id = f"{duplicate} (#{duplicate.pk})", duplicate.pk
        survivor.save()
        contact_merged.send(
            sender=Contact, survivor=survivor, duplicate_id=duplicate_id, link_moved=link_moved, customer_id=customer_id
        )
        _log(actor, [duplicate], DELETION, f"Merged into {survivor} (#{survivor.pk}).")
        duplicate.delete()
        contacts_financials_recalculate(contact_ids=[survivor.pk])
        survivor.refresh_from_db()
        message = _message(duplicate_label, moved, dropped, fills, unkept, link_moved, customer_id)
        _log(actor, [survivor], CHANGE, message)
    return survivor


def _relations_move(*, survivor: Contact, duplicate: Contact) -> tuple[dict[str, int], dict[str, int]]:
    moved: dict[str, int] = {}
    dropped: dict[str, int] = {}
    for rel in _relations():
        doomed = _colliding(rel, survivor=survivor, duplicate=duplicate)
        if doomed:
            rel.related_model._base_manager.filter(pk__in=doomed).delete()
            dropped[_label(rel)] = len(doomed)
        count = _rows(rel, duplicate).update(**{rel.field.name: survivor})
        if count:
            moved[_label(rel)] = count
    return moved, dropped


def _link_move(*, survivor: Contact, duplicate: Contact) -> tuple[bool, str | None]:
    """The duplicate's QuickBooks link (and the financial fields QBO owns with it) goes to an unlinked survivor."""
    customer_id = duplicate.quickbooks_customer_id
    if not customer_id or survivor.quickbooks_customer_id:
        return False, survivor.quickbooks_customer_id
    carried = {name: getattr(duplicate, name) for name in (*QUICKBOOKS_LINK_FIELDS, *CONTACT_FINANCIAL_FIELDS)}
    duplicate.quickbooks_customer_id, duplicate.quickbooks_sync_token = None, ""
    duplicate.save(update_fields=[*QUICKBOOKS_LINK_FIELDS, "updated_at"])  # free the unique id first
    for name, value in carried.items():
        setattr(survivor, name, value)
    return True, customer_id


def _message(
    duplicate_label: str,
    moved: dict[str, int],
    dropped: dict[str, int],
    fills: dict[str, Any],
    unkept: dict[str, Any],
    link_moved: bool,
    customer_id: str | None,
) -> str:
    parts = [f"Merged contact {duplicate_label} into this one."]
    parts.append(
        "Moved: " + ", ".join(f"{n} {label}" for label, n in sorted(moved.items())) + "."
        if moved
        else "Nothing to move."
    )
    if dropped:
        parts.append(
            "Dropped as already present: " + ", ".join(f"{n} {label}" for label, n in sorted(dropped.items())) + "."
        )
    if link_moved:
        parts.append(f"QuickBooks link moved: customer {customer_id}.")
    if fills:
        parts.append("Filled: " + ", ".join(sorted(fills)) + ".")
    if unkept:
        parts.append(
            "Not kept (the survivor's differ): " + "; ".join(f"{k} {v}" for k, v in sorted(unkept.items())) + "."
        )
    return " ".join(parts)


def _log(actor, objects: Iterable[Contact], flag: int, message: str) -> None:
    LogEntry.objects.log_actions(user_id=actor.pk, queryset=list(objects), action_flag=flag, change_message=message)
