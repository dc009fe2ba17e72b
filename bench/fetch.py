"""Benchmark the async core's cold fetch against the stub provider, with the two old baselines.

    .venv/bin/python bench/fetch.py [--symbols 467] [--latency-ms 50] [--in-flight 20]

Starts the stub Yahoo server on 127.0.0.1 with a fixed latency per request, then prints:
  * cold: 467 quotes through MarketClient (batches of 20, at most 20 requests in flight),
    the theoretical minimum ceil(N / in-flight) x latency, and the ratio (target <= 1.25);
  * baseline 1: the same symbols one after another with `requests`;
  * baseline 2: a ThreadPoolExecutor of 10 workers with `requests`;
  * warm: the same 467 quotes through `quotes_for` from Redis (L1 cleared), BENCH_REDIS_URL
    (default redis://127.0.0.1:6379/0); skipped with a note when Redis is not reachable.
"""
from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import redis  # noqa: E402
import requests  # noqa: E402

from app.market.client import ClientSettings, MarketClient  # noqa: E402
from app.market.providers.yahoo import YahooProvider  # noqa: E402
from tests.market.stub_server import start_stub_server  # noqa: E402


def main() -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=467)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--in-flight", type=int, default=20)
    parser.add_argument("--skip-sequential", action="store_true", help="skip the slow one-by-one baseline")
    args = parser.parse_args()
    symbols = [f"BENCH{i:03d}" for i in range(args.symbols)]
    stub = start_stub_server()
    stub.latency_ms = args.latency_ms
    # The chart API (one request per symbol), as the baselines fetch: this measures the fan-out itself.
    settings = stub.settings(YAHOO_CONCURRENCY=args.in_flight, YAHOO_BATCH_SIZE=20, YAHOO_RATE_PER_S=0,
                             YAHOO_TIMEOUT_S=10, YAHOO_QUOTE_API="chart")
    try:
        minimum = math.ceil(len(symbols) / args.in_flight) * args.latency_ms / 1000
        cold = _cold(settings, symbols)
        print(f"cold, through the core      {cold['wall_s']:7.3f} s  ({cold['quotes']} quotes, "
              f"max {stub.max_in_flight} in flight)")
        print(f"theoretical minimum         {minimum:7.3f} s  (ceil({len(symbols)}/{args.in_flight}) x "
              f"{args.latency_ms:.0f} ms)")
        print(f"ratio cold / minimum        {cold['wall_s'] / minimum:7.3f}    (target <= 1.25)")
        url = f"{stub.url}/v8/finance/chart/{{}}?interval=1d&range=1d"
        if not args.skip_sequential:
            started = time.perf_counter()
            with requests.Session() as http:
                for symbol in symbols:
                    http.get(url.format(symbol), timeout=10).raise_for_status()
            sequential = time.perf_counter() - started
            print(f"baseline: one by one        {sequential:7.3f} s  ({sequential / cold['wall_s']:.1f} x the core)")
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=10) as pool, requests.Session() as http:
            list(pool.map(lambda s: http.get(url.format(s), timeout=10).raise_for_status(), symbols))
        threaded = time.perf_counter() - started
        print(f"baseline: 10 threads        {threaded:7.3f} s  ({threaded / cold['wall_s']:.1f} x the core)")
        _warm(stub, symbols)
    finally:
        stub.stop()
    return 0


def _cold(settings: dict, symbols: list[str]) -> dict:
    async def run() -> dict:
        async with aiohttp.ClientSession() as session:
            client = MarketClient([YahooProvider(settings, session=session)], ClientSettings(budget_s=60))
            started = time.perf_counter()
            result = await client.fetch_quotes(symbols)
            wall = time.perf_counter() - started
            assert not result.errors, list(result.errors.items())[:3]
            return {"wall_s": wall, "quotes": len(result.quotes)}

    return asyncio.run(run())


def _warm(stub, symbols: list[str]) -> None:
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=1).ping()
    except redis.RedisError:
        print(f"warm from Redis              skipped: no Redis at {redis_url}")
        return
    from app import create_app
    from app.market.service import market_cache, quotes_for

    app = create_app({"MARKET_PROVIDERS": ["yahoo"], **stub.settings(), "LOG_LEVEL": "WARNING"},
                     env={"TICKERDESK_ENV": "testing", "SECRET_KEY": "b" * 40, "REDIS_URL": redis_url,
                          "DATABASE_URL": "sqlite://", "LOG_LEVEL": "WARNING"})
    app.config.update(YAHOO_CONCURRENCY=20, YAHOO_RATE_PER_S=0)
    with app.app_context():
        cache = market_cache()
        cache.invalidate("quote:BENCH*")
        quotes_for(symbols)  # fill Redis
        timings = []
        for _ in range(5):
            cache.l1.clear()
            started = time.perf_counter()
            batch = quotes_for(symbols)
            timings.append(time.perf_counter() - started)
            assert len(batch["quotes"]) == len(symbols)
        keys = [f"td:quote:{s}" for s in symbols]
        raw = redis.Redis.from_url(redis_url)
        mget = []
        for _ in range(5):
            started = time.perf_counter()
            raw.mget(keys)
            mget.append(time.perf_counter() - started)
        best, best_mget = min(timings), min(mget)
        print(f"warm from Redis (L1 empty)  {best * 1000:7.2f} ms (target < 25 ms)")
        print(f"raw MGET of the same keys   {best_mget * 1000:7.2f} ms; ratio {best / best_mget:.2f} (target <= 3)")
        started = time.perf_counter()
        quotes_for(symbols)
        print(f"warm from L1                {(time.perf_counter() - started) * 1000:7.2f} ms")
        cache.invalidate("quote:BENCH*")


if __name__ == "__main__":
    sys.exit(main())
