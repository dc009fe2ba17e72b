"""RedisBackend against the real Redis (TEST_REDIS_URL)."""

from __future__ import annotations

import time

import orjson
import pytest

from app.cache import Backend, RedisBackend, redact_url

pytestmark = pytest.mark.redis


@pytest.fixture
def backend(redis_url, prefix, raw_redis):
    b = RedisBackend(redis_url, prefix=prefix, scan_batch=100)
    yield b
    b.close()


def quote(symbol: str, price: float = 101.25) -> dict:
    return {"symbol": symbol, "price": price, "change": 1.5, "change_pct": 1.5,
            "currency": "USD", "volume": 123456, "ts": 1_700_000_000.0,
            "source": "test", "stale": False}


def test_implements_backend_interface(backend):
    assert isinstance(backend, Backend)


def test_set_get_roundtrip_is_orjson_under_prefix(backend, raw_redis, prefix):
    backend.set("quote:AAPL", quote("AAPL"), ttl_s=30)
    assert backend.get("quote:AAPL") == quote("AAPL")
    raw = raw_redis.get(prefix + "quote:AAPL")
    assert orjson.loads(raw) == quote("AAPL")
    assert 28 <= raw_redis.ttl(prefix + "quote:AAPL") <= 30
    assert raw_redis.get("quote:AAPL") is None  # nothing outside the namespace
    assert backend.get("quote:NOPE") is None


def test_fractional_ttl_uses_milliseconds(backend):
    backend.set("blink", 1, ttl_s=0.15)
    assert backend.get("blink") == 1
    time.sleep(0.25)
    assert backend.get("blink") is None


def test_get_many_is_one_mget(backend, monkeypatch):
    backend.set_many({f"quote:S{i}": quote(f"S{i}", i) for i in range(50)}, ttl_s=30)
    calls = []
    real_mget = backend.client.mget
    monkeypatch.setattr(backend.client, "mget", lambda *a, **k: calls.append(a) or real_mget(*a, **k))
    monkeypatch.setattr(backend.client, "get", lambda *a, **k: pytest.fail("GET used by get_many"))
    keys = [f"quote:S{i}" for i in range(60)]
    found = backend.get_many(keys)
    assert len(calls) == 1
    assert set(found) == {f"quote:S{i}" for i in range(50)}
    assert found["quote:S7"] == quote("S7", 7)
    assert backend.get_many([]) == {}


def test_set_many_is_one_pipeline_of_set_ex(backend, raw_redis, prefix, monkeypatch):
    pipelines = []
    real_pipeline = backend.client.pipeline

    def spy(*args, **kwargs):
        pipe = real_pipeline(*args, **kwargs)
        pipelines.append(pipe)
        return pipe

    monkeypatch.setattr(backend.client, "pipeline", spy)
    singles: list = []  # commands sent outside the pipeline
    real_execute = backend.client.execute_command
    monkeypatch.setattr(backend.client, "execute_command",
                        lambda *a, **k: singles.append(a) or real_execute(*a, **k))
    backend.set_many({f"quote:P{i}": quote(f"P{i}") for i in range(467)}, ttl_s=20)
    assert len(pipelines) == 1 and singles == []
    assert 18 <= raw_redis.ttl(prefix + "quote:P466") <= 20
    stored = raw_redis.mget([prefix + f"quote:P{i}" for i in range(467)])
    assert all(raw is not None for raw in stored)
    assert orjson.loads(stored[3]) == quote("P3")


def test_invalidate_scans_and_unlinks_in_batches(backend, raw_redis, prefix):
    backend.set_many({f"quote:I{i}": i for i in range(350)}, ttl_s=60)  # > 3 scan pages
    backend.set_many({f"news:I{i}": i for i in range(5)}, ttl_s=60)
    raw_redis.set("quote:I1", "not ours", ex=60)  # same name outside the prefix
    try:
        assert backend.invalidate("quote:*") == 350
        assert backend.get_many([f"quote:I{i}" for i in range(350)]) == {}
        assert len(backend.get_many([f"news:I{i}" for i in range(5)])) == 5
        assert raw_redis.get("quote:I1") == b"not ours"
        assert backend.invalidate("quote:*") == 0
    finally:
        raw_redis.delete("quote:I1")


def test_delete_and_stats(backend):
    backend.set("a", 1, ttl_s=10)
    backend.get("a"), backend.get("b")
    backend.get_many(["a", "b", "c"])
    assert backend.delete("a", "b") == 1
    stats = backend.stats()
    assert stats["hits"] == 2 and stats["misses"] == 3 and stats["errors"] == 0
    assert stats["hit_rate"] == 0.4
    assert stats["size"] is None and stats["db_keys"] >= 0


def test_corrupt_value_is_a_counted_miss(backend, raw_redis, prefix):
    raw_redis.set(prefix + "bad", b"{not json", ex=10)
    assert backend.get("bad") is None
    assert backend.get_many(["bad"]) == {}
    assert backend.stats()["errors"] == 2


def test_errors_are_counted_and_raised():
    from redis.exceptions import ConnectionError as RedisConnectionError

    dead = RedisBackend("redis://:hunter2@127.0.0.1:1/0", socket_timeout_s=0.2)
    with pytest.raises(RedisConnectionError):
        dead.get("x")
    assert dead.counters()["errors"] == 1
    assert "hunter2" not in str(dead.stats())
    dead.close()


def test_redact_url_hides_the_password():
    assert redact_url("redis://:s3cret@h:6379/0") == "redis://:***@h:6379/0"
    assert redact_url("rediss://user:s3cret@h/1") == "rediss://user:***@h/1"
    assert redact_url("redis://h:6379/0") == "redis://h:6379/0"
    assert redact_url(None) is None
