"""Issue 12's "done when", with everything running for real: a customer changed in QuickBooks (the emulator, through
our own client) reaches its contact by a signed webhook the emulator delivers to a live web server, stored there and
processed by a real `qcluster` worker; a change whose webhook is dropped on purpose reaches it through the next CDC
run, queued by the 15-minute schedule's task in the same worker.

The web server and the worker are `manage.py runserver` and `manage.py qcluster` subprocesses, as `make demo` runs
them, on this test's PostgreSQL database (tests/support/qcluster_settings.py: the ORM broker, tasks not inline). The
60-second deadlines are for waiting, not performance assertions: the webhook path takes a few seconds.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from django.db import connection as db_connection
from django_q.models import Schedule, Success
from django_q.tasks import async_task

from crm.models import Contact
from qbo_emulator.cli import build_parser
from qbo_emulator.testing import RunningEmulator
from quickbooks_integration.models import QuickBooksAuth, SyncRun, WebhookEvent
from quickbooks_integration.qbo.client import qbo_read, qbo_update
from quickbooks_integration.services.customers import customers_import_run

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 60.0


def _database_url() -> str:
    params = db_connection.settings_dict
    return f"postgres://{params['USER']}@{params['HOST'] or '127.0.0.1'}:{params['PORT'] or 5432}/{params['NAME']}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(predicate: Callable[[], bool], seconds: float = DEADLINE) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.25)
    return False


@pytest.fixture
def stack(connected: QuickBooksAuth, emulator: RunningEmulator, tmp_path) -> Iterator[dict]:
    """A web server and a worker on this database, and the emulator delivering its webhooks to that web server."""
    # The worker's scheduler would start its own CDC runs 30 s in; this test queues the one it means to watch. (A
    # transactional test's database is emptied afterwards anyway.)
    Schedule.objects.all().delete()
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.support.qcluster_settings",
        "DATABASE_URL": _database_url(),
        "QUICKBOOKS_ENVIRONMENT": "emulator",
        "QUICKBOOKS_EMULATOR_URL": emulator.url,
        "QUICKBOOKS_CLIENT_ID": emulator.client_id,
        "QUICKBOOKS_CLIENT_SECRET": emulator.client_secret,
        "QUICKBOOKS_WEBHOOK_VERIFIER_TOKEN": emulator.verifier_token,
        "Q_TEST_TIMEOUT": "120",  # a whole customers import fits; nothing here is about killing workers
        "Q_TEST_RETRY": "150",
        "QUICKBOOKS_RUN_LEASE_SECONDS": "60",
    }
    logs = {name: (tmp_path / f"{name}.log").open("w") for name in ("web", "worker")}
    commands = {
        "web": [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload", "--skip-checks"],
        "worker": [sys.executable, "manage.py", "qcluster"],
    }
    processes = {
        name: subprocess.Popen(command, cwd=ROOT, env=env, stdout=logs[name], stderr=subprocess.STDOUT)
        for name, command in commands.items()
    }

    def output() -> str:
        return "\n".join(f"--- {name}\n{(tmp_path / f'{name}.log').read_text()[-3000:]}" for name in processes)

    try:

        def web_up() -> bool:
            assert processes["web"].poll() is None, output()
            try:
                return requests.get(f"http://127.0.0.1:{port}/healthz/", timeout=2).status_code < 500
            except requests.ConnectionError:
                return False

        assert _wait_for(web_up), output()
        emulator.control.configure_webhooks(
            url=f"http://127.0.0.1:{port}/webhooks/quickbooks/", verifier_token=emulator.verifier_token, interval=0.5
        )
        yield {"output": output}
    finally:
        emulator.control.configure_webhooks(url=None, interval=None, enabled=True)
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in logs.values():
            log.close()


def _taxable_false(connection: QuickBooksAuth, customer_id: str) -> dict:
    """Make the customer tax-exempt in QuickBooks, as a bookkeeper would there (QBO owns the exemption)."""
    current = qbo_read(connection=connection, entity="Customer", entity_id=customer_id)
    exemption = {"Taxable": False, "TaxExemptionReasonId": "5"}  # 5: a charitable organization
    payload = {"Id": customer_id, "SyncToken": current["SyncToken"], "sparse": True, **exemption}
    return qbo_update(connection=connection, entity="Customer", payload=payload, request_id=str(uuid.uuid4()))


def _exempt(contact: Contact) -> Callable[[], bool]:
    def check() -> bool:
        contact.refresh_from_db()
        return contact.tax_exempt

    return check


def _succeeded(func: str) -> Callable[[], bool]:
    """The worker's record of a task it ran (its monitor writes it just after the task's own commit)."""
    return lambda: Success.objects.filter(func=func).exists()


@pytest.fixture
def linked(connected: QuickBooksAuth) -> list[Contact]:
    """Two contacts linked to taxable QBO customers, by a full customers import run here, before the stack starts."""
    assert customers_import_run(connection_id=connected.pk, full=True).status == SyncRun.Status.SUCCEEDED
    contacts = list(Contact.objects.filter(quickbooks_customer_id__isnull=False, tax_exempt=False).order_by("pk")[:2])
    assert len(contacts) == 2
    return contacts


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_webhook_reaches_the_contact_and_a_dropped_one_is_caught_by_cdc(connected, emulator, linked, stack):
    by_webhook, by_cdc = linked

    # 1. A change in QuickBooks → a signed webhook to the live server → stored → processed by the worker.
    updated = _taxable_false(connected, by_webhook.quickbooks_customer_id)
    assert _wait_for(_exempt(by_webhook)), stack["output"]()
    assert by_webhook.quickbooks_sync_token == updated["SyncToken"]
    event = WebhookEvent.objects.get(entity_type="Customer", entity_id=by_webhook.quickbooks_customer_id)
    assert (event.status, event.operation, event.realm_id) == (
        WebhookEvent.Status.PROCESSED,
        "Update",
        emulator.realm_id,
    )
    deliveries = [d for d in emulator.control.webhooks()["history"] if d.get("events")]
    assert deliveries and all(d["ok"] for d in deliveries)  # every delivery signed, verified and acknowledged
    assert not SyncRun.objects.filter(kind="customers").exclude(status=SyncRun.Status.SUCCEEDED).exists()
    assert _wait_for(_succeeded("quickbooks_integration.tasks.webhook_events_process_task")), stack["output"]()

    # 2. A webhook dropped on purpose: the emulator sends nothing for this change.
    emulator.control.configure_webhooks(enabled=False)
    _taxable_false(connected, by_cdc.quickbooks_customer_id)
    status = emulator.control.webhooks()
    sent_ids = {e["id"] for d in status["history"] for e in d.get("events", [])}
    assert status["pending_events"] == 0 and by_cdc.quickbooks_customer_id not in sent_ids
    by_cdc.refresh_from_db()
    assert not by_cdc.tax_exempt and not WebhookEvent.objects.filter(entity_id=by_cdc.quickbooks_customer_id).exists()

    # The 15-minute schedule's task, run by the worker as the scheduler would: it queues a customers run, which
    # asks CDC for what changed since the last import and applies it.
    async_task("quickbooks_integration.tasks.syncs_changes_task", sync=False)
    assert _wait_for(_exempt(by_cdc)), stack["output"]()
    cdc = SyncRun.objects.filter(kind="customers").order_by("pk").last()
    assert _wait_for(lambda: SyncRun.objects.get(pk=cdc.pk).status == SyncRun.Status.SUCCEEDED), stack["output"]()
    cdc.refresh_from_db()
    assert cdc.cursor["mode"] == "cdc" and cdc.stats["updated"] >= 1
    assert not WebhookEvent.objects.filter(entity_id=by_cdc.quickbooks_customer_id).exists()  # no webhook ever came
    assert _wait_for(_succeeded("quickbooks_integration.tasks.syncs_changes_task")), stack["output"]()


def test_make_demo_points_the_emulators_webhooks_at_the_app_with_the_apps_token(tmp_path):
    """`make demo` (bin/demo.py) starts the emulator with the web server's webhook URL and the verifier token the app
    reads; with DEBUG on and nothing set, the app's token is the emulator's default, so a signature always checks."""
    spec = importlib.util.spec_from_file_location("demo_script", ROOT / "bin" / "demo.py")
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    env = demo.demo_environment(web="0.0.0.0:8001", emulator_port=8766)
    command = demo.emulator_command(
        port=8766,
        webhook_target=demo.webhook_url("0.0.0.0:8001"),
        verifier_token=env["QUICKBOOKS_WEBHOOK_VERIFIER_TOKEN"],
    )
    assert command[:3] == [sys.executable, "-m", "qbo_emulator"]
    options = build_parser().parse_args(command[3:])
    assert (options.port, options.seed) == (8766, "demo")
    assert options.webhook_url == "http://127.0.0.1:8001/webhooks/quickbooks/"

    app_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "QUICKBOOKS_", "PYTEST"))},
        "DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "crm_project.settings",
    }
    read = "from django.conf import settings; print(settings.QUICKBOOKS_WEBHOOK_VERIFIER_TOKEN)"
    app_token = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {read}"],
        cwd=ROOT,
        env=app_env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert options.verifier_token == env["QUICKBOOKS_WEBHOOK_VERIFIER_TOKEN"] == app_token
