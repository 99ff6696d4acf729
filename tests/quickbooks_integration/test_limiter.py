"""services/limiter.py: the per-realm DB-backed limiter (rate window, concurrency slots, crash-safe leases)."""

from __future__ import annotations

import pytest

from quickbooks_integration.qbo.limiter import RealmLimiter

pytestmark = pytest.mark.django_db


class FakeTime:
    def __init__(self):
        self.now = 1_000_000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_no_sixty_second_window_exceeds_the_rate():
    fake = FakeTime()
    limiter = RealmLimiter(realm_id="r1", per_minute=50, concurrent=5, clock=fake.clock, sleep=fake.sleep)
    grants = []
    for _ in range(200):
        slot_id, holder = limiter.acquire()
        grants.append(fake.now)
        limiter.release(slot_id, holder)
    assert fake.slept, "the limiter must have asked to wait"
    for i, start in enumerate(grants):
        in_window = [t for t in grants[i:] if t < start + 60.0]
        assert len(in_window) <= 50


def test_default_limits_are_qbo_limits():
    limiter = RealmLimiter(realm_id="r2")
    assert (limiter.per_minute, limiter.concurrent) == (500, 10)
    assert limiter.capacity + limiter.rate * 60 == pytest.approx(500)


def test_concurrency_slots_and_crash_safe_lease():
    fake = FakeTime()
    limiter = RealmLimiter(
        realm_id="r3", per_minute=500, concurrent=2, clock=fake.clock, sleep=fake.sleep, lease_seconds=120
    )
    limiter._ensure_rows()
    first, _ = limiter.try_acquire(holder="a")
    second, _ = limiter.try_acquire(holder="b")
    third, wait = limiter.try_acquire(holder="c")
    assert first and second and third is None and wait > 0
    assert limiter.in_flight() == 2

    limiter.release(first, "a")
    fake.now += 1  # let the bucket refill: the slot, not the rate, is what this test is about
    again, _ = limiter.try_acquire(holder="c")
    assert again == first

    fake.now += 119.5  # holder "b" died without releasing: its lease expires
    reclaimed, _ = limiter.try_acquire(holder="d")
    assert reclaimed == second


def test_release_by_a_stale_holder_does_not_free_a_reused_slot():
    fake = FakeTime()
    limiter = RealmLimiter(realm_id="r4", concurrent=1, clock=fake.clock, sleep=fake.sleep, lease_seconds=10)
    limiter._ensure_rows()
    slot, _ = limiter.try_acquire(holder="old")
    fake.now += 11
    reused, _ = limiter.try_acquire(holder="new")
    assert reused == slot
    limiter.release(slot, "old")
    assert limiter.in_flight() == 1
