"""Benchmark the cached quote endpoint under gunicorn + gevent against a bare Flask endpoint.

    /work/main/.venv/bin/python bench/api.py [--duration 5] [--rounds 3] [--connections 1,10,50]
                                             [--threads 2] [--log-level INFO] [--no-redis] [--check]

Serves ``wsgi:app`` (Tickerdesk) and ``bench.bare_app:app`` (one Flask route returning a
quote-sized JSON dict) with the same command -- ``gunicorn -c gunicorn.conf.py -b
127.0.0.1:<port> --no-control-socket <app>``, i.e. the gevent worker, WEB_CONCURRENCY=1 --
and the same environment, then drives ``GET /api/v1/stocks/SAP.DE/quote`` (with a bearer
token) and ``GET /quote`` with ``wrk --latency`` from a separate process at each connection
count.  Runs alternate between the two servers (bare, app, app, bare, ...) and each
figure is the median of ``--rounds`` runs.

The app runs in production mode on a temporary SQLite database (``db upgrade`` and
``universe seed`` first) with the demo market, and these bench-only settings:
  * CACHE_TTL_QUOTE=3600, so every measured request is the cached path (one warm-up
    request fills the cache);
  * RATELIMIT_DEFAULT="1000000 per minute" -- the default 300/minute would turn the load
    test into a measurement of 429s;
  * JWT_ACCESS_MINUTES=120, so the token outlives the run;
  * LOG_LEVEL (default INFO, as deployed: one JSON request-log line per request, written to
    a log file) is the same for both servers; the bare app has no request log of its own.
The first configuration has no REDIS_URL (in-process memory cache, memory rate-limit
storage).  When Redis answers at BENCH_REDIS_URL (default redis://127.0.0.1:6379/0), a
second configuration sets REDIS_URL to that server's logical database ``--redis-db``
(default 15, which must be empty; its keys are deleted at the end): the L1 in-process cache
still answers most quote hits, while the rate limiter and the token blocklist go to Redis.

Prints per endpoint and connection count: requests/s, p50/p90/p99 latency, and the worker's
CPU time per request (steadier than requests/s when other processes share the CPUs).  wrk
keeps every connection busy, so from 2 connections on the single worker is saturated: c=1
shows the unloaded latency (one request at a time), the higher counts queueing under
gevent, whose tail is long even for the bare app (p50 under 1 ms next to a p99 of hundreds
of ms: a saturated gevent worker serves connections unevenly) -- hence the p99 target
compares the two at the same connection count.
A third server, ``bench.floor_app:app``, answers the bare endpoint's quote behind only
Flask-Limiter's default limit (same limit, same storage as the app, headers on): its req/s
over bare's is what the rate limiter alone leaves of the bare rate, and app/floor what the
app's own request path costs on top. It is printed, not a target.
Targets, at every connection count: app req/s >= 0.70 x bare req/s, and app p99 <= 1.5 x
bare p99.  Any non-2xx response aborts the run (exit 2); wrk must be on PATH (exit 2 if
not; e.g. ``apt-get install -y wrk``).  With --check the exit status is 1 when a target is
missed.  Only 127.0.0.1 is targeted; servers and temporary files are removed at the end.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.servers import BenchError, Server, cpu_seconds, tail, tool  # noqa: E402

RPS_TARGET = 0.70
P99_TARGET = 1.5
SYMBOL = "SAP.DE"
APP_PATH = f"/api/v1/stocks/{SYMBOL}/quote"
BARE_PATH = "/quote"
RATELIMIT = "1000000 per minute"


def http(method: str, url: str, body: dict | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def prepare_database(env: dict[str, str]) -> None:
    """`flask --app wsgi db upgrade` and `universe seed` against the bench database."""
    for args in (["db", "upgrade"], ["universe", "seed"]):
        out = subprocess.run([tool("flask"), "--app", "wsgi", *args], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=300)
        if out.returncode != 0:
            raise BenchError(f"flask {' '.join(args)} failed ({out.returncode}):\n"
                             + (out.stdout + out.stderr)[-3000:])


def log_in(app: Server) -> None:
    """Register a bench account, log in, and warm the quote cache with one request."""
    email, password = f"bench-{uuid.uuid4().hex[:10]}@example.com", secrets.token_urlsafe(18)
    status, body = http("POST", app.base + "/api/v1/auth/register", {"email": email, "password": password})
    if status != 201:
        raise BenchError(f"register answered {status}: {body}")
    status, body = http("POST", app.base + "/api/v1/auth/login", {"email": email, "password": password})
    if status != 200 or "access_token" not in body:
        raise BenchError(f"login answered {status}: {body}")
    app.headers = {"Authorization": f"Bearer {body['access_token']}"}
    for _ in range(2):  # the first fills the cache, the second is a cache hit
        status, quote = http("GET", app.base + app.path, headers=app.headers)
        if status != 200 or quote.get("symbol") != SYMBOL:
            raise BenchError(f"GET {app.path} answered {status}: {quote}")


# ---------------------------------------------------------------------- wrk
_UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3}
_LATENCY = re.compile(r"^\s*(50|75|90|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s)\s*$", re.M)


def parse_wrk(out: str) -> dict[str, float]:
    """Requests/sec, request count, p50/p90/p99 (ms), non-2xx count and socket errors."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    count = re.search(r"(\d+) requests in", out)
    if not rps or not count:
        raise BenchError("cannot parse wrk's output:\n" + out)
    result: dict[str, float] = {"rps": float(rps.group(1)), "requests": int(count.group(1))}
    for pct, value, unit in _LATENCY.findall(out):
        result[f"p{pct}"] = float(value) * _UNIT[unit]
    if not all(f"p{p}" in result for p in (50, 90, 99)):
        raise BenchError("wrk printed no latency distribution (--latency):\n" + out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
    result["non2xx"] = int(non2xx.group(1)) if non2xx else 0
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    result["socket_errors"] = sum(int(x) for x in sock.groups()) if sock else 0
    return result


def run_wrk(server: Server, connections: int, threads: int, duration: float) -> dict[str, float]:
    cmd = ["wrk", "-t", str(min(threads, connections)), "-c", str(connections),
           "-d", f"{max(1, round(duration))}s", "--timeout", "10s", "--latency"]
    for name, value in server.headers.items():
        cmd += ["-H", f"{name}: {value}"]
    pid = server.worker_pid()
    cpu0, t0 = cpu_seconds(pid), time.perf_counter()
    proc = subprocess.run(cmd + [server.base + server.path], capture_output=True, text=True,
                          timeout=duration + 60)
    cpu1, elapsed = cpu_seconds(pid), time.perf_counter() - t0
    if proc.returncode != 0:
        raise BenchError(f"wrk failed ({proc.returncode}): {proc.stderr or proc.stdout}")
    result = parse_wrk(proc.stdout)
    if result["non2xx"]:
        raise BenchError(f"{server.name}: wrk saw {result['non2xx']:.0f} non-2xx responses of "
                         f"{result['requests']:.0f} at {connections} connections -- the measurement "
                         f"is invalid (429: rate limit? 401: token?)\n{proc.stdout}\n{tail(server.log)}")
    if cpu0 is not None and cpu1 is not None and result["requests"]:
        result["cpu_us"] = (cpu1 - cpu0) / result["requests"] * 1e6
        result["cpu_share"] = (cpu1 - cpu0) / elapsed
    return result


# -------------------------------------------------------------- one config
def median(runs: list[dict[str, float]], key: str) -> float | None:
    values = [r[key] for r in runs if key in r]
    return statistics.median(values) if values else None


def measure(label: str, env: dict[str, str], tmp: Path, args: argparse.Namespace) -> bool:
    """Start both servers with `env`, run the interleaved wrk runs, print the table; True if on target."""
    slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")
    bare = Server("bare", "bench.bare_app:app", env=env, path=BARE_PATH, log=tmp / f"bare-{slug}.log")
    floor = Server("floor", "bench.floor_app:app", env=env, path=BARE_PATH, log=tmp / f"floor-{slug}.log")
    app = Server("app", "wsgi:app", env=env, path=APP_PATH, log=tmp / f"app-{slug}.log")
    servers = (bare, floor, app)
    try:
        for server in servers:
            server.start()
        for server in servers:
            server.wait_ready()
        log_in(app)
        top = max(args.connections)
        for server in servers:  # warm-up: code paths, connections, gevent's hub
            run_wrk(server, top, args.threads, 2)
        runs: dict[tuple[str, int], list[dict[str, float]]] = {}
        order = list(servers)
        for connections in args.connections:
            for _ in range(args.rounds):
                for server in order:
                    runs.setdefault((server.name, connections), []).append(
                        run_wrk(server, connections, args.threads, args.duration))
                order.reverse()  # bare, floor, app, app, floor, bare, ...: drift hits all alike
    finally:
        for server in (app, floor, bare):
            server.stop()
    return report(label, runs, args)


def report(label: str, runs: dict[tuple[str, int], list[dict[str, float]]],
           args: argparse.Namespace) -> bool:
    print(f"\n[{label}] median of {args.rounds} interleaved runs of {args.duration:g} s each, "
          f"wrk -t{args.threads} --latency")
    print(f"  {'endpoint':<37} {'conns':>5} {'req/s':>8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} "
          f"{'cpu us/req':>10} {'cpu busy':>8} {'sock err':>8}  runs req/s")
    names = {"bare": f"bare  GET {BARE_PATH}", "floor": f"floor GET {BARE_PATH}", "app": f"app   GET {APP_PATH}"}
    ok = True
    starved = False
    for connections in args.connections:
        for name in ("bare", "floor", "app"):
            rs = runs[(name, connections)]
            cpu, share = median(rs, "cpu_us"), median(rs, "cpu_share")
            errors = sum(int(r["socket_errors"]) for r in rs)
            if connections > 1:  # one connection leaves the worker idle between requests
                starved |= any(r.get("cpu_share", 1.0) < 0.8 for r in rs)
            print(f"  {names[name]:<37} {connections:>5} {median(rs, 'rps'):>8.0f} {median(rs, 'p50'):>8.2f} "
                  f"{median(rs, 'p90'):>8.2f} {median(rs, 'p99'):>8.2f} "
                  f"{cpu if cpu is not None else float('nan'):>10.0f} "
                  f"{share if share is not None else float('nan'):>8.0%} {errors:>8}  "
                  + ", ".join(f"{r['rps']:.0f}" for r in rs))
            ok &= errors == 0
    for connections in args.connections:
        b, a = runs[("bare", connections)], runs[("app", connections)]
        rps_ratio = median(a, "rps") / median(b, "rps")
        p99_ratio = median(a, "p99") / median(b, "p99")
        hit = rps_ratio >= RPS_TARGET and p99_ratio <= P99_TARGET
        ok &= hit
        cpu_b, cpu_a = median(b, "cpu_us"), median(a, "cpu_us")
        cpu_note = (f"; per worker CPU-second {cpu_b / cpu_a:.2f} (app {cpu_a:.0f} us vs bare "
                    f"{cpu_b:.0f} us of CPU per request)" if cpu_a and cpu_b else "")
        print(f"  c={connections:<3} app/bare req/s {rps_ratio:5.2f} (target >= {RPS_TARGET:.2f})   "
              f"app/bare p99 {p99_ratio:5.2f} (target <= {P99_TARGET:.1f})   "
              f"{'PASS' if hit else 'MISS'}{cpu_note}")
        f = runs[("floor", connections)]
        cpu_f = median(f, "cpu_us")
        print(f"        floor/bare req/s {median(f, 'rps') / median(b, 'rps'):5.2f}"
              + (f" (CPU per request {cpu_b / cpu_f:.2f})" if cpu_f and cpu_b else "")
              + f"   app/floor req/s "
              f"{median(a, 'rps') / median(f, 'rps'):5.2f}   (floor: the bare endpoint behind Flask-Limiter's "
              "default limit only; not a target)")
    if starved:
        print("  note: a saturated worker (2+ connections) got less than 80 % of a core in some runs "
              "(other load on this machine); the CPU-per-request figures are the steadier ones")
    return ok


# ------------------------------------------------------------------- driver
def redis_url_for_bench(args: argparse.Namespace) -> tuple[str | None, object | None, str]:
    """Return (url of the bench's own logical db, a client on it, note) or (None, None, why not)."""
    source = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    if args.no_redis:
        return None, None, "skipped (--no-redis)"
    try:
        import redis
    except ImportError:
        return None, None, "skipped (redis-py not installed)"
    parts = urllib.parse.urlsplit(source)
    url = urllib.parse.urlunsplit(parts._replace(path=f"/{args.redis_db}"))
    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
        size = client.dbsize()
    except redis.RedisError as exc:
        client.close()
        return None, None, f"skipped (Redis at {parts.hostname}:{parts.port or 6379} unreachable: {type(exc).__name__})"
    if size:
        client.close()
        return None, None, (f"skipped (Redis db {args.redis_db} holds {size} keys; the bench only uses an "
                            "empty db -- pick another with --redis-db)")
    return url, client, f"Redis {parts.hostname}:{parts.port or 6379} db {args.redis_db}"


def base_env(tmp: Path, args: argparse.Namespace) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("GUNICORN_CMD_ARGS", "FLASK_APP", "FLASK_DEBUG")}
    env.update({
        "TICKERDESK_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}",
        "REDIS_URL": "",  # empty, not unset: a .env cannot slip one in
        "MARKET_PROVIDERS": "demo",
        "DEMO_LATENCY_MS": "0",
        "DEMO_FAILURE_RATE": "0",
        "CACHE_TTL_QUOTE": "3600",
        "RATELIMIT_DEFAULT": RATELIMIT,
        "RATELIMIT_ENABLED": "true",
        "JWT_ACCESS_MINUTES": "120",
        "LOG_LEVEL": args.log_level,
        "WEB_CONCURRENCY": "1",
        "PYTHONUNBUFFERED": "1",
    })
    return env


def connection_counts(raw: str) -> list[int]:
    try:
        counts = sorted({int(x) for x in raw.split(",") if x.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of numbers: {raw!r}") from None
    if not counts or counts[0] < 1:
        raise argparse.ArgumentTypeError("connection counts must be >= 1")
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="runs per endpoint and connection count (default 3)")
    parser.add_argument("--connections", type=connection_counts, default=[1, 10, 50],
                        help="comma-separated wrk connection counts (default 1,10,50)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--log-level", default="INFO", type=str.upper,
                        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                        help="LOG_LEVEL of both servers (default INFO: the app's request log is on)")
    parser.add_argument("--redis-db", type=int, default=15, help="empty Redis db for the Redis run (default 15)")
    parser.add_argument("--no-redis", action="store_true", help="skip the run with REDIS_URL")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    args.duration = min(max(args.duration, 1.0), 120.0)
    args.rounds = min(max(args.rounds, 1), 15)
    args.threads = max(args.threads, 1)

    if shutil.which("wrk") is None:
        print("bench/api.py needs the load tool `wrk` on PATH (Debian/Ubuntu: apt-get install -y wrk); "
              "nothing was measured", file=sys.stderr)
        return 2
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0]

    def stop(signum: int, _frame: object) -> None:  # run the finally blocks: servers, temp files
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    tmp = Path(tempfile.mkdtemp(prefix="tdbench-api-"))
    redis_url, redis_client, redis_note = redis_url_for_bench(args)
    ok = True
    try:
        env = base_env(tmp, args)
        print(f"python {sys.version.split()[0]}, {wrk_version.strip() or 'wrk'}, {os.cpu_count()} CPUs, "
              f"load average {os.getloadavg()[0]:.2f}")
        print("servers: gunicorn -c gunicorn.conf.py -b 127.0.0.1:<port> --no-control-socket "
              "{wsgi:app | bench.bare_app:app | bench.floor_app:app} (gevent worker, 1 worker, same environment)")
        print(f"app env: TICKERDESK_ENV=production, SQLite in {tmp}, MARKET_PROVIDERS=demo, "
              f"LOG_LEVEL={args.log_level} for both servers"
              + (" (the app writes one JSON request-log line per request; the bare app logs nothing)"
                 if args.log_level in ("DEBUG", "INFO") else " (the app's request log is off)"))
        print(f"bench-only settings: CACHE_TTL_QUOTE=3600 (every measured request is a cache hit), "
              f"RATELIMIT_DEFAULT=\"{RATELIMIT}\" (the default 300/minute would measure 429s), "
              f"JWT_ACCESS_MINUTES=120")
        print(f"Redis run: {redis_note}")
        prepare_database(env)
        ok &= measure("memory cache, no REDIS_URL", env, tmp, args)
        if redis_url:
            ok &= measure(f"REDIS_URL=db {args.redis_db} (L1 in process + Redis)",
                          dict(env, REDIS_URL=redis_url), tmp, args)
    except BenchError as exc:
        print(f"\nbench/api.py: {exc}", file=sys.stderr)
        return 2
    finally:
        if redis_client is not None:
            try:
                names = list(redis_client.scan_iter(count=1000))
                if names:
                    redis_client.unlink(*names)
            finally:
                redis_client.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print("\nall targets met" if ok else "\nsome targets missed")
    return 1 if (args.check and not ok) else 0


if __name__ == "__main__":
    sys.exit(main())
