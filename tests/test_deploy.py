"""render.yaml (the Render Blueprint) and gunicorn.conf.py: every command and variable they name exists,
and the commands really run: the pre-deploy migration and seed, the web server with its health check,
and a graceful shutdown that closes the event loop, the HTTP session and the Redis connections."""
from __future__ import annotations

import os
import re
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
import yaml

from tests.conftest import TEST_REDIS_URL, delete_redis_keys, limiter_pattern

ROOT = Path(__file__).resolve().parents[1]
BLUEPRINT = yaml.safe_load((ROOT / "render.yaml").read_text())
# Variables Render itself reads (not the app): the Python version of the native runtime.
RENDER_OWN = {"PYTHON_VERSION"}
ENV_READ = re.compile(r"""(?:environ\.get|env\.get|getenv|environ\[)\(?\s*["']([A-Z][A-Z0-9_]*)["']|"""
                      r'_number\(env, "([A-Z][A-Z0-9_]*)"|envvar="([A-Z][A-Z0-9_]*)"')


def _services(kind: str) -> list[dict]:
    return [s for s in BLUEPRINT["services"] if s["type"] == kind]


def _worker(name: str) -> dict:
    (service,) = [s for s in _services("worker") if s["name"] == name]
    return service


def _variables_the_app_reads() -> set[str]:
    names: set[str] = set()
    for path in [*ROOT.joinpath("app").rglob("*.py"), ROOT / "gunicorn.conf.py", ROOT / "wsgi.py"]:
        for match in ENV_READ.finditer(path.read_text()):
            names.add(next(g for g in match.groups() if g))
    return names


def _flask(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    flask = Path(sys.executable).with_name("flask")
    return subprocess.run([str(flask), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def test_the_blueprint_has_the_services_the_app_needs() -> None:
    (web,), (keyvalue,) = _services("web"), _services("keyvalue")
    worker, jobs = _worker("tickerdesk-streamer"), _worker("tickerdesk-jobs")
    (database,) = BLUEPRINT["databases"]
    assert web["runtime"] == worker["runtime"] == jobs["runtime"] == "python"
    assert web["healthCheckPath"] == "/health"
    assert "gunicorn --config gunicorn.conf.py wsgi:app" == web["startCommand"]
    assert web["preDeployCommand"].startswith("flask --app wsgi db upgrade")
    assert worker["startCommand"] == "flask --app wsgi live stream"  # the one live streamer
    # The Celery worker with its scheduler: RedBeat's lock in Redis keeps one beat cluster-wide.
    assert shlex.split(jobs["startCommand"])[:4] == ["celery", "-A", "wsgi:celery", "worker"]
    assert "redbeat.RedBeatScheduler" in jobs["startCommand"]
    jobs_env = {e["key"]: e for e in jobs["envVars"]}
    assert jobs_env["SECRET_KEY"]["fromService"] == {"type": "web", "name": web["name"], "envVarKey": "SECRET_KEY"}
    for service in (web, worker, jobs):
        env = {e["key"]: e for e in service["envVars"]}
        assert env["DATABASE_URL"]["fromDatabase"] == {"name": database["name"], "property": "connectionString"}
        assert env["REDIS_URL"]["fromService"] == {"type": "keyvalue", "name": keyvalue["name"],
                                                   "property": "connectionString"}
        assert env["TICKERDESK_ENV"]["value"] == "production"
    web_env = {e["key"]: e for e in web["envVars"]}
    worker_env = {e["key"]: e for e in worker["envVars"]}
    assert web_env["SECRET_KEY"] == {"key": "SECRET_KEY", "generateValue": True}
    assert worker_env["SECRET_KEY"]["fromService"] == {"type": "web", "name": web["name"], "envVarKey": "SECRET_KEY"}
    assert web_env["LIVE_STREAMER"]["value"] == "off", "the worker streams; web processes only serve sockets"
    assert web_env["METRICS_TOKEN"] == {"key": "METRICS_TOKEN", "generateValue": True}
    assert web_env["TRUSTED_PROXIES"]["value"] == "1", "behind Render's proxy, per-address limits need the client's"


def test_every_variable_the_blueprint_sets_is_read_by_the_app() -> None:
    read = _variables_the_app_reads()
    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "PORT", "WEB_CONCURRENCY"} <= read  # the scan works
    for service in BLUEPRINT["services"]:
        for var in service.get("envVars", []):
            assert var["key"] in read | RENDER_OWN, f"{service['name']} sets {var['key']}, which nothing reads"


def test_every_command_the_blueprint_names_exists() -> None:
    (web,), worker, jobs = _services("web"), _worker("tickerdesk-streamer"), _worker("tickerdesk-jobs")
    for service in (web, worker, jobs):
        assert shlex.split(service["buildCommand"]) == ["pip", "install", "."]
        assert (ROOT / "pyproject.toml").exists()
    commands = [c.strip() for c in web["preDeployCommand"].split("&&")] + [worker["startCommand"]]
    for command in commands:
        argv = shlex.split(command)
        assert argv[:3] == ["flask", "--app", "wsgi"], command
        result = _flask(*argv[1:], "--help", env={**os.environ, "SECRET_KEY": "x" * 40})
        assert result.returncode == 0, f"{command}: {result.stderr[-2000:]}"
    celery = Path(sys.executable).with_name("celery")
    result = subprocess.run([str(celery), *shlex.split(jobs["startCommand"])[1:], "--help"], cwd=ROOT,
                            env={**os.environ, "SECRET_KEY": "x" * 40}, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "--scheduler" in result.stdout, f"{jobs['startCommand']}: {result.stderr[-2000:]}"
    start = shlex.split(web["startCommand"])
    assert (ROOT / start[start.index("--config") + 1]).exists()
    module, attr = start[-1].split(":")
    assert (ROOT / f"{module}.py").exists() and re.search(rf"^{attr} = ", (ROOT / f"{module}.py").read_text(), re.M)


@pytest.mark.slow
def test_pre_deploy_then_start_serve_health_and_shut_down_gracefully(tmp_path, request) -> None:
    (web,) = _services("web")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k not in ("FLASK_APP", "REDIS_URL", "PROMETHEUS_MULTIPROC_DIR")}
    env.update({e["key"]: str(e["value"]) for e in web["envVars"] if "value" in e})
    env.update({"SECRET_KEY": secrets.token_urlsafe(48), "METRICS_TOKEN": "deploy-test",
                "DATABASE_URL": f"sqlite:///{tmp_path / 'render.db'}", "PORT": str(port),
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"})
    if TEST_REDIS_URL:  # in a namespace of its own, emptied at the end
        namespace = f"tdt{uuid.uuid4().hex[:10]}:"
        env.update({"REDIS_URL": TEST_REDIS_URL, "RATELIMIT_KEY_PREFIX": namespace, "AUTH_REDIS_PREFIX": namespace,
                    "CACHE_KEY_PREFIX": namespace, "LIVE_REDIS_PREFIX": f"{namespace}live:",
                    "JOBS_KEY_PREFIX": f"{namespace}jobs:"})
        request.addfinalizer(lambda: delete_redis_keys(f"{namespace}*", limiter_pattern(namespace)))
    pre = subprocess.run(["bash", "-c", web["preDeployCommand"]], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=300)
    assert pre.returncode == 0, pre.stderr[-3000:]
    assert "universe:" in pre.stdout

    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(shlex.split(web["startCommand"]), cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log_path.read_text()[-3000:]
            try:
                if requests.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(0.2)
        ready = requests.get(f"http://127.0.0.1:{port}/ready", timeout=10)
        assert ready.status_code == 200, ready.text
        assert requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).status_code == 401
        # A request that uses the asyncio core, so there is a loop and a session to close.
        assert requests.get(f"http://127.0.0.1:{port}/stocks/SAP.DE", timeout=20).status_code == 200
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        code = proc.wait(30)
    text = log_path.read_text()
    assert code == 0, text[-3000:]
    shutdown = [line for line in text.splitlines() if "worker_shutdown" in line]
    assert shutdown, text[-3000:]
    for part in ("event_loop", "cache", "redis"):
        assert part in shutdown[-1], shutdown[-1]
    assert "Traceback" not in text, text[-3000:]
