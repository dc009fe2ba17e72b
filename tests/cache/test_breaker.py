"""The one circuit breaker (app.ops.breaker) that the market client and the cache's Redis tier share:
trip at the threshold, wait, one probe at a time, one hook call each way per outage."""

from __future__ import annotations

import threading

import pytest

from app.ops.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker


class FakeClock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_opens_after_threshold_failures_in_a_row(clock):
    b = CircuitBreaker(3, 30.0, clock=clock)
    b.failure()
    b.failure()
    b.success()  # a success in between: the count starts again
    b.failure()
    b.failure()
    assert b.state == CLOSED and b.allow()
    b.failure()
    assert b.state == OPEN and b.is_open and not b.allow()
    assert b.outages == 1 and b.retry_in_s == 30.0


def test_half_open_lets_exactly_one_probe_through(clock):
    b = CircuitBreaker(1, 2.0, clock=clock)
    b.failure(ConnectionError("refused"))
    clock.now += 1.9
    assert b.state == OPEN and not b.allow()
    clock.now += 0.1
    assert b.state == HALF_OPEN
    assert b.allow()        # the probe
    assert not b.allow()    # everyone else keeps skipping while it runs


def test_failed_probe_opens_again_for_a_full_wait(clock):
    b = CircuitBreaker(5, 2.0, clock=clock)
    for _ in range(5):
        b.failure()
    clock.now += 2.0
    assert b.allow()
    b.failure()  # one failure is enough while open, whatever the threshold
    assert b.state == OPEN and b.retry_in_s == 2.0
    clock.now += 2.0
    assert b.allow() and b.success() is True
    assert b.state == CLOSED and b.allow() and b.allow()
    assert b.outages == 1  # a failed probe is the same outage


def test_a_late_failure_while_open_restarts_the_wait(clock):
    b = CircuitBreaker(1, 2.0, clock=clock)
    b.failure()
    clock.now += 1.5
    b.failure()  # a call let out before the trip, failing now
    assert b.retry_in_s == 2.0 and b.outages == 1


def test_release_frees_the_probe(clock):
    b = CircuitBreaker(1, 1.0, clock=clock)
    b.failure(TimeoutError("slow"))
    clock.now += 1.0
    assert b.allow() and not b.allow()
    b.release()
    assert b.allow()


def test_hooks_fire_once_per_outage(clock):
    seen: list[tuple[str, object]] = []
    b = CircuitBreaker(1, 2.0, clock=clock, on_open=lambda exc: seen.append(("open", str(exc))),
                       on_close=lambda down_s: seen.append(("close", down_s)))
    assert b.success() is False  # nothing to report while closed
    b.failure(ConnectionError("refused"))
    clock.now += 2.1
    assert b.allow()
    b.failure(ConnectionError("still refused"))
    clock.now += 2.0
    assert b.allow() and b.success() is True
    assert b.success() is False
    assert seen == [("open", "refused"), ("close", pytest.approx(4.1))]


def test_snapshot(clock):
    b = CircuitBreaker(2, 3.0, clock=clock)
    assert b.snapshot() == {"state": "closed", "retry_in_s": 0.0, "reset_after_s": 3.0, "failures": 0,
                            "outages": 0}
    b.failure()
    b.failure()
    clock.now += 1.0
    assert b.snapshot() == {"state": "open", "retry_in_s": 2.0, "reset_after_s": 3.0, "failures": 2,
                            "outages": 1}


def test_one_probe_among_many_threads(clock):
    b = CircuitBreaker(1, 1.0, clock=clock)
    b.failure()
    clock.now += 1.0
    start = threading.Barrier(16)
    allowed: list[bool] = []

    def caller() -> None:
        start.wait()
        allowed.append(b.allow())

    threads = [threading.Thread(target=caller) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert allowed.count(True) == 1


def test_cache_logs_one_warning_and_one_recovery_per_outage(cache_logs):
    from app.cache import TieredCache

    # Nothing listens on port 1: every call is refused at once.
    cache = TieredCache("redis://127.0.0.1:1/0", prefix="tdtest:breaker:", backoff_s=0.05, socket_timeout_s=0.2)
    try:
        for _ in range(5):
            assert cache.get("k") is None
        assert cache.stats()["l2"]["state"] == "down"
        assert cache.stats()["l2"]["outages"] == 1
    finally:
        cache.close()
    assert [(e["event"], e["log_level"]) for e in cache_logs] == [("cache.remote_down", "warning")]
    assert cache_logs[0]["store"] == "redis" and cache_logs[0]["backoff_s"] == 0.05
