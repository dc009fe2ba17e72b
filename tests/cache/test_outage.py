"""Redis loss and return: a private redis-server is killed and restarted under the cache."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import orjson
import pytest
import redis

from app.cache import TieredCache, cached

pytestmark = [pytest.mark.redis, pytest.mark.slow]

PASSWORD = "s3cret-pw"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A throw-away redis-server (no persistence) on a fixed port, restartable."""

    def __init__(self, workdir: Path, port: int) -> None:
        self.binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.workdir = workdir
        self.port = port
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://:{PASSWORD}@127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, password=PASSWORD, socket_timeout=2)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.workdir),
             "--requirepass", PASSWORD, "--logfile", str(self.workdir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 5
        probe = self.client()
        while True:
            try:
                probe.ping()
                break
            except redis.ConnectionError:
                assert self.proc.poll() is None, (self.workdir / "redis.log").read_text()
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.02)
        probe.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture
def server(tmp_path):
    if not (shutil.which("redis-server") or Path("/usr/bin/redis-server").exists()):
        pytest.skip("redis-server binary not found: the Redis loss/return test starts its own")
    srv = RedisServer(tmp_path, free_port())
    srv.start()
    yield srv
    srv.stop()


def events(logs: list[dict], name: str) -> list[dict]:
    return [entry for entry in logs if entry["event"] == name]


def test_redis_killed_and_restarted(server, prefix, cache_logs):
    cache = TieredCache(server.url, prefix=prefix, l1_ttl_s=0.2, backoff_s=0.5,
                        socket_timeout_s=0.3)
    raw = server.client()
    calls: list[str] = []

    @cached("quote", key=lambda s: f"quote:{s}", cache=cache)
    def get_quote(symbol):
        calls.append(symbol)
        return {"symbol": symbol, "price": 100.0 + len(calls)}

    try:
        assert get_quote("AAPL")["price"] == 101.0
        cache.set_many({"quote:MSFT": {"price": 1}, "quote:IBM": {"price": 2}}, "quote")
        assert raw.exists(prefix + "quote:AAPL", prefix + "quote:MSFT") == 2

        server.stop()
        time.sleep(0.25)  # past the L1 cap: every read now has to try Redis first
        started = time.monotonic()
        for _ in range(25):
            assert get_quote("AAPL")["price"] == 101.0  # the L1 copy, no exception
            got = cache.get_many(["quote:MSFT", "quote:IBM", "quote:NONE"])
            assert {k: r.value for k, r in got.items()} == {
                "quote:MSFT": {"price": 1}, "quote:IBM": {"price": 2}}
            assert get_quote("TSLA")["symbol"] == "TSLA"  # loaded once, kept in memory
            cache.set("during", 7, "quote")
            assert cache.get("during").value == 7
            assert cache.invalidate("nothing:*")["deferred"] is True
            stats = cache.stats()
        elapsed_s = time.monotonic() - started
        assert calls == ["AAPL", "TSLA"]
        assert stats["l2"]["state"] == "down" and stats["l2"]["errors"] >= 1
        # Backing off: Redis was tried about once, the other ~150 calls skipped it.
        assert stats["l2"]["errors"] <= 3 and stats["events"]["l2_skipped"] >= 100
        assert elapsed_s < 1.5, f"degraded calls waited on Redis ({elapsed_s:.2f}s)"
        assert len(events(cache_logs, "cache.remote_down")) == 1  # one warning per outage
        assert events(cache_logs, "cache.remote_down")[0]["log_level"] == "warning"

        server.start()  # same port, empty data set
        deadline = time.monotonic() + 5
        while True:
            cache.set("after", {"back": True}, "quote")
            if raw.get(prefix + "after") is not None:
                break
            assert time.monotonic() < deadline, "the cache never went back to Redis"
            time.sleep(0.05)
        stored = orjson.loads(raw.get(prefix + "after"))
        assert stored[-1] == {"back": True}
        assert cache.stats()["l2"]["state"] == "up"
        get_quote("NFLX")
        assert raw.exists(prefix + "quote:NFLX") == 1
        assert len(events(cache_logs, "cache.remote_back")) == 1
        assert len(events(cache_logs, "cache.remote_down")) == 1
        assert PASSWORD not in repr(cache_logs)
        assert PASSWORD not in repr(cache.stats())
    finally:
        cache.close()
        raw.close()


def test_redis_timeouts_back_off_and_replay_invalidations(server, prefix, cache_logs):
    cache = TieredCache(server.url, prefix=prefix, l1_ttl_s=0.1, backoff_s=0.3,
                        socket_timeout_s=0.2)
    raw = server.client()
    try:
        cache.set_many({"quote:A": 1, "quote:B": 2, "news:A": 3, "profile:X": "v1",
                        "profile:Y": "v1"}, 60)
        time.sleep(0.15)
        raw.execute_command("CLIENT", "PAUSE", 1200, "ALL")  # every command now hangs 1.2 s
        started = time.monotonic()
        assert cache.get("quote:A").value == 1  # Redis times out: served from L1
        assert time.monotonic() - started < 1.0
        result = cache.invalidate("quote:*")
        assert result["deferred"] is True and result["l1"] == 2
        assert cache.get("quote:A") is None  # gone here at once
        cache.set_many({"profile:X": "v2", "profile:Y": "v2"}, 60)  # only L1 has these now
        assert cache.get("profile:X").value == "v2"
        time.sleep(1.3)  # pause over, back-off over
        deadline = time.monotonic() + 5
        while cache.stats()["events"]["l2_replayed"] < 1:
            cache.get("news:A")  # any call probes Redis and replays
            assert time.monotonic() < deadline, "invalidation was never replayed"
            time.sleep(0.05)
        assert raw.exists(prefix + "quote:A", prefix + "quote:B") == 0
        time.sleep(0.15)  # past the L1 cap: the read asks Redis, which still holds v1
        assert cache.get("profile:X").value == "v2"  # the newer local copy wins...
        assert orjson.loads(raw.get(prefix + "profile:X"))[-1] == "v2"  # ...and is pushed back
        assert cache.get_many(["profile:Y"])["profile:Y"].value == "v2"  # same for batches
        assert orjson.loads(raw.get(prefix + "profile:Y"))[-1] == "v2"
        assert raw.exists(prefix + "news:A") == 1
        assert [e["event"] for e in cache_logs if e["event"].startswith("cache.remote")] == [
            "cache.remote_down", "cache.remote_back"]
        assert events(cache_logs, "cache.remote_down")[0]["error_type"] == "TimeoutError"
    finally:
        cache.close()
        raw.close()
