"""Per-realm throttling as QBO enforces it: 500 requests/minute, 10 concurrent, 40 batch requests/minute -> 429 XML."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

from .clock import Clock


@dataclass
class Limits:
    per_minute: int = 500
    concurrent: int = 10
    batch_per_minute: int = 40
    retry_after: int | None = None  # seconds; QBO's use of Retry-After is UNCONFIRMED, so off by default


@dataclass
class Limiter:
    """Sliding one-minute windows on the emulator clock (advance_clock empties them) plus an in-flight counter."""

    clock: Clock
    limits: Limits = field(default_factory=Limits)
    _requests: dict[str, deque[float]] = field(default_factory=dict)
    _batches: dict[str, deque[float]] = field(default_factory=dict)
    _in_flight: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self._lock:
            self.limits = Limits()
            self._requests.clear()
            self._batches.clear()

    @staticmethod
    def _admit(window: deque[float], now: float, limit: int) -> bool:
        while window and window[0] <= now - 60:
            window.popleft()
        if len(window) >= limit:
            return False
        window.append(now)
        return True

    def enter(self, realm_id: str, *, is_batch: bool) -> bool:
        """Admit a request (and count it as in flight) or refuse it; call leave() after an admitted request."""
        now = self.clock.timestamp()
        with self._lock:
            if self._in_flight.get(realm_id, 0) >= self.limits.concurrent:
                return False
            requests = self._requests.setdefault(realm_id, deque())
            while requests and requests[0] <= now - 60:
                requests.popleft()
            if len(requests) >= self.limits.per_minute:
                return False
            if is_batch and not self._admit(
                self._batches.setdefault(realm_id, deque()), now, self.limits.batch_per_minute
            ):
                return False
            requests.append(now)
            self._in_flight[realm_id] = self._in_flight.get(realm_id, 0) + 1
            return True

    def leave(self, realm_id: str) -> None:
        with self._lock:
            self._in_flight[realm_id] = max(0, self._in_flight.get(realm_id, 0) - 1)
