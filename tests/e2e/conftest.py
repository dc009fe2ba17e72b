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
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.live.conftest import ROOT, Cluster, LiveServer

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


METRICS_TOKEN = "e2e-metrics-token"


@pytest.fixture
def e2e_server(request: pytest.FixtureRequest, sqlite_template: Path, tmp_path: Path) -> Iterator[LiveServer]:
    """One real gunicorn server and the Celery worker beside it (as `make run`), with the demo market,
    on a fresh copy of the seeded database. The worker trains forecasts and runs backtests only for
    tests marked `research_jobs`: elsewhere a stock page would have it train its index beside the browser."""
    db_path = tmp_path / "e2e.db"
    shutil.copy(sqlite_template, db_path)
    cluster = Cluster(db_path, tmp_path)
    try:
        server = cluster.start(METRICS_TOKEN=METRICS_TOKEN)
        cluster.start_worker(research=request.node.get_closest_marker("research_jobs") is not None)
        yield server
    finally:
        cluster.close()


@pytest.fixture(scope="session")
def output_dir() -> Path:
    """build/test-output/e2e/, emptied of the previous run's screenshots."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    for old in OUTPUT.glob("*.png"):
        old.unlink()
    return OUTPUT
