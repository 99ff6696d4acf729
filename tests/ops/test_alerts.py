"""Alerts: one e-mail per incident to the owner, the bookkeeper and ADMINS, never again for the same incident, and
the incident closes when its condition ends."""

from __future__ import annotations

import pytest
from django.core import mail
from django.utils import timezone

from quickbooks_integration.models import AlertIncident, QuickBooksAuth, SyncFailure, SyncRun
from quickbooks_integration.services.alerts import alerts_check
from quickbooks_integration.tasks import alerts_check_task
from tests.crm.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(settings):
    settings.ADMINS = [("Ops", "ops@attackacrack.example")]
    return {
        "owner": UserFactory(username="olive", groups=["Owner"]),
        "bookkeeper": UserFactory(username="bea", groups=["Bookkeeper"]),
        "staff": UserFactory(username="sam", groups=["Staff"]),
    }


@pytest.fixture
def connection() -> QuickBooksAuth:
    return QuickBooksAuth.objects.create(company_id="9130357766001234", company_name="Attack-a-Crack")


def run(connection, status, kind="initial") -> SyncRun:
    now = timezone.now()
    return SyncRun.objects.create(
        connection=connection, kind=kind, status=status, started_at=now, finished_at=now, error="6000: bad line"
    )


def test_needs_reconnect_mails_owner_bookkeeper_and_admins_once_then_closes(people, connection):
    QuickBooksAuth.objects.filter(pk=connection.pk).update(status=QuickBooksAuth.Status.NEEDS_RECONNECT)

    first = alerts_check()
    second = alerts_check()

    assert first.notified == [f"reconnect:{connection.pk}"] and second.notified == []
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert sorted(message.to) == sorted(
        ["olive@attackacrack.example", "bea@attackacrack.example", "ops@attackacrack.example"]
    )
    assert "needs reconnecting" in message.subject and "Attack-a-Crack" in message.subject
    assert "/admin/quickbooks_integration/quickbooksauth/" in message.body

    QuickBooksAuth.objects.filter(pk=connection.pk).update(status=QuickBooksAuth.Status.CONNECTED)
    assert alerts_check().resolved == [f"reconnect:{connection.pk}"]
    incident = AlertIncident.objects.get()
    assert incident.resolved_at is not None and incident.recipients == 3


def test_a_sync_failing_again_and_again_is_one_incident_until_it_succeeds(people, connection):
    for _ in range(3):
        run(connection, SyncRun.Status.FAILED)
        alerts_check_task()
    assert len(mail.outbox) == 1
    assert "initial sync failed" in mail.outbox[0].subject and "6000: bad line" in mail.outbox[0].body

    run(connection, SyncRun.Status.SUCCEEDED)
    assert alerts_check_task()["resolved"] == [f"sync_failed:{connection.pk}:initial"]

    run(connection, SyncRun.Status.FAILED)  # a new failure after recovery is a new incident
    alerts_check()
    assert len(mail.outbox) == 2
    assert AlertIncident.objects.filter(resolved_at__isnull=True).count() == 1


def test_failures_piling_up_opens_one_incident_at_the_threshold(people, connection, settings):
    settings.ALERT_OPEN_FAILURES_THRESHOLD = 3
    now = timezone.now()
    for n in range(3):
        SyncFailure.objects.create(
            connection=connection, kind="customer_push", key=f"push:{n}", direction="push", last_attempt_at=now
        )
    result = alerts_check()
    assert result.notified == ["failures_piling"]
    assert "3 QuickBooks sync failures" in mail.outbox[0].subject
    alerts_check()
    assert len(mail.outbox) == 1

    SyncFailure.objects.filter(key="push:0").update(resolved_at=now)
    assert alerts_check().resolved == ["failures_piling"]


def test_a_failed_send_is_retried_by_the_next_check(people, connection, settings):
    QuickBooksAuth.objects.filter(pk=connection.pk).update(status=QuickBooksAuth.Status.CANNOT_DECRYPT)
    settings.EMAIL_BACKEND = "tests.ops.mail_backends.BrokenBackend"
    assert alerts_check().notified == []
    assert AlertIncident.objects.get().notified_at is None

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert alerts_check().notified == [f"reconnect:{connection.pk}"]
    assert len(mail.outbox) == 1


def test_the_alert_schedule_is_registered():
    from quickbooks_integration.schedules import SCHEDULES

    assert SCHEDULES["quickbooks-alerts"][0] == "quickbooks_integration.tasks.alerts_check_task"
