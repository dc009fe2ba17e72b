"""Processes and receivers of bench/pipeline.py: the stub, the Celery worker, SMTP and webhook receivers,
the Redis key cleanup and a throwaway PostgreSQL database."""
from __future__ import annotations

import email
import json
import os
import signal
import subprocess
import sys
import threading
import time
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bench.servers import BenchError, free_port, stop_group, tail, tool  # noqa: F401 - stop_group re-exported

ROOT = Path(__file__).resolve().parents[1]


def start_stub(log: Path) -> tuple[subprocess.Popen, str]:
    """Start bench/pipeline_stub.py in its own process group; return it and its base URL."""
    proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "pipeline_stub.py"), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=open(log, "wb"), text=True, start_new_session=True)
    line = proc.stdout.readline()
    if not line:
        raise BenchError("the provider stub did not start\n" + tail(log))
    return proc, f"http://127.0.0.1:{json.loads(line)['port']}"


class Worker:
    """`celery -A wsgi:celery worker ...` in its own process group, its JSON log in a file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen([tool("celery"), "-A", "wsgi:celery", "worker", *args], cwd=ROOT, env=env,
                                         stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)

    def rounds(self) -> list[dict]:
        """The `jobs_quotes_done` records logged so far."""
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            if "jobs_quotes_done" in line and line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue
        return out

    def wait_rounds(self, n: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.rounds()) < n:
            if self.proc.poll() is not None:
                raise BenchError(f"the worker exited with {self.proc.returncode}\n" + tail(self.log, 30))
            if time.monotonic() > deadline:
                raise BenchError(f"no quote round finished within {timeout:.0f} s\n" + tail(self.log, 30))
            time.sleep(0.2)

    def stop(self) -> None:
        # A warm shutdown waits for the running task (a quote round); a moment, then the group is killed.
        stop_group(self.proc, grace_s=3.0)


class Receivers:
    """A real SMTP server (aiosmtpd) and a webhook receiver on 127.0.0.1, recording what arrives and when."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self._lock = threading.Lock()
        self._got: list[tuple[str, str, float]] = []  # (channel, symbol, arrival time)
        receivers = self

        class Inbox:
            async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's hook
                at = time.time()
                subject = email.message_from_bytes(envelope.content, policy=policy.default)["Subject"] or ""
                parts = subject.split()  # "Tickerdesk alert: SYM above 1.0 fired at 2.0"
                receivers._record("email", parts[2] if len(parts) > 2 else "?", at)
                return "250 OK"

        class Hook(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's hook
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                at = time.time()
                try:
                    symbol = json.loads(body)["alert"]["symbol"]
                except (ValueError, KeyError, TypeError):
                    symbol = "?"
                receivers._record("webhook", symbol, at)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.smtp_port = free_port()
        self._smtp = Controller(Inbox(), hostname="127.0.0.1", port=self.smtp_port)
        self._smtp.start()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
        self.webhook_url = f"http://127.0.0.1:{self._http.server_address[1]}/hook"
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)
        self._thread.start()

    def _record(self, channel: str, symbol: str, at: float) -> None:
        with self._lock:
            self._got.append((channel, symbol, at))

    def reset(self) -> None:
        with self._lock:
            self._got.clear()

    def arrivals(self, wanted: dict[str, float]) -> dict[str, float]:
        """First arrival time per wanted symbol (one that arrived after its flip)."""
        with self._lock:
            got = list(self._got)
        out: dict[str, float] = {}
        for _channel, symbol, at in got:
            if symbol in wanted and at >= wanted[symbol] and symbol not in out:
                out[symbol] = at
        return out

    def stop(self) -> None:
        self._smtp.stop()
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=5)


def redis_cleanup(url: str, token: str) -> int | None:
    """Delete every key whose name contains `token`; return how many are left (None: Redis unreachable)."""
    try:
        import redis
    except ImportError:
        return None
    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
    try:
        names = list(client.scan_iter(match=f"*{token}*", count=1000))
        for start in range(0, len(names), 500):
            client.unlink(*names[start:start + 500])
        return sum(1 for _ in client.scan_iter(match=f"*{token}*", count=1000))
    except redis.RedisError:
        return None
    finally:
        client.close()


def make_postgres(admin_url: str, name: str) -> str:
    """Create database `name` on the server of admin_url; return its URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = make_url(admin_url.replace("postgresql://", "postgresql+psycopg://", 1))
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return admin.set(database=name).render_as_string(hide_password=False)


def drop_postgres(admin_url: str, url: str) -> None:
    """Drop the bench's database (its connections are ended first)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    engine = create_engine(make_url(admin_url.replace("postgresql://", "postgresql+psycopg://", 1)),
                           isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()
