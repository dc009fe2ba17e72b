"""Real gunicorn + gevent web processes sharing the real Redis, and python-socketio clients.

Each `LiveServer` is `gunicorn -c gunicorn.conf.py wsgi:app` (the production command: the
gevent worker, one worker) on its own port, on a shared SQLite file, with the demo market
replaying a session at 0.2 s ticks so prices move at any hour. Servers of one test share a
Redis key prefix and Socket.IO channel of their own.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import socketio

from tests.conftest import PASSWORD, SECRET, TEST_REDIS_URL, delete_redis_keys, limiter_pattern

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _free_port() -> int:
    import socket as pysocket

    with pysocket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(db_path: Path, shared: dict[str, str], env: dict[str, str]) -> dict[str, str]:
    """The environment of a test's gunicorn (and Celery worker) processes: demo market, fast ticks."""
    full_env = {k: v for k, v in os.environ.items()
                if k not in ("GUNICORN_CMD_ARGS", "FLASK_APP", "REDIS_URL", "DATABASE_URL")}
    full_env.update({
        "TICKERDESK_ENV": "development", "SECRET_KEY": SECRET, "DATABASE_URL": f"sqlite:///{db_path}",
        "MARKET_PROVIDERS": "demo", "DEMO_ALWAYS_OPEN": "true",
        "DEMO_TICK_S": "0.2", "LIVE_TICK_OPEN_S": "0.3", "LIVE_LOCK_TTL_S": "2", "LOG_LEVEL": "INFO",
        "WEB_CONCURRENCY": "1", "PYTHONUNBUFFERED": "1", "RATELIMIT_REGISTER": "1000 per minute",
        "RATELIMIT_LOGIN": "1000 per minute", "RATELIMIT_LOGIN_ACCOUNT": "1000 per minute",
        "RATELIMIT_DEFAULT": "100000 per minute",
        # A stock page queues its index's forecast training: six years of history keep that job short.
        "FORECAST_DIR": str(db_path.parent / "models"), "FORECAST_YEARS": "6", **shared, **env})
    if TEST_REDIS_URL and "REDIS_URL" not in full_env:  # without one: in-process cache and limits
        full_env["REDIS_URL"] = TEST_REDIS_URL
    return full_env


class LiveServer:
    """One gunicorn process group serving the app."""

    def __init__(self, db_path: Path, log_dir: Path, shared: dict[str, str], **env: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"gunicorn-{self.port}.log"
        full_env = server_env(db_path, shared, env)
        self._log = open(self.log_path, "wb")
        gunicorn = Path(sys.executable).with_name("gunicorn")
        self.proc = subprocess.Popen(
            [str(gunicorn), "-c", "gunicorn.conf.py", "-b", f"127.0.0.1:{self.port}", "--no-control-socket",
             "--graceful-timeout", "3", "wsgi:app"],
            cwd=str(ROOT), env=full_env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_ready()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"gunicorn exited with {self.proc.returncode}:\n{self.log()[-4000:]}")
            try:
                if requests.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise AssertionError(f"gunicorn did not answer in {timeout} s:\n{self.log()[-4000:]}")

    def holds_lock(self) -> bool:
        return "live_streamer_lock_taken" in self.log()

    def kill(self) -> None:
        """SIGKILL the whole process group: no clean-up, as when a machine dies."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        self._log.close()


class Cluster:
    """Servers of one test, on one database and one Redis namespace."""

    def __init__(self, db_path: Path, log_dir: Path) -> None:
        tag = uuid.uuid4().hex[:8]
        self.shared = {"LIVE_REDIS_PREFIX": f"tdtest:{tag}:live:", "LIVE_CHANNEL": f"tdtest-{tag}",
                       "RATELIMIT_KEY_PREFIX": f"tdtest{tag}", "AUTH_REDIS_PREFIX": f"tdtest:{tag}:",
                       "CACHE_KEY_PREFIX": f"tdtest:{tag}:", "JOBS_KEY_PREFIX": f"tdtest:{tag}:jobs:",
                       "JOBS_DIR": str(log_dir / "jobs")}
        self.db_path, self.log_dir = db_path, log_dir
        self.servers: list[LiveServer] = []
        self.workers: list[Any] = []

    def start(self, **env: str) -> LiveServer:
        server = LiveServer(self.db_path, self.log_dir, self.shared, **env)
        self.servers.append(server)
        return server

    def start_worker(self, research: bool = True, **env: str) -> Any:
        """Start the Celery worker next to the servers, as `make run` does (it computes scores, performance);
        without `research` it leaves the research queue (forecast training, backtests) alone."""
        from tests.jobs.conftest import Worker

        queues = [] if research else ["-Q", "celery"]
        worker = Worker(["--pool", "threads", "--concurrency", "2", "--loglevel", "INFO", *queues],
                        server_env(self.db_path, self.shared, {"JOBS_SCHEDULE": "heartbeat", **env}),
                        self.log_dir / f"worker-{len(self.workers)}.log")
        self.workers.append(worker)
        return worker

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        for server in self.servers:
            server.stop()
        delete_redis_keys(f"{self.shared['AUTH_REDIS_PREFIX']}*",  # live, cache, auth
                          limiter_pattern(self.shared["RATELIMIT_KEY_PREFIX"]))


@pytest.fixture
def cluster(sqlite_template: Path, tmp_path: Path) -> Iterator[Cluster]:
    if not TEST_REDIS_URL:
        pytest.skip("TEST_REDIS_URL not set: the live tests need the real Redis (CI sets it)")
    db_path = tmp_path / "live.db"
    shutil.copy(sqlite_template, db_path)
    c = Cluster(db_path, tmp_path)
    yield c
    c.close()


def api_user(server: LiveServer) -> dict[str, Any]:
    """Register and log in a new user over HTTP; return its email, id, token and headers."""
    email = f"live-{uuid.uuid4().hex[:8]}@example.com"
    created = requests.post(f"{server.url}/api/v1/auth/register", json={"email": email, "password": PASSWORD},
                            timeout=10)
    assert created.status_code == 201, created.text
    tokens = requests.post(f"{server.url}/api/v1/auth/login", json={"email": email, "password": PASSWORD},
                           timeout=10).json()
    return {"email": email, "id": created.json()["id"], "token": tokens["access_token"],
            "headers": {"Authorization": f"Bearer {tokens['access_token']}"}}


class Listener:
    """A python-socketio client over the websocket transport that records what /live sends it."""

    def __init__(self) -> None:
        self.client = socketio.Client(reconnection=False)
        self.events: list[tuple[float, str, Any]] = []
        self._lock = threading.Lock()
        for name in ("quote", "portfolio", "alert", "market_status", "error", "connect_error"):
            self.client.on(name, self._recorder(name), namespace="/live")

    def _recorder(self, name: str):
        def record(data: Any = None) -> None:
            with self._lock:
                self.events.append((time.monotonic(), name, data))
        return record

    def connect(self, server: LiveServer, *, token: str | None = None, headers: dict[str, str] | None = None,
                auth: Any = None) -> "Listener":
        self.client.connect(server.url, namespaces=["/live"], transports=["websocket"],
                            auth=auth if auth is not None else ({"token": token} if token else None),
                            headers=headers or {}, wait_timeout=10)
        return self

    def call(self, event: str, data: Any) -> Any:
        return self.client.call(event, data, namespace="/live", timeout=10)

    def of(self, name: str, since: float = 0.0) -> list[Any]:
        with self._lock:
            return [data for at, kind, data in self.events if kind == name and at >= since]

    def wait_for(self, name: str, timeout: float, since: float = 0.0, where=lambda _d: True) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [d for d in self.of(name, since) if where(d)]
            if found:
                return found[0]
            time.sleep(0.05)
        raise AssertionError(f"no {name!r} event within {timeout} s; got {[e[1] for e in self.events][-20:]}")

    def close(self) -> None:
        if self.client.connected:
            self.client.disconnect()


@pytest.fixture
def listeners() -> Iterator[list[Listener]]:
    made: list[Listener] = []
    yield made
    for listener in made:
        listener.close()


def page_cookie(server: LiveServer, email: str) -> str:
    """Log in through the form; return the session cookie header a browser would send."""
    session = requests.Session()
    page = session.get(f"{server.url}/login", timeout=10).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or \
        re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token, page[:500]
    response = session.post(f"{server.url}/login", data={"email": email, "password": PASSWORD,
                                                          "csrf_token": token.group(1)},
                            allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text[:500]
    return "; ".join(f"{c.name}={c.value}" for c in session.cookies)
