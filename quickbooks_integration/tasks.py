"""django-q2 tasks of the integration: thin (load by id, call a service), idempotent, never given tokens."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone
from django_q.tasks import async_task

from crm.models import Invoice, Quote

from . import conf
from .models import QuickBooksAuth, SyncRun
from .qbo.errors import QuickBooksError
from .qbo.tokens import connection_refresh
from .services.customers import KIND as CUSTOMERS  # importing it registers the "customers" sync kind
from .services.estimates import estimates_push
from .services.invoices import invoice_send, quote_convert
from .services.runs import TASK, sync_run_execute, sync_run_queue, sync_runs_requeue_stale
from .services.sales_pull import sales_document_reread
from .services.schedules_jobs import financials_refresh, syncs_changes_enqueue, syncs_full_enqueue
from .services.sync import INITIAL
from .services.webhooks import webhook_events_process_realm, webhook_events_prune, webhook_events_sweep

logger = logging.getLogger(__name__)


def initial_sync_enqueue(*, connection_id: int) -> None:
    """Record a queued initial SyncRun and enqueue its task (called on commit after connecting)."""
    run = sync_run_queue(connection_id=connection_id, kind=INITIAL)
    async_task(TASK, run.pk, task_name=f"qbo-initial-{run.pk}")


def sync_run_task(run_id: int) -> None:
    """Run (or resume) one sync run; a second delivery of the same task finds it claimed or finished."""
    run = SyncRun.objects.filter(pk=run_id).values("connection_id", "kind").first()
    if run is not None:
        sync_run_execute(connection_id=run["connection_id"], kind=run["kind"], run_id=run_id)


def initial_sync_task(connection_id: int, run_id: int | None = None) -> None:
    sync_run_execute(connection_id=connection_id, kind=INITIAL, run_id=run_id)


def customers_import_task(connection_id: int) -> None:
    """Import QBO customers (CDC after the first full pull), resuming an unfinished import first."""
    sync_run_execute(connection_id=connection_id, kind=CUSTOMERS)


def sync_runs_requeue_task() -> int:
    """Queue again the runs whose worker died or whose task was lost (the schedule's safety net)."""
    return len(sync_runs_requeue_stale())


def keepalive_task() -> int:
    """Refresh every connected company whose last refresh is older than the keep-alive age; returns how many."""
    cutoff = timezone.now() - timedelta(hours=conf.keepalive_min_age_hours())
    due = QuickBooksAuth.objects.filter(status=QuickBooksAuth.Status.CONNECTED).values_list("pk", "last_refreshed_at")
    refreshed = 0
    for connection_id, last in due:
        if last is not None and last > cutoff:
            continue
        try:
            connection_refresh(connection_id=connection_id, force=True)
            refreshed += 1
        except QuickBooksError as exc:
            logger.warning("keep-alive refresh of connection %s failed: %s", connection_id, type(exc).__name__)
    return refreshed


def alerts_check_task() -> dict:
    """Mail new alert incidents once and close ended ones (services/alerts.py); returns the keys it touched."""
    from .services.alerts import alerts_check

    result = alerts_check()
    return {"opened": result.opened, "notified": result.notified, "resolved": result.resolved}


def webhook_events_process_task(realm_id: str) -> int:
    """Process a realm's pending webhook events; returns how many are still due (the sweeper takes those)."""
    return webhook_events_process_realm(realm_id=realm_id)


def webhook_events_sweep_task() -> int:
    """Queue again every realm whose pending events were not processed (a lost task, a worker that died)."""
    return len(webhook_events_sweep())


def webhook_events_prune_task() -> int:
    """Delete settled webhook events older than QUICKBOOKS_WEBHOOK_RETENTION_DAYS; returns how many."""
    return webhook_events_prune()


def syncs_changes_task() -> int:
    """Queue the CDC syncs (customers, items) of every connected company not already syncing; returns how many."""
    return len(syncs_changes_enqueue())


def syncs_full_task() -> int:
    """Queue the nightly full reconciliation of every connected company (once per kind); returns the runs concerned."""
    return len(syncs_full_enqueue())


def financials_refresh_task() -> dict[str, int]:
    """Store tonight's overdue invoices and recalculate the contact summaries the CRM owns."""
    result = financials_refresh()
    return {"invoices_overdue": result.invoices_overdue, "contacts": result.contacts}


# ---------------------------------------------------------------- staff actions too large for one web request
def _actor(actor_id: int | None):
    """The user who asked (the services re-check their permission), or None for the system (a retry)."""
    return get_user_model().objects.filter(pk=actor_id).first() if actor_id else None


def _outcomes(results) -> dict[str, int]:
    counts: dict[str, int] = {}
    for result in results:
        counts[result.outcome] = counts.get(result.outcome, 0) + 1
    return counts


def estimates_push_task(quote_ids: list[int], actor_id: int | None = None) -> dict[str, int]:
    """Push the quotes as QBO estimates (batched by 30)."""
    return _outcomes(estimates_push(quotes=Quote.objects.filter(pk__in=quote_ids).only("pk"), actor=_actor(actor_id)))


def quotes_convert_task(quote_ids: list[int], actor_id: int | None = None) -> dict[str, int]:
    """Convert the quotes to invoices, in the CRM and in QBO."""
    actor = _actor(actor_id)
    return _outcomes(quote_convert(quote=q, actor=actor) for q in Quote.objects.filter(pk__in=quote_ids).order_by("pk"))


def sales_document_reread_task(connection_id: int, entity: str, entity_id: str) -> str:
    """Read one estimate or invoice from QBO again and apply it (the retry of a total QBO disagreed with)."""
    return sales_document_reread(connection_id=connection_id, entity=entity, entity_id=entity_id)


def invoices_send_task(invoice_ids: list[int], actor_id: int | None = None) -> dict[str, int]:
    """Send the invoices from QBO to the contacts' e-mail."""
    actor = _actor(actor_id)
    invoices = Invoice.objects.filter(pk__in=invoice_ids).order_by("pk")
    return _outcomes(invoice_send(invoice=invoice, actor=actor) for invoice in invoices)


def followups_evaluate_task() -> dict[str, int]:
    """Nightly: raise the follow-ups time alone made due (overdue invoices, balances, missed hooks); idempotent."""
    from .services.followups import followups_evaluate  # imported by the admin at start-up, so its hooks are in

    return followups_evaluate().counts
