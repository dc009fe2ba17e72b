"""Benchmark the growth score over cached inputs.

    /work/main/.venv/bin/python bench/score.py [--rounds 5] [--check]

Builds a throwaway app (SQLite in a temp dir, in-process cache, demo market), fetches
and caches 400 days of closes, the fundamentals and the news of every stock once, then
times, with everything served from the cache:
  * the whole universe (~1,800 stocks) scored as one universe,
  * the German stocks of DAX + MDAX + SDAX scored together,
each as the full service call (cache reads + alignment + the vectorised pass + the
response rows) and the vectorised pass alone (`growth_scores` on prebuilt inputs).
Targets: whole universe <= 1 s, German indices <= 0.3 s (full call, median).
With --check the exit status is 1 when a target is missed.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

UNIVERSE_TARGET_S = 1.0
GERMAN_TARGET_S = 0.3
GERMAN_INDICES = ("DAX", "MDAX", "SDAX")


def main() -> int:
    """Warm the caches, time the score for both universes, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        os.environ.update({"DATABASE_URL": f"sqlite:///{tmp}/bench.db", "TICKERDESK_ENV": "development",
                           "LOG_LEVEL": "WARNING", "REDIS_URL": "", "MARKET_PROVIDERS": "demo"})
        from app import create_app
        from app.extensions import db
        from app.stocks.services import seed_universe

        app = create_app(config={"MARKET_BUDGET_S": 300.0, "CACHE_TTL_HISTORY": 3600, "CACHE_TTL_PROFILE": 3600,
                                 "CACHE_TTL_NEWS": 3600, "CACHE_MAX_ENTRIES": 100_000})
        with app.app_context():
            from flask_migrate import upgrade
            upgrade(directory=str(ROOT / "migrations"))
            seed_universe()
            return run(args, db)


def run(args: argparse.Namespace, db) -> int:
    """Time the scoring of both universes inside an app context."""
    from app.analysis.score import build_inputs, growth_scores
    from app.market.research import closes_for, profiles_for, sentiments_for
    from app.market.service import utc_today
    from app.research import services

    everything = services.members(services.Universe("all"))
    german = {r["symbol"]: r for name in GERMAN_INDICES for r in services.members(services.Universe("index", name))}
    german_rows = sorted(german.values(), key=lambda r: r["symbol"])
    print(f"universe: {len(everything)} stocks; German indices {'+'.join(GERMAN_INDICES)}: {len(german_rows)} stocks")

    started = time.perf_counter()
    services.score_rows(everything, "warm-up")  # fetches, persists and caches every input once
    print(f"warm-up (fetch + persist 400 days of closes, profiles, news for all): "
          f"{time.perf_counter() - started:.1f} s")

    results = {}
    for label, rows in (("whole universe", everything), ("German indices", german_rows)):
        full = _timed(lambda: services.score_rows(rows, label), args.rounds)
        symbols = [r["symbol"] for r in rows]
        today = utc_today()
        inputs = build_inputs(symbols, closes_for(symbols, today - timedelta(days=services.HISTORY_DAYS), today),
                              profiles_for(symbols), sentiments_for(symbols), {r["symbol"]: r["sector"] for r in rows})
        vectorised = _timed(lambda: growth_scores(inputs), args.rounds)
        results[label] = full
        print(f"{label:15s} {len(rows):5d} stocks  full call median {full * 1000:7.1f} ms   "
              f"vectorised pass {vectorised * 1000:6.1f} ms   ({inputs.closes.shape[1]} days)")

    missed = []
    if results["whole universe"] > UNIVERSE_TARGET_S:
        missed.append(f"whole universe {results['whole universe']:.3f} s > {UNIVERSE_TARGET_S} s")
    if results["German indices"] > GERMAN_TARGET_S:
        missed.append(f"German indices {results['German indices']:.3f} s > {GERMAN_TARGET_S} s")
    print(f"targets: whole universe <= {UNIVERSE_TARGET_S} s, German <= {GERMAN_TARGET_S} s: "
          + ("met" if not missed else "MISSED: " + "; ".join(missed)))
    return 1 if missed and args.check else 0


def _timed(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


if __name__ == "__main__":
    sys.exit(main())
