"""Fault tests against real processes: gunicorn (gevent worker) serving the app, and private
redis-server / PostgreSQL / provider-stub processes that the tests stop and start again.

Nothing here touches the machine's shared Redis (6379) or PostgreSQL (5432): each test runs
its own on a free port. The app server is `LiveServer` of tests/live/conftest.py (the
production command: `gunicorn -c gunicorn.conf.py wsgi:app`).

Missing binaries (redis-server, PostgreSQL's initdb/pg_ctl) skip with a reason, except when
CI == "true", where they fail loudly.
"""
from __future__ import annotations

import base64
import glob
import json
import os
import random
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from tests.conftest import PASSWORD, create_database, make_config, base_env, migrate_and_seed
from tests.live.conftest import Listener, LiveServer, listeners  # noqa: F401 - the fixture, shared

CI = os.environ.get("CI") == "true"


def require(condition: bool, reason: str) -> None:
    """Skip the test when `condition` is false; in CI fail loudly instead."""
    if condition:
        return
    if CI:
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- a private redis-server ------------------------------------------------------------------


class RedisProcess:
    """A throw-away redis-server on a fixed port (no persistence), killed and restarted at will."""

    def __init__(self, workdir: Path) -> None:
        self.binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2, socket_connect_timeout=2)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir), "--logfile", str(self.workdir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        probe = self.client()
        try:
            while True:
                try:
                    probe.ping()
                    return
                except redis.ConnectionError:
                    assert self.proc.poll() is None, (self.workdir / "redis.log").read_text()
                    assert time.monotonic() < deadline, "redis-server did not start in 10 s"
                    time.sleep(0.02)
        finally:
            probe.close()

    def kill(self) -> None:
        """SIGKILL: the data set is gone, every connection drops at once."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def redis_proc() -> Iterator[RedisProcess]:
    require(bool(shutil.which("redis-server") or Path("/usr/bin/redis-server").exists()),
            "redis-server binary not found: the fault tests run a private one")
    workdir = Path(tempfile.mkdtemp(prefix="tdfault-redis-"))
    server = RedisProcess(workdir)
    server.start()
    yield server
    server.kill()
    shutil.rmtree(workdir, ignore_errors=True)


# -- a private PostgreSQL cluster ------------------------------------------------------------


def pg_bindir() -> Path | None:
    """The newest /usr/lib/postgresql/*/bin holding initdb and pg_ctl, if any."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0)
    for initdb in reversed(found):
        bindir = Path(initdb).parent
        if (bindir / "pg_ctl").exists() and (bindir / "postgres").exists():
            return bindir
    return None


class PgCluster:
    """initdb into a temp dir owned by the postgres OS user; trust auth; pg_ctl on a free port."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="tdfault-pg-"))  # not under pytest's 0700 root-owned dirs
        self.data = self.root / "data"
        self.sockets = self.root / "sock"
        self.logfile = self.root / "postgres.log"
        self.port = free_port()
        self.sockets.mkdir()
        shutil.chown(self.root, "postgres", "postgres")
        shutil.chown(self.sockets, "postgres", "postgres")
        self.as_postgres = [] if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        done = subprocess.run([*self.as_postgres, *args], capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            log = self.logfile.read_text(errors="replace")[-3000:] if self.logfile.exists() else ""
            raise AssertionError(f"{args[0]} failed ({done.returncode}): {done.stdout}{done.stderr}\n{log}")
        return done

    def init(self) -> None:
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                  "-E", "UTF8", "--locale=C", "--no-sync")

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c fsync=off "
                   f"-c synchronous_commit=off -c full_page_writes=off -c max_connections=50")
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.logfile), "-o", options,
                  "-w", "-t", "30", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def destroy(self) -> None:
        if self.running():
            try:
                self.stop("immediate")
            except (AssertionError, subprocess.TimeoutExpired):
                pass
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def pg_cluster() -> Iterator[PgCluster]:
    bindir = pg_bindir()
    require(bindir is not None, "PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb, pg_ctl) not found: "
                                "the PostgreSQL restart test runs a private cluster")
    if os.geteuid() == 0:
        require(shutil.which("runuser") is not None, "runuser not found (needed to run initdb as postgres)")
        try:
            import pwd
            pwd.getpwnam("postgres")
        except KeyError:
            require(False, "no 'postgres' OS user to own the private cluster (initdb refuses root)")
    cluster = PgCluster(bindir)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


def migrated_database(cluster: PgCluster) -> str:
    """Create a database in the private cluster, migrate and seed it; return its URL."""
    from app import create_app

    url = create_database(cluster.url("postgres"), "tdfault")
    app = create_app(make_config(), env=base_env(url))
    migrate_and_seed(app)
    return url


# -- the app server --------------------------------------------------------------------------


def start_server(tmp_path: Path, sqlite_template: Path | None = None, **env: str) -> LiveServer:
    """gunicorn + gevent serving wsgi:app with `env`, on a copy of the seeded SQLite file by default."""
    db_path = tmp_path / f"faults-{uuid.uuid4().hex[:6]}.db"
    if sqlite_template is not None:
        shutil.copy(sqlite_template, db_path)
    tag = uuid.uuid4().hex[:8]
    # Token state and cache under the production default prefix (each test has its own Redis).
    shared = {"LIVE_REDIS_PREFIX": f"tdfault:{tag}:live:", "LIVE_CHANNEL": f"tdfault-{tag}",
              "RATELIMIT_KEY_PREFIX": f"tdfault{tag}", "AUTH_REDIS_PREFIX": "td:", "CACHE_KEY_PREFIX": "td:"}
    return LiveServer(db_path, tmp_path, shared, **env)


@pytest.fixture
def servers() -> Iterator[list[LiveServer]]:
    """Servers started by a test (append them); stopped at the end, their log tail shown on failure."""
    started: list[LiveServer] = []
    yield started
    for server in started:
        server.stop()


def register(url: str) -> dict[str, Any]:
    """Register and log in a new API user; return email, id, tokens and headers."""
    email = f"fault-{uuid.uuid4().hex[:10]}@example.com"
    created = requests.post(f"{url}/api/v1/auth/register", json={"email": email, "password": PASSWORD}, timeout=20)
    assert created.status_code == 201, created.text
    tokens = requests.post(f"{url}/api/v1/auth/login", json={"email": email, "password": PASSWORD}, timeout=20)
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    return {"email": email, "id": created.json()["id"], **body,
            "headers": {"Authorization": f"Bearer {body['access_token']}"}}


def jwt_claims(token: str) -> dict[str, Any]:
    """The (unverified) claims of a JWT."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def us_symbols(count: int, seed: int = 7) -> list[str]:
    """`count` distinct US symbols of the universe (priced in USD), in a stable random order."""
    from app.universe import load_universe

    symbols = sorted({r.symbol for r in load_universe() if r.currency == "USD" and "." not in r.symbol})
    random.Random(seed).shuffle(symbols)
    assert len(symbols) >= count
    return symbols[:count]


def assert_error_shape(response: requests.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """Assert `response` is the standard JSON error {"error": {code, message, details, request_id}}."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers.get("Content-Type", "").startswith("application/json"), response.headers
    error = response.json()["error"]
    assert set(error) >= {"code", "message", "details", "request_id"}, error
    assert error["request_id"] and isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code, error
    return error


# -- load: threads of bounded request loops, every answer recorded ---------------------------


@dataclass
class Outcome:
    """One request: when it started and ended (monotonic), what, and how it answered."""

    started: float
    ended: float
    worker: str
    method: str
    path: str
    status: int  # 0: no HTTP answer (connection error or client timeout)
    body: Any = None
    error: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return self.ended - self.started


@dataclass
class Load:
    """Runs `step` functions in threads until stopped (or a per-thread cap), recording outcomes."""

    url: str
    timeout_s: float = 20.0
    outcomes: list[Outcome] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def request(self, session: requests.Session, worker: str, method: str, path: str, **kwargs: Any) -> Outcome:
        started = time.monotonic()
        try:
            response = session.request(method, self.url + path, timeout=self.timeout_s, **kwargs)
        except requests.RequestException as exc:
            outcome = Outcome(started, time.monotonic(), worker, method, path, 0, error=type(exc).__name__)
        else:
            try:
                body = response.json()
            except ValueError:
                body = response.text[:20000]
            outcome = Outcome(started, time.monotonic(), worker, method, path, response.status_code, body,
                              headers=dict(response.headers))
        with self._lock:
            self.outcomes.append(outcome)
        return outcome

    def spawn(self, name: str, step: Callable[[requests.Session, int], None], *, pause_s: float = 0.02,
              max_steps: int = 400) -> None:
        def run() -> None:
            with requests.Session() as session:
                for i in range(max_steps):
                    if self.stop.is_set():
                        return
                    step(session, i)
                    time.sleep(pause_s)

        thread = threading.Thread(target=run, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def finish(self, timeout_s: float = 30.0) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout_s)
        assert not any(t.is_alive() for t in self._threads), "a load thread did not stop"

    def between(self, start: float, end: float) -> list[Outcome]:
        """Requests that were in flight at some point in [start, end]."""
        with self._lock:
            return [o for o in self.outcomes if o.started <= end and o.ended >= start]

    def all(self) -> list[Outcome]:
        with self._lock:
            return list(self.outcomes)


def status_counts(outcomes: list[Outcome]) -> dict[int, int]:
    return dict(sorted(Counter(o.status for o in outcomes).items()))


def describe(outcomes: list[Outcome]) -> str:
    """A short summary: count, statuses, max and p50 latency."""
    if not outcomes:
        return "0 requests"
    latencies = sorted(o.seconds for o in outcomes)
    slowest = max(outcomes, key=lambda o: o.seconds)
    return (f"{len(outcomes)} requests, statuses {status_counts(outcomes)}, "
            f"p50 {latencies[len(latencies) // 2] * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms "
            f"({slowest.method} {slowest.path.split('?')[0]})")
