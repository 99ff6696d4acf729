"""Helpers of the fault matrix: a virtual clock for the transport's waits, and faults armed mid-run.

Nothing here stands in for our own code or for HTTP: the services run for real against the emulator, and the faults
are the emulator's own (its control API). The helpers only decide *when* a fault lands, or *who* changes the books:

- `VirtualClock` is the transport's injectable sleeper (RELIABILITY §3: "backoff sleeps go through an injectable
  clock"). It records every wait the client asks for and passes the long ones (a 429's 60 s, a 503's backoff) on the
  emulator's clock, which its throttle windows and token lifetimes run on, so a test asserts the delays QBO was
  given without ever sleeping them. Short waits (< 0.25 s) are our own database limiter's, which runs on the real
  clock: those are slept for real.
- `when_seen` runs an action (expire the tokens, revoke the grant, inject a 503 burst, kill a worker…) as soon as
  the emulator has received the n-th request on a path; that request's answer is held at the emulator for a moment
  after it executed, so the action is in place before the client sends its next request. That is "mid-sync".
- `qbo_as_someone_else` changes the company as another QBO session would (the bookkeeper in QuickBooks), over HTTP
  with its own token, so a watcher thread can do it while one of our services is half-way.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

from qbo_emulator.testing import RunningEmulator

REAL_SLEEP_BELOW = 0.25  # seconds: the database limiter's waits (≤ 1/8 s) are real, backoffs are virtual


@dataclass
class VirtualClock:
    """The transport's sleeper: records each requested wait; long ones move the emulator's clock instead."""

    server: RunningEmulator
    delays: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        if seconds < REAL_SLEEP_BELOW:
            time.sleep(max(seconds, 0.0))
        else:
            self.server.control.advance_clock(seconds)

    @property
    def backoffs(self) -> list[float]:
        """The transport's retry waits (throttle and backoff), without the limiter's short real ones."""
        return [d for d in self.delays if d >= REAL_SLEEP_BELOW]


@dataclass
class Armed:
    """A fault armed by `when_seen`; `wait()` joins the watcher and re-raises what went wrong in it."""

    thread: threading.Thread
    errors: list[BaseException]
    fired: threading.Event

    def wait(self, timeout: float = 30.0) -> None:
        self.thread.join(timeout)
        if self.errors:
            raise self.errors[0]
        assert self.fired.is_set(), "the armed fault never fired: the run did not reach the request it waited for"


def when_seen(
    server: RunningEmulator,
    action: Callable[[], object],
    *,
    seen: int,
    path: str = "/query",
    hold: float = 1.0,
    method: str | None = None,
) -> Armed:
    """Run `action()` once the emulator has received `seen` requests on `path` (substring of the URL path, and
    regex for the hold); the `seen`-th answer is held `hold` seconds after it executed, so `action` lands between
    that request and the next one. Call it after the emulator's request log was cleared."""
    if seen > 1:
        server.control.delay_next(path, 0.0, count=seen - 1, method=method)
    server.control.delay_next(path, hold, count=1, method=method)
    errors: list[BaseException] = []
    fired = threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + 60
        try:
            while time.monotonic() < deadline:
                if server.control.count(path, method) >= seen:
                    action()
                    fired.set()
                    return
                time.sleep(0.01)
        except BaseException as exc:  # surfaced by Armed.wait() in the test's thread
            errors.append(exc)

    thread = threading.Thread(target=watch, name=f"armed-after-{seen}-{path}", daemon=True)
    thread.start()
    return Armed(thread, errors, fired)


def qbo_as_someone_else(server: RunningEmulator, path: str, body: dict) -> dict:
    """POST to the company as another QBO session would (the bookkeeper in QuickBooks, another app): its own token,
    plain HTTP, no database, so a watcher thread can change the books while a service of ours is mid-way."""
    token = server.control.issue_tokens(realm_id=server.realm_id)["access_token"]
    request = urllib.request.Request(  # noqa: S310 (the emulator's loopback URL)
        f"{server.api_url}/company/{server.realm_id}/{path}?minorversion=75",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Accept": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.loads(response.read())
