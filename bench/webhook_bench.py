"""Webhook endpoint under load (issue 12): signed deliveries from a second process against the production stack.

    .venv/bin/python bench/webhook_bench.py [--deliveries 2000] [--concurrency 20] [--url http://127.0.0.1:8000]

Without --url it starts `bin/serve.py` itself (gunicorn, qcluster workers on Redis, the emulator) on free ports,
with its own PostgreSQL database (`crm_bench_webhooks`) and queue name, and stops it afterwards; with --url it uses
a running `make serve` (same environment: `.env` / `var/serve.env`). The emulator's realm is connected by writing
the connection row with tokens from the emulator's control API (the OAuth flow has its own tests). Each delivery
is one signed legacy event (a Customer update with its own lastUpdated), sent over loopback from a thread pool.
Prints p50/p99 latency, events stored against sent (they must be equal) and the time until the workers have
processed them all. Timings depend on the machine; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bin"))

from serve import serve_environment, wait_for_port  # noqa: E402

from qbo_emulator.testing import Control  # noqa: E402
from qbo_emulator.webhooks import sign  # noqa: E402

BENCH_DATABASE = "postgres://postgres@127.0.0.1:5432/crm_bench_webhooks"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_ensure(url: str) -> None:
    """Create the bench's own database if it is missing (serve.py migrates it)."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as connection:
        if connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            connection.execute(f'CREATE DATABASE "{name}"')


def stack_start(env: dict[str, str]) -> subprocess.Popen:
    """bin/serve.py in its own process group, its output in var/webhook_bench.log."""
    log = open(ROOT / "var" / "webhook_bench.log", "w")  # noqa: SIM115  (closed with the process)
    process = subprocess.Popen(
        [sys.executable, "bin/serve.py"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    wait_for_port(int(env["SERVE_ADDRESS"].rpartition(":")[2]), process, "bin/serve.py", seconds=180)
    return process


def connect(realm_emulator: Control) -> str:
    """The emulator's realm as a connected company: tokens from its control API, stored as the callback would."""
    from django.utils import timezone

    from quickbooks_integration.models import QuickBooksAuth

    tokens = realm_emulator.issue_tokens()
    now = timezone.now()
    QuickBooksAuth.objects.update_or_create(
        company_id=tokens["realm_id"],
        defaults={
            "company_name": "Webhook bench",
            "access_token": tokens["access_token"],
            "refresh_token": tokens["refresh_token"],
            "expires_at": now + timedelta(seconds=int(tokens["expires_in"])),
            "refresh_expires_at": now + timedelta(seconds=int(tokens["x_refresh_token_expires_in"])),
            "status": QuickBooksAuth.Status.CONNECTED,
            "connected_at": now,
            "last_refreshed_at": now,
        },
    )
    return tokens["realm_id"]


def delivery(realm_id: str, index: int, base: datetime) -> bytes:
    when = (base + timedelta(seconds=index)).strftime("%Y-%m-%dT%H:%M:%S+0000")
    entity = {"name": "Customer", "id": str(index % 50 + 1), "operation": "Update", "lastUpdated": when}
    return json.dumps(
        {"eventNotifications": [{"realmId": realm_id, "dataChangeEvent": {"entities": [entity]}}]}
    ).encode()


def post(url: str, body: bytes, token: str, delivery_id: str) -> tuple[int, float]:
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "intuit-signature": sign(body, token),
        "intuit-t-id": delivery_id,
        "User-Agent": "intuit_notification_server/0.1",
    }
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except OSError:
        status = 0
    return status, time.perf_counter() - start


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--url", help="a running stack (default: start one)")
    parser.add_argument("--wait", type=float, default=300.0, help="seconds to wait for processing")
    args = parser.parse_args()

    overrides = {} if args.url else {"DATABASE_URL": BENCH_DATABASE, "Q_CLUSTER_NAME": "bench-webhooks"}
    if not args.url:
        overrides.update(SERVE_ADDRESS=f"127.0.0.1:{free_port()}", EMULATOR_PORT=str(free_port()))
        overrides["REDIS_URL"] = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    env = serve_environment({**os.environ, **overrides})
    (ROOT / "var").mkdir(exist_ok=True)
    if not args.url:
        database_ensure(env["DATABASE_URL"])
    process = None if args.url else stack_start(env)
    try:
        os.environ.update(env)
        os.environ["DJANGO_SETTINGS_MODULE"] = "crm_project.settings"
        import django

        django.setup()
        from django.db.models import Count

        from quickbooks_integration.models import WebhookEvent

        base_url = args.url or f"http://{env['SERVE_ADDRESS']}"
        realm_id = connect(Control(env["QUICKBOOKS_EMULATOR_URL"]))
        run = uuid.uuid4().hex[:8]
        token = env["QUICKBOOKS_WEBHOOK_VERIFIER_TOKEN"]
        base = datetime.now(UTC).replace(microsecond=0)
        bodies = [delivery(realm_id, i, base) for i in range(args.deliveries)]
        url = f"{base_url}/webhooks/quickbooks/"

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
            results = list(pool.map(lambda i: post(url, bodies[i], token, f"bench-{run}-{i}"), range(len(bodies))))
        sent_in = time.perf_counter() - started

        mine = WebhookEvent.objects.filter(delivery_id__startswith=f"bench-{run}-")
        latencies = [seconds * 1000 for _, seconds in results]
        statuses: dict[int, int] = {}
        for status, _ in results:
            statuses[status] = statuses.get(status, 0) + 1
        stored = mine.count()
        print(
            f"sent {len(bodies)} signed deliveries, {args.concurrency} at once, in {sent_in:.1f} s "
            f"({len(bodies) / sent_in:.0f}/s); statuses {statuses}"
        )
        print(
            f"latency p50 {percentile(latencies, 0.5):.1f} ms, p99 {percentile(latencies, 0.99):.1f} ms, "
            f"max {max(latencies):.1f} ms, mean {statistics.fmean(latencies):.1f} ms"
        )
        print(f"events stored {stored} of {len(bodies)} sent ({'equal' if stored == len(bodies) else 'NOT EQUAL'})")

        deadline = time.monotonic() + args.wait
        while mine.filter(status=WebhookEvent.Status.PENDING).exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        done = time.perf_counter() - started
        counts = dict(mine.values_list("status").annotate(n=Count("id")).order_by())
        print(f"processed by the workers {done:.1f} s after the first delivery; by status {counts}")
    finally:
        if process is not None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


if __name__ == "__main__":
    main()
