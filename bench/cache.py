"""Benchmark the cache layer (app.cache) against the real Redis.

    /work/main/.venv/bin/python bench/cache.py [--rounds 5] [--check]

Reads BENCH_REDIS_URL (default redis://127.0.0.1:6379/0) and prints:
  * L1 hit latency (TieredCache.get and an @cached function, both answered in-process),
  * Redis hit and miss latency with the L1 out of the way (l1_ttl_s=0) next to a raw GET,
  * 467 warm quotes through cache.get_many -- all in L1 (no round trip) and from Redis
    (one MGET + decoding) -- versus one raw MGET of the same keys, with the ratio.
Targets: L1 hit < 10 us; 467 warm quotes < 25 ms and <= 3 x raw MGET.
Every key lives under a unique "tdbench:<id>:" prefix and is deleted at the end.
With --check the exit status is 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from app.cache import TieredCache, cached  # noqa: E402

N_QUOTES = 467
L1_TARGET_US = 10.0
BATCH_TARGET_MS = 25.0
BATCH_TARGET_RATIO = 3.0


def make_quotes(n: int = N_QUOTES) -> dict[str, dict]:
    """Return n realistic quote dicts keyed 'quote:<SYMBOL>'."""
    quotes = {}
    for i in range(n):
        symbol = f"S{i:03d}.DE" if i % 3 == 0 else f"SYM{i:03d}"
        price = 50.0 + (i * 7.31) % 400
        quotes[f"quote:{symbol}"] = {
            "symbol": symbol,
            "price": round(price, 2),
            "change": round((i % 17 - 8) * 0.37, 2),
            "change_pct": round((i % 17 - 8) * 0.37 / price * 100, 3),
            "currency": "EUR" if symbol.endswith(".DE") else "USD",
            "volume": 100_000 + i * 1_337,
            "ts": 1_731_000_000.0 + i,
            "source": "yahoo",
            "stale": False,
        }
    return quotes


def per_call_us(fn, loops: int, rounds: int) -> float:
    """Best-of-rounds mean microseconds per call of fn() over `loops` calls."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(loops):
            fn()
        best = min(best, (time.perf_counter() - start) / loops * 1e6)
    return best


def samples_ms(fn, count: int) -> list[float]:
    """Time `count` single calls of fn(), in milliseconds each."""
    out = []
    for _ in range(count):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1e3)
    return out


def describe(values_ms: list[float]) -> str:
    values = sorted(values_ms)
    p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
    return f"median {statistics.median(values):7.3f} ms   p99 {p99:7.3f} ms   min {values[0]:7.3f} ms"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def bench_l1(cache: TieredCache, rounds: int) -> tuple[float, bool]:
    key = "quote:AAPL"
    cache.set(key, make_quotes(1)["quote:S000.DE"], "history")  # long TTL: stays in L1 here

    @cached("history", key=lambda s: f"quote:{s}", cache=cache)
    def get_quote(symbol):
        raise AssertionError("must be answered from the cache")

    get_quote("AAPL")
    mem_us = per_call_us(lambda: cache.l1.get(key), 100_000, rounds)
    get_us = per_call_us(lambda: cache.get(key), 100_000, rounds)
    fn_us = per_call_us(lambda: get_quote("AAPL"), 100_000, rounds)
    print("L1 (in-process) hit")
    print(f"  MemoryBackend.get          {mem_us:7.2f} us")
    print(f"  TieredCache.get            {get_us:7.2f} us   target < {L1_TARGET_US:.0f} us  "
          f"{verdict(get_us < L1_TARGET_US)}")
    print(f"  @cached function call      {fn_us:7.2f} us")
    return get_us, get_us < L1_TARGET_US


def bench_redis_single(url: str, prefix: str, raw: redis.Redis, count: int) -> None:
    cache = TieredCache(url, prefix=prefix, l1_ttl_s=0)  # L1 never answers on its own
    try:
        cache.set("quote:HIT", make_quotes(1)["quote:S000.DE"], "quote")
        cache.get("quote:HIT"), cache.get("quote:MISS")  # warm the pool
        hit = samples_ms(lambda: cache.get("quote:HIT"), count)
        miss = samples_ms(lambda: cache.get("quote:MISS"), count)
        raw_get = samples_ms(lambda: raw.get(prefix + "quote:HIT"), count)
        assert cache.get("quote:HIT") is not None and cache.get("quote:MISS") is None
        print("Redis (L1 disabled: l1_ttl_s=0), single key")
        print(f"  cache.get hit   {describe(hit)}")
        print(f"  cache.get miss  {describe(miss)}")
        print(f"  raw GET         {describe(raw_get)}")
    finally:
        cache.close()


def bench_batch(url: str, prefix: str, raw: redis.Redis, rounds: int) -> bool:
    quotes = make_quotes()
    keys = list(quotes)
    raw_keys = [prefix + key for key in keys]
    warm_l1 = TieredCache(url, prefix=prefix, l1_ttl_s=3600)
    l2_only = TieredCache(url, prefix=prefix, l1_ttl_s=0)
    try:
        write = samples_ms(lambda: warm_l1.set_many(quotes, "history"), max(3, rounds))
        assert len(warm_l1.get_many(keys)) == N_QUOTES
        assert all(r is not None for r in raw.mget(raw_keys))
        count = max(30, rounds * 10)
        raw.mget(raw_keys), l2_only.get_many(keys)  # warm connections and code paths
        # Interleaved, so machine noise hits the three paths alike.
        raw_mget, via_l2, via_l1 = [], [], []
        for _ in range(count):
            raw_mget += samples_ms(lambda: raw.mget(raw_keys), 1)
            via_l2 += samples_ms(lambda: l2_only.get_many(keys), 1)
            via_l1 += samples_ms(lambda: warm_l1.get_many(keys), 1)
        got = l2_only.get_many(keys)
        assert len(got) == N_QUOTES and got[keys[5]].value == quotes[keys[5]]
    finally:
        warm_l1.close()
        l2_only.close()
    raw_med = statistics.median(raw_mget)
    l2_med = statistics.median(via_l2)
    l1_med = statistics.median(via_l1)
    ratio = l2_med / raw_med
    ok_l2 = l2_med < BATCH_TARGET_MS and ratio <= BATCH_TARGET_RATIO
    ok_l1 = l1_med < BATCH_TARGET_MS
    print(f"{N_QUOTES} warm quotes")
    print(f"  set_many (one pipeline)     {describe(write)}")
    print(f"  raw MGET (bytes, no decode) {describe(raw_mget)}")
    print(f"  get_many from Redis (1 MGET){describe(via_l2)}")
    print(f"  get_many all in L1 (0 RTT)  {describe(via_l1)}")
    print(f"  Redis path: {l2_med:.3f} ms (target < {BATCH_TARGET_MS:.0f} ms), "
          f"{ratio:.2f} x raw MGET (target <= {BATCH_TARGET_RATIO:.0f} x)  {verdict(ok_l2)}")
    print(f"  L1 path:    {l1_med:.3f} ms (target < {BATCH_TARGET_MS:.0f} ms), "
          f"{l1_med / raw_med:.2f} x raw MGET  {verdict(ok_l1)}")
    return ok_l2 and ok_l1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="repetitions per figure")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    prefix = f"tdbench:{uuid.uuid4().hex[:10]}:"
    raw = redis.Redis.from_url(url, socket_timeout=2)
    try:
        raw.ping()
    except redis.RedisError as exc:
        print(f"Redis at BENCH_REDIS_URL is unreachable ({type(exc).__name__}); "
              "only the L1 figures are measured")
        raw = None
    print(f"python {sys.version.split()[0]}, redis-py {redis.__version__}, prefix {prefix}")
    ok = True
    cache = TieredCache(url if raw is not None else None, prefix=prefix)
    try:
        _, ok_l1 = bench_l1(cache, args.rounds)
        ok &= ok_l1
        if raw is not None:
            bench_redis_single(url, prefix, raw, count=2000)
            ok &= bench_batch(url, prefix, raw, args.rounds)
    finally:
        cache.close()
        if raw is not None:
            names = list(raw.scan_iter(match=prefix + "*", count=1000))
            if names:
                raw.unlink(*names)
            raw.close()
    print("all targets met" if ok else "some targets missed")
    return 1 if (args.check and not ok) else 0


if __name__ == "__main__":
    sys.exit(main())
