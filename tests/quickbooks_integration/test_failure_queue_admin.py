"""The failed-sync queue (admin/failures.py): the Bookkeeper retries a failed import (it runs again against the
emulator and its failure closes) and marks another resolved; the Owner reads only; Staff gets 403; filters by kind,
code and age; a link to the record in QuickBooks; the open count on the admin index."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import timezone

from crm.roles import BOOKKEEPER, OWNER, STAFF
from quickbooks_integration.admin.failures import qbo_record_url
from quickbooks_integration.models import AuditEvent, SyncFailure, SyncRun
from quickbooks_integration.qbo.errors import StaleObjectError
from quickbooks_integration.services.customers import customers_import_run
from quickbooks_integration.services.failures import failure_record
from tests.crm.factories import UserFactory

pytestmark = pytest.mark.django_db
URL = "/admin/quickbooks_integration/syncfailure/"


def _client(group: str) -> Client:
    client = Client()
    client.force_login(UserFactory(username=f"{group.lower()}-1", groups=[group]))
    return client


@pytest.fixture
def failures(connected, emulator) -> dict[str, SyncFailure]:
    """A customers import QBO refused (a real failed run) and a push that met a stale SyncToken."""
    emulator.control.fail_next("/query", status=400, code="4000")
    run = customers_import_run(connection_id=connected.pk)
    assert run.status == SyncRun.Status.FAILED
    push = failure_record(
        kind="customer_push",
        key="customer_push:contact:7",
        direction=SyncFailure.Direction.PUSH,
        error=StaleObjectError("Stale Object Error", code="5010", detail="You and someone else"),
        connection_id=connected.pk,
        entity_type="Customer",
        entity_id="58",
    )
    return {"import": SyncFailure.objects.get(kind="sync_run"), "push": push}


def _act(client: Client, action: str, *failures: SyncFailure):
    return client.post(URL, {"action": action, "_selected_action": [f.pk for f in failures]}, follow=True)


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_bookkeeper_retries_one_and_marks_another_resolved(failures, django_capture_on_commit_callbacks):
    bookkeeper = _client(BOOKKEEPER)
    with django_capture_on_commit_callbacks(execute=True):  # the retry queues the run; tasks run inline here
        retried = _act(bookkeeper, "retry", failures["import"])

    assert retried.status_code == 200
    assert _messages(retried) == ["1 sync failure queued again."]
    failures["import"].refresh_from_db()
    assert failures["import"].resolved_at is not None  # the retried run succeeded, which resolves it
    assert SyncRun.objects.get(pk=failures["import"].retry_args["run_id"]).status == SyncRun.Status.SUCCEEDED

    resolved = _act(bookkeeper, "mark_resolved", failures["push"])
    assert _messages(resolved) == ["1 sync failure marked resolved."]
    failures["push"].refresh_from_db()
    assert failures["push"].resolution == "marked resolved by bookkeeper-1"
    assert failures["push"].resolved_by.username == "bookkeeper-1"
    actions = set(AuditEvent.objects.filter(actor__username="bookkeeper-1").values_list("action", flat=True))
    assert actions == {"failure_retry", "failure_resolved"}


def test_retrying_a_resolved_failure_reports_it_and_changes_nothing(failures):
    bookkeeper = _client(BOOKKEEPER)
    _act(bookkeeper, "mark_resolved", failures["push"])

    again = _act(bookkeeper, "retry", failures["push"])
    assert (
        len(_messages(again)) == 1 and "1 failed" in _messages(again)[0] and "already resolved" in _messages(again)[0]
    )
    twice = _act(bookkeeper, "mark_resolved", failures["push"])
    assert "already resolved" in _messages(twice)[0]
    assert AuditEvent.objects.filter(action="failure_resolved").count() == 1


def test_staff_gets_403(failures):
    staff = _client(STAFF)
    assert staff.get(URL).status_code == 403
    assert _act(staff, "retry", failures["push"]).status_code == 403
    assert SyncFailure.objects.get(pk=failures["push"].pk).is_open


def test_owner_reads_the_queue_but_has_no_actions(failures):
    owner = _client(OWNER)
    page = owner.get(URL)
    assert page.status_code == 200 and b"Stale Object Error" in page.content
    assert b'name="action"' not in page.content

    _act(owner, "retry", failures["import"])
    _act(owner, "mark_resolved", failures["push"])

    assert SyncFailure.objects.filter(resolved_at__isnull=True).count() == 2
    assert not AuditEvent.objects.filter(action__startswith="failure_").exists()


def test_filters_by_kind_code_and_age_and_links_to_quickbooks(failures, settings):
    bookkeeper = _client(BOOKKEEPER)
    SyncFailure.objects.filter(pk=failures["push"].pk).update(first_attempt_at=timezone.now() - timedelta(days=8))

    def listed(query: str) -> set[int]:
        page = bookkeeper.get(f"{URL}?{query}")
        assert page.status_code == 200
        return {row.pk for row in page.context["cl"].result_list}

    both = {failures["import"].pk, failures["push"].pk}
    assert listed("") == both
    assert listed("kind=customer_push") == {failures["push"].pk}
    assert listed("code=4000") == {failures["import"].pk}
    assert listed("age=today") == listed("age=week") == {failures["import"].pk}
    assert listed("age=older") == {failures["push"].pk}

    page = bookkeeper.get(URL)
    link = "https://app.sandbox.qbo.intuit.com/app/customerdetail?nameId=58"  # the emulator stands in for a sandbox
    assert f'href="{link}" target="_blank" rel="noopener noreferrer"'.encode() in page.content
    settings.QUICKBOOKS_ENVIRONMENT = "production"
    assert qbo_record_url(entity_type="Invoice", entity_id="130") == "https://app.qbo.intuit.com/app/invoice?txnId=130"
    assert qbo_record_url(entity_type="Estimate", entity_id="41").endswith("/app/estimate?txnId=41")
    assert qbo_record_url(entity_type="Item", entity_id="5").endswith("/app/item?itemId=5")
    assert qbo_record_url(entity_type="Customer", entity_id="") is None
    assert qbo_record_url(entity_type="CompanyInfo", entity_id="1") is None


def test_the_admin_index_shows_how_many_are_open(failures):
    bookkeeper = _client(BOOKKEEPER)
    assert b"Sync failures (2 open)" in bookkeeper.get("/admin/").content

    _act(bookkeeper, "mark_resolved", failures["push"])

    assert b"Sync failures (1 open)" in bookkeeper.get("/admin/").content
    assert b"Sync failures (1 open)" in _client(OWNER).get("/admin/").content
    assert b"Sync failures" not in _client(STAFF).get("/admin/").content
