"""The customers import (services/customers.py) against the running emulator: real HTTP, real runs, real data.

Two emulators for this module: the `demo` company (the same people as `load_demo`'s contacts, with the answer key
in fixtures/demo/people.json: a person is the same person on both sides when street and zip agree) and a company
of 2,500 generated customers for paging, call counts and failures. Each test connects through the real OAuth flow.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils.dateparse import parse_datetime

from crm.models import Contact
from qbo_emulator.testing import RunningEmulator, start_emulator
from quickbooks_integration.models import (
    AuditEvent,
    ContactConflict,
    MatchCandidate,
    QuickBooksAuth,
    QuickBooksSync,
    SyncFailure,
    SyncRun,
    fernet_caches_clear,
)
from quickbooks_integration.qbo.client import qbo_update
from quickbooks_integration.services.customer_links import customer_link, update_contact_from_customer
from quickbooks_integration.services.customers import (
    CHANGE_KEYS,
    CUSTOMER,
    KIND,
    contacts_update_bulk,
    customers_import_run,
    customers_link_bulk,
)
from tests.support.emulator import emulator_use

from .conftest import CALLBACK, oauth_flow

pytestmark = pytest.mark.django_db

PEOPLE = json.loads((Path(__file__).resolve().parents[2] / "fixtures/demo/people.json").read_text())
BIG = 2500


@pytest.fixture(scope="module")
def demo_server():
    server = start_emulator(seed="demo")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def big_server():
    server = start_emulator(seed="empty", customers=BIG)
    yield server
    server.stop()


def _connect(server: RunningEmulator, settings, client, capture) -> QuickBooksAuth:
    """The emulator reset to its seed, the app pointed at it, and a connection made through the real OAuth flow
    (its initial sync runs inline); the request log is cleared so a test counts only its own calls."""
    emulator_use(server, settings, redirect_uri=CALLBACK)
    with capture(execute=True):
        response, _ = oauth_flow(client, server)
    assert response.status_code == 302, response
    server.control.clear_requests()
    return QuickBooksAuth.objects.get(company_id=server.realm_id)


@pytest.fixture
def demo(demo_server, settings, su_client, django_capture_on_commit_callbacks):
    connection = _connect(demo_server, settings, su_client, django_capture_on_commit_callbacks)
    yield demo_server, connection
    fernet_caches_clear()


@pytest.fixture
def big(big_server, settings, su_client, django_capture_on_commit_callbacks):
    connection = _connect(big_server, settings, su_client, django_capture_on_commit_callbacks)
    yield big_server, connection
    fernet_caches_clear()


@pytest.fixture
def demo_contacts():
    call_command("load_demo", verbosity=0)


def _import(connection: QuickBooksAuth, *, full: bool = False) -> SyncRun:
    run = customers_import_run(connection_id=connection.pk, full=full)
    assert run is not None
    return run


def _queries(server: RunningEmulator) -> list[dict]:
    return server.control.requests("/query")


def _person_of_customer(payload: dict) -> str | None:
    address = payload.get("BillAddr") or {}
    return _BY_ADDRESS.get((address.get("Line1"), address.get("PostalCode")))


_BY_ADDRESS = {(p["street"], p["zip"]): p["key"] for p in PEOPLE}


# ------------------------------------------------------------------------------------------------ the demo books


def test_demo_every_customer_ends_linked_created_or_queued_and_no_wrong_link(demo, demo_contacts):
    server, connection = demo
    run = _import(connection)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    ledger = {e.entity_id: e for e in QuickBooksSync.objects.filter(connection=connection, entity_type=CUSTOMER)}
    assert len(ledger) == run.stats["customers"] == 253  # active and inactive, jobs included
    assert run.api_calls == run.stats["api_minimum"] == 2  # COUNT + one page of 1000
    assert run.stats["failed"] == 0

    made = {int(e.object_id): e.after["quickbooks_customer_id"]
            for e in AuditEvent.objects.filter(action="contact.create_from_customer")}
    person_of_contact = {  # the CRM's own contacts (load_demo), not the ones the import made
        c.pk: _BY_ADDRESS.get((c.address_line1, c.zip_code)) for c in Contact.objects.exclude(pk__in=list(made))
    }
    contacts_of = defaultdict(set)
    for contact_id, person in person_of_contact.items():
        contacts_of[person].add(contact_id)
    linked_to = dict(Contact.objects.exclude(quickbooks_customer_id=None).values_list("quickbooks_customer_id", "pk"))
    created = set(made.values())
    pending = defaultdict(set)
    for contact_id, customer_id in MatchCandidate.objects.filter(status="pending").values_list(
        "contact_id", "quickbooks_customer_id"
    ):
        pending[customer_id].add(contact_id)
    outcomes = defaultdict(int)
    for customer_id, entry in ledger.items():
        person = _person_of_customer(entry.payload)
        truth = contacts_of.get(person, set())
        if entry.payload.get("ParentRef"):
            parent = entry.payload["ParentRef"]["value"]
            assert customer_id not in linked_to and customer_id not in created  # never a contact of its own
            assert entry.local_id == linked_to.get(parent)  # its parent's contact, or nobody while it is queued
            outcomes["children"] += 1 if entry.local_id else 0
        elif customer_id in created:
            assert not truth, f"customer {customer_id} got a new contact though {truth} is the same person"
            outcomes["created"] += 1
        elif customer_id in linked_to:
            assert person_of_contact[linked_to[customer_id]] == person, f"wrong automatic link of {customer_id}"
            assert entry.local_id == linked_to[customer_id]
            outcomes["linked"] += 1
        elif pending.get(customer_id):
            if truth:
                assert pending[customer_id] & truth, f"{customer_id} queued without its true contact"
            outcomes["queued"] += 1
        else:
            assert entry.payload.get("Active") is False, f"active customer {customer_id} left unhandled"
            outcomes["inactive"] += 1
    for key in ("linked", "created", "queued", "inactive", "children"):
        assert outcomes[key] == run.stats[key], key
    assert outcomes["linked"] >= 200 and outcomes["created"] > 0 and outcomes["queued"] > 0
    new_contacts = Contact.objects.filter(quickbooks_customer_id__in=created)
    assert all(c.customer_type == "customer" for c in new_contacts)
    assert AuditEvent.objects.filter(action="customer.link").count() == outcomes["linked"] + outcomes["created"]


def test_a_second_run_changes_nothing(demo, demo_contacts):
    server, connection = demo
    first = _import(connection)
    before = {
        "contacts": list(Contact.objects.order_by("pk").values()),
        "candidates": list(MatchCandidate.objects.order_by("pk").values("pk", "status", "score", "reasons")),
        "audit": AuditEvent.objects.count(),
        "ledger": list(QuickBooksSync.objects.order_by("pk").values("pk", "local_id", "sync_version")),
    }
    server.control.clear_requests()

    second = _import(connection)

    assert second.pk != first.pk and second.status == SyncRun.Status.SUCCEEDED, second.error
    assert second.cursor["mode"] == "cdc"
    assert {key: second.stats[key] for key in CHANGE_KEYS} == dict.fromkeys(CHANGE_KEYS, 0)
    assert second.stats["unchanged"] == second.stats["customers"] == 253
    assert second.api_calls == second.stats["api_minimum"] == 1  # one CDC call
    assert list(Contact.objects.order_by("pk").values()) == before["contacts"]
    assert list(MatchCandidate.objects.order_by("pk").values("pk", "status", "score", "reasons")) == before[
        "candidates"
    ]
    assert AuditEvent.objects.count() == before["audit"]
    assert list(QuickBooksSync.objects.order_by("pk").values("pk", "local_id", "sync_version")) == before["ledger"]

    third = _import(connection, full=True)  # a full pull of unchanged books changes nothing either
    assert third.cursor["mode"] == "full" and third.stats["unchanged"] == 253
    assert third.stats["linked"] == third.stats["created"] == third.stats["queued"] == 0
    assert AuditEvent.objects.count() == before["audit"]


# ------------------------------------------------------------------------------------------------ pages and calls


def test_pages_of_1000_make_count_plus_pages_calls(big):
    server, connection = big

    run = _import(connection)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert run.api_calls == run.stats["api_minimum"] == 1 + 3
    calls = _queries(server)
    assert len(calls) == 4 and calls[0]["method"] == "POST"  # COUNT(*) first, then the pages, no empty page
    assert [c["query"]["query"] for c in calls[1:]] == [
        f"SELECT * FROM Customer WHERE Active IN (true, false) ORDERBY Id STARTPOSITION {s} MAXRESULTS 1000"
        for s in (1, 1001, 2001)
    ]
    assert QuickBooksSync.objects.filter(connection=connection, entity_type=CUSTOMER).count() == BIG
    assert run.stats["created"] == BIG  # nobody in this CRM: every customer is a new contact, linked
    assert Contact.objects.exclude(quickbooks_customer_id=None).count() == BIG
    assert not QuickBooksSync.objects.filter(entity_type=CUSTOMER, local_id=None).exists()


def _arm_after(server: RunningEmulator, *, seen: int, **fault) -> threading.Thread:
    """Inject `fault` on /query once `seen` queries have arrived. The first `seen` queries are held one second
    at the emulator, so the fault is in place before the next query is sent."""
    server.control.delay_next("/query", seconds=1.0, count=seen)

    def arm() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if len(_queries(server)) >= seen:
                server.control.fail_next("/query", **fault)
                return
            time.sleep(0.02)

    watcher = threading.Thread(target=arm, daemon=True)
    watcher.start()
    return watcher


def test_a_500_on_page_3_fails_the_run_and_the_rerun_resumes_at_page_3(big, su_client):
    server, connection = big
    watcher = _arm_after(server, seen=3, status=500, count=2)  # COUNT, page 1, page 2; then 500 beyond the resend

    failed = _import(connection)
    watcher.join()

    assert failed.status == SyncRun.Status.FAILED and "HTTP 500" in failed.error
    assert [c["outcome"] for c in _queries(server)][-2:] == ["injected", "injected"]  # page 3, resubmitted once
    assert failed.cursor["page"] == 3 and failed.stats["progress"] == "page 2 of 3"
    ledger = QuickBooksSync.objects.filter(connection=connection, entity_type=CUSTOMER)
    ids = set(ledger.values_list("entity_id", flat=True))
    assert len(ids) == 2000 and max(int(i) for i in ids) == min(int(i) for i in ids) + 1999  # pages 1-2, whole
    assert not Contact.objects.exists()  # nothing applied beyond the ledger
    failure = SyncFailure.objects.get(key=f"sync_run:{connection.pk}:{KIND}", resolved_at=None)
    assert failure.http_status == 500
    page = su_client.get("/admin/quickbooks_integration/quickbooksauth/").content.decode()
    assert 'id="qbo-customers-run"' in page and "page 2 of 3" in page and "Failed" in page

    server.control.clear_requests()
    resumed = _import(connection)  # the next task: no run id, resumes the failed run

    assert resumed.pk == failed.pk and resumed.status == SyncRun.Status.SUCCEEDED, resumed.error
    calls = _queries(server)
    assert len(calls) == 1 and "STARTPOSITION 2001" in calls[0]["query"]["query"]  # page 3 only
    assert resumed.api_calls == 4 + 2 and resumed.stats["api_minimum"] == 4  # 1 + 3, plus the two 500s
    assert QuickBooksSync.objects.filter(connection=connection, entity_type=CUSTOMER).count() == BIG
    assert resumed.stats["created"] == BIG
    failure.refresh_from_db()
    assert failure.resolved_at is not None


def test_a_throttled_realm_waits_and_continues(big, settings):
    server, connection = big
    settings.QUICKBOOKS_THROTTLE_WAIT_SECONDS = 0.01  # the wait happens, but not for 60 s in a test
    settings.QUICKBOOKS_BACKOFF_CAP_SECONDS = 0.01
    watcher = _arm_after(server, seen=2, status=429)  # page 2 is throttled once

    run = _import(connection)
    watcher.join()

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert [c["status"] for c in _queries(server)] == [200, 200, 429, 200, 200]
    assert run.api_calls == 5 and run.stats["api_minimum"] == 4
    assert QuickBooksSync.objects.filter(connection=connection, entity_type=CUSTOMER).count() == BIG


def test_a_revoked_token_stops_the_run_with_reconnect_shown(big, su_client):
    server, connection = big
    server.control.revoke_connection()

    run = _import(connection)

    assert run.status == SyncRun.Status.FAILED and "reconnect" in run.error.lower()
    connection.refresh_from_db()
    assert connection.status == QuickBooksAuth.Status.NEEDS_RECONNECT
    assert not QuickBooksSync.objects.filter(entity_type=CUSTOMER).exists()
    page = su_client.get("/admin/quickbooks_integration/quickbooksauth/").content.decode()
    assert 'id="qbo-reconnect"' in page and 'id="qbo-customers-run"' in page


# ------------------------------------------------------------------------------------------------ CDC


def _update(connection: QuickBooksAuth, server: RunningEmulator, customer_id: str, **fields) -> dict:
    current = server.app.store.realms[server.realm_id].get(CUSTOMER, customer_id)
    payload = {"Id": customer_id, "SyncToken": current["SyncToken"], "sparse": True, **fields}
    return qbo_update(connection=connection, entity=CUSTOMER, payload=payload, request_id=uuid.uuid4().hex)


def _merge_away(server: RunningEmulator, customer_id: str) -> None:
    """QBO's "merge customers" (UI only, not in the API): the customer is gone and CDC reports it Deleted."""
    realm = server.app.store.realms[server.realm_id]
    with realm.lock:
        realm.table(CUSTOMER).pop(customer_id)
        server.app.store.record(realm, server.app.clock.now(), CUSTOMER, customer_id, "Merge")


def test_cdc_applies_a_changed_a_deactivated_and_a_merged_customer(demo, demo_contacts):
    server, connection = demo
    _import(connection)
    linked = {
        c.quickbooks_customer_id: c
        for c in Contact.objects.exclude(quickbooks_customer_id=None).order_by("pk")
    }
    realm = server.app.store.realms[server.realm_id]
    zero = [kid for kid in linked if str(realm.get(CUSTOMER, kid).get("BalanceWithJobs")) in ("0", "0.00")]
    no_mobile = [kid for kid in linked if not linked[kid].mobile_phone and kid not in zero[:1]]
    changed_id, deactivated_id = no_mobile[0], zero[0]
    merged_id = next(kid for kid in linked if kid not in (changed_id, deactivated_id))
    server.control.advance_clock(60)
    _update(connection, server, changed_id, Mobile={"FreeFormNumber": "(617) 555-0199"})
    _update(connection, server, deactivated_id, Active=False)
    _merge_away(server, merged_id)
    server.control.clear_requests()

    run = _import(connection)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert run.cursor["mode"] == "cdc" and run.api_calls == 1
    (cdc,) = server.control.requests("/cdc")
    since = cdc["query"]["changedSince"]
    assert since.endswith("+00:00") and parse_datetime(since).utcoffset() is not None  # an explicit offset
    assert cdc["query"]["entities"] == "Customer"
    assert run.stats["updated"] == 1 and run.stats["unlinked"] == 2
    changed = Contact.objects.get(pk=linked[changed_id].pk)
    assert changed.mobile_phone == "(617) 555-0199" and changed.quickbooks_customer_id == changed_id
    for kid in (deactivated_id, merged_id):
        contact = Contact.objects.get(pk=linked[kid].pk)
        assert contact.quickbooks_customer_id is None
        entry = QuickBooksSync.objects.get(connection=connection, entity_type=CUSTOMER, entity_id=kid)
        assert entry.deleted_at is not None and entry.local_id is None
        history = AuditEvent.objects.get(action="customer.unlink", object_id=str(contact.pk))
        assert history.before == {"quickbooks_customer_id": kid}
        assert not MatchCandidate.objects.filter(quickbooks_customer_id=kid, status="pending").exists()
    deactivated = QuickBooksSync.objects.get(connection=connection, entity_type=CUSTOMER, entity_id=deactivated_id)
    assert deactivated.payload["DisplayName"].endswith(" (deleted)")


def test_an_inactive_customer_linked_on_purpose_stays_linked_and_a_deleted_one_stays_deleted(demo, demo_contacts):
    """The bookkeeper may link a contact to a customer already inactive (its history); a later change to it in QBO
    must not undo her link. A customer unlinked because it was deactivated is not proposed again when it changes."""
    server, connection = demo
    _import(connection)
    inactive = MatchCandidate.objects.filter(status="pending", kind="customer_inactive").first()
    entry = QuickBooksSync.objects.get(connection=connection, entity_type=CUSTOMER,
                                       entity_id=inactive.quickbooks_customer_id)
    customer_link(connection=connection, contact=inactive.contact, customer=entry.payload, source="review")
    gone_id = next(
        kid for kid in Contact.objects.exclude(quickbooks_customer_id=None).values_list("quickbooks_customer_id",
                                                                                          flat=True)
        if kid != inactive.quickbooks_customer_id
        and str(server.app.store.realms[server.realm_id].get(CUSTOMER, kid).get("BalanceWithJobs")) in ("0", "0.00")
    )
    _update(connection, server, gone_id, Active=False)
    _import(connection)  # unlinks gone_id
    _update(connection, server, inactive.quickbooks_customer_id, Notes="Paid off the old job in cash")
    _update(connection, server, gone_id, Notes="Moved to Florida")

    run = _import(connection)

    assert run.status == SyncRun.Status.SUCCEEDED and run.stats["unlinked"] == 0 and run.stats["updated"] == 1
    assert Contact.objects.get(pk=inactive.contact_id).quickbooks_customer_id == inactive.quickbooks_customer_id
    gone = QuickBooksSync.objects.get(connection=connection, entity_type=CUSTOMER, entity_id=gone_id)
    assert gone.payload["Notes"] == "Moved to Florida" and gone.deleted_at is not None
    assert not MatchCandidate.objects.filter(quickbooks_customer_id=gone_id, status="pending").exists()


def test_cdc_beyond_30_days_falls_back_to_a_full_import(demo, demo_contacts):
    server, connection = demo
    first = _import(connection)
    SyncRun.objects.filter(pk=first.pk).update(started_at=first.started_at - timedelta(days=31))
    server.control.clear_requests()

    run = _import(connection)

    assert run.status == SyncRun.Status.SUCCEEDED and run.cursor["mode"] == "full"
    assert not server.control.requests("/cdc") and run.api_calls == 2


def test_cdc_refused_by_qbo_as_too_old_falls_back_to_a_full_import(demo, demo_contacts):
    """Our clock says the window is fine; QBO's (31 days later) refuses it: the run imports in full instead."""
    server, connection = demo
    _import(connection)
    server.control.advance_clock(31 * 24 * 3600)
    server.control.clear_requests()

    run = _import(connection)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert run.cursor["mode"] == "full" and run.cursor["reason"] == "CDC window refused"
    (cdc,) = [r for r in server.control.requests("/cdc") if r["status"] != 401]  # 401: the old token, refreshed
    assert cdc["status"] == 400
    assert len([r for r in _queries(server) if r["status"] == 200]) == 2  # then COUNT and one page
    assert run.stats["api_minimum"] == 3 and run.stats["unchanged"] == 253


# ------------------------------------------------------------------------------------------------ bulk = single


def _a_customer(connection: QuickBooksAuth) -> dict:
    return next(
        e.payload for e in QuickBooksSync.objects.filter(connection=connection, entity_type=CUSTOMER)
        if not e.payload.get("ParentRef") and e.payload.get("PrimaryPhone") and e.payload.get("SalesTermRef")
    )


def _row(contact: Contact) -> dict:
    skip = {"id", "created_at", "updated_at", "quickbooks_customer_id"}
    return {k: v for k, v in Contact.objects.filter(pk=contact.pk).values()[0].items() if k not in skip}


def _conflicts(contact: Contact) -> list:
    rows = ContactConflict.objects.filter(contact=contact)
    return sorted(rows.values_list("field", "crm_value", "qbo_value", "resolution"))


def test_bulk_update_writes_what_update_contact_from_customer_writes(demo):
    server, connection = demo
    _import(connection)
    customer = _a_customer(connection)
    spec = {"first_name": "Someone", "last_name": "Else", "phone": "(508) 555-0101", "email": "", "city": ""}
    single, bulk = Contact.objects.create(**spec), Contact.objects.create(**spec)
    for contact in (single, bulk):  # an old conflict on a detail that no longer differs: closed as "gone"
        ContactConflict.objects.create(connection=connection, contact=contact, quickbooks_customer_id=customer["Id"],
                                       field="city", crm_value="Nowhere", qbo_value="Elsewhere")

    changed_single = update_contact_from_customer(connection=connection, contact=single, customer=customer)
    with transaction.atomic():
        changed_bulk = contacts_update_bulk(connection=connection, pairs=[(bulk, customer)])

    assert changed_single and changed_bulk == [bulk]
    assert _row(single) == _row(bulk)
    assert _conflicts(single) == _conflicts(bulk)
    assert ("city", "Nowhere", "Elsewhere", "gone") in _conflicts(bulk) and len(_conflicts(bulk)) >= 3


def test_bulk_link_writes_what_customer_link_writes(demo):
    server, connection = demo
    _import(connection)  # no CRM contacts: every customer got a contact; take one apart and link it again
    customer = _a_customer(connection)
    Contact.objects.filter(quickbooks_customer_id=customer["Id"]).update(quickbooks_customer_id=None)
    spec = {"first_name": "Someone", "last_name": "Else", "phone": "(508) 555-0101", "email": ""}
    single, bulk = Contact.objects.create(**spec), Contact.objects.create(**spec)

    customer_link(connection=connection, contact=single, customer=customer, source="auto")
    Contact.objects.filter(pk=single.pk).update(quickbooks_customer_id=None)
    with transaction.atomic():
        outcome = customers_link_bulk(connection=connection, pairs=[(bulk.pk, customer)], source="auto")

    assert outcome.linked == [customer["Id"]] and not outcome.failed
    assert _row(single) == _row(bulk)
    assert _conflicts(single) == _conflicts(bulk) and _conflicts(bulk)  # names and phone differ
    entry = QuickBooksSync.objects.get(connection=connection, entity_type=CUSTOMER, entity_id=customer["Id"])
    assert entry.local_id == bulk.pk
    audits = {
        pk: AuditEvent.objects.get(action="customer.link", object_id=str(pk)) for pk in (single.pk, bulk.pk)
    }
    assert audits[single.pk].after == audits[bulk.pk].after
    assert audits[single.pk].actor_label == audits[bulk.pk].actor_label == "system"


def test_bulk_link_refuses_what_customer_link_refuses(demo):
    server, connection = demo
    _import(connection)  # every customer got a contact of its own
    first, second, third = Contact.objects.exclude(quickbooks_customer_id=None).order_by("pk")[:3]
    freed = third.quickbooks_customer_id
    Contact.objects.filter(pk=third.pk).update(quickbooks_customer_id=None)
    payload = {e.entity_id: e.payload for e in QuickBooksSync.objects.filter(connection=connection)
               if e.entity_type == CUSTOMER}
    job = next(p for p in payload.values() if p.get("ParentRef"))
    fresh = [Contact.objects.create(first_name="New", last_name=f"Person {n}") for n in (1, 2)]

    with transaction.atomic():
        outcome = customers_link_bulk(
            connection=connection,
            pairs=[(first.pk, payload[freed]), (fresh[0].pk, payload[second.quickbooks_customer_id]),
                   (fresh[1].pk, job)],
            source="auto",
        )

    assert not outcome.linked
    assert "already linked to QuickBooks customer" in outcome.failed[freed]
    assert "already linked to contact" in outcome.failed[second.quickbooks_customer_id]
    assert "job or sub-customer" in outcome.failed[job["Id"]]
    assert not Contact.objects.filter(pk__in=[c.pk for c in fresh]).exclude(quickbooks_customer_id=None).exists()
