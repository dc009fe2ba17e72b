"""MemoryBackend: TTL expiry, LRU bound, patterns, counters, thread-safety."""

from __future__ import annotations

import random
import threading
import time

import pytest

from app.cache import Backend, MemoryBackend


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_implements_backend_interface():
    assert isinstance(MemoryBackend(), Backend)
    assert MemoryBackend().max_entries == 10_000


def test_ttl_expiry_with_fake_clock():
    clock = FakeClock()
    mem = MemoryBackend(clock=clock)
    mem.set("a", {"price": 1.0}, ttl_s=10)
    mem.set("forever", 1, ttl_s=None)
    clock.now += 9.99
    assert mem.get("a") == {"price": 1.0}
    clock.now += 0.02
    assert mem.get("a") is None
    assert "a" not in mem._data  # dropped when touched
    clock.now += 10**6
    assert mem.get("forever") == 1


def test_ttl_expiry_real_time():
    mem = MemoryBackend()
    mem.set("short", "v", ttl_s=0.05)
    assert mem.get("short") == "v"
    time.sleep(0.08)
    assert mem.get("short") is None
    assert mem.get_many(["short"]) == {}


def test_lru_eviction_keeps_the_bound_and_the_recently_used():
    mem = MemoryBackend(max_entries=3)
    for key in "abc":
        mem.set(key, key, ttl_s=60)
    assert mem.get("a") == "a"  # a becomes most recently used; b is now the oldest
    mem.set("d", "d", ttl_s=60)
    assert len(mem) == 3
    assert mem.get("b") is None
    assert {k for k in "acd" if mem.get(k) is not None} == {"a", "c", "d"}
    mem.set_many({f"k{i}": i for i in range(100)}, ttl_s=60)
    assert len(mem) == 3
    assert mem.get_many(["k97", "k98", "k99", "a"]) == {"k97": 97, "k98": 98, "k99": 99}
    assert mem.stats()["evictions"] == 1 + 100


def test_rejects_a_zero_bound():
    with pytest.raises(ValueError):
        MemoryBackend(max_entries=0)


def test_get_many_set_many_delete_and_invalidate():
    mem = MemoryBackend()
    mem.set_many({"quote:AAPL": 1, "quote:MSFT": 2, "news:AAPL": 3}, ttl_s=60)
    assert mem.get_many(["quote:AAPL", "quote:NOPE", "news:AAPL"]) == {"quote:AAPL": 1, "news:AAPL": 3}
    assert mem.invalidate("quote:*") == 2
    assert mem.get("quote:MSFT") is None
    assert mem.get("news:AAPL") == 3
    assert mem.delete("news:AAPL", "missing") == 1
    assert len(mem) == 0


def test_stats_counts_hits_misses_and_size():
    clock = FakeClock()
    mem = MemoryBackend(max_entries=10, clock=clock)
    mem.set("a", 1, ttl_s=5)
    mem.set("b", 2, ttl_s=50)
    mem.get("a"), mem.get("a"), mem.get("zz")
    mem.get_many(["a", "b", "c"])
    clock.now += 10  # a expires; stats purges it
    stats = mem.stats()
    assert stats["hits"] == 4 and stats["misses"] == 2
    assert stats["hit_rate"] == pytest.approx(4 / 6, abs=1e-4)
    assert stats["size"] == 1 and stats["errors"] == 0
    mem.reset_stats()
    assert mem.stats()["hits"] == 0


def test_thread_safety_under_many_threads():
    mem = MemoryBackend(max_entries=200)
    errors: list[BaseException] = []
    gets = [0] * 32
    barrier = threading.Barrier(32)

    def worker(n: int) -> None:
        rnd = random.Random(n)
        barrier.wait()
        try:
            for _ in range(3000):
                key = f"k{rnd.randrange(500)}"
                op = rnd.random()
                if op < 0.5:
                    value = mem.get(key)
                    gets[n] += 1
                    # A key only ever holds its own value: a torn write would show here.
                    assert value is None or value == ("v", key)
                elif op < 0.8:
                    mem.set(key, ("v", key), ttl_s=rnd.choice([0.001, 60]))
                elif op < 0.9:
                    got = mem.get_many([key, "k1", "k2"])
                    gets[n] += 3
                    assert all(v == ("v", k) for k, v in got.items())
                elif op < 0.98:
                    mem.delete(key)
                else:
                    mem.invalidate("k1*")
                assert len(mem) <= 200
        except BaseException as exc:  # collected and re-raised by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    stats = mem.stats()
    assert stats["size"] <= 200
    assert stats["hits"] + stats["misses"] == sum(gets)  # no lost counter updates
