"""Browser end-to-end set-up: Debian's Chromium driven by Playwright against a real gunicorn server.

* `chromium`: makes sure /usr/bin/chromium is there (installs Debian's package when missing;
  never downloads a browser: PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 and `executable_path`).
* `browser`: one headless Chromium for the session (playwright.sync_api, no pytest plugin).
* `e2e_server`: the real-process machinery of tests/live/conftest.py (`gunicorn -c
  gunicorn.conf.py wsgi:app`, gevent worker, demo market at 0.2 s ticks) on a copy of the
  seeded SQLite template; with the shared Redis when TEST_REDIS_URL is set, and without any
  REDIS_URL at all when it is not.
* `output_dir`: build/test-output/e2e/ for the screenshots (build/ is gitignored).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import SECRET, TEST_REDIS_URL
from tests.live.conftest import ROOT, Cluster, LiveServer, _free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 # Without these Chromium reaches out to Google's services, which this closed network refuses.
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
OUTPUT = ROOT / "build" / "test-output" / "e2e"

if TYPE_CHECKING:
    from playwright.sync_api import Browser

os.environ["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1"


def _install_chromium() -> str | None:
    """Install Debian's chromium with apt-get (after `apt-get update` if the package lists lack it).

    Return why it failed, or None.
    """
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}

    def apt(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["apt-get", *args], env=env, capture_output=True, text=True, timeout=900)

    try:
        done = apt("install", "-y", "chromium")
        if done.returncode != 0:  # a fresh container has no package lists yet
            apt("update", "-q")
            done = apt("install", "-y", "chromium")
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"`apt-get install -y chromium` could not run: {exc}"
    if done.returncode != 0 or not CHROMIUM.exists():
        return (f"`apt-get install -y chromium` failed (exit {done.returncode}):\n"
                f"{(done.stdout + done.stderr)[-2000:]}")
    return None


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium, installed by apt-get when missing (fails loudly in CI, skips elsewhere)."""
    if not CHROMIUM.exists():
        reason = _install_chromium()
        if reason is not None:
            message = f"{CHROMIUM} is missing and could not be installed for the browser tests: {reason}"
            if os.environ.get("CI") == "true":
                pytest.fail(message, pytrace=False)
            pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="module")
def browser(chromium: Path) -> Iterator[Browser]:
    """One headless Chromium for the session: Debian's, never one Playwright downloaded."""
    from playwright.sync_api import sync_playwright

    version = subprocess.run([str(chromium), "--version"], capture_output=True, text=True, timeout=60).stdout
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS)
        assert launched.version in version, f"launched Chromium {launched.version}, but {chromium} is {version!r}"
        print(f"e2e browser: {version.strip()} at {chromium}")
        yield launched
        launched.close()


class E2EServer(LiveServer):
    """A `LiveServer` that runs without Redis (no REDIS_URL at all) when TEST_REDIS_URL is unset."""

    def __init__(self, db_path: Path, log_dir: Path, shared: dict[str, str], **env: str) -> None:
        if TEST_REDIS_URL:
            super().__init__(db_path, log_dir, shared, **env)
            return
        # LiveServer always sets REDIS_URL; this is its start-up with REDIS_URL left out.
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"gunicorn-{self.port}.log"
        full_env = {k: v for k, v in os.environ.items()
                    if k not in ("GUNICORN_CMD_ARGS", "FLASK_APP", "REDIS_URL", "DATABASE_URL")}
        full_env.update({
            "TICKERDESK_ENV": "development", "SECRET_KEY": SECRET, "DATABASE_URL": f"sqlite:///{db_path}",
            "MARKET_PROVIDERS": "demo", "DEMO_ALWAYS_OPEN": "true",
            "DEMO_TICK_S": "0.2", "LIVE_TICK_OPEN_S": "0.3", "LIVE_LOCK_TTL_S": "2", "LOG_LEVEL": "INFO",
            "WEB_CONCURRENCY": "1", "PYTHONUNBUFFERED": "1", "RATELIMIT_REGISTER": "1000 per minute",
            "RATELIMIT_LOGIN": "1000 per minute", "RATELIMIT_LOGIN_ACCOUNT": "1000 per minute",
            "RATELIMIT_DEFAULT": "100000 per minute", **shared, **env})
        self._log = open(self.log_path, "wb")
        gunicorn = Path(sys.executable).with_name("gunicorn")
        self.proc = subprocess.Popen(
            [str(gunicorn), "-c", "gunicorn.conf.py", "-b", f"127.0.0.1:{self.port}", "--no-control-socket",
             "--graceful-timeout", "3", "wsgi:app"],
            cwd=str(ROOT), env=full_env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_ready()


class E2ECluster(Cluster):
    """The live tests' cluster, starting `E2EServer`s; cleans Redis only when there is one."""

    def start(self, **env: str) -> LiveServer:
        server = E2EServer(self.db_path, self.log_dir, self.shared, **env)
        self.servers.append(server)
        return server

    def close(self) -> None:
        if TEST_REDIS_URL:
            super().close()
            return
        for server in self.servers:
            server.stop()


METRICS_TOKEN = "e2e-metrics-token"


@pytest.fixture
def e2e_server(sqlite_template: Path, tmp_path: Path) -> Iterator[LiveServer]:
    """One real gunicorn server with the demo market, on a fresh copy of the seeded database."""
    db_path = tmp_path / "e2e.db"
    shutil.copy(sqlite_template, db_path)
    cluster = E2ECluster(db_path, tmp_path)
    try:
        yield cluster.start(METRICS_TOKEN=METRICS_TOKEN)
    finally:
        cluster.close()


@pytest.fixture(scope="session")
def output_dir() -> Path:
    """build/test-output/e2e/, emptied of the previous run's screenshots."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    for old in OUTPUT.glob("*.png"):
        old.unlink()
    return OUTPUT
