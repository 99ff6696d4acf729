"""Follow-up workflows (issue 12, plan 4.2): raise each rule's work once per event, and let staff mark it done.

Owns deciding what raises a `FollowUp` and its key, from two places:

- **Webhook hooks** (`webhook_entity_register`), run inside the transaction that wrote the ledger, with the newer
  copies only: Payment (payment received), Estimate (TxnStatus "Accepted"), Customer (balance above the contact's
  credit limit, read from the contact after the customers service applied QBO's balance to it).
- **The nightly evaluation** (`followups_evaluate`, the `quickbooks-followups` schedule): invoices overdue by a rule's
  days (CRM invoices, live status `invoice_payment_status_expression`), balances above credit limits (also those the
  CRM's own invoices and payments changed), and a sweep of the ledger's recent payments and estimates, the safety
  net for a hook that saw a payment before its customer was linked to a contact.

Each event has one key per rule (`_key`); the row's unique key makes "raise it" idempotent across replays, reruns
and racing workers (insert, conflict ignored). An overdue invoice is an event per due date; a balance above the limit
is an episode: it raises once, is cleared when the balance falls back under the limit, and may raise again after.

Must not: call QBO, send anything to customers (a thank-you is work for staff), or create CRM activities for work
not done yet (an Activity is a call or e-mail that happened; marking done may record one).
"""

from __future__ import annotations

import datetime
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from crm.models import Activity, Contact, Direction, Invoice, PaymentStatus
from crm.services import invoice_payment_status_expression

from ..models import FollowUp, FollowUpRule, QuickBooksAuth, QuickBooksSync
from ..models.followups import Trigger
from .customers import CUSTOMER  # imported first, so its Customer hook updates balances before ours reads them
from .mirror import qbo_time
from .webhooks import webhook_entity_register

logger = logging.getLogger(__name__)

CHANGE_PERMISSION = "quickbooks_integration.change_followup"
ESTIMATE = "Estimate"
PAYMENT = "Payment"
ACCEPTED = "Accepted"  # QBO Estimate.TxnStatus: Pending, Accepted, Closed, Rejected (API.md)
INSERT_CHUNK = 500


def lookback_days() -> int:
    """How far back the nightly sweep reads the ledger's payments and estimates (a hook's misses are recent)."""
    return int(getattr(settings, "QUICKBOOKS_FOLLOWUPS_LOOKBACK_DAYS", 14))


@dataclass
class EvaluateResult:
    """What one evaluation raised and cleared, per trigger."""

    raised: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    cleared: int = 0

    def raise_count(self, trigger: str, count: int) -> None:
        self.raised[str(trigger)] += count  # plain strings: the task's result is stored by django-q

    @property
    def counts(self) -> dict[str, int]:
        return {**self.raised, "cleared": self.cleared}


@dataclass(frozen=True)
class _Event:
    """One event for one rule: who it concerns, its key, and what the summary may say about it."""

    contact_id: int
    key: str
    source_id: str
    reference: str
    values: Mapping[str, str]


# ---------------------------------------------------------------------------------------------------- helpers


def _key(rule: FollowUpRule, *parts: object) -> str:
    """`<trigger>:<rule id>:<what happened>`: the same event seen twice gives the same key, whoever sees it."""
    return ":".join([rule.trigger, str(rule.pk), *map(str, parts)])[:200]


def _money(value: Any, currency: str = "USD") -> str:
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        return str(value or "")
    return f"${amount:,}" if currency in ("", "USD") else f"{amount:,} {currency}"


def _summary(rule: FollowUpRule, values: Mapping[str, str]) -> str:
    """The rule's summary filled in; a template the admin did not validate (a shell edit) falls back to its name,
    because a hook that raised here would hold back every event of its entity type."""
    try:
        return rule.summary_template.format_map(values)
    except (KeyError, ValueError, IndexError, AttributeError):
        logger.warning("follow-up rule %s: summary template does not fit; using its name", rule.pk)
        return f"{rule.name}: {values.get('contact', '')}"


def _rules(trigger: str) -> list[FollowUpRule]:
    return list(FollowUpRule.objects.filter(trigger=trigger, active=True).order_by("pk"))


def _raise(rule: FollowUpRule, events: Iterable[_Event], *, contacts: Mapping[int, Contact] | None = None) -> int:
    """Insert the follow-ups whose key is new, conflicts ignored (a racing worker's insert wins); returns how many
    were new when looked at. One SELECT of known keys and one INSERT per chunk, so the nightly run stays cheap."""
    events = list({event.key: event for event in events}.values())
    raised = 0
    for start in range(0, len(events), INSERT_CHUNK):
        chunk = events[start : start + INSERT_CHUNK]
        known = set(FollowUp.objects.filter(key__in=[e.key for e in chunk]).values_list("key", flat=True))
        fresh = [event for event in chunk if event.key not in known]
        if not fresh:
            continue
        names = dict(contacts or {})
        missing = [e.contact_id for e in fresh if e.contact_id not in names]
        names.update(Contact.objects.in_bulk(missing))
        now = timezone.now()
        rows = [
            FollowUp(
                rule=rule,
                contact_id=event.contact_id,
                key=event.key,
                source_id=event.source_id[:50],
                reference=event.reference[:100],
                summary=_summary(rule, {"contact": names[event.contact_id].display_name, **event.values}),
                assigned_to_id=rule.assign_to_id,
                created_at=now,
            )
            for event in fresh
            if event.contact_id in names
        ]
        with transaction.atomic():  # a savepoint inside the webhook's transaction
            FollowUp.objects.bulk_create(rows, ignore_conflicts=True)
        raised += len(rows)
    return raised


def _contacts_for_customers(*, connection: QuickBooksAuth, customer_ids: Iterable[str]) -> dict[str, int]:
    """QBO customer id → contact id: the ledger's pointer (a job points at its parent's contact), else the link."""
    ids = sorted({str(i) for i in customer_ids if i})
    if not ids:
        return {}
    found = dict(
        QuickBooksSync.objects.filter(
            connection=connection, entity_type=CUSTOMER, entity_id__in=ids, local_id__isnull=False
        ).values_list("entity_id", "local_id")
    )
    rest = [i for i in ids if i not in found]
    if rest:
        found.update(
            Contact.objects.filter(quickbooks_customer_id__in=rest).values_list("quickbooks_customer_id", "pk")
        )
    return found


def _customer_ref(row: Mapping) -> str:
    return str((row.get("CustomerRef") or {}).get("value") or "")


def _currency(row: Mapping) -> str:
    return str((row.get("CurrencyRef") or {}).get("value") or "")


def _before_rule(rule: FollowUpRule, moment: datetime.datetime | None) -> bool:
    """Whether an event happened before the rule was switched on (or when is unknown): such events raise nothing.
    QBO's times have whole seconds, so an event in the second the rule was switched on counts as before it."""
    if moment is None or rule.active_since is None:
        return True
    start = rule.active_since
    if start.microsecond:
        start = start.replace(microsecond=0) + datetime.timedelta(seconds=1)
    return moment < start


# ---------------------------------------------------------------------------------------------------- QBO events


def _payment_events(rule: FollowUpRule, *, connection: QuickBooksAuth, rows: Sequence[Mapping]) -> list[_Event]:
    """A payment is received once: keyed by realm and QBO Id, so later edits of it (re-applied, memo) raise nothing.
    Its moment is MetaData.CreateTime; a voided payment (TotalAmt 0) thanks nobody."""
    contacts = _contacts_for_customers(connection=connection, customer_ids=map(_customer_ref, rows))
    events = []
    for row in rows:
        meta = row.get("MetaData") or {}
        created = qbo_time(meta.get("CreateTime")) or qbo_time(meta.get("LastUpdatedTime"))
        contact_id = contacts.get(_customer_ref(row))
        try:
            amount = Decimal(str(row.get("TotalAmt", "0")))
        except InvalidOperation:
            amount = Decimal(0)
        if contact_id is None or amount <= 0 or row.get("status") == "Deleted" or _before_rule(rule, created):
            continue
        reference = str(row.get("PaymentRefNum") or row["Id"])
        events.append(
            _Event(
                contact_id=contact_id,
                key=_key(rule, connection.realm_id, row["Id"]),
                source_id=str(row["Id"]),
                reference=f"Payment {reference}",
                values={
                    "payment": reference,
                    "amount": _money(amount, _currency(row)),
                    "date": str(row.get("TxnDate", "")),
                },
            )
        )
    return events


def _estimate_events(rule: FollowUpRule, *, connection: QuickBooksAuth, rows: Sequence[Mapping]) -> list[_Event]:
    """An estimate is accepted once: keyed by realm and QBO Id. Its moment is the copy's LastUpdatedTime (QBO has
    no acceptance time; AcceptedDate, when set, must not be before the rule's day either)."""
    contacts = _contacts_for_customers(connection=connection, customer_ids=map(_customer_ref, rows))
    events = []
    for row in rows:
        if row.get("TxnStatus") != ACCEPTED or row.get("status") == "Deleted":
            continue
        updated = qbo_time((row.get("MetaData") or {}).get("LastUpdatedTime"))
        accepted_on = str(row.get("AcceptedDate") or "")
        if _before_rule(rule, updated) or (
            accepted_on and rule.active_since and accepted_on < timezone.localdate(rule.active_since).isoformat()
        ):
            continue
        contact_id = contacts.get(_customer_ref(row))
        if contact_id is None:
            continue
        number = str(row.get("DocNumber") or row["Id"])
        events.append(
            _Event(
                contact_id=contact_id,
                key=_key(rule, connection.realm_id, row["Id"]),
                source_id=str(row["Id"]),
                reference=f"Estimate {number}",
                values={
                    "estimate": number,
                    "amount": _money(row.get("TotalAmt", "0"), _currency(row)),
                    "date": accepted_on or str(row.get("TxnDate", "")),
                },
            )
        )
    return events


def followups_from_payments(*, connection: QuickBooksAuth, rows: Sequence[Mapping]) -> int:
    """Raise every active payment-received rule's follow-up for these QBO payments; returns how many were new."""
    return sum(
        _raise(rule, _payment_events(rule, connection=connection, rows=rows))
        for rule in _rules(Trigger.PAYMENT_RECEIVED)
    )


def followups_from_estimates(*, connection: QuickBooksAuth, rows: Sequence[Mapping]) -> int:
    """Raise every active estimate-accepted rule's follow-up for these QBO estimates; returns how many were new."""
    return sum(
        _raise(rule, _estimate_events(rule, connection=connection, rows=rows))
        for rule in _rules(Trigger.ESTIMATE_ACCEPTED)
    )


@webhook_entity_register(PAYMENT)
def payments_from_webhooks(
    connection: QuickBooksAuth, rows: Sequence[Mapping[str, Any]], deleted_ids: Sequence[str]
) -> None:
    """New or changed payments: a thank-you per payment (a deleted one raises nothing and clears nothing)."""
    followups_from_payments(connection=connection, rows=rows)


@webhook_entity_register(ESTIMATE)
def estimates_from_webhooks(
    connection: QuickBooksAuth, rows: Sequence[Mapping[str, Any]], deleted_ids: Sequence[str]
) -> None:
    """New or changed estimates: "schedule the job" for each one now Accepted."""
    followups_from_estimates(connection=connection, rows=rows)


@webhook_entity_register(CUSTOMER)
def customers_balance_from_webhooks(
    connection: QuickBooksAuth, rows: Sequence[Mapping[str, Any]], deleted_ids: Sequence[str]
) -> None:
    """Changed customers: their contacts' balances (just written by the customers hook) against the limits. A job's
    change looks at its parent's contact, whose balance includes the jobs'."""
    contact_ids = set(_contacts_for_customers(connection=connection, customer_ids=(row["Id"] for row in rows)).values())
    if contact_ids:
        followups_balances_evaluate(contacts=Contact.objects.filter(pk__in=contact_ids))


# ---------------------------------------------------------------------------------------------------- CRM state


def followups_balances_evaluate(*, contacts=None) -> EvaluateResult:
    """Raise "balance above the credit limit" for contacts over it whose current episode has none yet, and clear
    the episode of contacts back under it (or without a limit). `contacts` narrows it (a queryset); None: all.

    The key is `<rule>:<contact>:<episode number>`, the number being how many this rule raised for the contact
    before plus one, so two evaluators of the same episode compute the same key and only one row is made.
    """
    result = EvaluateResult()
    scope = Contact.objects.all() if contacts is None else contacts
    over_q = Q(credit_limit__isnull=False, outstanding_balance__gt=F("credit_limit"))
    for rule in _rules(Trigger.BALANCE_OVER_CREDIT_LIMIT):
        over = {
            contact.pk: contact
            for contact in scope.filter(over_q).only(
                "pk", "first_name", "last_name", "company_name", "phone", "email", "outstanding_balance", "credit_limit"
            )
        }
        episodes: dict[int, tuple[int, bool]] = {}  # contact → (follow-ups so far, latest still uncleared)
        latest = FollowUp.objects.filter(rule=rule).order_by("contact_id", "-id")
        if contacts is not None:
            latest = latest.filter(contact__in=scope.values("pk"))
        for contact_id, cleared_at in latest.values_list("contact_id", "cleared_at"):
            count, uncleared = episodes.get(contact_id, (0, None))
            episodes[contact_id] = (count + 1, (cleared_at is None) if uncleared is None else uncleared)
        events = [
            _Event(
                contact_id=contact.pk,
                key=_key(rule, contact.pk, episodes.get(contact.pk, (0, False))[0] + 1),
                source_id=str(contact.pk),
                reference=f"Balance {_money(contact.outstanding_balance)}",
                values={"balance": _money(contact.outstanding_balance), "credit_limit": _money(contact.credit_limit)},
            )
            for contact in over.values()
            if not episodes.get(contact.pk, (0, False))[1]
        ]
        result.raise_count(rule.trigger, _raise(rule, events, contacts=over))
        ended = [contact_id for contact_id, (_, uncleared) in episodes.items() if uncleared and contact_id not in over]
        if ended:
            result.cleared += FollowUp.objects.filter(rule=rule, contact_id__in=ended, cleared_at__isnull=True).update(
                cleared_at=timezone.now()
            )
    return result


def followups_overdue_evaluate(*, today: datetime.date | None = None) -> EvaluateResult:
    """Raise "invoice overdue by N days" for each CRM invoice overdue by at least the rule's days; clear the open ones
    whose invoice is no longer overdue (paid, voided, due date moved).

    Keyed by invoice and due date: a rerun raises nothing, and a due date moved and missed again is a new event.
    Overdue is the CRM's live status (`invoice_payment_status_expression`: sent, unpaid, past due), not the stored
    column, which the financials refresh only updates once a night.
    """
    today = today or timezone.localdate()
    result = EvaluateResult()
    overdue = Invoice.objects.alias(derived=invoice_payment_status_expression(today)).filter(
        derived=PaymentStatus.OVERDUE
    )
    for rule in _rules(Trigger.INVOICE_OVERDUE):
        invoices = overdue.filter(due_date__lte=today - datetime.timedelta(days=rule.days)).select_related("contact")
        events = []
        contacts = {}
        for invoice in invoices.only(
            "pk",
            "invoice_number",
            "due_date",
            "balance_due",
            "currency",
            "contact__first_name",
            "contact__last_name",
            "contact__company_name",
            "contact__phone",
            "contact__email",
        ).iterator(chunk_size=2000):
            contacts[invoice.contact_id] = invoice.contact
            events.append(
                _Event(
                    contact_id=invoice.contact_id,
                    key=_key(rule, invoice.pk, invoice.due_date.isoformat()),
                    source_id=str(invoice.pk),
                    reference=f"Invoice {invoice}",
                    values={
                        "invoice": str(invoice),
                        "balance": _money(invoice.balance_due, invoice.currency),
                        "due_date": invoice.due_date.isoformat(),
                        "days_overdue": str((today - invoice.due_date).days),
                    },
                )
            )
        result.raise_count(rule.trigger, _raise(rule, events, contacts=contacts))
        open_ = FollowUp.objects.filter(rule=rule, cleared_at__isnull=True, done_at__isnull=True)
        ids = list(open_.values_list("source_id", flat=True))  # text: compared in Python, not joined to int ids
        still = {
            str(pk) for pk in overdue.filter(pk__in=[int(i) for i in ids if i.isdigit()]).values_list("pk", flat=True)
        }
        ended = [i for i in ids if i not in still]
        if ended:
            result.cleared += open_.filter(source_id__in=ended).update(cleared_at=timezone.now())
    return result


# ---------------------------------------------------------------------------------------------------- nightly


def followups_ledger_sweep(*, now: datetime.datetime | None = None) -> EvaluateResult:
    """Raise payment and estimate follow-ups from the ledger's recent copies (`lookback_days()`), per connection.

    The hooks see each change once, and raise nothing for a payment whose customer had no contact yet (waiting for
    the bookkeeper's review, or the import's matching); once linked, this catches it. Keys make it idempotent.
    """
    now = now or timezone.now()
    result = EvaluateResult()
    since = now - datetime.timedelta(days=lookback_days())
    for trigger, entity, make in (
        (Trigger.PAYMENT_RECEIVED, PAYMENT, _payment_events),
        (Trigger.ESTIMATE_ACCEPTED, ESTIMATE, _estimate_events),
    ):
        rules = _rules(trigger)
        if not rules:
            continue
        earliest = max(since, min(rule.active_since or now for rule in rules))
        recent = QuickBooksSync.objects.filter(
            entity_type=entity, qbo_updated_at__gte=earliest, deleted_at__isnull=True
        ).select_related("connection")
        by_connection: dict[int, tuple[QuickBooksAuth, list[dict]]] = {}
        for entry in recent.iterator(chunk_size=1000):
            by_connection.setdefault(entry.connection_id, (entry.connection, []))[1].append(entry.payload)
        for connection, rows in by_connection.values():
            for rule in rules:
                result.raise_count(trigger, _raise(rule, make(rule, connection=connection, rows=rows)))
    return result


def followups_evaluate(*, today: datetime.date | None = None, now: datetime.datetime | None = None) -> EvaluateResult:
    """The nightly evaluation: overdue invoices, balances above credit limits, and the ledger sweep.

    Runs after the financials refresh (schedules.py), so CRM-owned balances are tonight's. Safe to run twice, or
    beside webhook processing: every follow-up it could raise has a key already taken or not.
    """
    result = EvaluateResult()
    for part in (
        followups_overdue_evaluate(today=today),
        followups_balances_evaluate(),
        followups_ledger_sweep(now=now),
    ):
        for trigger, count in part.raised.items():
            result.raise_count(trigger, count)
        result.cleared += part.cleared
    logger.info("follow-ups evaluated: %s", dict(result.counts))
    return result


# ---------------------------------------------------------------------------------------------------- staff


def followup_complete(*, followup: FollowUp, actor) -> FollowUp:
    """Mark a follow-up done by `actor`, recording the rule's outbound activity on the contact if it names one.

    Idempotent: one already done is returned as it is (two people pressing "Mark done" record one activity), under
    a row lock. Permission is checked here again, not only by the admin that offers the action.
    """
    if not actor.has_perm(CHANGE_PERMISSION):
        raise PermissionDenied("marking follow-ups done needs the “change follow-up” permission")
    with transaction.atomic():
        locked = FollowUp.objects.select_for_update().select_related("rule").get(pk=followup.pk)
        if locked.done_at is not None:
            return locked
        now = timezone.now()
        if locked.rule.activity_kind:
            locked.activity = Activity.objects.create(
                contact_id=locked.contact_id,
                kind=locked.rule.activity_kind,
                direction=Direction.OUTBOUND,
                occurred_at=now,
                summary=f"Follow-up done: {locked.summary}",
            )
        locked.done_at, locked.done_by = now, actor
        locked.save(update_fields=["done_at", "done_by", "activity"])
    return locked
