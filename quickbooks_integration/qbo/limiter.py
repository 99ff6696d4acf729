"""The per-realm QBO limiter shared by every worker process: ≤ 500 calls a minute and ≤ 10 at once (API.md §7).

Database-backed, on purpose: the project's default django-q2 broker is the ORM and Redis is optional
(REDIS_URL), so the database is the one store every web and worker process is sure to share; a second,
Redis-only implementation would be untested in the default setup. The cost is two short transactions per QBO
call (about a millisecond each on loopback PostgreSQL), against a QBO call of 100 ms or more.

- Rate: a token bucket per realm (`RealmThrottle`) with capacity = the concurrency limit and a refill rate of
  (500 − capacity) / 60 per second, so no 60-second window can hold more than 500 calls.
- Concurrency: `max_concurrent` leased slots per realm (`RealmSlot`). A lease expires after `lease_seconds`
  (longer than any HTTP timeout), so a worker killed mid-call never holds a slot for ever.
- The bucket row is locked (`select_for_update`) for each acquisition, which serialises acquisitions per realm
  on PostgreSQL; SQLite's IMMEDIATE transactions serialise them too.
- Waiting goes through the caller's sleeper and stops at the caller's `max_wait` (the retry budget for a task,
  a few seconds in a web request): a realm that stays saturated raises `RealmBusyError` instead of sleeping on.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import IntegrityError, transaction
from django.db.models import Q

from .. import conf
from ..models import RealmSlot, RealmThrottle
from .errors import RealmBusyError

LEASE_SECONDS = 180.0


class RealmLimiter:
    """Acquire/release one call's permission for a realm; `clock` and `sleep` are injectable for tests."""

    def __init__(
        self,
        *,
        realm_id: str,
        per_minute: int | None = None,
        concurrent: int | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        lease_seconds: float = LEASE_SECONDS,
        max_wait: float | None = None,
    ) -> None:
        self.realm_id = realm_id
        self.concurrent = concurrent or conf.max_concurrent()
        self.per_minute = per_minute or conf.rate_limit_per_minute()
        self.capacity = float(min(self.concurrent, self.per_minute))
        self.rate = max(self.per_minute - self.capacity, 1.0) / 60.0
        self.clock = clock
        self.sleep = sleep
        self.lease_seconds = lease_seconds
        self.max_wait = conf.retry_budget_seconds() if max_wait is None else max_wait

    def _ensure_rows(self) -> None:
        if not RealmThrottle.objects.filter(realm_id=self.realm_id).exists():
            try:
                with transaction.atomic():
                    RealmThrottle.objects.create(realm_id=self.realm_id, tokens=self.capacity, refilled_at=self.clock())
            except IntegrityError:
                pass  # another process created it first
        RealmSlot.objects.bulk_create(
            [RealmSlot(realm_id=self.realm_id, slot=n) for n in range(self.concurrent)], ignore_conflicts=True
        )

    def try_acquire(self, *, holder: str) -> tuple[int | None, float]:
        """One attempt: (slot id, 0) when granted, else (None, seconds to wait before trying again)."""
        with transaction.atomic():
            bucket = RealmThrottle.objects.select_for_update().get(realm_id=self.realm_id)
            now = self.clock()
            bucket.tokens = min(self.capacity, bucket.tokens + max(now - bucket.refilled_at, 0.0) * self.rate)
            bucket.refilled_at = now
            if bucket.tokens < 1.0 - 1e-9:
                bucket.save(update_fields=["tokens", "refilled_at"])
                return None, max((1.0 - bucket.tokens) / self.rate, 0.01)
            free = (
                RealmSlot.objects.filter(realm_id=self.realm_id, slot__lt=self.concurrent)
                .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
                .order_by("slot")
                .first()
            )
            if free is None:
                bucket.save(update_fields=["tokens", "refilled_at"])
                return None, 0.05
            bucket.tokens -= 1.0
            bucket.save(update_fields=["tokens", "refilled_at"])
            free.holder = holder
            free.lease_until = now + self.lease_seconds
            free.save(update_fields=["holder", "lease_until"])
            return free.pk, 0.0

    def acquire(self) -> tuple[int, str]:
        """Wait (through `sleep`) until a token and a slot are free; returns (slot id, holder) for `release`."""
        self._ensure_rows()
        holder = uuid.uuid4().hex
        waited = 0.0
        while True:
            slot_id, wait = self.try_acquire(holder=holder)
            if slot_id is not None:
                return slot_id, holder
            if waited + wait > self.max_wait:
                raise RealmBusyError(
                    f"QuickBooks is busy for this company: {self.concurrent} calls in flight or "
                    f"{self.per_minute} a minute reached; nothing was sent. Try again in a minute.",
                    retry_after=wait,
                )
            self.sleep(wait)
            waited += wait

    def release(self, slot_id: int, holder: str) -> None:
        RealmSlot.objects.filter(pk=slot_id, holder=holder).update(holder="", lease_until=None)

    @contextmanager
    def slot(self) -> Iterator[None]:
        slot_id, holder = self.acquire()
        try:
            yield
        finally:
            self.release(slot_id, holder)

    def in_flight(self) -> int:
        """How many slots are leased now (for tests and the status command)."""
        return RealmSlot.objects.filter(realm_id=self.realm_id, lease_until__gte=self.clock()).count()
