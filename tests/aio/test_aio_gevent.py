"""app.aio under a real ``gunicorn -k gevent -w 1`` (greenlet mode).

The WSGI app is ``gevent_app.py``; its bridged view GETs a local aiohttp
upstream (started here, in a thread of the test process) that sleeps 100 ms
per request.
"""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
import requests

from aio_testutil import HERE, ROOT, Upstream, free_port

pytestmark = pytest.mark.slow


def gunicorn_bin() -> str:
    for candidate in (Path(sys.executable).with_name("gunicorn"), ROOT / ".venv" / "bin" / "gunicorn"):
        if candidate.exists():
            return str(candidate)
    pytest.skip("gunicorn is not installed in this environment")


class Gunicorn:
    def __init__(self, upstream_url: str, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        env = {k: v for k, v in os.environ.items() if k != "GUNICORN_CMD_ARGS"}
        env.update(AIO_TEST_UPSTREAM=upstream_url, PYTHONUNBUFFERED="1")
        cmd = [gunicorn_bin(), "-k", "gevent", "-w", "1", "-b", f"127.0.0.1:{self.port}",
               "--chdir", str(HERE), "-c", str(HERE / "gunicorn_conf.py"),
               "--no-control-socket", "--graceful-timeout", "5", "--timeout", "30",
               "--log-level", "info", "gevent_app:app"]
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(cmd, cwd=str(HERE), env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"gunicorn exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if requests.get(f"{self.url}/bare", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise AssertionError(f"gunicorn not ready after {timeout} s:\n{self.log()}")

    def stop(self, timeout: float = 15.0) -> int | None:
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(5)
        finally:
            self._log.close()
        return self.proc.returncode


@pytest.fixture(scope="module")
def upstream_server():
    server = Upstream(delay=0.1).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def server(upstream_server, tmp_path_factory):
    gun = Gunicorn(upstream_server.url, tmp_path_factory.mktemp("gunicorn") / "gunicorn.log")
    try:
        gun.wait_ready()
        yield gun
    finally:
        gun.stop()


async def _fire(url: str, count: int) -> tuple[float, list[tuple[int, object]]]:
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    async with aiohttp.ClientSession(connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=30)) as session:
        async def one(i: int) -> tuple[int, object]:
            async with session.get(url, params={"n": str(i)}) as resp:
                return resp.status, await resp.json()

        t0 = time.perf_counter()
        results = await asyncio.gather(*(one(i) for i in range(count)))
        return time.perf_counter() - t0, results


def test_greenlet_mode_in_a_monkey_patched_process():
    """gevent_checks.py: results, errors, timeouts, fairness, running-loop hiding, fork, shutdown."""
    env = {k: v for k, v in os.environ.items() if k != "GUNICORN_CMD_ARGS"}
    proc = subprocess.run([sys.executable, str(HERE / "gevent_checks.py")], cwd=str(HERE), env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.rstrip().endswith("ALL OK"), proc.stdout + proc.stderr


def test_runs_in_gevent_mode(server):
    assert requests.get(f"{server.url}/bridged", params={"n": "w"}, timeout=10).json() == {"n": "w", "tag": "w"}
    stats = requests.get(f"{server.url}/stats", timeout=5).json()
    assert stats["mode"] == "gevent"


def test_200_concurrent_bridged_requests(server, upstream_server, record_property):
    requests.get(f"{server.url}/bridged", params={"n": "warm"}, timeout=10).raise_for_status()
    hits_before = upstream_server.hits

    elapsed, results = asyncio.run(_fire(f"{server.url}/bridged", 200))

    bad = [(i, r) for i, r in enumerate(results) if r != (200, {"n": str(i), "tag": str(i)})]
    assert not bad, bad[:5]
    assert upstream_server.hits - hits_before == 200
    record_property("elapsed_200_concurrent", round(elapsed, 3))
    print(f"\n200 concurrent bridged requests (100 ms upstream each): {elapsed:.3f} s")
    assert elapsed < 1.0

    # one loop and one pooled session served everything in this worker
    stats = requests.get(f"{server.url}/stats", timeout=5).json()
    assert stats["loops"] == 1 and stats["sessions"] == 1


def test_bare_view_is_not_blocked_by_waiting_bridged_requests(server):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            async def bridged(i):
                async with session.get(f"{server.url}/bridged", params={"n": str(i), "d": "1.0"}) as r:
                    return r.status
            slow = [asyncio.create_task(bridged(i)) for i in range(20)]
            await asyncio.sleep(0.1)    # the bridged requests are now waiting (1 s) on the upstream
            t0 = time.perf_counter()
            async with session.get(f"{server.url}/bare") as r:
                assert r.status == 200
            bare_latency = time.perf_counter() - t0
            assert not any(s.done() for s in slow)
            assert all(s == 200 for s in await asyncio.gather(*slow))
            return bare_latency

    assert asyncio.run(scenario()) < 0.5


def test_exception_and_timeout_become_http_errors(server):
    t0 = time.perf_counter()
    resp = requests.get(f"{server.url}/boom", timeout=10)
    assert resp.status_code == 500
    assert resp.json() == {"error": "boom from the loop", "type": "ValueError"}

    cancelled_before = requests.get(f"{server.url}/stats", timeout=5).json()["cancelled"]
    resp = requests.get(f"{server.url}/timeout", timeout=10)
    assert resp.status_code == 504
    assert resp.json() == {"error": "timeout", "type": "BridgeTimeoutError"}
    assert time.perf_counter() - t0 < 3.0
    stats = requests.get(f"{server.url}/stats", timeout=5).json()
    assert stats["cancelled"] == cancelled_before + 1   # the coroutine saw CancelledError

    # the worker still serves, bridged and bare
    assert requests.get(f"{server.url}/bridged", params={"n": "after"}, timeout=10).json()["n"] == "after"
    assert requests.get(f"{server.url}/bare", timeout=5).json() == {"ok": True}
    assert requests.get(f"{server.url}/stats", timeout=5).json()["loops"] == 1


def test_hostname_resolution_does_not_hang(server):
    resp = requests.get(f"{server.url}/resolve", timeout=10)
    assert resp.status_code == 200 and resp.json() == {"fast": True}


def test_worker_exit_shuts_the_bridge_down(upstream_server, tmp_path):
    gun = Gunicorn(upstream_server.url, tmp_path / "gunicorn.log")
    try:
        gun.wait_ready()
        assert requests.get(f"{gun.url}/bridged", params={"n": "1"}, timeout=10).status_code == 200
        assert requests.get(f"{gun.url}/timeout", timeout=10).status_code == 504
        assert requests.get(f"{gun.url}/boom", timeout=10).status_code == 500
        assert requests.get(f"{gun.url}/resolve", timeout=10).status_code == 200
    finally:
        code = gun.stop()
    log = gun.log()
    assert code == 0, log
    assert "aio-worker-exit session_closed=True state_cleared=True" in log, log
    for bad in ("Unclosed", "Traceback", "Task was destroyed", "Exception in callback"):
        assert bad not in log, log
