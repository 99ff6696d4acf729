"""Alerts: the owner and the bookkeeper get one e-mail per incident, never one per failure, and incidents close.

`alerts_check` (run by the schedule every few minutes) looks at three conditions, opens an `AlertIncident` for
each that holds and has no open incident yet, mails it once, and resolves the open incidents whose condition
has ended:

- a connection needs reconnecting (or its tokens cannot be decrypted): one incident per connection;
- the latest finished run of a sync failed: one incident per connection and kind, however often it fails again,
  closed by its next success;
- open `SyncFailure` rows reached ALERT_OPEN_FAILURES_THRESHOLD: one incident until they drop below it.

Mail goes through Django's e-mail backend (the console in the demo) to active users with an address in the Owner or
Bookkeeper group, plus ADMINS. Sending is claimed with a conditional UPDATE on `notified_at`, so two workers running
the check at once send one e-mail; a send that fails is released and tried again by the next check.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from crm.roles import BOOKKEEPER, OWNER
from crm_project.log_filters import redact

from ..models import AlertIncident, QuickBooksAuth, SyncFailure, SyncRun

logger = logging.getLogger(__name__)

RECONNECT_STATUSES = (QuickBooksAuth.Status.NEEDS_RECONNECT, QuickBooksAuth.Status.CANNOT_DECRYPT)


@dataclass(frozen=True)
class Condition:
    kind: str
    key: str
    summary: str
    detail: str


@dataclass
class AlertCheckResult:
    opened: list[str] = field(default_factory=list)
    notified: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)


def alert_recipients() -> list[str]:
    """Owner and Bookkeeper members with an address, then ADMINS; each address once."""
    users = (
        get_user_model()
        .objects.filter(is_active=True, groups__name__in=[OWNER, BOOKKEEPER])
        .exclude(email="")
        .order_by("pk")
        .values_list("email", flat=True)
        .distinct()
    )
    admins = [address for _name, address in settings.ADMINS]
    seen: dict[str, str] = {}
    for address in [*users, *admins]:
        seen.setdefault(address.strip().lower(), address.strip())
    return list(seen.values())


def open_failures_count() -> int:
    """Open failure rows (`resolved_at IS NULL`): the "failures pile up" source."""
    return SyncFailure.objects.filter(resolved_at__isnull=True).count()


def _reconnect_conditions() -> list[Condition]:
    rows = QuickBooksAuth.objects.filter(status__in=RECONNECT_STATUSES).values(
        "pk", "company_name", "company_id", "status"
    )
    return [
        Condition(
            kind=AlertIncident.Kind.RECONNECT,
            key=f"reconnect:{row['pk']}",
            summary=f"QuickBooks needs reconnecting: {row['company_name'] or row['company_id']}",
            detail=(
                f"The connection's status is {QuickBooksAuth.Status(row['status']).label!r}: syncs and pushes are "
                "stopped until a superuser reconnects it on the QuickBooks connection page."
            ),
        )
        for row in rows
    ]


def _sync_failed_conditions() -> list[Condition]:
    """The latest finished run of each (connection, kind) that failed; a later success ends the incident."""
    finished = (SyncRun.Status.SUCCEEDED, SyncRun.Status.FAILED)
    pairs = SyncRun.objects.filter(status__in=finished).values_list("connection_id", "kind").distinct()
    conditions = []
    for connection_id, kind in sorted(set(pairs)):
        latest = (
            SyncRun.objects.filter(connection_id=connection_id, kind=kind, status__in=finished)
            .order_by("-finished_at", "-pk")
            .values("pk", "status", "error", "finished_at")
            .first()
        )
        if latest and latest["status"] == SyncRun.Status.FAILED:
            conditions.append(
                Condition(
                    kind=AlertIncident.Kind.SYNC_FAILED,
                    key=f"sync_failed:{connection_id}:{kind}",
                    summary=f"The QuickBooks {kind} sync failed",
                    detail=f"Run #{latest['pk']} failed: {redact(latest['error'] or 'no error recorded')[:1000]}",
                )
            )
    return conditions


def _failures_piling_conditions() -> list[Condition]:
    count, threshold = open_failures_count(), settings.ALERT_OPEN_FAILURES_THRESHOLD
    if count < threshold:
        return []
    return [
        Condition(
            kind=AlertIncident.Kind.FAILURES_PILING,
            key="failures_piling",
            summary=f"{count} QuickBooks sync failures are waiting for the bookkeeper",
            detail=f"{count} failure rows are open (the alert threshold is {threshold}); see Failed syncs.",
        )
    ]


def alert_conditions() -> list[Condition]:
    return [*_reconnect_conditions(), *_sync_failed_conditions(), *_failures_piling_conditions()]


def _incident_open(condition: Condition) -> tuple[AlertIncident, bool]:
    now = timezone.now()
    existing = AlertIncident.objects.filter(key=condition.key, resolved_at__isnull=True).first()
    if existing is not None:
        AlertIncident.objects.filter(pk=existing.pk).update(last_seen_at=now)
        return existing, False
    try:
        with transaction.atomic():
            incident = AlertIncident.objects.create(
                kind=condition.kind, key=condition.key, summary=condition.summary[:300], detail=condition.detail,
                last_seen_at=now,
            )
        return incident, True
    except IntegrityError:  # another worker opened it a moment ago (the partial unique constraint)
        return AlertIncident.objects.get(key=condition.key, resolved_at__isnull=True), False


def _page_url() -> str:
    path = reverse("admin:quickbooks_integration_quickbooksauth_changelist")
    return f"{settings.SITE_URL.rstrip('/')}{path}" if settings.SITE_URL else path


def incident_notify(*, incident: AlertIncident, recipients: list[str]) -> bool:
    """Mail an incident once: claim `notified_at` first, release it if sending fails."""
    if not recipients:
        logger.warning("alert %s has no recipients: set ADMINS or give Owner/Bookkeeper users an e-mail", incident.key)
        return False
    claimed = AlertIncident.objects.filter(pk=incident.pk, notified_at__isnull=True).update(
        notified_at=timezone.now(), recipients=len(recipients)
    )
    if not claimed:
        return False
    body = f"{incident.summary}\n\n{incident.detail}\n\nQuickBooks connection page: {_page_url()}\n"
    try:
        send_mail(f"{settings.EMAIL_SUBJECT_PREFIX}{incident.summary}", body, None, recipients)
    except Exception:  # noqa: BLE001  (any mail failure: release the claim so the next check retries)
        logger.exception("could not mail alert %s", incident.key)
        AlertIncident.objects.filter(pk=incident.pk).update(notified_at=None, recipients=0)
        return False
    return True


def alerts_check() -> AlertCheckResult:
    """Open and mail new incidents, re-mail none, resolve those whose condition ended; returns what changed."""
    result = AlertCheckResult()
    conditions = alert_conditions()
    recipients = alert_recipients()
    for condition in conditions:
        incident, created = _incident_open(condition)
        if created:
            result.opened.append(condition.key)
        if incident.notified_at is None and incident_notify(incident=incident, recipients=recipients):
            result.notified.append(condition.key)
    current = {condition.key for condition in conditions}
    ended = AlertIncident.objects.filter(resolved_at__isnull=True).exclude(key__in=current)
    result.resolved = sorted(ended.values_list("key", flat=True))
    ended.update(resolved_at=timezone.now())
    return result
