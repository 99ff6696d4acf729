"""Real concurrency on PostgreSQL: K workers with an expired token refresh once; the limiter caps in-flight calls."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from quickbooks_integration.models import QuickBooksAuth
from quickbooks_integration.qbo import client
from quickbooks_integration.qbo.tokens import connection_load

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _run_threads(count: int, target) -> tuple[list, list]:
    barrier = threading.Barrier(count)
    results, failures = [], []
    lock = threading.Lock()

    def worker():
        try:
            barrier.wait(timeout=10)
            value = target()
            with lock:
                results.append(value)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            with lock:
                failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results, failures


def test_five_workers_with_an_expired_token_refresh_once(connected, emulator):
    QuickBooksAuth.objects.filter(pk=connected.pk).update(expires_at=timezone.now() - timedelta(seconds=5))
    token_calls = emulator.control.token_calls()

    def work():
        connection = connection_load(connection_id=connected.pk)
        return client.qbo_read_company_info(connection=connection)["CompanyName"], connection.access_token

    results, failures = _run_threads(5, work)

    assert failures == []
    assert len(results) == 5
    assert emulator.control.token_calls() == token_calls + 1
    assert len({token for _, token in results}) == 1
    assert QuickBooksAuth.objects.get(pk=connected.pk).access_token == results[0][1]


def test_five_workers_hit_by_401_refresh_once(connected, emulator):
    emulator.control.expire_access_tokens()
    token_calls = emulator.control.token_calls()

    def work():
        connection = connection_load(connection_id=connected.pk)
        return client.qbo_read_company_info(connection=connection)["CompanyName"]

    results, failures = _run_threads(5, work)

    assert failures == []
    assert results == ["Sandbox Company_US_1"] * 5
    assert emulator.control.token_calls() == token_calls + 1


def test_limiter_keeps_in_flight_calls_under_the_realm_limit(connected, emulator, settings):
    settings.QUICKBOOKS_MAX_CONCURRENT = 3
    emulator.control.throttle(concurrent=3)
    emulator.control.delay_next("/companyinfo/", seconds=0.3, count=12)
    emulator.control.clear_requests()
    slept: list[float] = []

    def sleeper(seconds: float) -> None:  # the limiter's waits go through it too, so it must really wait
        slept.append(seconds)
        time.sleep(seconds)

    def work():
        connection = connection_load(connection_id=connected.pk)
        return client.qbo_read_company_info(connection=connection, sleeper=sleeper)["CompanyName"]

    results, failures = _run_threads(12, work)

    assert failures == []
    assert len(results) == 12
    statuses = [r["status"] for r in emulator.control.requests("/companyinfo/")]
    assert statuses == [200] * 12  # the emulator refuses a 4th concurrent call with 429: none happened
    assert all(seconds < 1 for seconds in slept)  # only the limiter's short waits: no throttle backoff
