"""Redis backend: pooled redis-py client, orjson values, prefixed keys, SCAN+UNLINK."""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping
from urllib.parse import urlsplit, urlunsplit

import orjson
import redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from app.cache.base import Counters, hit_rate

DEFAULT_PREFIX = "td:"
DEFAULT_SOCKET_TIMEOUT_S = 0.5
DEFAULT_MAX_CONNECTIONS = 64
DEFAULT_SCAN_BATCH = 500


def redact_url(url: str | None) -> str | None:
    """Return ``url`` with any password replaced by ``***`` (safe to log)."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo = f"{parts.username}:***" if parts.username else ":***"
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, f"{userinfo}@{host}", parts.path, parts.query, parts.fragment))


def _ttl_args(ttl_s: float | None) -> tuple:
    """Map a TTL in seconds to SET's ("EX", whole seconds) or ("PX", milliseconds)."""
    if ttl_s is None:
        return ()
    if ttl_s == int(ttl_s) and ttl_s >= 1:
        return ("EX", int(ttl_s))
    return ("PX", max(1, math.ceil(ttl_s * 1000)))


class RedisBackend:
    """Stores orjson-encoded values in Redis under ``prefix`` + key.

    Every command runs on a blocking connection pool with ~0.5 s socket timeouts
    and a single immediate retry (so a connection that went stale while Redis
    restarted is replaced at once). Errors are counted and re-raised: deciding
    what to do about an unreachable Redis is the tiered cache's job.
    """

    def __init__(
        self,
        url: str,
        prefix: str = DEFAULT_PREFIX,
        socket_timeout_s: float = DEFAULT_SOCKET_TIMEOUT_S,
        connect_timeout_s: float | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        scan_batch: int = DEFAULT_SCAN_BATCH,
    ) -> None:
        self.prefix = prefix
        self.safe_url = redact_url(url)
        self.scan_batch = scan_batch
        self._pool = redis.BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=socket_timeout_s,  # wait for a free pooled connection
            socket_timeout=socket_timeout_s,
            socket_connect_timeout=connect_timeout_s or socket_timeout_s,
            retry=Retry(NoBackoff(), 1),
        )
        self.client = redis.Redis(connection_pool=self._pool)
        self._counters = Counters("hits", "misses", "errors")

    # -- reads -------------------------------------------------------------------

    def get(self, key: str) -> Any | None:
        """Return the decoded value for ``key`` or None when missing."""
        raw = self._run(self.client.get, self.prefix + key)
        value = None if raw is None else self._decode(raw)
        self._counters.incr("misses" if value is None else "hits")
        return value

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """Fetch all ``keys`` with one MGET; missing keys are left out."""
        keys = list(keys)
        if not keys:
            return {}
        prefix = self.prefix
        raws = self._run(self.client.mget, [prefix + key for key in keys])
        found: dict[str, Any] = {}
        loads = orjson.loads
        bad = 0
        for key, raw in zip(keys, raws):
            if raw is None:
                continue
            try:
                found[key] = loads(raw)
            except orjson.JSONDecodeError:
                bad += 1
        self._counters.incr("hits", len(found))
        self._counters.incr("misses", len(keys) - len(found))
        if bad:
            self._counters.incr("errors", bad)
        return found

    # -- writes ------------------------------------------------------------------

    def set(self, key: str, value: Any, ttl_s: float | None) -> None:
        """SET the orjson-encoded value with EX/PX ``ttl_s`` (None: no expiry)."""
        payload = orjson.dumps(value)
        self._run(self.client.execute_command, "SET", self.prefix + key, payload, *_ttl_args(ttl_s))

    def set_many(self, mapping: Mapping[str, Any], ttl_s: float | None) -> None:
        """Store every item with one non-transactional pipeline of SET ... EX."""
        self.set_entries((key, value, ttl_s) for key, value in mapping.items())

    def set_entries(self, items: Iterable[tuple[str, Any, float | None]]) -> None:
        """Store (key, value, ttl_s) triples with one pipeline (one round trip)."""
        dumps = orjson.dumps
        prefix = self.prefix
        pipe = self.client.pipeline(transaction=False)
        queued = 0
        command = pipe.execute_command  # plain SET ... EX: skips set()'s option parsing
        for key, value, ttl_s in items:
            command("SET", prefix + key, dumps(value), *_ttl_args(ttl_s))
            queued += 1
        if queued:
            self._run(pipe.execute)

    def delete(self, *keys: str) -> int:
        """UNLINK the keys; return how many existed."""
        if not keys:
            return 0
        return int(self._run(self.client.unlink, *[self.prefix + key for key in keys]))

    def invalidate(self, pattern: str) -> int:
        """SCAN for ``prefix + pattern`` and UNLINK matches page by page; return how many."""
        match = self.prefix + pattern
        removed = 0
        cursor = 0
        while True:
            cursor, names = self._run(self.client.scan, cursor, match=match, count=self.scan_batch)
            if names:
                removed += int(self._run(self.client.unlink, *names))
            if int(cursor) == 0:
                return removed

    def ping(self) -> bool:
        """Round-trip a PING; raises on connection errors."""
        return bool(self._run(self.client.ping))

    # -- admin ---------------------------------------------------------------------

    def stats(self) -> dict:
        """Return hits, misses, hit_rate, errors; size is None (db_keys is DBSIZE)."""
        counts = self._counters.snapshot()
        try:
            db_keys = int(self._run(self.client.dbsize))
        except RedisError:
            db_keys = None
        return {
            "backend": "redis",
            "url": self.safe_url,
            "prefix": self.prefix,
            "hits": counts["hits"],
            "misses": counts["misses"],
            "hit_rate": hit_rate(counts["hits"], counts["misses"]),
            "errors": counts["errors"],
            # Counting only our prefix would need a full SCAN; DBSIZE counts the whole DB.
            "size": None,
            "db_keys": db_keys,
        }

    def counters(self) -> dict[str, int]:
        """Return the raw hit/miss/error counters without touching Redis."""
        return self._counters.snapshot()

    def reset_stats(self) -> None:
        """Zero the counters."""
        self._counters.reset()

    def close(self) -> None:
        """Disconnect every pooled connection."""
        self._pool.disconnect()

    # -- internals -----------------------------------------------------------------

    def _run(self, command, *args, **kwargs):
        try:
            return command(*args, **kwargs)
        except RedisError:
            self._counters.incr("errors")
            raise

    def _decode(self, raw: bytes) -> Any | None:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            self._counters.incr("errors")
            return None
