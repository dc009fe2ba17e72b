"""Benchmark live updates: up to 10,000 Socket.IO connections on gunicorn gevent workers sharing Redis.

    /work/main/.venv/bin/python bench/live.py [--connections 1000,5000,10000] [--workers 2]
        [--duration 20] [--servers app|bare|app,bare] [--client-procs N] [--client-lib proto|aiohttp] [--check]

For each connection count, serves ``wsgi:app`` (Tickerdesk: demo market, streamer in a web
process, one tick per TICK_S = 1 s) or ``bench.bare_live:app`` (a Flask-SocketIO server that
only emits a quote per tick) with ``gunicorn -c gunicorn.conf.py`` and WEB_CONCURRENCY=--workers
gevent workers that share the Socket.IO message queue in Redis (REDIS_URL). Every Redis key
and channel of the run carries a unique tag (tdbench-live-<hex>); at the end the keys holding
it are deleted and SCAN counts what is left (must be 0).

The clients run in several processes (bench/live_client.py, one per 2,500 connections, at
least 2), each many asyncio connections that speak Engine.IO 4 / Socket.IO 5 themselves,
subscribed to the symbol pick_symbol() chooses, with the bench user's bearer token (one user
holds every connection, so LIVE_MAX_PER_USER is lifted). Latency is client arrival time minus
the server's ``sent_at`` (time.time() on the same host). Once all are connected it measures
--duration seconds and prints per run: connections requested/established, web workers,
messages expected/received, latency p50/p95/p99/max, CPU seconds of the server processes
(master and workers), of the client processes and of the rest of the machine, and PASS/FAIL
against the target (every message delivered, p99 <= 100 ms). Clients and servers share this
machine's CPUs, as do whatever else runs on it (the load average is printed): the arrival
time includes the client process's own queueing.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.live_client import raise_nofile  # noqa: E402
from bench.servers import Server, cpu_seconds, tool  # noqa: E402
SYMBOL = "3436.T"  # replaced by pick_symbol(): the symbol whose demo price moves at most ticks now
P99_MS = 100.0
TICK_S = 1.0
CONNS_PER_CLIENT_PROC = 2500
REDIS_URL = "redis://127.0.0.1:6379/0"
REDIS_PID: int | None = None


def _post(url: str, body: dict) -> dict:
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as response:
        return json.loads(response.read())


# ---------------------------------------------------------------- the driver
def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def server_pids(server: Server) -> list[int]:
    """gunicorn's master and its workers."""
    return [] if server.proc is None else [server.proc.pid, *_children(server.proc.pid)]


def sockets_of(pid: int) -> int:
    """How many sockets pid holds open (a worker's websocket connections, give or take a few)."""
    try:
        return sum(os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:") for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def machine_cpu_s() -> float:
    """Busy CPU seconds of the whole machine so far (every process, ours and others')."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def _cpu(pids) -> float:
    return sum(cpu_seconds(p) or 0.0 for p in pids)


def measure(server: Server, n: int, token: str | None, duration: float, procs: int, lib: str) -> dict:
    """Connect n clients from `procs` processes, then measure one window of `duration` seconds."""
    procs = max(1, min(procs, n))
    shares = [n // procs + (i < n % procs) for i in range(procs)]
    clients = []
    for share in shares:
        cmd = [sys.executable, str(ROOT / "bench" / "live_client.py"), server.base, str(share), SYMBOL,
               "--lib", lib, "--gate", str(max(4, 64 // procs))]
        if token:
            cmd += ["--token", token]
        clients.append(subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
    connect_s = 0.0
    for proc in clients:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("a client process failed")
        connect_s = max(connect_s, json.loads(line)["connect_s"])
    time.sleep(2.0)  # let the last connections settle
    workers = _children(server.proc.pid) if server.proc else []
    per_worker = [sockets_of(w) for w in workers]
    pids, cpids = server_pids(server), [p.pid for p in clients]
    s0, c0, r0, m0 = _cpu(pids), _cpu(cpids), _cpu([REDIS_PID] if REDIS_PID else []), machine_cpu_s()
    load = os.getloadavg()
    start, t0 = time.time(), time.monotonic()
    time.sleep(duration)
    end, elapsed = time.time(), time.monotonic() - t0
    s1, c1, r1, m1 = _cpu(pids), _cpu(cpids), _cpu([REDIS_PID] if REDIS_PID else []), machine_cpu_s()
    time.sleep(2.0)  # let the window's last ticks arrive
    results = []
    for proc in clients:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps({"start": start, "end": end}) + "\n")
        proc.stdin.flush()
    for proc in clients:
        line = proc.stdout.readline()
        proc.wait()
        if not line:
            raise RuntimeError("a client process failed")
        results.append(json.loads(line))
    sent = sorted({s for r in results for s in r["sent"]})
    lat = sorted(x for r in results for x in r["latency_ms"]) or [float("nan")]
    connected = sum(r["connected"] for r in results)

    def pct(q: float) -> float:
        return lat[min(len(lat) - 1, int(len(lat) * q))]

    return {"connected": connected, "failed": sum(r["failed"] for r in results),
            "errors": sorted({e for r in results for e in r["errors"]})[:3], "ticks": len(sent),
            "delivered": sum(r["delivered"] for r in results), "expected": connected * len(sent),
            "p50": statistics.median(lat), "p95": pct(0.95), "p99": pct(0.99), "max": lat[-1],
            "elapsed": elapsed, "server_cpu_s": s1 - s0, "client_cpu_s": c1 - c0, "redis_cpu_s": r1 - r0,
            "machine_cpu_s": m1 - m0, "load": load, "per_worker": per_worker, "connect_s": connect_s,
            "client_procs": procs}


def pick_symbol() -> str:
    """Return the yen-priced stock whose demo price changes at the most TICK_S ticks right now.

    The demo market's price is rounded to cents and clamped to the day's range, so a euro
    price, or one at its day's high, can stand still for many ticks; the streamer only emits
    changes, and the benchmark needs a tick every TICK_S.
    """
    from datetime import datetime, timedelta, timezone

    from app.market.providers.demo import DemoProvider
    from app.universe import load_universe

    candidates = [r.symbol for r in load_universe() if r.symbol.endswith(".T")][:40]
    now = datetime.now(timezone.utc) + timedelta(seconds=5)
    best, best_moves = candidates[0], -1
    for symbol in candidates:
        prices = [asyncio.run(DemoProvider({"DEMO_TICK_S": TICK_S, "DEMO_ALWAYS_OPEN": True},
                                           now=now + timedelta(seconds=TICK_S * k)).quotes([symbol]))[symbol].price
                  for k in range(40)]
        moves = sum(a != b for a, b in zip(prices, prices[1:]))
        if moves > best_moves:
            best, best_moves = symbol, moves
    return best


def redis_cleanup(tag: str) -> int:
    """Delete every key whose name holds `tag` (SCAN), then return how many SCAN still finds."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    try:
        keys = list(client.scan_iter(match=f"*{tag}*", count=1000))
        if keys:
            client.delete(*keys)
        return sum(1 for _ in client.scan_iter(match=f"*{tag}*", count=1000))
    finally:
        client.close()


def report(name: str, n: int, workers: int, r: dict) -> bool:
    """Print one run; return whether it met the target."""
    el = r["elapsed"]
    all_in = r["connected"] == n and r["delivered"] == r["expected"] and r["ticks"] > 0
    ok = all_in and r["p99"] <= P99_MS
    other = max(0.0, r["machine_cpu_s"] - r["server_cpu_s"] - r["client_cpu_s"] - r["redis_cpu_s"])
    ratio = r["client_cpu_s"] / r["server_cpu_s"] if r["server_cpu_s"] else float("nan")
    print(f"  [{name}] connections requested {n}, established {r['connected']} (failed {r['failed']}; "
          f"connect phase {r['connect_s']:.1f} s); web workers {workers}, sockets per worker {r['per_worker']}; "
          f"client processes {r['client_procs']}", flush=True)
    if r["failed"]:
        print(f"        e.g. {r['errors']}")
    print(f"        messages expected {r['expected']} ({r['connected']} x {r['ticks']} ticks in {el:.1f} s), "
          f"received {r['delivered']}: every message delivered: {'yes' if all_in else 'NO'}")
    print(f"        latency ms  p50 {r['p50']:.1f}  p95 {r['p95']:.1f}  p99 {r['p99']:.1f}  max {r['max']:.1f}")
    print(f"        CPU over the window (s, % of one core): servers {r['server_cpu_s']:.1f} "
          f"({r['server_cpu_s'] / el * 100:.0f} %), clients {r['client_cpu_s']:.1f} "
          f"({r['client_cpu_s'] / el * 100:.0f} %), redis-server {r['redis_cpu_s']:.1f} (shared), "
          f"everything else on the machine {other:.1f} ({other / el * 100:.0f} %); machine busy "
          f"{r['machine_cpu_s'] / el * 100:.0f} % of {os.cpu_count() * 100} %; client/server CPU {ratio:.2f}; "
          f"load average at start {r['load'][0]:.2f}")
    print(f"        {'PASS' if ok else 'FAIL'} (target: all delivered, p99 <= {P99_MS:.0f} ms)", flush=True)
    return ok


def main() -> int:
    global SYMBOL, REDIS_PID
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", default="1000,5000,10000",
                        help="comma-separated connection counts, run in turn (default %(default)s)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn gevent workers (WEB_CONCURRENCY)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds measured per run")
    parser.add_argument("--servers", default="app", help="app, bare or app,bare (bare: bench/bare_live.py)")
    parser.add_argument("--client-procs", type=int, default=0,
                        help=f"client processes (default: one per {CONNS_PER_CLIENT_PROC} connections, at least 2)")
    parser.add_argument("--client-lib", choices=("proto", "aiohttp"), default="proto")
    parser.add_argument("--check", action="store_true", help="exit 1 when a run fails the target")
    args = parser.parse_args()
    raise_nofile()  # inherited by gunicorn and the client processes (which raise it again)
    import redis

    REDIS_PID = int(redis.Redis.from_url(REDIS_URL).info("server")["process_id"])
    tag = "tdbench-live-" + secrets.token_hex(4)
    tmp = Path(tempfile.mkdtemp(prefix="tdbench-live-"))
    counts = [int(x) for x in args.connections.split(",")]
    most = max(counts)
    env = {k: v for k, v in os.environ.items() if k not in ("GUNICORN_CMD_ARGS", "FLASK_APP")}
    env.update({"TICKERDESK_ENV": "production", "SECRET_KEY": secrets.token_urlsafe(48),
                "DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}", "REDIS_URL": REDIS_URL,
                "LIVE_REDIS_PREFIX": f"{tag}:live:", "LIVE_CHANNEL": f"{tag}-live",
                "RATELIMIT_KEY_PREFIX": tag, "AUTH_REDIS_PREFIX": f"{tag}:", "CACHE_KEY_PREFIX": f"{tag}:",
                "JOBS_KEY_PREFIX": f"{tag}:jobs:", "BUDGET_KEY_PREFIX": f"{tag}:budget",
                "BENCH_REDIS_URL": REDIS_URL, "BENCH_PREFIX": f"{tag}:bare:", "BENCH_CHANNEL": f"{tag}-bare",
                "MARKET_PROVIDERS": "demo", "DEMO_ALWAYS_OPEN": "true", "DEMO_TICK_S": str(TICK_S),
                "LIVE_TICK_OPEN_S": str(TICK_S), "BENCH_TICK_S": str(TICK_S),
                # one bench user holds every connection: lift the per-user and per-process caps
                "LIVE_MAX_CONNECTIONS": str(most + 1000), "LIVE_MAX_PER_USER": str(most + 1000),
                "RATELIMIT_DEFAULT": "1000000 per minute", "JWT_ACCESS_MINUTES": "120", "LOG_LEVEL": "WARNING",
                "WEB_CONCURRENCY": str(args.workers), "WORKER_CONNECTIONS": str(most + 1000)})
    ok_all, left = True, -1
    try:
        flask = [tool("flask"), "--app", "wsgi"]
        subprocess.run(flask + ["db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
        subprocess.run(flask + ["universe", "seed"], cwd=ROOT, env=env, check=True, capture_output=True)
        SYMBOL = pick_symbol()
        env["BENCH_SYMBOL"] = SYMBOL
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, RLIMIT_NOFILE "
              f"{resource.getrlimit(resource.RLIMIT_NOFILE)[0]}; {args.workers} gunicorn gevent worker(s) sharing "
              f"Redis {REDIS_URL} (channel/prefix {tag}); clients: {args.client_lib}; one tick per {TICK_S:.0f} s, "
              f"symbol {SYMBOL}; {args.duration:.0f} s measured per run; load average {os.getloadavg()[0]:.2f}",
              flush=True)
        for n in counts:
            procs = args.client_procs or max(2, -(-n // CONNS_PER_CLIENT_PROC))
            for name in args.servers.split(","):
                target = "bench.bare_live:app" if name == "bare" else "wsgi:app"
                server = Server(name, target, env=env, log=tmp / f"{name}-{n}.log")
                try:
                    server.start()
                    server.wait_ready(probe="/health")
                    token = None
                    if name == "app":
                        creds = {"email": f"bench{n}@example.com", "password": "bench-password-123"}
                        _post(f"{server.base}/api/v1/auth/register", creds)
                        token = _post(f"{server.base}/api/v1/auth/login", creds)["access_token"]
                    r = measure(server, n, token, args.duration, procs, args.client_lib)
                finally:
                    server.stop()
                ok_all = report(name, n, args.workers, r) and ok_all
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        left = redis_cleanup(tag)
        print(f"redis: deleted the keys of {tag}; SCAN '*{tag}*' finds {left} left")
    print("overall: " + ("PASS" if ok_all else "FAIL"))
    return 1 if args.check and not (ok_all and left == 0) else 0


if __name__ == "__main__":
    sys.exit(main())
