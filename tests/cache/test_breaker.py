"""Backoff: trip on failure, wait, one probe at a time, one log line each way."""

from __future__ import annotations

from app.cache.breaker import Backoff


class FakeClock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def test_backoff_cycle(cache_logs):
    clock = FakeClock()
    b = Backoff(2.0, target="redis://:***@h:6379/0", clock=clock)
    assert b.allow() and not b.is_down
    assert b.success() is False  # nothing to report while up

    b.failure(ConnectionError("refused"))
    assert b.is_down and not b.allow()
    clock.now += 1.9
    assert not b.allow()
    clock.now += 0.2
    assert b.allow()        # the one probe
    assert not b.allow()    # everyone else keeps skipping while it runs
    b.failure(ConnectionError("still refused"))
    assert not b.allow()    # a new back-off started
    assert b.state()["retry_in_s"] == 2.0
    clock.now += 2.0
    assert b.allow()
    assert b.success() is True
    assert b.allow() and b.allow() and not b.is_down
    assert b.state() == {"state": "up", "retry_in_s": 0.0, "backoff_s": 2.0, "outages": 1}

    assert [(e["event"], e["log_level"]) for e in cache_logs] == [
        ("cache.remote_down", "warning"), ("cache.remote_back", "info")]
    assert cache_logs[0]["error"] == "refused" and cache_logs[1]["down_s"] == 4.1


def test_release_frees_the_probe():
    clock = FakeClock()
    b = Backoff(1.0, clock=clock)
    b.failure(TimeoutError("slow"))
    clock.now += 1.0
    assert b.allow() and not b.allow()
    b.release()
    assert b.allow()
