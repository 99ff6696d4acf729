"""The bookkeeper's decisions on match candidates, each recorded and each reversible.

A candidate is a pair (contact, QBO customer) matching could not decide alone. Decisions: approve (link and
enrich), reject (the pair is never proposed again), link the contact to another customer, or create a new contact
for the customer. Each sets the status with who and when, writes an AuditEvent on the candidate, and supersedes the
pending pairs it makes moot (the same customer, or the same contact: each can be linked once), remembering which
decision did it, so `match_candidate_undo` restores exactly what was there before. Other systems' dismissals
"cannot be undone"; here every one can, and the history stays.

The customer's JSON comes from the ledger (the import put it there); a customer not yet in the ledger is read once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from crm.models import Contact

from ..models import AuditEvent, MatchCandidate, QuickBooksAuth
from ..qbo.client import qbo_read
from .audit import audit_record
from .bulk import rows_update
from .customer_links import (
    DETAIL_SOURCES,
    LinkError,
    contact_create_from_customer,
    contact_has_history,
    contact_save_fields,
    customer_link,
    customer_unlink,
)
from .matching import Candidate, ContactRow, customer_row_from_qbo, pair_assess
from .mirror import mirror_apply, mirror_get

Status = MatchCandidate.Status
LABEL = MatchCandidate._meta.label
# Contact fields an approval's enrichment may change, recorded with the decision so its undo can put them back (the
# balance is recalculated, and the QBO id and SyncToken cleared, by `customer_unlink` itself).
RESTORABLE_FIELDS = (*DETAIL_SOURCES, "customer_type", "payment_terms", "tax_exempt")


class MatchDecisionError(Exception):
    """The decision cannot be made as asked (already decided, customer linked meanwhile, …): say why."""


# ---------------------------------------------------------------------------------------------------- reading


def customer_json(*, connection: QuickBooksAuth, customer_id: str) -> dict[str, Any]:
    """The customer as QBO last sent it: from the ledger, or read once (and kept) when the ledger lacks it."""
    entry = mirror_get(connection=connection, entity_type="Customer", entity_id=customer_id)
    if entry is not None and entry.payload:
        return dict(entry.payload)
    data = qbo_read(connection=connection, entity="Customer", entity_id=customer_id)
    with transaction.atomic():
        mirror_apply(connection=connection, entity_type="Customer", rows=[data])
    return data


def contact_row(contact: Contact) -> ContactRow:
    return ContactRow(
        id=contact.pk,
        first_name=contact.first_name,
        last_name=contact.last_name,
        company_name=contact.company_name,
        phones=(contact.phone, contact.mobile_phone),
        email=contact.email,
        quickbooks_customer_id=contact.quickbooks_customer_id,
    )


def match_candidate_history(candidate: MatchCandidate) -> QuerySet[AuditEvent]:
    """Every decision on this pair, and the links and unlinks of its contact, newest first."""
    return AuditEvent.objects.filter(
        Q(object_type=LABEL, object_id=str(candidate.pk))
        | Q(object_type=Contact._meta.label, object_id=str(candidate.contact_id), action__startswith="customer.")
    ).select_related("actor")


# ---------------------------------------------------------------------------------------------------- writing


def match_candidate_propose(
    *,
    connection: QuickBooksAuth,
    contact: Contact,
    customer: Mapping[str, Any],
    score: int,
    kind: str,
    reasons: list[Mapping[str, Any]],
) -> MatchCandidate | None:
    """Queue one pair for review (get or create). A rejected pair stays rejected (None); a decided one is kept."""
    candidate, created = MatchCandidate.objects.get_or_create(
        connection=connection,
        contact=contact,
        quickbooks_customer_id=str(customer["Id"]),
        defaults={
            "customer_name": str(customer.get("DisplayName", ""))[:500],
            "score": score,
            "kind": kind,
            "reasons": list(reasons),
        },
    )
    if candidate.status == Status.REJECTED:
        return None
    if not created and candidate.status in (Status.PENDING, Status.SUPERSEDED):
        candidate.score, candidate.kind, candidate.reasons = score, kind, list(reasons)
        candidate.status, candidate.superseded_by = Status.PENDING, None
        candidate.save(update_fields=["score", "kind", "reasons", "status", "superseded_by", "updated_at"])
    return candidate


def match_candidates_write(
    *,
    connection: QuickBooksAuth,
    candidates: Iterable[Candidate],
    names: Mapping[str, str],
    scope_customer_ids: Iterable[str] | None = None,
) -> dict[str, int]:
    """Write a plan's candidates in bulk: new pairs pending, pending ones refreshed, decided ones left alone.

    `names` maps customer id → DisplayName. With `scope_customer_ids` (the customers this plan covered), pending
    pairs of those customers that the plan no longer proposes are superseded (the customer got linked, or changed).
    Returns counts: created, refreshed, unchanged, superseded.
    """
    wanted = {(c.contact_id, c.customer_id): c for c in candidates}
    customer_ids = {kid for _, kid in wanted} | set(scope_customer_ids or ())
    existing: dict[tuple[int, str], MatchCandidate] = {}
    ids = sorted(customer_ids)
    for start in range(0, len(ids), 500):
        for row in MatchCandidate.objects.filter(
            connection=connection, quickbooks_customer_id__in=ids[start : start + 500]
        ):
            existing[(row.contact_id, row.quickbooks_customer_id)] = row
    counts = {"created": 0, "refreshed": 0, "unchanged": 0, "superseded": 0}
    new_rows, changed = [], []
    for pair, c in wanted.items():
        row = existing.get(pair)
        reasons = [dict(r) for r in c.reasons]
        if row is None:
            new_rows.append(
                MatchCandidate(
                    connection=connection,
                    contact_id=c.contact_id,
                    quickbooks_customer_id=c.customer_id,
                    customer_name=names.get(c.customer_id, "")[:500],
                    score=c.score,
                    kind=c.kind,
                    reasons=reasons,
                )
            )
        elif row.status in (Status.PENDING, Status.SUPERSEDED) and (
            row.status != Status.PENDING or (row.score, row.kind, row.reasons) != (c.score, c.kind, reasons)
        ):
            row.status, row.superseded_by_id = Status.PENDING, None
            row.score, row.kind, row.reasons = c.score, c.kind, reasons
            row.customer_name = names.get(c.customer_id, row.customer_name)[:500]
            changed.append(row)
        else:
            counts["unchanged"] += 1
    stale = []
    if scope_customer_ids is not None:
        scope = set(scope_customer_ids)
        now = timezone.now()
        for pair, row in existing.items():
            if pair not in wanted and row.status == Status.PENDING and row.quickbooks_customer_id in scope:
                row.status, row.decided_at = Status.SUPERSEDED, now
                stale.append(row)
    MatchCandidate.objects.bulk_create(new_rows, batch_size=500)
    fields = ["status", "superseded_by", "score", "kind", "reasons", "customer_name", "decided_at", "updated_at"]
    now = timezone.now()
    for row in (*changed, *stale):
        row.updated_at = now
    rows_update([*changed, *stale], fields)
    counts["created"], counts["refreshed"], counts["superseded"] = len(new_rows), len(changed), len(stale)
    return counts


def _locked_pending(candidate: MatchCandidate) -> MatchCandidate:
    locked = MatchCandidate.objects.select_for_update().select_related("contact", "connection").get(pk=candidate.pk)
    if locked.status != Status.PENDING:
        who = f" by {locked.decided_by}" if locked.decided_by_id else ""
        raise MatchDecisionError(f"This pair was already {locked.get_status_display().lower()}{who}.")
    return locked


def _decide(candidate: MatchCandidate, status: str, actor) -> None:
    candidate.status, candidate.decided_by, candidate.decided_at = status, actor, timezone.now()
    candidate.save(update_fields=["status", "decided_by", "decided_at", "updated_at"])


def _supersede(candidate: MatchCandidate, *, contact_too: bool) -> int:
    """Pending pairs the decision makes moot: others for this customer (and for this contact, when it got linked)."""
    moot = Q(quickbooks_customer_id=candidate.quickbooks_customer_id)
    if contact_too:
        moot |= Q(contact_id=candidate.contact_id)
    return (
        MatchCandidate.objects.filter(moot, connection_id=candidate.connection_id, status=Status.PENDING)
        .exclude(pk=candidate.pk)
        .update(status=Status.SUPERSEDED, superseded_by=candidate, decided_at=timezone.now())
    )


def _audit(candidate: MatchCandidate, action: str, actor, before: str, **after: Any) -> None:
    audit_record(
        action=action,
        actor=actor,
        obj=candidate,
        before={"status": before},
        after={
            "status": candidate.status,
            "contact": candidate.contact_id,
            "quickbooks_customer_id": candidate.quickbooks_customer_id,
            **after,
        },
        message=str(candidate),
    )


def match_candidate_approve(*, candidate: MatchCandidate, actor) -> MatchCandidate:
    """Link the pair (enriching the contact) and supersede the pairs it makes moot."""
    return _approve(candidate, actor)


def _approve(candidate: MatchCandidate, actor, **audit_after: Any) -> MatchCandidate:
    """The approval; the audit keeps the contact fields the enrichment changed ([before, after]) for the undo."""
    with transaction.atomic():
        candidate = _locked_pending(candidate)
        customer = customer_json(connection=candidate.connection, customer_id=candidate.quickbooks_customer_id)
        before = {name: getattr(candidate.contact, name) for name in RESTORABLE_FIELDS}
        try:
            contact = customer_link(
                connection=candidate.connection,
                contact=candidate.contact,
                customer=customer,
                actor=actor,
                source="review",
            )
        except LinkError as error:
            raise MatchDecisionError(str(error)) from error
        changes = {name: [old, getattr(contact, name)] for name, old in before.items() if getattr(contact, name) != old}
        _decide(candidate, Status.APPROVED, actor)
        superseded = _supersede(candidate, contact_too=True)
        _audit(
            candidate,
            "match.approve",
            actor,
            Status.PENDING,
            superseded=superseded,
            contact_changes=changes,
            **audit_after,
        )
    return candidate


def match_candidate_reject(*, candidate: MatchCandidate, actor) -> MatchCandidate:
    """This contact is not this customer: never proposed again (until the rejection is undone)."""
    with transaction.atomic():
        candidate = _locked_pending(candidate)
        _decide(candidate, Status.REJECTED, actor)
        _audit(candidate, "match.reject", actor, Status.PENDING)
    return candidate


def match_candidate_link_other(*, candidate: MatchCandidate, quickbooks_customer_id: str, actor) -> MatchCandidate:
    """The contact is another customer: that pair is approved (a candidate of its own, kind "manual"), and this
    one is superseded by it, so undoing the new link brings this pair back."""
    quickbooks_customer_id = str(quickbooks_customer_id).strip()
    if quickbooks_customer_id == candidate.quickbooks_customer_id:
        return match_candidate_approve(candidate=candidate, actor=actor)
    with transaction.atomic():
        candidate = _locked_pending(candidate)
        customer = customer_json(connection=candidate.connection, customer_id=quickbooks_customer_id)
        assessment = pair_assess(contact_row(candidate.contact), customer_row_from_qbo(customer))
        chosen, created = MatchCandidate.objects.get_or_create(
            connection=candidate.connection,
            contact=candidate.contact,
            quickbooks_customer_id=quickbooks_customer_id,
            defaults={"score": assessment.score, "kind": "manual", "customer_name": customer.get("DisplayName", "")},
        )
        # What the chosen pair was before (none: made here), so undoing the link puts it back, a rejection included.
        prior = (
            None
            if created
            else {
                "status": chosen.status,
                "superseded_by": chosen.superseded_by_id,
                "decided_by": chosen.decided_by_id,
                "decided_at": chosen.decided_at.isoformat() if chosen.decided_at else None,
            }
        )
        chosen.reasons = [*assessment.reasons, {"rule": "chosen_by_bookkeeper", "instead_of": candidate.pk}]
        chosen.status, chosen.superseded_by = Status.PENDING, None
        chosen.save(update_fields=["reasons", "status", "superseded_by", "updated_at"])
        approved = _approve(chosen, actor, instead_of=candidate.pk, prior=prior)
    return approved


def match_candidate_create_contact(*, candidate: MatchCandidate, actor) -> Contact:
    """The customer is nobody in the CRM: a new contact for it, linked; this pair is rejected."""
    with transaction.atomic():
        candidate = _locked_pending(candidate)
        customer = customer_json(connection=candidate.connection, customer_id=candidate.quickbooks_customer_id)
        holder = Contact.objects.filter(quickbooks_customer_id=candidate.quickbooks_customer_id).first()
        if holder is not None:
            raise MatchDecisionError(f"QuickBooks customer {candidate.customer_name} is already linked to {holder}.")
        try:
            contact = contact_create_from_customer(
                connection=candidate.connection, customer=customer, actor=actor, source="review"
            )
        except LinkError as error:
            raise MatchDecisionError(str(error)) from error
        _decide(candidate, Status.REJECTED, actor)
        superseded = _supersede(candidate, contact_too=False)
        _audit(
            candidate, "match.create_contact", actor, Status.PENDING, created_contact=contact.pk, superseded=superseded
        )
    return contact


def _last_decision(candidate: MatchCandidate) -> AuditEvent | None:
    return (
        AuditEvent.objects.filter(object_type=LABEL, object_id=str(candidate.pk), action__startswith="match.")
        .exclude(action="match.undo")
        .order_by("-at", "-id")
        .first()
    )


def match_candidate_undo(*, candidate: MatchCandidate, actor) -> MatchCandidate:
    """Put a decided pair back in the queue: unlink an approval and put back the contact fields its enrichment
    changed (or remove the contact a "create" made, when nothing else refers to it yet), lift a rejection, and
    restore the pairs that decision superseded. A pair chosen by "link to a different customer" returns to what it
    was before that choice (out of the queue when the choice made it), so the queue is as it was."""
    with transaction.atomic():
        candidate = (
            MatchCandidate.objects.select_for_update().select_related("contact", "connection").get(pk=candidate.pk)
        )
        before = candidate.status
        if before not in (Status.APPROVED, Status.REJECTED):
            raise MatchDecisionError(
                f"Only a decided pair can be undone; this one is {candidate.get_status_display()}."
            )
        connection, detail = candidate.connection, {}
        decision = _last_decision(candidate)
        decided = (decision.after or {}) if decision else {}
        if before == Status.APPROVED:
            if candidate.contact.quickbooks_customer_id == candidate.quickbooks_customer_id:
                customer_unlink(connection=connection, contact=candidate.contact, actor=actor, reason="approval undone")
                restored_fields = _contact_restore(candidate.contact_id, decided.get("contact_changes") or {})
                if restored_fields:
                    detail["restored_fields"] = restored_fields
        else:
            created_id = decided.get("created_contact")
            created = Contact.objects.filter(pk=created_id).first() if created_id else None
            if created is not None:
                customer_unlink(connection=connection, contact=created, actor=actor, reason="new contact undone")
                if contact_has_history(created):
                    detail["kept_contact"] = created.pk
                else:
                    detail["deleted_contact"] = created.pk
                    created.delete()
        if Contact.objects.filter(quickbooks_customer_id=candidate.quickbooks_customer_id).exists():
            raise MatchDecisionError("The customer is linked to another contact now; undo that link first.")
        restored = MatchCandidate.objects.filter(superseded_by=candidate, status=Status.SUPERSEDED).update(
            status=Status.PENDING, superseded_by=None, decided_at=None, decided_by=None
        )
        candidate.status, candidate.decided_by, candidate.decided_at = Status.PENDING, None, None
        candidate.superseded_by = None
        if "prior" in decided:  # a pair chosen by "link to a different customer": back to what it was before
            prior = decided["prior"]
            if prior is None:  # made by that choice: withdrawn from the queue (proposed again only by matching)
                candidate.status, candidate.decided_at = Status.SUPERSEDED, timezone.now()
            else:
                candidate.status = prior["status"]
                candidate.superseded_by_id = prior["superseded_by"]
                candidate.decided_by_id = prior["decided_by"]
                candidate.decided_at = parse_datetime(prior["decided_at"]) if prior["decided_at"] else None
            detail["status_restored"] = candidate.status
        candidate.save(update_fields=["status", "superseded_by", "decided_by", "decided_at", "updated_at"])
        _audit(candidate, "match.undo", actor, before, restored=restored, **detail)
    return candidate


def _contact_restore(contact_id: int, changes: Mapping[str, Any]) -> list[str]:
    """Put back the contact fields an approval's enrichment changed (a wrong pair must not leave the other person's
    address or terms behind), except those edited since: a later edit wins. Returns the fields restored."""
    contact = Contact.objects.select_for_update().get(pk=contact_id)
    restored = [
        name
        for name, (old, new) in changes.items()
        if name in RESTORABLE_FIELDS and getattr(contact, name) == new and old != new
    ]
    for name in restored:
        setattr(contact, name, changes[name][0])
    if restored:
        contact_save_fields(contact, restored)
    return restored


def match_candidates_approve_above(*, candidates: Iterable[MatchCandidate], min_score: int, actor) -> dict[str, Any]:
    """Approve every pending pair scoring at least `min_score`, best first; a pair made moot by an earlier approval
    in the same call is skipped, and one that cannot be linked is reported, not fatal."""
    result: dict[str, Any] = {"approved": 0, "below": 0, "skipped": 0, "errors": []}
    for candidate in sorted(candidates, key=lambda c: (-c.score, c.pk)):
        if candidate.score < min_score:
            result["below"] += 1
            continue
        try:
            match_candidate_approve(candidate=candidate, actor=actor)
        except MatchDecisionError as error:
            result["skipped"] += 1
            result["errors"].append(f"{candidate}: {error}")
        else:
            result["approved"] += 1
    return result
