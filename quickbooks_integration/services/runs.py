"""Sync runs that cannot get stuck: the one pattern every sync uses (customers, items, sales, CDC, webhooks).

A sync is a body function registered for its kind; `sync_run_execute` does the rest:

- **Claim with a lease.** Under a row lock on the connection (so two syncs of one kind for one company never
  overlap), take the run if it is queued, failed, or running with an expired lease; bump `attempts`, the claim's
  generation. A run whose lease is still valid belongs to someone else: the task returns without doing anything.
- **Heartbeat.** Every QBO call made for the run (observed through `qbo.http.calls_observed`) adds one to its
  `api_calls` and renews the lease, in one UPDATE made *before* the request is sent, so a worker killed mid-call
  has counted it; `RunContext.checkpoint` renews it per page. A heartbeat that finds the run claimed by a newer
  attempt raises `RunLeaseLost`, so a zombie worker stops instead of writing beside its successor.
- **Resumable cursor.** The body reads `run.cursor` and saves the next one with `checkpoint` inside the transaction
  that writes the page, so a rerun after a crash continues after the last committed page.
- **Every exception ends the run as failed**, with the error on the run (secrets redacted), the traceback in the
  log, and a failure row the bookkeeper can retry; a later successful run of the same kind resolves it.

    @sync_kind_register("customers")
    def customers_import(run: RunContext) -> None:
        for page in ...(start=run.cursor.get("page", 1)):
            with transaction.atomic():
                ...apply the page...
                run.checkpoint(cursor={"page": page + 1}, stats={"linked": ...}, progress=f"page {page} of {n}")
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db import DatabaseError, InterfaceError, OperationalError, transaction
from django.db import connection as db_connection
from django.db.models import F, Q
from django.utils import timezone
from django_q.exceptions import TimeoutException
from django_q.tasks import async_task

from crm_project.log_filters import redact

from .. import conf
from ..models import QuickBooksAuth, SyncFailure, SyncRun
from ..qbo.http import calls_observed
from ..qbo.tokens import connection_load
from .failures import failure_record, failure_resolve, failure_retry_register

logger = logging.getLogger(__name__)

SyncBody = Callable[["RunContext"], None]
_KINDS: dict[str, SyncBody] = {}
CLAIMABLE = (SyncRun.Status.QUEUED, SyncRun.Status.FAILED, SyncRun.Status.INTERRUPTED)
# Claims in a row without a checkpoint after which the sweeper stops re-queueing a run and fails it, with a failure
# row: a page that kills its worker every time (out of memory, past the task timeout) would otherwise be retried
# every few minutes for ever, unseen. A run that checkpoints between deaths is making progress and is never stopped.
STALLED_CLAIMS = 3
TASK = "quickbooks_integration.tasks.sync_run_task"


class RunStalledError(Exception):
    """A run whose worker kept dying without saving a checkpoint (see `STALLED_CLAIMS`)."""


class RunLeaseLost(Exception):
    """This attempt's lease expired and a newer attempt claimed the run: stop, it owns the run now."""


def sync_kind_register(kind: str) -> Callable[[SyncBody], SyncBody]:
    """Register the body of one kind of sync (a decorator); `sync_run_execute` runs it."""

    def register(body: SyncBody) -> SyncBody:
        _KINDS[kind] = body
        return body

    return register


def sync_kinds() -> list[str]:
    return sorted(_KINDS)


@dataclass
class RunContext:
    """What a sync body gets: its run, its connection, the cursor to continue from, and the checkpoint."""

    run: SyncRun
    connection: QuickBooksAuth | None = None
    cursor: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)

    def _lease(self) -> dict[str, Any]:
        now = timezone.now()
        return {"heartbeat_at": now, "lease_expires_at": now + timedelta(seconds=conf.run_lease_seconds())}

    def _update(self, **values: Any) -> None:
        mine = SyncRun.objects.filter(pk=self.run.pk, attempts=self.run.attempts, status=SyncRun.Status.RUNNING)
        if not mine.update(**values, **self._lease()):
            raise RunLeaseLost(f"sync run {self.run.pk}: attempt {self.run.attempts} no longer holds the run")

    def heartbeat(self) -> None:
        """Renew the lease (done for you on every QBO call and checkpoint)."""
        self._update()

    def on_call(self, kind: str, realm_id: str) -> None:
        """Observer of the transport: one more API call for this run, and a renewed lease."""
        if kind == "api":
            self._update(api_calls=F("api_calls") + 1)
        else:
            self._update()

    def checkpoint(self, *, cursor: dict[str, Any], stats: dict[str, Any] | None = None, progress: str = "") -> None:
        """Save where a rerun continues. Call it inside the transaction that writes the page it follows."""
        self.cursor = dict(cursor)
        if stats is not None:
            self.stats = dict(stats)
        if progress:
            self.stats["progress"] = progress
        self._update(cursor=self.cursor, stats=self.stats, claims_since_checkpoint=0)


def sync_run_queue(*, connection_id: int, kind: str) -> SyncRun:
    """Record a queued run (before its task is enqueued, so the connection page shows it at once)."""
    return SyncRun.objects.create(connection_id=connection_id, kind=kind, status=SyncRun.Status.QUEUED)


def sync_run_enqueue(*, connection_id: int, kind: str) -> SyncRun:
    """Queue a run and its task, after the current transaction commits (a rolled-back caller queues nothing)."""
    if kind not in _KINDS:
        raise ValueError(f"unknown sync kind {kind!r}; known: {', '.join(sync_kinds())}")
    run = sync_run_queue(connection_id=connection_id, kind=kind)
    transaction.on_commit(lambda: async_task(TASK, run.pk, task_name=f"qbo-{kind}-{run.pk}"))
    return run


def _claimable(run: SyncRun, now) -> bool:
    if run.status in CLAIMABLE:
        return True
    return run.status == SyncRun.Status.RUNNING and run.lease_expires_at is not None and run.lease_expires_at < now


def sync_run_claim(*, connection_id: int, kind: str, run_id: int | None = None) -> SyncRun | None:
    """Take a run for this worker, or None when it is finished or another worker holds a live lease on it.

    Without `run_id`, the newest unfinished run of this kind is resumed, or a new one is started.
    """
    with transaction.atomic():
        # One claim at a time per connection: the lock that stops two syncs of one kind from overlapping.
        QuickBooksAuth.objects.select_for_update().only("pk").get(pk=connection_id)
        now = timezone.now()
        runs = SyncRun.objects.filter(connection_id=connection_id, kind=kind)
        live = runs.filter(status=SyncRun.Status.RUNNING, lease_expires_at__gte=now)
        if run_id is not None:
            run = runs.filter(pk=run_id).first()
        else:
            run = runs.exclude(status=SyncRun.Status.SUCCEEDED).order_by("-created_at", "-id").first()
            run = run or SyncRun(connection_id=connection_id, kind=kind)
        if run is None or not _claimable(run, now) or live.exclude(pk=run.pk).exists():
            return None
        if run.status == SyncRun.Status.RUNNING:
            logger.warning("sync run %s: lease expired at %s; taking it over", run.pk, run.lease_expires_at)
        run.status = SyncRun.Status.RUNNING
        run.attempts += 1
        run.claims_since_checkpoint += 1
        run.started_at = run.started_at or now
        run.finished_at = None
        run.heartbeat_at = now
        run.lease_expires_at = now + timedelta(seconds=conf.run_lease_seconds())
        run.save()
        return run


def _failure_key(run: SyncRun) -> str:
    return f"sync_run:{run.connection_id}:{run.kind}"


def _finish(context: RunContext, *, status: str, error: str = "") -> None:
    run = context.run
    SyncRun.objects.filter(pk=run.pk, attempts=run.attempts).update(
        status=status, error=error, finished_at=timezone.now(), lease_expires_at=None, stats=context.stats
    )
    run.refresh_from_db()


def sync_run_execute(*, connection_id: int, kind: str, run_id: int | None = None) -> SyncRun | None:
    """Claim a run of `kind` and run its registered body; returns the run (None when there was nothing to do).

    Never raises for a failing sync: the failure is the run's `error` and a `SyncFailure` row.
    """
    body = _KINDS[kind]
    run = sync_run_claim(connection_id=connection_id, kind=kind, run_id=run_id)
    if run is None:
        return None
    context = RunContext(run=run, cursor=dict(run.cursor or {}), stats=dict(run.stats or {}))
    try:
        context.connection = connection_load(connection_id=connection_id)
        with calls_observed(context.on_call):
            body(context)
    except TimeoutException:
        # django-q's task timeout fired inside the body and the worker is being replaced: the run is interrupted,
        # not failed, and resumes from its cursor when the sweeper (or a redelivery) queues it again.
        SyncRun.objects.filter(pk=run.pk, attempts=run.attempts).update(
            status=SyncRun.Status.INTERRUPTED, lease_expires_at=None, stats=context.stats
        )
        raise
    except RunLeaseLost:
        logger.warning("sync run %s: lease lost to a newer attempt; stopping", run.pk)
        return run
    except Exception as exc:  # every failure ends the run, not only QBO's (a crash must not leave it "running")
        message = redact(str(exc) or type(exc).__name__)
        logger.exception("sync run %s (%s) failed: %s", run.pk, kind, type(exc).__name__)
        # The failure may be the database itself (a restart dropped the connection): record it on a fresh one.
        if isinstance(exc, InterfaceError | OperationalError) and not db_connection.is_usable():
            db_connection.close()
        try:
            _finish(context, status=SyncRun.Status.FAILED, error=message)
            failure_record(
                kind="sync_run",
                key=_failure_key(run),
                direction=SyncFailure.Direction.PULL,
                error=exc,
                connection_id=connection_id,
                retry_args={"run_id": run.pk},
            )
        except DatabaseError:  # still down: the lapsing lease shows the run interrupted, and the sweeper requeues it
            logger.exception("sync run %s: could not record its failure", run.pk)
        return run
    _finish(context, status=SyncRun.Status.SUCCEEDED)
    failure_resolve(key=_failure_key(run), resolution=f"run #{run.pk} succeeded")
    return run


def _stalled_fail(run: SyncRun) -> None:
    """Fail a run whose worker died `STALLED_CLAIMS` times at the same point, where the bookkeeper sees it."""
    progress = (run.stats or {}).get("progress") or "before its first page"
    message = (
        f"the worker stopped {run.claims_since_checkpoint} times in a row without finishing a page (last at: "
        f"{progress}); not re-queued again. The worker's log says why (memory, the task timeout); Retry once fixed."
    )
    with transaction.atomic():
        if not SyncRun.objects.filter(pk=run.pk, attempts=run.attempts).update(
            status=SyncRun.Status.FAILED, error=message, finished_at=timezone.now(), lease_expires_at=None
        ):
            return  # claimed meanwhile: its new attempt decides
        failure_record(
            kind="sync_run",
            key=_failure_key(run),
            direction=SyncFailure.Direction.PULL,
            error=RunStalledError(message),
            connection_id=run.connection_id,
            retry_args={"run_id": run.pk},
        )
    logger.error("sync run %s (%s): %s", run.pk, run.kind, message)


@failure_retry_register("sync_run")
def _sync_run_retry(failure: SyncFailure) -> str:
    """Retrying a failed run queues it again: it continues from its cursor."""
    run = SyncRun.objects.get(pk=failure.retry_args["run_id"])
    if run.status == SyncRun.Status.SUCCEEDED:
        return f"run #{run.pk} already succeeded"
    SyncRun.objects.filter(pk=run.pk).exclude(status=SyncRun.Status.RUNNING).update(
        status=SyncRun.Status.QUEUED, claims_since_checkpoint=0
    )
    transaction.on_commit(lambda: async_task(TASK, run.pk, task_name=f"qbo-{run.kind}-{run.pk}-retry"))
    return f"run #{run.pk} queued again"


def sync_runs_requeue_stale(*, queued_for: timedelta = timedelta(minutes=10)) -> list[int]:
    """Queue again every run whose worker died (lease expired) or whose task was lost (queued too long).

    The stored runs, not the broker, are the record: the Redis broker loses a task whose worker dies (STACK §2).
    Runs still running under a live lease are left alone; a run queued again while its old task is still in the
    broker is harmless (the second claim finds it taken or finished). A run claimed `STALLED_CLAIMS` times in a row
    without a checkpoint is failed instead, with a failure row the bookkeeper can retry once the cause is fixed.
    """
    now = timezone.now()
    stale = SyncRun.objects.filter(
        Q(status=SyncRun.Status.RUNNING, lease_expires_at__lt=now)
        | Q(status=SyncRun.Status.INTERRUPTED)
        | Q(status=SyncRun.Status.QUEUED, created_at__lt=now - queued_for)
    )
    ids = []
    for run in stale:
        if run.kind not in _KINDS:
            continue
        if run.status != SyncRun.Status.QUEUED and run.claims_since_checkpoint >= STALLED_CLAIMS:
            _stalled_fail(run)
            continue
        if run.status == SyncRun.Status.RUNNING:
            SyncRun.objects.filter(pk=run.pk, attempts=run.attempts).update(status=SyncRun.Status.INTERRUPTED)
        async_task(TASK, run.pk, task_name=f"qbo-{run.kind}-{run.pk}-requeue")
        ids.append(run.pk)
    return ids
