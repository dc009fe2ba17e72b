"""TieredCache: L1 in front of Redis, staleness, batch helpers, stats, invalidation."""

from __future__ import annotations

import time

import orjson
import pytest

from app.cache import CacheResult, TieredCache


def quote(symbol: str, price: float = 10.0) -> dict:
    return {"symbol": symbol, "price": price, "change": 0.1, "change_pct": 1.0,
            "currency": "USD", "volume": 1000, "ts": 1_700_000_000.0,
            "source": "test", "stale": False}


def count_calls(monkeypatch, obj, name: str) -> list:
    calls: list = []
    real = getattr(obj, name)

    def spy(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(obj, name, spy)
    return calls


# -- memory-only mode ---------------------------------------------------------------


def test_memory_mode_fresh_then_stale_then_gone():
    cache = TieredCache(None)
    assert cache.mode == "memory"
    cache.set("quote:A", quote("A"), ttl=0.2, grace_s=0.3)
    first = cache.get("quote:A")
    assert first == CacheResult(quote("A"), False, pytest.approx(0.0, abs=0.05))
    time.sleep(0.25)
    stale = cache.get("quote:A")
    assert stale.stale is True and stale.value == quote("A") and stale.age_s >= 0.2
    assert cache.get_many(["quote:A"])["quote:A"].stale is True
    time.sleep(0.3)
    assert cache.get("quote:A") is None
    stats = cache.stats()
    assert set(stats) >= {"memory", "events", "ttl_s"} and "l2" not in stats


def test_ttl_classes_and_default_grace():
    cache = TieredCache(None, ttls={"quote": 7})
    assert cache.ttl_s("quote") == 7 and cache.ttl_s("history") == 3600
    assert cache.ttl_s(12) == 12.0
    assert cache.grace_s(7) == 7  # default grace = the TTL
    assert TieredCache(None, stale_grace_s=2).grace_s(300) == 2
    with pytest.raises(ValueError):
        cache.ttl_s("nope")


def test_memory_mode_stats_are_json_able():
    cache = TieredCache(None)
    cache.set("k", 1, 30)
    cache.get("k"), cache.get("missing")
    stats = cache.stats()
    assert stats["memory"]["hits"] == 1 and stats["memory"]["misses"] == 1
    assert stats["memory"]["hit_rate"] == 0.5 and stats["memory"]["size"] == 1
    orjson.dumps(stats)


# -- with Redis ------------------------------------------------------------------------


@pytest.mark.redis
def test_writes_reach_redis_in_the_wire_format(tiered, raw_redis, prefix):
    tiered.set("quote:AAPL", quote("AAPL"), "quote")
    raw = orjson.loads(raw_redis.get(prefix + "quote:AAPL"))
    assert raw[0] == 1 and raw[4] == quote("AAPL")
    assert raw[2] - raw[1] == pytest.approx(15)  # fresh for the quote TTL
    assert 28 <= raw_redis.ttl(prefix + "quote:AAPL") <= 30  # + grace (= TTL)


@pytest.mark.redis
def test_l1_answers_before_redis_until_its_cap(tiered, raw_redis, prefix, monkeypatch):
    tiered.set("quote:MSFT", quote("MSFT"), "quote")
    gets = count_calls(monkeypatch, tiered.redis.client, "get")
    raw_redis.delete(prefix + "quote:MSFT")  # gone from Redis behind the L1's back
    assert tiered.get("quote:MSFT").value == quote("MSFT")
    assert gets == []  # answered by L1 alone
    time.sleep(0.35)  # past l1_ttl_s=0.3: L1 must re-check with Redis
    assert tiered.get("quote:MSFT") is None
    assert len(gets) == 1
    assert tiered.l1.get("quote:MSFT") is None  # the dropped entry left L1 too


@pytest.mark.redis
def test_other_workers_writes_are_seen_after_the_l1_cap(tiered, redis_url, prefix):
    other = TieredCache(redis_url, prefix=prefix, l1_ttl_s=0.3)
    try:
        tiered.set("score:X", 1, "score")
        assert other.get("score:X").value == 1
        tiered.set("score:X", 2, "score")
        assert other.get("score:X").value == 1  # still its L1 copy
        time.sleep(0.35)
        assert other.get("score:X").value == 2
    finally:
        other.close()


@pytest.mark.redis
def test_get_many_costs_one_mget_then_zero(tiered, monkeypatch):
    batch = {f"quote:S{i}": quote(f"S{i}", i) for i in range(467)}
    pipes = count_calls(monkeypatch, tiered.redis.client, "pipeline")
    tiered.set_many(batch, "quote")
    assert len(pipes) == 1
    mgets = count_calls(monkeypatch, tiered.redis.client, "mget")
    warm = tiered.get_many(list(batch))
    assert mgets == []  # all 467 in L1: no round trip at all
    assert len(warm) == 467 and not any(r.stale for r in warm.values())
    keys = list(batch) + ["quote:MISSING"]
    tiered.l1.clear()
    cold = tiered.get_many(keys)
    assert len(mgets) == 1 and len(mgets[0][0]) == len(keys)
    assert len(cold) == 467 and "quote:MISSING" not in cold
    assert all(isinstance(r, CacheResult) and not r.stale for r in cold.values())
    assert cold["quote:S5"].value == quote("S5", 5)
    again = tiered.get_many(list(batch))
    assert len(mgets) == 1 and len(again) == 467  # refilled L1 answers


@pytest.mark.redis
def test_stale_entries_and_expiry_with_redis(tiered):
    tiered.set("news:A", ["headline"], ttl=0.2, grace_s=0.4)
    time.sleep(0.25)
    found = tiered.get("news:A")
    assert found.stale and found.value == ["headline"]
    time.sleep(0.45)
    assert tiered.get("news:A") is None


@pytest.mark.redis
def test_stats_per_level(tiered):
    tiered.set_many({"a": 1, "b": 2}, 30)
    tiered.get("a")                  # l1 hit
    tiered.get("zz")                 # l1 miss, l2 miss
    tiered.l1.clear()
    tiered.get("b")                  # l1 miss, l2 hit
    stats = tiered.stats()
    assert stats["mode"] == "tiered"
    assert (stats["l1"]["hits"], stats["l1"]["misses"]) == (1, 2)
    assert (stats["l2"]["hits"], stats["l2"]["misses"]) == (1, 1)
    assert stats["l2"]["hit_rate"] == 0.5 and stats["l2"]["errors"] == 0
    assert stats["l2"]["state"] == "up" and stats["l1"]["size"] == 1
    assert stats["l2"]["db_keys"] >= 2
    orjson.dumps(stats)


@pytest.mark.redis
def test_invalidate_and_delete_hit_both_levels(tiered, raw_redis, prefix):
    tiered.set_many({"quote:A": 1, "quote:B": 2, "profile:A": 3}, 60)
    assert tiered.invalidate("quote:*") == {"l1": 2, "l2": 2, "deferred": False}
    assert tiered.get("quote:A") is None and tiered.get("profile:A").value == 3
    assert raw_redis.exists(prefix + "quote:A", prefix + "quote:B") == 0
    assert tiered.delete("profile:A") == 1
    assert tiered.get("profile:A") is None


@pytest.mark.redis
def test_lastgood_copies(tiered, raw_redis, prefix):
    tiered.set("quote:L", 5, "quote", keep_lastgood=True)
    assert 7 * 86400 - 5 <= raw_redis.ttl(prefix + "lastgood:quote:L") <= 7 * 86400
    tiered.invalidate("quote:*")  # does not touch lastgood:quote:*
    assert tiered.get("quote:L") is None
    lg = tiered.lastgood("quote:L")
    assert lg.value == 5 and lg.stale is True


@pytest.mark.redis
def test_foreign_values_are_misses(tiered, raw_redis, prefix):
    raw_redis.set(prefix + "foreign", orjson.dumps({"not": "an entry"}), ex=10)
    assert tiered.get("foreign") is None
    assert tiered.stats()["events"]["l2_errors"] == 1
