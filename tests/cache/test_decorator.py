"""@cached: stale-while-revalidate, last-good fallback, coalescing, lookup/invalidate."""

from __future__ import annotations

import threading
import time

import pytest

from app.cache import CacheResult, cached


class Source:
    """A fake upstream: counts calls, can block, can fail."""

    def __init__(self) -> None:
        self.calls = 0
        self.lock = threading.Lock()
        self.gate: threading.Event | None = None
        self.fail: Exception | None = None
        self.delay_s = 0.0

    def __call__(self, symbol: str) -> dict:
        with self.lock:
            self.calls += 1
            n = self.calls
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.gate is not None:
            assert self.gate.wait(5), "test gate never opened"
        if self.fail is not None:
            raise self.fail
        return {"symbol": symbol, "price": float(n), "n": n}


def wait_for(predicate, timeout_s: float = 3.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


def test_miss_then_fresh_hit_uses_the_active_cache(memory_cache):
    src = Source()
    get_quote = cached("quote", key=lambda s: f"quote:{s}")(src)
    assert get_quote("AAPL") == {"symbol": "AAPL", "price": 1.0, "n": 1}
    assert get_quote("AAPL")["n"] == 1 and src.calls == 1
    res = get_quote.lookup("AAPL")
    assert isinstance(res, CacheResult) and res.stale is False and res.age_s < 1
    assert memory_cache.get("quote:AAPL").value["n"] == 1
    assert get_quote.key("AAPL") == "quote:AAPL"


def test_default_key_includes_function_and_arguments(memory_cache):
    @cached(30)
    def add(a, b, scale=1):
        return (a + b) * scale

    assert add(1, 2) == 3 and add(1, 2, scale=10) == 30
    assert add.key(1, 2, scale=10).endswith("add:1:2:scale=10")
    assert "test_decorator" in add.key(1, 2)


def test_rejects_unknown_ttl_class():
    with pytest.raises(ValueError):
        cached("quotes")
    with pytest.raises(ValueError):
        cached(0)


def test_invalidate_forces_a_new_call(memory_cache):
    src = Source()
    get_quote = cached("quote")(src)
    get_quote("X")
    assert get_quote.invalidate("X") == 1
    assert get_quote("X")["n"] == 2


def test_stale_while_revalidate_single_refresh_then_fresh(memory_cache):
    src = Source()
    get_quote = cached(0.2, key=lambda s: f"q:{s}", grace_s=30)(src)
    assert get_quote("A")["n"] == 1
    time.sleep(0.25)  # past fresh, within grace
    src.gate = threading.Event()  # hold the refresh so callers pile up behind it
    results: list[CacheResult] = []
    barrier = threading.Barrier(10)

    def reader() -> None:
        barrier.wait()
        results.append(get_quote.lookup("A"))

    threads = [threading.Thread(target=reader) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 10
    assert all(r.stale and r.value["n"] == 1 and r.age_s >= 0.2 for r in results)
    wait_for(lambda: src.calls == 2)
    time.sleep(0.05)
    assert src.calls == 2  # exactly one background refresh for ten stale reads
    src.gate.set()
    wait_for(lambda: not memory_cache.get("q:A").stale)
    fresh = get_quote.lookup("A")
    assert fresh.stale is False and fresh.value["n"] == 2
    assert src.calls == 2
    events = memory_cache.stats()["events"]
    assert events["stale_served"] == 10 and events["refreshes"] == 1


def test_failed_refresh_keeps_serving_stale_and_logs(memory_cache, cache_logs):
    src = Source()
    get_quote = cached(0.1, grace_s=30)(src)
    get_quote("A")
    time.sleep(0.15)
    src.fail = TimeoutError("upstream slow")
    assert get_quote.lookup("A").stale is True
    wait_for(lambda: memory_cache.stats()["events"]["refresh_errors"] == 1)
    assert any(e["event"] == "cache.refresh_failed" for e in cache_logs)
    assert get_quote("A")["n"] == 1


def test_lastgood_served_stale_when_the_function_raises(memory_cache, cache_logs):
    src = Source()
    get_quote = cached(0.1, grace_s=0)(src)
    assert get_quote("A")["n"] == 1
    time.sleep(0.15)  # expired: no grace, so the next call must load
    src.fail = ConnectionError("provider down")
    res = get_quote.lookup("A")
    assert res.stale is True and res.value["n"] == 1 and res.age_s >= 0.1
    assert get_quote("A")["n"] == 1  # plain call returns the value, no exception
    assert [e["event"] for e in cache_logs] == ["cache.lastgood_served"] * 2
    assert memory_cache.stats()["events"]["lastgood_served"] >= 2


def test_raises_when_nothing_was_ever_stored(memory_cache):
    src = Source()
    src.fail = ValueError("bad symbol")
    get_quote = cached("quote")(src)
    with pytest.raises(ValueError, match="bad symbol"):
        get_quote("NOPE")
    no_lastgood = cached(0.1, grace_s=0, lastgood=False)(Source())
    no_lastgood("A")
    time.sleep(0.15)
    no_lastgood.uncached.fail = RuntimeError("down")
    with pytest.raises(RuntimeError):
        no_lastgood("A")


def test_concurrent_misses_call_the_function_once(memory_cache):
    src = Source()
    src.delay_s = 0.2
    get_quote = cached("quote")(src)
    barrier = threading.Barrier(20)
    values: list = []

    def caller() -> None:
        barrier.wait()
        values.append(get_quote("MSFT"))

    threads = [threading.Thread(target=caller) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert src.calls == 1
    assert len(values) == 20 and all(v == values[0] for v in values)
    assert memory_cache.stats()["events"]["coalesced"] >= 10  # the rest waited, not called


def test_concurrent_misses_share_the_error(memory_cache):
    src = Source()
    src.delay_s = 0.2
    src.fail = LookupError("no such symbol")
    get_quote = cached("quote")(src)
    barrier = threading.Barrier(8)
    errors: list = []

    def caller() -> None:
        barrier.wait()
        try:
            get_quote("ZZZ")
        except LookupError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=caller) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert src.calls == 1 and len(errors) == 8


def test_refresh_runs_inside_the_flask_app_context(memory_cache):
    flask = pytest.importorskip("flask")
    app = flask.Flask("cache-test")
    app.config["MARKET"] = "XNYS"
    seen: list = []

    @cached(0.1, grace_s=30)
    def market_name(n):
        seen.append(flask.current_app.config["MARKET"])
        return len(seen)

    with app.app_context():
        assert market_name(1) == 1
        time.sleep(0.15)
        assert market_name.lookup(1).stale
        wait_for(lambda: len(seen) == 2)
    assert seen == ["XNYS", "XNYS"]


@pytest.mark.redis
def test_decorator_on_tiered_cache_writes_value_and_lastgood(tiered, raw_redis, prefix):
    src = Source()
    get_quote = cached("quote", key=lambda s: f"quote:{s}", cache=tiered)(src)
    get_quote("IBM")
    assert raw_redis.exists(prefix + "quote:IBM", prefix + "lastgood:quote:IBM") == 2
    tiered.l1.clear()
    assert get_quote("IBM")["n"] == 1  # from Redis
    assert src.calls == 1
    assert tiered.stats()["l2"]["hits"] == 1


@pytest.mark.redis
def test_lastgood_from_redis_when_l1_is_empty(tiered):
    src = Source()
    get_quote = cached(0.1, grace_s=0, cache=tiered)(src)
    get_quote("A")
    time.sleep(0.15)
    tiered.l1.clear()  # e.g. another worker process: only Redis has the last good copy
    src.fail = OSError("provider down")
    res = get_quote.lookup("A")
    assert res.stale and res.value["n"] == 1
