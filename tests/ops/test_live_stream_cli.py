"""`flask --app wsgi live stream` (the Render worker's command) as a real process: it takes the
streamer lock, streams quotes to the web processes through Redis, and stops cleanly on a signal."""
from __future__ import annotations

import os
import json
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import SECRET, TEST_REDIS_URL, needs_redis

ROOT = Path(__file__).resolve().parents[2]


def _stream_env(tmp_path: Path, sqlite_template: Path, prefix: str, **extra: str) -> dict[str, str]:
    db_path = tmp_path / "stream.db"
    shutil.copy(sqlite_template, db_path)
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("DATABASE_", "REDIS_", "LIVE_", "CACHE_", "AUTH_", "TICKERDESK_"))}
    env.update({"TICKERDESK_ENV": "testing", "SECRET_KEY": SECRET, "DATABASE_URL": f"sqlite:///{db_path}",
                "MARKET_PROVIDERS": "demo", "LOG_LEVEL": "INFO", "LIVE_TICK_OPEN_S": "0.2",
                "LIVE_TICK_CLOSED_S": "0.2", "LIVE_LOCK_TTL_S": "3", "LIVE_REDIS_PREFIX": f"{prefix}live:",
                "LIVE_CHANNEL": f"{prefix}channel", "CACHE_KEY_PREFIX": f"{prefix}cache:",
                "AUTH_REDIS_PREFIX": f"{prefix}auth:", "PYTHONUNBUFFERED": "1", **extra})
    return env


def _start(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "live", "stream"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def test_without_redis_it_refuses_with_a_reason(tmp_path, sqlite_template) -> None:
    process = _start(_stream_env(tmp_path, sqlite_template, "tdnone"))
    output, _ = process.communicate(timeout=60)
    assert process.returncode != 0 and "REDIS_URL is not set" in output


@needs_redis
@pytest.mark.redis
@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_it_streams_quotes_through_redis_and_stops_on_a_signal(tmp_path, sqlite_template, stop_signal) -> None:
    import redis

    prefix = f"tdstream{uuid.uuid4().hex[:8]}:"
    client = redis.Redis.from_url(TEST_REDIS_URL)
    # A web process elsewhere whose sockets watch SAP.DE: what app.live.registry publishes, the
    # symbols of one process under its own key (the streamer reads the union of every process's).
    client.sadd(f"{prefix}live:syms:web-elsewhere", "SAP.DE")
    client.expire(f"{prefix}live:syms:web-elsewhere", 60)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(f"{prefix}channel")
    process = _start(_stream_env(tmp_path, sqlite_template, prefix, REDIS_URL=TEST_REDIS_URL))
    try:
        _stream_and_stop(client, pubsub, process, prefix, stop_signal)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        pubsub.close()
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


def _stream_and_stop(client, pubsub, process: subprocess.Popen, prefix: str, stop_signal: int) -> None:
    lock_key = f"{prefix}live:streamer"
    quotes = []
    deadline = time.monotonic() + 45
    while len(quotes) < 2 and time.monotonic() < deadline and process.poll() is None:
        message = pubsub.get_message(timeout=0.5)
        if message and message["type"] == "message":
            payload = json.loads(message["data"])
            if payload.get("event") == "quote":
                quotes.append(payload)
    assert process.poll() is None, process.stdout.read()
    assert len(quotes) >= 2, "two rounds streamed quotes to the web processes"
    for quote in quotes:
        assert quote["namespace"] == "/live" and quote["data"][0]["symbol"] == "SAP.DE" and quote["data"][0]["price"] > 0
    assert client.exists(lock_key), "it holds the streamer lock"
    process.send_signal(stop_signal)
    output, _ = process.communicate(timeout=20)
    assert process.returncode == 0, output
    assert "live_streamer_lock_taken" in output and "live_stream_stopping" in output
    assert output.rstrip().endswith("live streamer stopped"), output[-2000:]
    assert not client.exists(lock_key), "the lock was released, so another streamer can take over at once"
