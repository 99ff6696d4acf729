"""What the background schedules do (schedules.py names them, tasks.py runs them): queue the CDC syncs every
15 minutes, queue a full reconciliation nightly, and refresh the CRM's financial summaries nightly.

Owns deciding what is due. Must not run a sync in the caller (a worker does, through services/runs.py) nor call
QBO: a schedule fires in the scheduler process, which must stay quick.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from crm.models import Contact, Invoice, PaymentStatus
from crm.services import invoice_payment_status_expression
from crm.services.contacts import contacts_financials_recalculate

from ..models import QuickBooksAuth, SyncRun
from .customers import KIND as CUSTOMERS
from .products import KIND as ITEMS
from .runs import sync_run_enqueue
from .sales_pull import KIND_ESTIMATES as ESTIMATES
from .sales_pull import KIND_INVOICES as INVOICES
from .sales_pull import KIND_PAYMENTS as PAYMENTS

logger = logging.getLogger(__name__)

# The pull syncs that have a CDC mode, in the order a worker should take them: contacts and products before the
# documents that refer to them, invoices before the payments that pay them. Each run picks CDC or a full pull itself
# (`services/imports.py::import_mode_choose`).
SYNCED_KINDS = (CUSTOMERS, ITEMS, ESTIMATES, INVOICES, PAYMENTS)
# A run in one of these states will still do its work: queueing another beside it would only do it twice.
UNFINISHED = (SyncRun.Status.QUEUED, SyncRun.Status.RUNNING, SyncRun.Status.INTERRUPTED)
# A run that is, or will be, a full pull: `{"full": True}` until it starts, then `{"mode": "full", ...}`.
FULL_CURSOR = Q(cursor__full=True) | Q(cursor__mode="full")
CONTACTS_CHUNK = 500  # contacts recalculated per transaction


def _connected_ids() -> list[int]:
    connected = QuickBooksAuth.objects.filter(status=QuickBooksAuth.Status.CONNECTED)
    return list(connected.order_by("pk").values_list("pk", flat=True))


def _connection_lock(connection_id: int) -> None:
    """The lock `sync_run_claim` takes: while it is held no run of this company changes state, so the check for an
    unfinished run and the queueing that follows cannot race another scheduler or a worker's claim."""
    QuickBooksAuth.objects.select_for_update().only("pk").get(pk=connection_id)


def syncs_changes_enqueue(*, kinds: Iterable[str] = SYNCED_KINDS) -> list[SyncRun]:
    """Queue, for every connected company, one run of each synced kind that has none queued, running or interrupted.

    The safety net under webhooks (issue 12): each run asks CDC for what changed since its kind's last good run
    started (minus a margin), so a webhook that never came is caught by the next run. An interrupted run is left to
    the `quickbooks-requeue-runs` schedule, which resumes it from its cursor. Returns the runs queued; their tasks
    are sent when the caller's transaction commits.
    """
    kinds = tuple(kinds)
    queued: list[SyncRun] = []
    for connection_id in _connected_ids():
        with transaction.atomic():
            _connection_lock(connection_id)
            busy = set(
                SyncRun.objects.filter(connection_id=connection_id, kind__in=kinds, status__in=UNFINISHED).values_list(
                    "kind", flat=True
                )
            )
            queued += [sync_run_enqueue(connection_id=connection_id, kind=k) for k in kinds if k not in busy]
    return queued


def syncs_full_enqueue(*, kinds: Iterable[str] = SYNCED_KINDS) -> list[SyncRun]:
    """Make sure every connected company has one full run of each synced kind pending; returns the runs concerned.

    Nightly reconciliation: a full pull re-reads every entity (what CDC's 30-day window or 1000-object cap could
    miss) and re-plans matching over all customers. It is the same mechanism as `customers_import_run(full=True)`:
    a queued run whose cursor says `{"full": True}`, here sent to a worker. A run that is queued but not started is
    made full instead of adding a second one; one already full is left alone, so calling this twice queues once. A
    CDC run still running meanwhile makes the full run's first task find the company busy; the requeue schedule
    sends it again (services/runs.py::sync_runs_requeue_stale).
    """
    kinds = tuple(kinds)
    runs: list[SyncRun] = []
    for connection_id in _connected_ids():
        with transaction.atomic():
            _connection_lock(connection_id)
            unfinished = SyncRun.objects.filter(connection_id=connection_id, status__in=UNFINISHED)
            for kind in kinds:
                of_kind = unfinished.filter(kind=kind)
                if of_kind.filter(FULL_CURSOR).exists():
                    continue
                waiting = of_kind.filter(status=SyncRun.Status.QUEUED, cursor={}).order_by("created_at", "pk").first()
                if waiting is not None:
                    SyncRun.objects.filter(pk=waiting.pk).update(cursor={"full": True})
                    run = waiting
                else:
                    run = sync_run_enqueue(connection_id=connection_id, kind=kind)
                    SyncRun.objects.filter(pk=run.pk).update(cursor={"full": True})
                run.cursor = {"full": True}
                runs.append(run)
    return runs


@dataclass(frozen=True)
class FinancialsRefresh:
    invoices_overdue: int  # invoices whose stored payment status turned overdue
    contacts: int  # contact summaries recalculated


def financials_refresh(*, today: datetime.date | None = None) -> FinancialsRefresh:
    """Store what time alone changed overnight: invoices now past due; and, as a safety net, every contact summary.

    An invoice's stored `payment_status` is as of its last save (crm/services/documents.py), and a sent, unpaid
    invoice turns overdue with no save at all; pages that list by status derive it live, but filters on the stored
    column, exports and the plan's reports read the column. Only that transition is written here, in one UPDATE:
    every other status follows from money, which `invoice_recalculate` keeps on every change. Summaries go
    through `contacts_financials_recalculate`, which applies the one rule of who owns the balance (a linked contact
    carries QuickBooks' BalanceWithJobs, which the customers sync writes).
    """
    today = today or timezone.localdate()
    overdue = (
        Invoice.objects.alias(derived=invoice_payment_status_expression(today))
        .filter(derived=PaymentStatus.OVERDUE)
        .exclude(payment_status=PaymentStatus.OVERDUE)
        .update(payment_status=PaymentStatus.OVERDUE, updated_at=timezone.now())
    )
    contact_ids = list(Contact.objects.order_by("pk").values_list("pk", flat=True))
    recalculated = 0
    for start in range(0, len(contact_ids), CONTACTS_CHUNK):
        chunk = contact_ids[start : start + CONTACTS_CHUNK]
        with transaction.atomic():
            recalculated += len(contacts_financials_recalculate(contact_ids=chunk))
    logger.info("financials refresh: %d invoices now overdue, %d contact summaries recalculated", overdue, recalculated)
    return FinancialsRefresh(invoices_overdue=overdue, contacts=recalculated)
