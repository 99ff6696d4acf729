"""Emulator benchmark: seed build and server start with many customers, and query throughput (prints figures only).

    .venv/bin/python bench/emulator_bench.py [--customers 100000] [--requests 20] [--seed demo]

(a) ``load_seed(seed, customers=N)`` build time, and the full in-process server start (``start_emulator``) with the
same customers; (b) requests per second for ``SELECT * FROM Customer STARTPOSITION 1 MAXRESULTS 1000`` over HTTP
against the running emulator, with a token from its control API; (c) ``run_query`` alone on the same page, in rows
per second. Timings depend on the machine and its load; nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qbo_emulator.query import run_query  # noqa: E402
from qbo_emulator.seeds import load_seed  # noqa: E402

PAGE_SQL = "SELECT * FROM Customer STARTPOSITION 1 MAXRESULTS 1000"
HTTP_EXTRA_SQL = (
    "SELECT COUNT(*) FROM Customer",
    "SELECT * FROM Customer ORDERBY Id STARTPOSITION 99001 MAXRESULTS 1000",
    "SELECT * FROM Customer WHERE Active = true ORDERBY DisplayName STARTPOSITION 1 MAXRESULTS 100",
)


def timed(fn, repeat: int = 1) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def bench_seed(seed: str, customers: int) -> dict:
    seconds, data = timed(lambda: load_seed(seed, customers=customers), repeat=3)
    print(f"load_seed({seed!r}, customers={customers}): {seconds:.2f} s (best of 3), "
          f"{len(data['entities']['Customer'])} customers")
    return data


def bench_run_query(data: dict, rounds: int) -> None:
    entities = data["entities"]

    def rows_for(entity: str) -> list[dict]:
        return entities[entity]

    durations = []
    for _ in range(rounds):
        start = time.perf_counter()
        body = run_query(PAGE_SQL, rows_for)
        durations.append(time.perf_counter() - start)
    rows = body["QueryResponse"]["maxResults"]
    median = statistics.median(durations)
    print(f"run_query {PAGE_SQL!r} over {len(entities['Customer'])} customers: median {median * 1000:.0f} ms, "
          f"{rows / median:,.0f} rows/s ({1 / median:.1f} queries/s, {rounds} runs)")
    for sql in (
        "SELECT * FROM Customer STARTPOSITION 50001 MAXRESULTS 1000",
        "SELECT * FROM Customer ORDERBY Id STARTPOSITION 1 MAXRESULTS 1000",
        "SELECT * FROM Customer WHERE DisplayName LIKE '%Smith%' MAXRESULTS 1000",
        "SELECT * FROM Customer WHERE Id = '5000'",
        "SELECT COUNT(*) FROM Customer",
    ):
        seconds, _ = timed(lambda sql=sql: run_query(sql, rows_for), repeat=3)
        print(f"  {sql}: {seconds * 1000:.0f} ms")


def bench_server(seed: str, customers: int, requests_count: int) -> None:
    try:
        from qbo_emulator.testing import start_emulator
    except ImportError as exc:
        print(f"server: qbo_emulator.testing.start_emulator not available ({exc}); benchmarked run_query only")
        return
    import requests

    start = time.perf_counter()
    emulator = start_emulator(seed=seed, customers=customers)
    print(f"start_emulator(seed={seed!r}, customers={customers}): {time.perf_counter() - start:.2f} s "
          f"(seed build + derivation + server listening)")
    try:
        control = emulator.control
        try:  # lift the 500/min realm limit so the benchmark measures the server, not the throttle
            control.throttle(per_minute=1_000_000, concurrent=1000)
        except Exception as exc:  # noqa: BLE001 - an older control API: keep going with the defaults
            print(f"  (could not lift throttling: {exc})")
        token = control.issue_tokens(realm_id=emulator.realm_id)["access_token"]
        url = f"{emulator.url}/v3/company/{emulator.realm_id}/query?minorversion=75"
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json",
                   "Content-Type": "application/text"}
        with requests.Session() as session:
            first = session.post(url, data=PAGE_SQL, headers=headers, timeout=120)
            first.raise_for_status()
            rows = first.json()["QueryResponse"]["maxResults"]
            size = len(first.content)
            start = time.perf_counter()
            for _ in range(requests_count):
                response = session.post(url, data=PAGE_SQL, headers=headers, timeout=120)
                response.raise_for_status()
            elapsed = time.perf_counter() - start
            print(f"HTTP POST /query {PAGE_SQL!r}: {requests_count / elapsed:.2f} requests/s "
                  f"({elapsed / requests_count * 1000:.0f} ms each, {rows} rows, {size / 1e6:.2f} MB per response, "
                  f"{requests_count} sequential requests)")
            for sql in HTTP_EXTRA_SQL:
                seconds, _ = timed(lambda sql=sql: session.post(url, data=sql, headers=headers, timeout=120), repeat=3)
                print(f"  HTTP {sql}: {seconds * 1000:.0f} ms (best of 3)")
    finally:
        emulator.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", default="demo")
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=10, help="run_query repetitions")
    parser.add_argument("--no-server", action="store_true", help="skip the HTTP benchmark")
    args = parser.parse_args()
    data = bench_seed(args.seed, args.customers)
    bench_run_query(data, args.rounds)
    del data
    if not args.no_server:
        bench_server(args.seed, args.customers, args.requests)


if __name__ == "__main__":
    main()
