"""The production stack, for real: `bin/serve.py` (what `make serve` runs) starts gunicorn, two `qcluster` workers on
Redis and a fresh PostgreSQL database; a superuser logs in through a TLS proxy's headers, opens an admin page, a task
round-trips through Redis to a worker and back, /readyz/ answers 200 with both clusters, and SIGTERM stops it all.

Runs on the PostgreSQL CI pass (`postgres` mark); it starts and stops its own processes on free ports.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
PG = "postgresql://postgres@127.0.0.1:5432/postgres"
pytestmark = pytest.mark.postgres


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def stack(tmp_path):
    if not redis_up():
        pytest.skip("Redis is not running on 127.0.0.1:6379 (.ci/run starts it)")
    name = f"crm_smoke_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    port, emulator_port = free_port(), free_port()
    from cryptography.fernet import Fernet

    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "QUICKBOOKS_", "PYTEST"))},
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{name}",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "Q_CLUSTER_NAME": name,  # its own Redis list: no other stack's task can reach these workers
        "SERVE_ADDRESS": f"127.0.0.1:{port}",
        "EMULATOR_PORT": str(emulator_port),
        "SECRET_KEY": uuid.uuid4().hex * 2,
        "FERNET_KEYS": Fernet.generate_key().decode(),
        "BEHIND_TLS_PROXY": "true",  # the test plays the TLS proxy: X-Forwarded-Proto: https
        "WEB_CONCURRENCY": "2",
        "DJANGO_SETTINGS_MODULE": "crm_project.settings",
    }
    log = open(tmp_path / "serve.log", "w+")  # noqa: SIM115
    serve = subprocess.Popen(
        [sys.executable, "bin/serve.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        ready = None
        for _ in range(600):  # until it answers or exits (a safety bound, not a timing assertion)
            if serve.poll() is not None:
                break
            try:
                ready = requests.get(f"{base}/readyz/", timeout=5)
                if ready.status_code == 200 and ready.json()["checks"]["worker"].get("clusters") == 2:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.5)
        if serve.poll() is not None or ready is None or ready.status_code != 200:
            log.seek(0)
            pytest.fail(f"the stack did not become ready:\n{log.read()[-4000:]}")
        yield {"base": base, "env": env, "serve": serve, "log": log}
    finally:
        if serve.poll() is None:
            serve.send_signal(signal.SIGTERM)
            try:
                serve.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(serve.pid, signal.SIGKILL)
                serve.wait()
        log.close()
        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def manage(stack, *args: str, input_text: str | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=stack["env"], capture_output=True, text=True,
        input=input_text,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


class Browser:
    """requests as a browser behind the TLS proxy: Secure cookies kept by hand (requests won't send them over http)."""

    def __init__(self, base: str) -> None:
        self.base, self.cookies = base, {}
        self.session = requests.Session()

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {
            "X-Forwarded-Proto": "https",
            "Referer": f"https://{self.base.split('://', 1)[1]}/admin/login/",
            "Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()),
        }
        response = self.session.request(
            method, self.base + path, headers=headers, allow_redirects=False, timeout=30, **kwargs
        )
        for cookie in response.cookies:
            self.cookies[cookie.name] = cookie.value
        return response


def test_login_page_task_and_readiness_on_the_production_stack(stack):
    env = {**stack["env"], "DJANGO_SUPERUSER_PASSWORD": "smoke-Password-123"}
    subprocess.run(
        [sys.executable, "manage.py", "createsuperuser", "--noinput", "--username", "root", "--email", "r@x.example"],
        cwd=ROOT, env=env, check=True, capture_output=True,
    )
    browser = Browser(stack["base"])

    login_page = browser.request("GET", "/admin/login/")
    assert login_page.status_code == 200
    assert login_page.headers["Strict-Transport-Security"].startswith("max-age=")
    assert "script-src 'self'" in login_page.headers["Content-Security-Policy"]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page.text).group(1)
    logged_in = browser.request(
        "POST", "/admin/login/?next=/admin/",
        data={"csrfmiddlewaretoken": token, "username": "root", "password": "smoke-Password-123"},
    )
    assert logged_in.status_code == 302 and logged_in.headers["Location"] == "/admin/"
    contacts = browser.request("GET", "/admin/crm/contact/")
    assert contacts.status_code == 200 and "Attack-a-Crack CRM" in contacts.text
    stylesheet = re.search(r'href="(/static/admin/css/base\.[0-9a-f]+\.css)"', contacts.text).group(1)
    static = browser.request("GET", stylesheet)
    assert static.status_code == 200  # whitenoise serves the hashed manifest file

    # A task goes into Redis, a worker runs it, and its result comes back through PostgreSQL.
    out = manage(stack, "shell", "-c", (
        "from django_q.tasks import async_task, result\n"
        "task_id = async_task('math.factorial', 10)\n"
        "print('result', result(task_id, wait=120000))\n"
    ))
    assert "result 3628800" in out

    ready = requests.get(stack["base"] + "/readyz/", timeout=30).json()
    assert ready["checks"]["broker"] == {"status": "ok", "broker": "redis"}
    assert ready["checks"]["database"] == {"status": "ok", "vendor": "postgresql"}
    assert ready["checks"]["worker"]["clusters"] == 2

    stack["serve"].send_signal(signal.SIGTERM)
    assert stack["serve"].wait(timeout=60) == 0
    stack["log"].seek(0)
    log = stack["log"].read()
    assert "code=" not in log  # the access log has no query strings


def test_two_workers_on_redis_never_run_one_sync_twice(stack):
    """Every claim lives in PostgreSQL (services/runs.py), so the same run's task delivered six times to two Redis
    workers is run once: one claim, one set of QBO calls, the other deliveries find it taken or finished."""
    from qbo_emulator.testing import Control

    emulator_url = f"http://127.0.0.1:{stack['env']['EMULATOR_PORT']}"
    stack = {**stack, "env": {  # what bin/serve.py gives its own processes when the emulator stands in for Intuit
        **stack["env"],
        "QUICKBOOKS_ENVIRONMENT": "emulator",
        "QUICKBOOKS_EMULATOR_URL": emulator_url,
        "QUICKBOOKS_CLIENT_ID": "emulator-client-id",
        "QUICKBOOKS_CLIENT_SECRET": "emulator-client-secret",
        "QUICKBOOKS_WEBHOOK_VERIFIER_TOKEN": "emulator-verifier-token",
        "QUICKBOOKS_REDIRECT_URI": f"http://{stack['env']['SERVE_ADDRESS']}/quickbooks/callback/",
        "SILENCED_SYSTEM_CHECKS": "quickbooks_integration.E003",
    }}
    env = {**stack["env"], "DJANGO_SUPERUSER_PASSWORD": "smoke-Password-123"}
    subprocess.run(
        [sys.executable, "manage.py", "createsuperuser", "--noinput", "--username", "root", "--email", "r@x.example"],
        cwd=ROOT, env=env, check=True, capture_output=True,
    )
    manage(stack, "quickbooks_connect")
    emulator = Control(emulator_url)
    out = manage(stack, "shell", "-c", (
        "import time\n"
        "from django_q.tasks import async_task\n"
        "from quickbooks_integration.models import SyncRun\n"
        "deadline = time.monotonic() + 120\n"
        "while SyncRun.objects.exclude(status='succeeded').exists() and time.monotonic() < deadline:\n"
        "    time.sleep(0.2)\n"  # the initial sync queued by connecting, and the imports it queues
        "first = SyncRun.objects.get(kind='initial')\n"
        "run = SyncRun.objects.create(connection_id=first.connection_id, kind='initial')\n"
        "print('run', run.pk)\n"
    ))
    run_id = int(re.search(r"run (\d+)", out).group(1))
    emulator.clear_requests()
    out = manage(stack, "shell", "-c", (
        "import time\n"
        "from django_q.tasks import async_task\n"
        "from quickbooks_integration.models import SyncRun\n"
        f"ids = [async_task('quickbooks_integration.tasks.sync_run_task', {run_id}) for _ in range(6)]\n"
        "deadline = time.monotonic() + 120\n"
        f"while SyncRun.objects.get(pk={run_id}).status != 'succeeded' and time.monotonic() < deadline:\n"
        "    time.sleep(0.2)\n"
        "time.sleep(2)\n"  # let the other deliveries run too: they must change nothing
        f"run = SyncRun.objects.get(pk={run_id})\n"
        "print('state', run.status, run.attempts, run.api_calls)\n"
    ))

    assert "state succeeded 1 3" in out  # one claim; CompanyInfo + two COUNTs
    reads = [r for r in emulator.requests("/v3/company/") if not r["path"].endswith("/cdc")]  # the chained imports
    assert len(reads) == 3
