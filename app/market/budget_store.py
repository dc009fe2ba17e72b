"""Where the provider budgets' moving windows live: Redis for every host, a SQLite file for one.

Both stores answer the two calls of the `limits` package's moving-window storage
(`acquire_entry`, `get_moving_window`), with its semantics: a window of `expiry` seconds
holds at most `limit` entries, and one key may be asked with different limits (the
background share is a smaller limit on the same window). Redis runs `limits`' own Lua
scripts, so one check-and-take is atomic across processes and hosts; SQLite does the same
in one `BEGIN IMMEDIATE` transaction, atomic across the processes of a host.

While Redis is unreachable the budget falls back to the host's SQLite file (each host then
keeps its own budget; the provider's 429s, which the client honours, cover the rest), and
the circuit breaker skips Redis for a while before probing it again.
"""
from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import redis.asyncio as aioredis
import structlog
from limits.aio.storage import RedisStorage
from redis.exceptions import RedisError

from app.ops.breaker import CircuitBreaker

log = structlog.get_logger(__name__)

REDIS_TIMEOUT_S = 0.5  # a Redis that stops answering must not hold market calls up
REDIS_RETRY_S = 5.0  # how long the budget keeps to the host file after Redis failed
SQLITE_BUSY_S = 2.0


class WindowStore(Protocol):
    """The moving-window storage a ProviderBudget needs."""

    async def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        """Add `amount` entries now if the window then holds at most `limit`; return whether it did."""

    async def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        """Return (time of the oldest of the newest `limit` entries in the window, their count)."""

    async def aclose(self) -> None:
        """Release connections."""


def store_for(settings: Mapping[str, Any]) -> WindowStore | None:
    """Return the store the settings name: Redis (REDIS_URL) over the host file (BUDGET_SQLITE_PATH)."""
    path = settings.get("BUDGET_SQLITE_PATH")
    host = HostWindows(path) if path else None
    url = settings.get("REDIS_URL")
    if url:
        return SharedWindows(str(url), str(settings.get("BUDGET_KEY_PREFIX") or "td:budget"), fallback=host)
    return host


class HostWindows:
    """Moving windows in a SQLite file, shared by the processes of one host."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0

    async def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        """Add `amount` entries now if the window then holds at most `limit`; return whether it did."""
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")  # the write lock first: check and insert are one step
            try:
                now = time.time()  # after the lock: an entry is stamped when its request may go
                conn.execute("DELETE FROM budget_hits WHERE key = ? AND at <= ?", (key, now - expiry))
                (held,) = conn.execute("SELECT count(*) FROM budget_hits WHERE key = ?", (key,)).fetchone()
                taken = held + amount <= limit
                if taken:
                    conn.executemany("INSERT INTO budget_hits (key, at) VALUES (?, ?)", [(key, now)] * amount)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        return taken

    async def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        """Return (time of the oldest of the newest `limit` entries in the window, their count)."""
        now = time.time()
        with self._lock:
            rows = self._connection().execute(
                "SELECT at FROM budget_hits WHERE key = ? AND at > ? ORDER BY at DESC LIMIT ?",
                (key, now - expiry, max(limit, 0))).fetchall()
        return (rows[-1][0], len(rows)) if rows else (now, 0)

    async def aclose(self) -> None:
        """Close this process's connection."""
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    def _connection(self) -> sqlite3.Connection:
        # One connection per process: a forked child must not use its parent's.
        if self._conn is None or self._pid != os.getpid():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=SQLITE_BUSY_S, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("CREATE TABLE IF NOT EXISTS budget_hits (key TEXT NOT NULL, at REAL NOT NULL)")
            conn.execute("CREATE INDEX IF NOT EXISTS budget_hits_key_at ON budget_hits (key, at)")
            self._conn, self._pid = conn, os.getpid()
        return self._conn


class SharedWindows:
    """Moving windows in Redis (the `limits` package's storage), falling back to the host file."""

    def __init__(self, url: str, key_prefix: str, fallback: HostWindows | None = None) -> None:
        self.url = url
        self.key_prefix = key_prefix
        self.fallback = fallback
        self.breaker = CircuitBreaker(1, REDIS_RETRY_S, on_open=self._log_down, on_close=self._log_back)
        # redis.asyncio connections belong to the loop that made them: one storage per loop.
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[RedisStorage, Any]] = (
            weakref.WeakKeyDictionary())

    async def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        """Add `amount` entries now if the window then holds at most `limit`; return whether it did."""
        return await self._call("acquire_entry", key, limit, expiry, amount)

    async def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        """Return (time of the oldest of the newest `limit` entries in the window, their count)."""
        return await self._call("get_moving_window", key, limit, expiry)

    async def aclose(self) -> None:
        """Disconnect this loop's pool (and the fallback's connection)."""
        found = self._by_loop.pop(asyncio.get_running_loop(), None)
        if found is not None:
            await found[1].aclose()
        if self.fallback is not None:
            await self.fallback.aclose()

    async def _call(self, method: str, *args: Any) -> Any:
        if self.breaker.allow():
            try:
                result = await getattr(self._storage(), method)(*args)
            except (RedisError, OSError) as exc:
                self.breaker.failure(exc)
            except BaseException:
                self.breaker.release()
                raise
            else:
                self.breaker.success()
                return result
        if self.fallback is None:  # no host file configured: let the call go, the provider's 429s still count
            return True if method == "acquire_entry" else (time.time(), 0)
        return await getattr(self.fallback, method)(*args)

    def _storage(self) -> RedisStorage:
        loop = asyncio.get_running_loop()
        found = self._by_loop.get(loop)
        if found is None:
            client = aioredis.Redis.from_url(self.url, socket_timeout=REDIS_TIMEOUT_S,
                                             socket_connect_timeout=REDIS_TIMEOUT_S)
            storage = RedisStorage("async+" + self.url, implementation="redispy", key_prefix=self.key_prefix,
                                   connection_pool=client.connection_pool)
            found = self._by_loop[loop] = (storage, client)
        return found[0]

    def _log_down(self, exc: BaseException | None) -> None:
        log.warning("market.budget_redis_down", error_type=type(exc).__name__,
                    fallback="host file" if self.fallback is not None else "none", retry_s=REDIS_RETRY_S)

    def _log_back(self, down_s: float) -> None:
        log.info("market.budget_redis_back", down_s=round(down_s, 3))
