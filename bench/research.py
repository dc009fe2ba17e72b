"""Benchmark the research jobs: DAX forecast training, one forecast served, a 10-year DAX backtest, memory.

    /work/main/.venv/bin/python bench/research.py [--rounds 200] [--check]

Builds a throwaway app (SQLite in a temp dir, in-process cache, demo market) and times:
  * loading the DAX's 11 years of closes (cold: fetched from the demo provider and stored; then warm),
  * training the DAX's forecast models walk-forward (5 folds + the final fit, 3 quantiles each),
    alone and as the whole job (load + train + predict + store),
  * one forecast served: the API call through the test client (JWT, schema) and the service alone,
  * a 10-year monthly DAX backtest (the engine alone and the whole job),
  * the process's peak resident memory after each phase.
Targets: training <= 60 s on 2 cores, a forecast <= 20 ms, the backtest <= 5 s, memory <= 500 MB.
With --check the exit status is 1 when a target is missed.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TRAIN_TARGET_S, FORECAST_TARGET_MS, BACKTEST_TARGET_S, MEMORY_TARGET_MB = 60.0, 20.0, 5.0, 500.0


def peak_mb() -> float:
    """Return the process's peak resident set size so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    """Build the app, run each phase, print the figures against the targets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.update({"DATABASE_URL": f"sqlite:///{tmp}/bench.db", "TICKERDESK_ENV": "development",
                           "LOG_LEVEL": "WARNING", "REDIS_URL": "", "MARKET_PROVIDERS": "demo"})
        from app import create_app
        from app.stocks.services import seed_universe

        app = create_app(config={"MARKET_BUDGET_S": 600.0, "FORECAST_DIR": f"{tmp}/models",
                                 "JOBS_INLINE_COMPUTE": False, "JOBS_INLINE_RESEARCH": False,
                                 "RATELIMIT_ENABLED": False})
        with app.app_context():
            from flask_migrate import upgrade
            upgrade(directory=str(ROOT / "migrations"))
            seed_universe()
        return run(app, args)


def run(app, args: argparse.Namespace) -> int:
    """Time every phase inside the app."""
    from app.analysis import backtest as engine
    from app.analysis import forecast as model
    from app.research import backtests, forecasts
    from app.research.services import resolve_universe

    universe = resolve_universe(index="DAX")
    today = date.today()
    start = today - timedelta(days=round(app.config["FORECAST_YEARS"] * 365.25))
    figures: dict[str, float] = {}
    print(f"peak memory after start-up: {peak_mb():.0f} MB")
    with app.test_request_context():
        t0 = time.perf_counter()
        panel, sentiment = forecasts.load_panel(universe, start, today)
        figures["load_cold"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        forecasts.load_panel(universe, start, today)
        figures["load_warm"] = time.perf_counter() - t0
        print(f"DAX closes, {len(panel.symbols)} stocks x {len(panel.days)} days: cold {figures['load_cold']:.2f} s "
              f"(fetched and stored), warm {figures['load_warm']:.2f} s; peak {peak_mb():.0f} MB")

        t0 = time.perf_counter()
        trained = model.train(panel.days, panel.closes, panel.sectors, panel.symbols, sentiment)
        figures["train"] = time.perf_counter() - t0
        print(f"training alone: {figures['train']:.2f} s for {trained.rows} rows, {trained.record['folds']} folds "
              f"(target {TRAIN_TARGET_S:.0f} s: {figures['train'] / TRAIN_TARGET_S:.2f}x of it); "
              f"record: beats naive {trained.record['beats_naive']}, skill {trained.record['skill']}, "
              f"coverage {trained.record['coverage_80']}; peak {peak_mb():.0f} MB")
        t0 = time.perf_counter()
        job = forecasts.train_universe(universe, force=True)
        figures["train_job"] = time.perf_counter() - t0
        print(f"the whole training job (load + train + predict + store): {figures['train_job']:.2f} s "
              f"({figures['train_job'] / TRAIN_TARGET_S:.2f}x of the target); peak {peak_mb():.0f} MB")
        t0 = time.perf_counter()
        forecasts.train_universe(universe)
        figures["repredict"] = time.perf_counter() - t0
        print(f"re-predicting with the stored model (the daily run): {figures['repredict']:.2f} s "
              f"(version {job['version']})")

    client = app.test_client()
    email = "bench@example.com"
    client.post("/api/v1/auth/register", json={"email": email, "password": "correct horse battery"})
    token = client.post("/api/v1/auth/login", json={"email": email, "password": "correct horse battery"}).get_json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    assert client.get("/api/v1/stocks/SAP.DE/forecast", headers=headers).status_code == 200
    api_ms, service_ms = [], []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        response = client.get("/api/v1/stocks/SAP.DE/forecast", headers=headers)
        api_ms.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200
    with app.test_request_context():
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            forecasts.stock_forecast("SAP.DE")
            service_ms.append((time.perf_counter() - t0) * 1000)
    figures["forecast_ms"] = statistics.median(api_ms)
    print(f"one forecast served: API median {figures['forecast_ms']:.2f} ms (p95 "
          f"{statistics.quantiles(api_ms, n=20)[-1]:.2f} ms; target {FORECAST_TARGET_MS:.0f} ms: "
          f"{figures['forecast_ms'] / FORECAST_TARGET_MS:.2f}x of it), the service alone "
          f"{statistics.median(service_ms):.2f} ms, over {args.rounds} calls")

    with app.test_request_context():
        request = backtests.parse({"index": "DAX", "top": 10, "cost_bps": 10.0})
        bt_panel, _ = forecasts.load_panel(universe, request.start - timedelta(days=engine.LOOKBACK_DAYS + 7),
                                           request.end)
        runs = []
        for _ in range(3):
            t0 = time.perf_counter()
            result = engine.run(bt_panel, request.start, request.end, top=10, cost_bps=10.0)
            runs.append(time.perf_counter() - t0)
        figures["backtest"] = statistics.median(runs)
        t0 = time.perf_counter()
        backtests.compute(request)
        figures["backtest_job"] = time.perf_counter() - t0
        print(f"10-year monthly DAX backtest ({result['rebalances']} rebalances, {len(result['deflated_sharpe']['variants'])}"
              f" top-N variants): engine median {figures['backtest']:.2f} s of 3, the whole job "
              f"{figures['backtest_job']:.2f} s (target {BACKTEST_TARGET_S:.0f} s: "
              f"{figures['backtest_job'] / BACKTEST_TARGET_S:.2f}x of it)")
    figures["memory"] = peak_mb()
    print(f"peak resident memory of the whole run: {figures['memory']:.0f} MB (target {MEMORY_TARGET_MB:.0f} MB: "
          f"{figures['memory'] / MEMORY_TARGET_MB:.2f}x of it)")
    missed = [name for name, value, target in (("training", figures["train_job"], TRAIN_TARGET_S),
                                               ("forecast", figures["forecast_ms"], FORECAST_TARGET_MS),
                                               ("backtest", figures["backtest_job"], BACKTEST_TARGET_S),
                                               ("memory", figures["memory"], MEMORY_TARGET_MB)) if value > target]
    print("targets missed: " + (", ".join(missed) if missed else "none"))
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
