"""Health probes: /healthz/ answers while the process lives; /readyz/ reports each part as JSON, 503 when the CRM
cannot work (database, broker, workers), 200 with "warn" for QuickBooks trouble, and never a secret."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import OrmQ, Schedule

from quickbooks_integration.models import QuickBooksAuth, SyncRun

pytestmark = pytest.mark.django_db


def test_healthz_answers_without_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz/")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert "no-store" in response["Cache-Control"]


def test_readyz_is_ready_with_warnings_when_quickbooks_is_not_connected(client):
    response = client.get("/readyz/")
    body = response.json()
    assert response.status_code == 200, body
    checks = body["checks"]
    assert {name: check["status"] for name, check in checks.items()} == {
        "database": "ok", "broker": "ok", "worker": "ok", "quickbooks": "warn", "sync": "ok", "webhooks": "ok"
    }
    assert checks["quickbooks"]["connection"] == "not_connected"
    assert checks["webhooks"]["oldest_pending_age_seconds"] is None  # the inbox hook (no webhook models yet)
    assert body["status"] == "degraded"


def test_readyz_reports_the_connection_and_the_last_successful_sync(client):
    connection = QuickBooksAuth.objects.create(company_id="9341455649204247", access_token="tok-secret-AAA")
    finished = timezone.now() - timedelta(hours=2)
    SyncRun.objects.create(connection=connection, kind="initial", status="succeeded", finished_at=finished)
    body = client.get("/readyz/").json()
    assert body["status"] == "ok"
    assert body["checks"]["quickbooks"] == {"status": "ok", "connection": "connected"}
    assert 7190 <= body["checks"]["sync"]["last_success_age_seconds"] <= 7300
    assert "tok-secret-AAA" not in json.dumps(body) and "9341455649204247" not in json.dumps(body)


def test_a_stale_last_sync_and_a_reconnect_warn_but_keep_serving(client, settings):
    connection = QuickBooksAuth.objects.create(company_id="1", status=QuickBooksAuth.Status.NEEDS_RECONNECT)
    SyncRun.objects.create(
        connection=connection, kind="initial", status="succeeded", finished_at=timezone.now() - timedelta(days=3)
    )
    QuickBooksAuth.objects.filter(pk=connection.pk).update(status=QuickBooksAuth.Status.CONNECTED)
    response = client.get("/readyz/")
    assert response.status_code == 200
    assert response.json()["checks"]["sync"]["status"] == "warn"

    QuickBooksAuth.objects.filter(pk=connection.pk).update(status=QuickBooksAuth.Status.NEEDS_RECONNECT)
    response = client.get("/readyz/")
    assert response.status_code == 200
    assert response.json()["checks"]["quickbooks"] == {"status": "warn", "connection": "needs_reconnect"}


def test_a_queue_nobody_drains_makes_it_unready(client, settings):
    settings.HEALTH_WORKER_STALE_SECONDS = 60
    OrmQ.objects.create(key="crm", payload="x", lock=timezone.now() - timedelta(minutes=5))
    response = client.get("/readyz/")
    assert response.status_code == 503
    assert response.json()["checks"]["worker"]["tasks_waiting_too_long"] == 1
    assert response.json()["status"] == "unavailable"


def test_a_schedule_that_no_longer_fires_makes_it_unready(client, settings):
    settings.HEALTH_WORKER_STALE_SECONDS = 60
    Schedule.objects.filter(name="quickbooks-keepalive").update(next_run=timezone.now() - timedelta(hours=1))
    response = client.get("/readyz/")
    assert response.status_code == 503
    assert response.json()["checks"]["worker"]["overdue_schedule"] == "quickbooks-keepalive"


def test_a_broker_that_is_down_makes_it_unready(client, settings, monkeypatch):
    """Redis configured on a port where nothing listens: the broker and worker checks fail, the body says why."""
    from django_q.conf import Conf

    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    monkeypatch.setattr(Conf, "REDIS", "redis://127.0.0.1:1/0")
    monkeypatch.setattr(Conf, "ORM", None)
    response = client.get("/readyz/")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["broker"] == {"status": "fail", "error": "ConnectionError"}
    assert checks["database"]["status"] == "ok"
