"""Real Celery worker (and beat) processes on a copy of the seeded SQLite database.

`Workers.start(...)` runs `celery -A wsgi:celery worker ...` -- the command `make run` and
render.yaml use -- with the app's settings in its environment: the test's database, and
either the real Redis under this test's key namespace (broker `global_keyprefix`, RedBeat's
prefix, locks and heartbeats all under JOBS_KEY_PREFIX; deleted afterwards with the rest of
the namespace) or, without REDIS_URL, the embedded filesystem broker in a temporary JOBS_DIR.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.conftest import SECRET, TEST_REDIS_URL, _namespace

ROOT = Path(__file__).resolve().parents[2]


class Worker:
    """One `celery -A wsgi:celery worker` process group, its output in a log file."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")
        celery = Path(sys.executable).with_name("celery")
        self.proc = subprocess.Popen([str(celery), "-A", "wsgi:celery", "worker", *args], cwd=str(ROOT), env=env,
                                     stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def count(self, text: str) -> int:
        return self.log().count(text)

    def wait_for(self, text: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log():
                return
            assert self.proc.poll() is None, f"worker exited with {self.proc.returncode}:\n{self.log()[-4000:]}"
            time.sleep(0.1)
        raise AssertionError(f"{text!r} not in the worker's log within {timeout} s:\n{self.log()[-4000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            # A warm shutdown, but no test waits for it: whatever is still running after a moment (the
            # embedded beat sleeping out its tick, prefork children) is killed with the process group.
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(1.5)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(5)
        self._log.close()


class Workers:
    """The worker processes of one test, sharing its database and broker namespace."""

    def __init__(self, app: Flask, tmp_path: Path, redis: bool) -> None:
        self.app, self.tmp_path = app, tmp_path
        ns = _namespace["redis"]
        self.env = {"PATH": os.environ.get("PATH", ""), "TICKERDESK_ENV": "testing", "SECRET_KEY": SECRET,
                    "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "MARKET_PROVIDERS": "demo",
                    "DEMO_ALWAYS_OPEN": "true", "LOG_LEVEL": "INFO", "LIVE_STREAMER": "off", "PYTHONUNBUFFERED": "1",
                    "JOBS_DIR": app.config["JOBS_DIR"], "JOBS_KEY_PREFIX": app.config["JOBS_KEY_PREFIX"],
                    "JOBS_SCHEDULE": "heartbeat,quotes", "JOBS_HEARTBEAT_S": "0.5", "JOBS_QUOTES_OPEN_S": "1",
                    "CACHE_KEY_PREFIX": ns, "AUTH_REDIS_PREFIX": ns, "LIVE_REDIS_PREFIX": f"{ns}live:",
                    "RATELIMIT_KEY_PREFIX": f"{ns}w", "FORECAST_DIR": app.config["FORECAST_DIR"],
                    "FORECAST_YEARS": str(app.config["FORECAST_YEARS"] if app.config["FORECAST_YEARS"] < 11 else 6)}
        if redis:
            self.env["REDIS_URL"] = TEST_REDIS_URL or ""
        self.started: list[Worker] = []

    def start(self, *args: str, **env: str) -> Worker:
        worker = Worker(list(args), {**self.env, **env}, self.tmp_path / f"worker-{len(self.started)}.log")
        self.started.append(worker)
        return worker

    def close(self) -> None:
        for worker in self.started:
            worker.stop()


@pytest.fixture
def jobs_app(make_app: Callable[..., Flask], tmp_path: Path) -> Callable[..., Flask]:
    """Build an in-process app on a fresh database copy with this test's JOBS_DIR and key prefix."""

    def factory(**overrides: Any) -> Flask:
        settings = {"JOBS_DIR": str(tmp_path / "jobs"), "JOBS_KEY_PREFIX": f"{_namespace['redis']}jobs:", **overrides}
        return make_app(**settings)

    return factory


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[..., Workers]]:
    made: list[Workers] = []

    def factory(app: Flask, *, redis: bool) -> Workers:
        if redis and not TEST_REDIS_URL:
            pytest.skip("TEST_REDIS_URL not set: the Redis worker tests need the real Redis (CI sets it)")
        made.append(Workers(app, tmp_path, redis))
        return made[-1]

    yield factory
    for group in made:
        group.close()


def alert_near_price(app: Flask, headers: dict[str, str], symbol: str = "SAP.DE") -> int:
    """Create, through the API, an alert just below the demo's current price (fires on the next look)."""
    client = app.test_client()
    price = Decimal(str(client.get(f"/api/v1/stocks/{symbol}/quote", headers=headers).get_json()["price"]))
    created = client.post("/api/v1/alerts", headers=headers, json={
        "symbol": symbol, "kind": "above", "threshold": str((price * Decimal("0.97")).quantize(Decimal("0.01")))})
    assert created.status_code == 201, created.get_json()
    return created.get_json()["id"]


def wait_fired(app: Flask, alert_ids: list[int], timeout: float = 30.0) -> dict[int, Any]:
    """Wait until every alert has a triggered_at; return them by id."""
    from sqlalchemy import select

    from app.extensions import db
    from app.models import Alert

    deadline = time.monotonic() + timeout
    while True:
        with app.app_context():
            rows = {a.id: a.triggered_at for a in db.session.scalars(select(Alert).where(Alert.id.in_(alert_ids)))}
            db.session.remove()
        if all(rows.get(i) is not None for i in alert_ids):
            return rows
        assert time.monotonic() < deadline, f"alerts not fired within {timeout} s: {rows}"
        time.sleep(0.2)
