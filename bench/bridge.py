"""Benchmark the app.aio bridge under gunicorn + gevent (1 worker).

    /work/main/.venv/bin/python bench/bridge.py [--duration 3] [--rounds 2] [--connections 50]

Starts ``gunicorn -k gevent -w 1`` on 127.0.0.1 serving this module's ``app``:
``/bare`` (a plain JSON view) and ``/bridged`` (an ``@async_route`` view that
awaits ``asyncio.sleep(0)`` on the bridge loop), then drives each with the
same load generator in a separate process for a few seconds at the same
connection count -- ``wrk`` if it is on PATH, else a minimal asyncio
HTTP/1.1 keep-alive client (``--loadgen`` mode of this file) -- and prints
requests/s for both, the ratio, and (Linux) the worker's CPU time per request,
which stays meaningful when other processes compete for the CPUs.  Bare and
bridged runs alternate; the best run of each is compared.  Only 127.0.0.1 is
ever targeted; the whole run takes about ``2 * rounds * duration + 5`` s.
"""
from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent


# ----------------------------------------------------------------- the app
def _load_aio() -> types.ModuleType:
    """Import app.aio without the app factory (and even while app/__init__.py is broken)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    try:
        return importlib.import_module("app.aio")
    except Exception:
        if "app" in sys.modules:
            raise
        stub = types.ModuleType("app")
        stub.__path__ = [str(ROOT / "app")]  # type: ignore[attr-defined]
        sys.modules["app"] = stub
        return importlib.import_module("app.aio")


def _make_app():  # type: ignore[no-untyped-def]
    from flask import Flask

    aio = _load_aio()
    flask_app = Flask("bench_bridge")

    @flask_app.get("/bare")
    def bare():  # type: ignore[no-untyped-def]
        return {"ok": True}

    @flask_app.get("/bridged")
    @aio.async_route
    async def bridged():  # type: ignore[no-untyped-def]
        await asyncio.sleep(0)
        return {"ok": True}

    @flask_app.get("/mode")
    def mode():  # type: ignore[no-untyped-def]
        return {"mode": aio.current_mode(), "pid": os.getpid()}

    return flask_app


def __getattr__(name: str):  # type: ignore[no-untyped-def]
    """``bridge:app`` for gunicorn, built on first access (importing this file stays cheap)."""
    if name == "app":
        globals()["app"] = flask_app = _make_app()
        return flask_app
    raise AttributeError(name)


# ----------------------------------------------------------- load generator
# A minimal HTTP/1.1 keep-alive client on asyncio protocols: one request in
# flight per connection, no pipelining.  It costs a fraction of what an
# aiohttp client does per request, so the single-worker server (not the load
# generator) is what gets measured.
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)


class _Connection(asyncio.Protocol):
    def __init__(self, request: bytes, deadline: float, stats: dict[str, int],
                 lost: asyncio.Future[None]) -> None:
        self.request, self.deadline, self.stats, self.lost = request, deadline, stats, lost
        self.buf = b""
        self.need: int | None = None
        self.status = 0
        self.closing = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._send()

    def _send(self) -> None:
        assert self.transport is not None
        if time.perf_counter() >= self.deadline:
            self.transport.close()
        else:
            self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            if self.need is None:
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                head, self.buf = self.buf[:end], self.buf[end + 4:]
                self.status = int(head[9:12])
                match = _CONTENT_LENGTH.search(head)
                self.need = int(match.group(1)) if match else 0
                self.closing = b"connection: close" in head.lower()
            if len(self.buf) < self.need:
                return
            self.buf, self.need = self.buf[self.need:], None
            self.stats["ok" if self.status == 200 else "errors"] += 1
            if self.closing:
                assert self.transport is not None
                self.transport.close()
                return
            self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.need is not None or self.buf:
            self.stats["errors"] += 1
        if not self.lost.done():
            self.lost.set_result(None)


async def _loadgen(url: str, connections: int, duration: float) -> dict[str, float]:
    host_port, _, path = url[len("http://"):].partition("/")
    host, _, port = host_port.partition(":")
    request = f"GET /{path} HTTP/1.1\r\nHost: {host_port}\r\nUser-Agent: bench\r\n\r\n".encode()
    loop = asyncio.get_running_loop()
    stats = {"ok": 0, "errors": 0}
    deadline = time.perf_counter() + duration

    async def connection() -> None:
        while time.perf_counter() < deadline:
            lost: asyncio.Future[None] = loop.create_future()
            try:
                await loop.create_connection(
                    lambda: _Connection(request, deadline, stats, lost), host, int(port))
            except OSError:
                stats["errors"] += 1
                await asyncio.sleep(0.01)
                continue
            await lost

    t0 = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(connections)))
    elapsed = time.perf_counter() - t0
    return {"ok": stats["ok"], "errors": stats["errors"], "seconds": elapsed,
            "rps": stats["ok"] / elapsed}


def _run_loadgen(url: str, connections: int, duration: float) -> dict[str, float]:
    wrk = shutil.which("wrk")
    if wrk:
        out = subprocess.run(
            [wrk, "-t", "1", "-c", str(connections), "-d", f"{max(1, round(duration))}s", url],
            capture_output=True, text=True, timeout=duration + 30, check=True).stdout
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
        errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        return {"rps": rps, "errors": int(errors.group(1)) if errors else 0, "tool": "wrk"}
    out = subprocess.run(
        [sys.executable, __file__, "--loadgen", url, "--connections", str(connections),
         "--duration", str(duration)],
        capture_output=True, text=True, timeout=duration + 60, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    result["tool"] = "python asyncio HTTP/1.1 keep-alive client"
    return result


# ------------------------------------------------------------------- driver
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _gunicorn() -> list[str]:
    exe = Path(sys.executable).with_name("gunicorn")
    if not exe.exists():
        exe = ROOT / ".venv" / "bin" / "gunicorn"
    return [str(exe)]


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("gunicorn did not become ready")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per run (default 3)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="alternating bare/bridged runs per case; the best is reported (default 2)")
    parser.add_argument("--connections", type=int, default=50, help="concurrent connections (default 50)")
    parser.add_argument("--loadgen", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.duration = min(max(args.duration, 0.5), 30.0)
    args.rounds = min(max(args.rounds, 1), 5)

    if args.loadgen:
        if not args.loadgen.startswith("http://127.0.0.1:"):
            raise SystemExit("the load generator only targets 127.0.0.1")
        print(json.dumps(asyncio.run(_loadgen(args.loadgen, args.connections, args.duration))))
        return

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k != "GUNICORN_CMD_ARGS"}
    with tempfile.TemporaryDirectory() as tmp:
        # an empty config file: never pick up the project's ./gunicorn.conf.py
        conf = Path(tmp) / "bench_gunicorn_conf.py"
        conf.write_text("")
        cmd = _gunicorn() + ["-k", "gevent", "-w", "1", "-b", f"127.0.0.1:{port}",
                             "--config", str(conf), "--chdir", str(HERE),
                             "--no-control-socket", "--log-level", "warning",
                             "--worker-connections", str(max(1000, args.connections * 2)),
                             "bridge:app"]
        proc = subprocess.Popen(cmd, env=env, cwd=str(HERE), start_new_session=True)
        try:
            _bench(base, proc, args)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(5)


def _cpu_seconds(pid: int) -> float | None:
    """User+system CPU time of *pid* (Linux /proc), None elsewhere."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _bench(base: str, proc: subprocess.Popen[bytes], args: argparse.Namespace) -> None:
    import urllib.request

    _wait_ready(f"{base}/bare", proc)
    with urllib.request.urlopen(f"{base}/mode", timeout=5) as resp:
        info = json.load(resp)
    mode, worker_pid = info["mode"], info["pid"]
    for path in ("/bare", "/bridged"):   # warm-up (creates the bridge loop)
        _run_loadgen(f"{base}{path}", args.connections, 0.5)

    runs: dict[str, list[dict[str, float]]] = {"/bare": [], "/bridged": []}
    for _ in range(args.rounds):
        for path in runs:
            cpu0 = _cpu_seconds(worker_pid)
            result = _run_loadgen(f"{base}{path}", args.connections, args.duration)
            cpu1 = _cpu_seconds(worker_pid)
            if cpu0 is not None and cpu1 is not None and result["ok"]:
                result["cpu_us"] = (cpu1 - cpu0) / result["ok"] * 1e6
                result["cpu_share"] = (cpu1 - cpu0) / result["seconds"]
            runs[path].append(result)

    tool = runs["/bare"][0]["tool"]
    print(f"gunicorn -k gevent -w 1, bridge mode={mode}, {args.connections} connections, "
          f"{args.rounds} x {args.duration:g} s per case (alternating), load generator: {tool}")
    best, cpu = {}, {}
    for path, results in runs.items():
        rates = [r["rps"] for r in results]
        errors = sum(int(r["errors"]) for r in results)
        best[path] = max(rates)
        line = (f"  {path:<9} {best[path]:6.0f} req/s best, {statistics.median(rates):6.0f} median "
                f"(runs: {', '.join(f'{x:.0f}' for x in rates)}; errors {errors})")
        if all("cpu_us" in r for r in results):
            cpu[path] = statistics.median(r["cpu_us"] for r in results)
            share = statistics.median(r["cpu_share"] for r in results)
            line += f"; worker CPU {cpu[path]:.0f} us/req, {share:.0%} of a core busy"
        print(line)
    print(f"  bridged/bare ratio: {best['/bridged'] / best['/bare']:.2f} (best req/s)", end="")
    if len(cpu) == 2:
        print(f", {cpu['/bare'] / cpu['/bridged']:.2f} (req per worker CPU-second; "
              f"the bridge adds {cpu['/bridged'] - cpu['/bare']:.0f} us of CPU per request)")
    else:
        print()
    if any(r.get("cpu_share", 1.0) < 0.8 for results in runs.values() for r in results):
        print("  note: the worker got less than 80 % of a core in some runs (other load on this "
              "machine); the per-CPU figures are the steadier ones")


if __name__ == "__main__":
    main()
