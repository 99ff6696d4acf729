"""Failure rows (RELIABILITY C9): record any failure where the bookkeeper sees it, resolve it, retry it.

- `failure_record` turns any exception into the one open row for its `key` (what failed: "sync_run:3:customers",
  "customer_push:contact:812"): a `QuickBooksError` keeps QBO's code, message, detail, element, HTTP status and
  `intuit_tid`; anything else keeps its class and (redacted) message. The same failure again bumps `attempts`.
- `failure_resolve` closes it when a later attempt succeeds (or the bookkeeper marks it resolved).
- `failure_retry` runs what the failing service registered for its `kind` with `failure_retry_register`; the
  registry keeps this module free of customers, estimates and webhooks, which each register their own retry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, models, transaction
from django.db.models import Count, F
from django.utils import timezone

from crm_project.log_filters import redact

from ..models import AuditEvent, SyncFailure
from ..qbo.errors import QuickBooksError
from .audit import audit_record

logger = logging.getLogger(__name__)

RetryHandler = Callable[[SyncFailure], str]
_RETRIES: dict[str, RetryHandler] = {}
RETRY_PERMISSION = "quickbooks_integration.retry_sync"


class FailureRetryError(Exception):
    """The failure cannot be retried (no handler for its kind, already resolved, or not allowed)."""


def failure_retry_register(kind: str) -> Callable[[RetryHandler], RetryHandler]:
    """Register how failures of `kind` are retried: `handler(failure) -> message`, queueing the work again."""

    def register(handler: RetryHandler) -> RetryHandler:
        _RETRIES[kind] = handler
        return handler

    return register


def _error_fields(error: BaseException) -> dict[str, Any]:
    if isinstance(error, QuickBooksError):
        return {
            "code": error.code[:20],
            "error_class": type(error).__name__,
            "message": redact(error.message or str(error)),
            "detail": redact(error.detail),
            "element": error.element[:200],
            "http_status": error.http_status,
            "intuit_tid": error.intuit_tid[:100],
        }
    return {
        "code": "",
        "error_class": type(error).__name__,
        "message": redact(str(error) or type(error).__name__),
        "detail": "",
        "element": "",
        "http_status": None,
        "intuit_tid": "",
    }


def failure_record(
    *,
    kind: str,
    key: str,
    direction: str,
    error: BaseException,
    connection_id: int | None = None,
    entity_type: str = "",
    entity_id: str = "",
    obj: models.Model | None = None,
    request_id: str = "",
    retry_args: dict[str, Any] | None = None,
) -> SyncFailure:
    """Record (or count again) the open failure for `key`; returns its row. Call it outside the failed transaction."""
    now = timezone.now()
    values = {
        **_error_fields(error),
        "connection_id": connection_id,
        "kind": kind,
        "direction": direction,
        "entity_type": entity_type,
        "entity_id": str(entity_id or ""),
        "object_type": obj._meta.label if obj is not None else "",
        "object_id": str(obj.pk) if obj is not None and obj.pk is not None else "",
        "request_id": request_id,
        "retry_args": retry_args or {},
        "last_attempt_at": now,
    }
    for _ in range(2):  # a concurrent first insert of the same key loses the unique race once, then updates
        try:
            with transaction.atomic():
                existing = SyncFailure.objects.select_for_update().filter(key=key, resolved_at__isnull=True).first()
                if existing is None:
                    failure = SyncFailure.objects.create(key=key, **values)
                else:
                    SyncFailure.objects.filter(pk=existing.pk).update(attempts=F("attempts") + 1, **values)
                    failure = SyncFailure.objects.get(pk=existing.pk)
            break
        except IntegrityError:
            continue
    logger.warning(
        "QuickBooks %s failed: key=%s class=%s code=%s http=%s intuit_tid=%s request_id=%s",
        kind,
        key,
        values["error_class"],
        values["code"],
        values["http_status"],
        values["intuit_tid"],
        request_id,
    )
    return failure


def failure_resolve(*, key: str, actor=None, resolution: str = "succeeded on a later attempt") -> int:
    """Close the open failure for `key` (a later success, or the bookkeeper's word); returns how many closed."""
    actor = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
    return SyncFailure.objects.filter(key=key, resolved_at__isnull=True).update(
        resolved_at=timezone.now(), resolved_by=actor, resolution=resolution[:200]
    )


def failure_mark_resolved(*, failure: SyncFailure, actor) -> SyncFailure:
    """The bookkeeper fixed the cause elsewhere: close the row, audited."""
    if not actor.has_perm(RETRY_PERMISSION):
        raise FailureRetryError("You may not resolve QuickBooks failures.")
    failure_resolve(key=failure.key, actor=actor, resolution=f"marked resolved by {actor.get_username()}")
    audit_record(action="failure_resolved", actor=actor, obj=failure, after={"key": failure.key})
    failure.refresh_from_db()
    return failure


def failure_retry(*, failure: SyncFailure, actor) -> str:
    """Run the retry registered for the failure's kind; the failure closes when the retried work succeeds."""
    if not actor.has_perm(RETRY_PERMISSION):
        audit_record(
            action="failure_retry", actor=actor, obj=failure, outcome=AuditEvent.Outcome.FAILURE, message="denied"
        )
        raise FailureRetryError("You may not retry QuickBooks failures.")
    if not failure.is_open:
        raise FailureRetryError(f"{failure} is already resolved.")
    handler = _RETRIES.get(failure.kind)
    if handler is None:
        raise FailureRetryError(f"Failures of kind {failure.kind!r} cannot be retried from here.")
    message = handler(failure)
    audit_record(action="failure_retry", actor=actor, obj=failure, after={"key": failure.key}, message=message)
    return message


def failures_open_counts(*, connection_id: int | None = None) -> dict[str, int]:
    """Open failures by kind (for the connection page, the admin index and alerts)."""
    rows = SyncFailure.objects.filter(resolved_at__isnull=True)
    if connection_id is not None:
        rows = rows.filter(connection_id=connection_id)
    return dict(rows.values_list("kind").annotate(n=Count("id")).order_by("kind"))
