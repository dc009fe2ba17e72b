"""Benchmark the alert pipeline end to end: quote rounds, alert evaluation, crossing-to-delivery, web under load.

    /work/main/.venv/bin/python bench/pipeline.py [--users 1000] [--alerts 10000] [--symbols 2000]
        [--probes 100] [--window 10] [--rate 40] [--postgres] [--modes redis-lifted,fs-lifted,redis-yahoo]

Setup: a fresh SQLite database in a temp dir (or, with --postgres or TEST_DATABASE_URL, a
PostgreSQL database the bench creates and drops) after `flask db upgrade` and
`flask universe seed`, then users, one watchlist each, active alerts over the symbols
(every symbol held, watched or alerted: --symbols in all), probe alerts (one per probe
user, "above" 1.05 x the resting price; half email, half webhook) and four portfolios of
2,000 transactions (bench/pipeline_seed.py). The market is bench/pipeline_stub.py, a real
HTTP server in its own process speaking Yahoo's v8 chart shape, 80-150 ms per request,
reached through MARKET_PROVIDERS=yahoo and YAHOO_BASE_URL. Two limit settings are
measured and always named:
  * yahoo:  the provider's own Limits (batch 10, 5 requests/s, 5 at once, and its shared
    budget where the app has one), the stub answering 429 above 10 requests/s,
    CACHE_TTL_QUOTE as configured (15 s);
  * lifted: YAHOO_RATE_PER_S=0, YAHOO_CONCURRENCY=100, YAHOO_BUDGET=off, no stub limit,
    CACHE_TTL_QUOTE=1 -- what the pipeline itself does when the provider is not the bottleneck.

Figures (printed with PASS/FAIL; nothing here fails the run):
 1. one jobs.quotes refresh_and_evaluate over every tracked symbol, cold cache, in this
    process: seconds vs JOBS_QUOTES_OPEN_S (60 s); it passes only if every symbol was fetched;
 2. app.alerts.services.evaluate over every active alert with a price for every symbol
    (none fires): median and p95 of --evaluate-runs runs, <= 100 ms; cProfile when over;
 3. per mode (broker x limits): real `celery -A wsgi:celery worker` with its beat (RedBeat on
    Redis under a unique prefix, or the filesystem broker with -B), JOBS_QUOTES_OPEN_S=1; the
    stub moves the probes' prices across their thresholds at recorded times; the arrival of
    each email (aiosmtpd, in this process) or webhook (a local HTTP receiver) gives its
    crossing-to-arrival latency: p99 <= 5 s (a probe that never arrives counts as missed);
 4. a gunicorn web server (gunicorn.conf.py) answering GET /api/v1/stocks/<sym>/quote and
    GET /api/v1/watchlists at --rate req/s (bench/pipeline_load.py, open loop): p99 with the
    worker running vs idle, same run, <= 1.10;
 5. four users ask for the cold performance of their 2,000-transaction portfolio at once
    (GET /api/v1/portfolio/performance?range=max, polled until "ready"); meanwhile /health
    and the cached quote on the same web worker: p99 <= 50 ms.
Everything started is stopped (process groups), the temp dir removed, the Redis keys under
the bench's prefix deleted (the count left is printed).
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import logging
import os
import pstats
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.api import http, prepare_database  # noqa: E402
from bench.pipeline_procs import (Receivers, Worker, drop_postgres, make_postgres, redis_cleanup,  # noqa: E402
                                  start_stub, stop_group)
from bench.pipeline_seed import PASSWORD, PROBE_FLIP, Plan, seed  # noqa: E402
from bench.pipeline_stub import base_price  # noqa: E402
from bench.servers import BenchError, Server  # noqa: E402

OPEN_S = 60.0
EVALUATE_MS = 100.0
DELIVERY_P99_S = 5.0
WEB_P99_RATIO = 1.10
SIDE_P99_MS = 50.0
POLL_S = 0.5  # the page polls every 2 s; finer here to time "ready"
LIMITS = {
    "yahoo": {"env": {}, "stub_rate": 10.0},
    # YAHOO_BUDGET=off: no shared per-provider budget either (app.market.budget, where the app has one).
    "lifted": {"env": {"YAHOO_RATE_PER_S": "0", "YAHOO_CONCURRENCY": "100", "YAHOO_BUDGET": "off",
                       "CACHE_TTL_QUOTE": "1"}, "stub_rate": 0.0},
}
OVERRIDE_TYPES = {"YAHOO_RATE_PER_S": float, "YAHOO_CONCURRENCY": int, "YAHOO_BUDGET": str, "CACHE_TTL_QUOTE": int}
WORKER_ARGS = {
    "redis": ["--beat", "--scheduler", "redbeat.RedBeatScheduler", "--concurrency", "2", "--loglevel", "INFO"],
    "fs": ["-B", "--pool", "threads", "--concurrency", "2", "--loglevel", "INFO"],
}


def pct(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank) of values; inf when empty."""
    if not values:
        return float("inf")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--symbols", type=int, default=2000)
    parser.add_argument("--probes", type=int, default=100, help="probe alerts per mode (default 100)")
    parser.add_argument("--window", type=float, default=10.0, help="seconds per load window (default 10)")
    parser.add_argument("--rate", type=float, default=40.0, help="web requests/s of the load (default 40)")
    parser.add_argument("--evaluate-runs", type=int, default=20)
    parser.add_argument("--modes", default="redis-lifted,fs-lifted,redis-yahoo",
                        help="pipeline modes, broker-limits (broker: redis|fs; limits: lifted|yahoo)")
    parser.add_argument("--postgres", action="store_true", help="use a PostgreSQL database (created and dropped)")
    parser.add_argument("--keep-logs", type=Path, help="copy the servers' and workers' logs to this folder")
    args = parser.parse_args()
    modes = [tuple(m.split("-")) for m in args.modes.split(",") if m]
    if any(b not in WORKER_ARGS or lim not in LIMITS for b, lim in modes):
        parser.error(f"unknown mode in {args.modes!r}")

    def stop(signum: int, _frame: object) -> None:  # run the finally blocks
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    started = time.monotonic()
    token = f"tdbench-{uuid.uuid4().hex[:10]}"
    tmp = Path(tempfile.mkdtemp(prefix="tdbench-pipeline-"))
    stub = receivers = pg_url = None
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        stub, stub_url = start_stub(tmp / "stub.log")
        receivers = Receivers()
        pg_admin = os.environ.get("TEST_DATABASE_URL") or (
            "postgresql+psycopg:///postgres?host=/var/run/postgresql" if args.postgres else None)
        if pg_admin:
            pg_url = make_postgres(pg_admin, token.replace("-", "_"))
        db_url = pg_url or f"sqlite:///{tmp / 'bench.db'}"
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; "
              f"database {'PostgreSQL (created for this run)' if pg_url else 'SQLite in a temp dir'}; "
              f"stub {stub_url} (80-150 ms per request); Redis {redis_url} under prefix {token}:")
        base = base_env(tmp, db_url, stub_url, receivers, token)
        plan = Plan(args.users, args.alerts, args.symbols, args.probes, len(modes), 4, receivers.webhook_url)
        app = setup(base, plan, db_url)

        one_round(app, stub_url)
        evaluate_timings(app, plan, "SQLite" if not pg_url else "PostgreSQL", args.evaluate_runs)
        if pg_url is None and os.environ.get("BENCH_PG_EVALUATE", "1") == "1":
            evaluate_on_postgres(args, token, base)
        for run, (broker, limits) in enumerate(modes):
            pipeline(run, broker, limits, base, plan, app, args, stub_url, receivers, tmp, redis_url, token)
    except BenchError as exc:
        print(f"\nbench/pipeline.py: {exc}", file=sys.stderr)
        return 2
    finally:
        if receivers is not None:
            receivers.stop()
        if stub is not None:
            stop_group(stub)
        left = redis_cleanup(redis_url, token)
        print(f"\ncleanup: Redis keys matching *{token}* left: {left}"
              + ("" if left in (0, None) else "  <- NOT CLEAN") + (" (Redis unreachable)" if left is None else ""))
        if pg_url:
            drop_postgres(pg_admin, pg_url)
            print("cleanup: PostgreSQL database dropped")
        if args.keep_logs:
            args.keep_logs.mkdir(parents=True, exist_ok=True)
            for log in tmp.glob("*.log"):
                shutil.copy(log, args.keep_logs / log.name)
        shutil.rmtree(tmp, ignore_errors=True)
        print(f"cleanup: temp dir removed: {not tmp.exists()}; total {time.monotonic() - started:.0f} s")
    return 0


def base_env(tmp: Path, db_url: str, stub_url: str, receivers: Receivers, token: str) -> dict[str, str]:
    """The environment every process of the bench shares (each mode adds its broker, limits and prefixes)."""
    env = {k: v for k, v in os.environ.items() if k not in ("GUNICORN_CMD_ARGS", "FLASK_APP", "FLASK_DEBUG")}
    env.update({
        "TICKERDESK_ENV": "production", "SECRET_KEY": secrets.token_urlsafe(48), "DATABASE_URL": db_url,
        "REDIS_URL": "", "MARKET_PROVIDERS": "yahoo", "YAHOO_BASE_URL": stub_url, "YAHOO_COOKIE_URL": stub_url + "/fc",
        "RATELIMIT_DEFAULT": "1000000 per minute", "RATELIMIT_LOGIN": "1000 per minute",
        "RATELIMIT_LOGIN_ACCOUNT": "1000 per minute", "JWT_ACCESS_MINUTES": "120", "LOG_LEVEL": "INFO",
        "LOG_JSON": "true", "WEB_CONCURRENCY": "1", "PYTHONUNBUFFERED": "1", "LIVE_STREAMER": "off",
        "JOBS_DIR": str(tmp / "jobs-setup"), "JOBS_KEY_PREFIX": f"{token}:setup:jobs:",
        "JOBS_QUOTES_OPEN_S": "1", "JOBS_QUOTES_CLOSED_S": "1", "JOBS_SCHEDULE": "heartbeat,quotes,sweep",
        "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(receivers.smtp_port), "SMTP_STARTTLS": "false",
        "MAIL_FROM": "Tickerdesk bench <bench@localhost>",
    })
    return env


def setup(env: dict[str, str], plan: Plan, db_url: str):
    """Prepare and seed the database; return an in-process app on it (cold cache, no Redis)."""
    t0 = time.perf_counter()
    prepare_database(env)
    os.environ.update(env, LOG_LEVEL="WARNING")  # the in-process apps' own log: figures only
    from app import create_app

    app = create_app()
    logging.getLogger().setLevel(logging.WARNING)  # this process's own log (the app's, aiosmtpd's): figures only
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    counts = seed(app, plan)
    print(f"setup: db upgrade + universe seed + bulk seed in {time.perf_counter() - t0:.1f} s: "
          + ", ".join(f"{v} {k}" for k, v in counts.items()))
    return app


# ------------------------------------------------------------------------------ 1 and 2
def one_round(app, stub_url: str) -> None:
    """Target 1: one cold refresh_and_evaluate per limit setting."""
    from app import create_app
    from app.jobs.quotes import refresh_and_evaluate, tracked_symbols
    from app.market.types import MarketError

    print(f"\n[1] one quote round, cold cache: jobs.quotes refresh_and_evaluate in this process "
          f"(target <= JOBS_QUOTES_OPEN_S = {OPEN_S:.0f} s, every symbol fetched)")
    for limits in ("yahoo", "lifted"):
        _stub_config(stub_url, LIMITS[limits]["stub_rate"])
        overrides = {k: OVERRIDE_TYPES[k](v) for k, v in LIMITS[limits]["env"].items()}
        fresh = create_app(config=overrides)  # its own in-process cache: cold
        _stub_stats(stub_url, reset=True)
        with fresh.app_context():
            t0 = time.perf_counter()
            try:
                result = refresh_and_evaluate()
                outcome = (f"symbols {result['symbols']}  fetched {result['fetched']}  failed {result['failed']}  "
                           f"fired {result['fired']}")
            except MarketError as exc:  # the round gave up (the job's task would retry it)
                result = {"symbols": 0, "fetched": 0, "failed": 1}
                outcome = f"the round raised {type(exc).__name__}: {exc}"
            seconds = time.perf_counter() - t0
            tracked = len(tracked_symbols())
        stats = _stub_stats(stub_url)
        ok = seconds <= OPEN_S and result["failed"] == 0 and result["fetched"] == tracked
        print(f"  {limits:6s} {seconds:6.1f} s  {outcome}  stub: {stats['requests']} requests, "
              f"{stats['rate_limited']} answered 429, {stats['max_in_flight']} at most in flight  "
              f"{seconds / OPEN_S:.2f} x the interval  {verdict(ok)}")
    from app.market.providers.yahoo import YahooProvider

    lim = YahooProvider.limits
    rate = lim.rate_per_s
    budget = getattr(lim, "budget", "")
    share = app.config.get("BUDGET_BACKGROUND_SHARE")
    note = f" and a shared budget of {budget} (the pipeline's background share: {share})" if budget else ""
    if budget and share and budget.endswith("/second"):
        rate = min(rate, int(float(budget.split("/")[0]) * share))
    requests = -(-tracked // max(1, lim.batch_size)) + 2  # batches, plus one cookie and one crumb
    print(f"  yahoo's Limits: batch {lim.batch_size}, {lim.rate_per_s:g} requests/s, {lim.concurrency} at once{note}; "
          f"batched v7 quotes: a full round of {tracked} symbols is {requests} requests, >= {requests / rate:.1f} s "
          f"at {rate:g}/s ({requests / rate / OPEN_S:.2f} x the interval; one chart request per symbol would "
          f"need {tracked / rate:.0f} s)")


def evaluate_timings(app, plan: Plan, label: str, runs: int) -> None:
    """Target 2: evaluate() over every active alert, prices for every symbol, nothing fires."""
    from app.alerts.services import evaluate

    prices = {s: base_price(s) for s in plan.symbol_list}
    times, fired = [], 0
    for _ in range(runs):
        with app.app_context():
            t0 = time.perf_counter()
            fired += len(evaluate(prices))
            times.append((time.perf_counter() - t0) * 1000)
    median, p95 = statistics.median(times), pct(times, 0.95)
    print(f"\n[2] evaluate() over {plan.alerts} active alerts, {len(prices)} prices, {label}: median {median:.1f} ms, "
          f"p95 {p95:.1f} ms, min {min(times):.1f} ms over {runs} runs ({fired} fired)  "
          f"(target <= {EVALUATE_MS:.0f} ms; median/target {median / EVALUATE_MS:.2f})  {verdict(p95 <= EVALUATE_MS)}")
    if p95 > EVALUATE_MS:
        profiler = cProfile.Profile()
        with app.app_context():
            profiler.enable()
            evaluate(prices)
            profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(12)
        lines = [ln for ln in out.getvalue().splitlines() if ln.strip()]
        start = next((i for i, ln in enumerate(lines) if "ncalls" in ln), 0)
        print("  cProfile of one run, by own time:")
        print("\n".join("    " + ln for ln in lines[start - 1:start + 13]))


def evaluate_on_postgres(args, token: str, sqlite_env: dict[str, str]) -> None:
    """Target 2 on PostgreSQL too when a local server answers (a database created and dropped here)."""
    admin = "postgresql+psycopg:///postgres?host=/var/run/postgresql"
    try:
        url = make_postgres(admin, f"{token.replace('-', '_')}_eval")
    except Exception as exc:  # noqa: BLE001 - no PostgreSQL here: say so and go on
        print(f"  PostgreSQL: not measured ({type(exc).__name__}: no local server at /var/run/postgresql)")
        return
    try:
        from app import create_app

        env = dict(sqlite_env, DATABASE_URL=url)
        prepare_database(env)
        app = create_app(config={"SQLALCHEMY_DATABASE_URI": url.replace("postgresql://", "postgresql+psycopg://")})
        plan = Plan(args.users, args.alerts, args.symbols, args.probes, 1, 0, "http://127.0.0.1:9/hook")
        seed(app, plan)
        evaluate_timings(app, plan, "PostgreSQL", args.evaluate_runs)
        with app.app_context():
            from app.extensions import db
            db.engine.dispose()
    finally:
        drop_postgres(admin, url)


# ------------------------------------------------------------------------------ 3, 4, 5
def pipeline(run: int, broker: str, limits: str, base: dict[str, str], plan: Plan, app, args,
             stub_url: str, receivers: Receivers, tmp: Path, redis_url: str, token: str) -> None:
    """Targets 3-5 with one broker and one limit setting."""
    prefix = f"{token}:{run}:"
    env = dict(base, **LIMITS[limits]["env"], JOBS_DIR=str(tmp / f"jobs-{run}"), JOBS_KEY_PREFIX=f"{prefix}jobs:",
               CACHE_KEY_PREFIX=prefix, AUTH_REDIS_PREFIX=prefix, LIVE_REDIS_PREFIX=f"{prefix}live:",
               RATELIMIT_KEY_PREFIX=f"{prefix}rl")
    if broker == "redis":
        env["REDIS_URL"] = redis_url
    _stub_config(stub_url, LIMITS[limits]["stub_rate"])
    with app.app_context():  # cold performances in every mode
        from app.extensions import db
        from app.models import ComputedResult
        db.session.execute(db.delete(ComputedResult))
        db.session.commit()
    what = ("RedBeat on Redis" if broker == "redis" else "filesystem broker, -B --pool threads")
    print(f"\n[mode {broker}-{limits}] worker: celery -A wsgi:celery worker {' '.join(WORKER_ARGS[broker])} "
          f"({what}); JOBS_QUOTES_OPEN_S=1 (and _CLOSED_S=1: every exchange refreshed at any hour); "
          f"limits {limits}: {LIMITS[limits]['env'] or 'the provider defaults, CACHE_TTL_QUOTE=15'}")
    web = Server("web", "wsgi:app", env=env, log=tmp / f"web-{run}.log")
    worker = None
    try:
        web.start()
        web.wait_ready(probe="/health")
        tokens = {i: _login(web, plan.email(i)) for i in [0] + [plan.users - 1 - k for k in range(plan.perf_users)]}
        symbol = "SAP.DE" if "SAP.DE" in plan.symbol_list else plan.symbol_list[0]
        quote = f"/api/v1/stocks/{symbol}/quote"
        for _ in range(2):
            status, _body = http("GET", web.base + quote, headers={"Authorization": f"Bearer {tokens[0]}"})
            if status != 200:
                raise BenchError(f"GET {quote} answered {status}")
        paths = [quote, "/api/v1/watchlists"]
        idle = _load(web, paths, tokens[0], args.rate, args.window)

        worker_env = dict(env, TICKERDESK_ENV="development")  # webhooks to 127.0.0.1 are refused in production
        worker = Worker(WORKER_ARGS[broker], worker_env, tmp / f"worker-{run}.log")
        worker.wait_rounds(1, timeout=120)
        first = worker.rounds()[0]
        print(f"  worker up; its first round: {first.get('seconds')} s, fetched {first.get('fetched')}, "
              f"failed {first.get('failed')}, cached {first.get('cached')}")
        rounds_before = len(worker.rounds())
        receivers.reset()
        probes = plan.probes[run]
        flips: dict[str, float] = {}
        flipper = threading.Thread(target=_flip, args=(stub_url, probes, args.window - 1, flips), daemon=True)
        flipper.start()
        busy = _load(web, paths, tokens[0], args.rate, args.window)
        flipper.join()
        deadline = time.time() + 20
        while time.time() < deadline and len(receivers.arrivals(flips)) < len(probes):
            time.sleep(0.2)
        arrivals = receivers.arrivals(flips)
        rounds = worker.rounds()[rounds_before:]
        _report_delivery(probes, flips, arrivals, rounds)
        _report_web(idle, busy, paths)
        _performance(web, tokens, plan, args, symbol, app)
        _stub_config(stub_url, LIMITS[limits]["stub_rate"], reset_prices={p["symbol"]: base_price(p["symbol"])
                                                                             for p in probes})
    finally:
        if worker is not None:
            worker.stop()
        web.stop()
        if broker == "redis":
            redis_cleanup(redis_url, prefix)


def _flip(stub_url: str, probes: list[dict], over_s: float, flips: dict[str, float]) -> None:
    """Move the probes' prices across their thresholds in 10 groups spread over `over_s`, recording when."""
    groups = [probes[i::10] for i in range(10)]
    t0 = time.monotonic()
    for i, group in enumerate(groups):
        time.sleep(max(0.0, t0 + i * over_s / 10 - time.monotonic()))
        if group:
            at = _post(stub_url + "/_bench/prices", {p["symbol"]: round(base_price(p["symbol"]) * PROBE_FLIP, 2)
                                                     for p in group})["at"]
            flips.update({p["symbol"]: at for p in group})


def _report_delivery(probes, flips, arrivals, rounds) -> None:
    latencies = [arrivals[s] - flips[s] for s in flips if s in arrivals]
    missed = len(probes) - len(latencies)
    by_channel = {c: [arrivals[p["symbol"]] - flips[p["symbol"]] for p in probes
                      if p["channel"] == c and p["symbol"] in arrivals] for c in ("email", "webhook")}
    p99 = pct(latencies, 0.99) if not missed else float("inf")
    secs = [r["seconds"] for r in rounds if "seconds" in r]
    print(f"  [3] crossing -> arrival over {len(probes)} probes: arrived {len(latencies)}, missed {missed} "
          f"(20 s after the last flip); p50 {pct(latencies, 0.5):.2f} s, p99 {pct(latencies, 0.99):.2f} s, "
          f"max {max(latencies, default=float('inf')):.2f} s; email p50 {pct(by_channel['email'], 0.5):.2f} s, "
          f"webhook p50 {pct(by_channel['webhook'], 0.5):.2f} s  (target p99 <= {DELIVERY_P99_S:.0f} s, "
          f"missed count as late)  {verdict(p99 <= DELIVERY_P99_S)}")
    if secs:
        print(f"      quote rounds meanwhile: {len(secs)}, median {statistics.median(secs):.2f} s, "
              f"max {max(secs):.2f} s; per round on average fetched "
              f"{statistics.mean(r.get('fetched', 0) for r in rounds):.0f}, failed "
              f"{statistics.mean(r.get('failed', 0) for r in rounds):.0f}, cached "
              f"{statistics.mean(r.get('cached', 0) for r in rounds):.0f}")


def _report_web(idle: dict, busy: dict, paths: list[str]) -> None:
    both_idle = [x for p in paths for x in idle["latency_ms"][p]]
    both_busy = [x for p in paths for x in busy["latency_ms"][p]]
    ratio = pct(both_busy, 0.99) / pct(both_idle, 0.99)
    failed = sum(idle["failed"].values()) + sum(busy["failed"].values())
    print(f"  [4] web p99, both endpoints: idle {pct(both_idle, 0.99):.1f} ms ({len(both_idle)} requests), "
          f"worker running {pct(both_busy, 0.99):.1f} ms ({len(both_busy)}); ratio {ratio:.2f} "
          f"(target <= {WEB_P99_RATIO:.2f}); failed requests {failed}  {verdict(ratio <= WEB_P99_RATIO and not failed)}")
    for p in paths:
        print(f"      {p:34s} p50 idle {pct(idle['latency_ms'][p], 0.5):6.1f} / busy {pct(busy['latency_ms'][p], 0.5):6.1f}"
              f" ms   p99 idle {pct(idle['latency_ms'][p], 0.99):6.1f} / busy {pct(busy['latency_ms'][p], 0.99):6.1f} ms")


def _performance(web: Server, tokens: dict[int, str], plan: Plan, args, symbol: str, app) -> None:
    """Target 5: four cold performances at once while /health and a cached quote are measured."""
    side = [("/health"), (f"/api/v1/stocks/{symbol}/quote")]
    proc = _load_start(web, side, tokens[0], args.rate, 120)
    time.sleep(1.0)
    took: dict[int, float | None] = {}

    def poll(index: int) -> None:
        headers = {"Authorization": f"Bearer {tokens[index]}"}
        t0 = time.monotonic()
        took[index] = None
        while time.monotonic() - t0 < 90:
            status, body = http("GET", web.base + "/api/v1/portfolio/performance?range=max", headers=headers)
            if status == 200 and body.get("status") == "ready":
                took[index] = time.monotonic() - t0
                return
            time.sleep(POLL_S)

    threads = [threading.Thread(target=poll, args=(i,)) for i in tokens if i != 0]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    time.sleep(0.5)
    result = _load_finish(proc)
    p99s = {p: pct(result["latency_ms"][p], 0.99) for p in side}
    ok = all(v <= SIDE_P99_MS for v in p99s.values()) and not sum(result["failed"].values())
    print(f"  [5] 4 cold performances (2,000 transactions each) until \"ready\": "
          + ", ".join(f"{v:.1f} s" if v is not None else "not ready in 90 s" for v in took.values()))
    print("      meanwhile " + ", ".join(f"{p} p99 {v:.1f} ms" for p, v in p99s.items())
          + f" over {sum(len(v) for v in result['latency_ms'].values())} requests, failed "
          f"{sum(result['failed'].values())} (target p99 <= {SIDE_P99_MS:.0f} ms)  "
          f"{verdict(ok and all(v is not None for v in took.values()))}")
    print(f"      each user polled every {POLL_S} s; one poll's cost in the web process, measured in this process: "
          f"{_poll_cost_ms(app, plan):.1f} ms median (services.performance on a ready result)")


def _poll_cost_ms(app, plan: Plan) -> float:
    from app.extensions import db
    from app.models import User
    from app.portfolio import services

    times = []
    with app.app_context():
        user = db.session.get(User, plan.perf_user_ids[0])
        for _ in range(5):
            t0 = time.perf_counter()
            services.performance(user, "max")
            times.append((time.perf_counter() - t0) * 1000)
        db.session.remove()
    return statistics.median(times)


# ------------------------------------------------------------------------------ helpers
def _login(web: Server, email: str) -> str:
    status, body = http("POST", web.base + "/api/v1/auth/login", {"email": email, "password": PASSWORD})
    if status != 200:
        raise BenchError(f"login answered {status}: {body}")
    return body["access_token"]


def _load_start(web: Server, paths: list[str], token: str, rate: float, duration: float,
                stdin_stop: bool = True) -> subprocess.Popen:
    cmd = [sys.executable, str(ROOT / "bench" / "pipeline_load.py"), "--base", web.base, "--token", token,
           "--rate", str(rate), "--duration", str(duration)] + (["--stdin-stop"] if stdin_stop else [])
    for p in paths:
        cmd += ["--path", p]
    return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True)


def _load_finish(proc: subprocess.Popen) -> dict:
    try:
        out, _ = proc.communicate("stop\n", timeout=60)
    except subprocess.TimeoutExpired:
        stop_group(proc)
        raise BenchError("the load client did not finish") from None
    return json.loads(out)


def _load(web: Server, paths: list[str], token: str, rate: float, duration: float) -> dict:
    proc = _load_start(web, paths, token, rate, duration, stdin_stop=False)
    try:
        out, _ = proc.communicate(timeout=duration + 60)
    except subprocess.TimeoutExpired:
        stop_group(proc)
        raise BenchError("the load client did not finish") from None
    return json.loads(out)


def _post(url: str, body: dict) -> dict:
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as response:
        return json.loads(response.read())


def _stub_config(stub_url: str, rate: float, reset_prices: dict[str, float] | None = None) -> None:
    _post(stub_url + "/_bench/config", {"rate_per_s": rate})
    if reset_prices:
        _post(stub_url + "/_bench/prices", reset_prices)


def _stub_stats(stub_url: str, reset: bool = False) -> dict:
    with urllib.request.urlopen(stub_url + "/_bench/stats" + ("?reset=1" if reset else ""), timeout=10) as r:
        return json.loads(r.read())


if __name__ == "__main__":
    sys.exit(main())
