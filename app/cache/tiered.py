"""TieredCache: in-process L1 in front of Redis (L2), degrading to memory when Redis fails."""

from __future__ import annotations

import threading
import time
from typing import Any, Iterable, Mapping

import structlog
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.cache.base import (
    DEFAULT_TTLS,
    LASTGOOD_PREFIX,
    LASTGOOD_TTL_S,
    WIRE_TAG,
    CacheResult,
    Counters,
    Entry,
    make_entry,
)
from app.cache.memory import DEFAULT_MAX_ENTRIES, MemoryBackend
from app.cache.redis_backend import RedisBackend
from app.ops.breaker import CircuitBreaker

log = structlog.get_logger(__name__)

_UNAVAILABLE = object()  # an L2 call was skipped or failed
_CONNECTION_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)
_MAX_PENDING = 1000  # deletes/invalidations remembered during an outage

EVENTS = ("stale_served", "lastgood_served", "refreshes", "refresh_errors",
          "coalesced", "loads", "load_errors", "l2_skipped", "l2_errors", "l2_replayed")


class TieredCache:
    """A cache of expiring entries: L1 (MemoryBackend) in front of an optional Redis L2.

    Reads return ``CacheResult(value, stale, age_s)`` (or None on a miss); entries
    are fresh for their TTL and then servable as stale for a grace period. An L1
    copy is trusted without asking Redis for at most ``l1_ttl_s`` seconds, but is
    kept until the entry's stale time as a fallback. When Redis raises a
    connection or timeout error the cache answers from L1 alone, logs one warning,
    skips Redis for ``backoff_s`` seconds, then probes it again by itself;
    deletes and invalidations made meanwhile are replayed when it is back.
    """

    def __init__(
        self,
        redis_url: str | None = None,
        *,
        ttls: Mapping[str, float] | None = None,
        stale_grace_s: float | None = None,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        l1_ttl_s: float = 5.0,
        backoff_s: float = 2.0,
        prefix: str = "td:",
        socket_timeout_s: float = 0.5,
        redis: RedisBackend | None = None,
    ) -> None:
        self.ttls: dict[str, float] = {**DEFAULT_TTLS, **(ttls or {})}
        self.stale_grace_s = stale_grace_s
        self.l1_ttl_s = float(l1_ttl_s)
        self._l1 = MemoryBackend(max_entries)
        if redis is None and redis_url:
            redis = RedisBackend(redis_url, prefix=prefix, socket_timeout_s=socket_timeout_s)
        self._l2 = redis
        target = redis.safe_url if redis is not None else None  # already redacted: it is logged
        # One connection error trips it: every call would otherwise wait out its socket timeout.
        self._breaker = CircuitBreaker(1, backoff_s, on_open=lambda exc: _log_down(target, backoff_s, exc),
                                       on_close=lambda down_s: _log_back(target, down_s))
        self._events = Counters(*EVENTS)
        self._pending_lock = threading.Lock()
        self._pending: list[tuple[str, Any]] = []
        self._pending_overflow = False

    # -- configuration -------------------------------------------------------------

    @property
    def mode(self) -> str:
        """'tiered' when Redis is configured, else 'memory'."""
        return "memory" if self._l2 is None else "tiered"

    @property
    def redis(self) -> RedisBackend | None:
        """The Redis backend (None in memory-only mode)."""
        return self._l2

    @property
    def l1(self) -> MemoryBackend:
        """The in-process level."""
        return self._l1

    def ttl_s(self, ttl: str | float) -> float:
        """Resolve a TTL class name ('quote', ...) or a number of seconds to seconds."""
        if isinstance(ttl, str):
            try:
                return float(self.ttls[ttl])
            except KeyError:
                raise ValueError(f"unknown TTL class {ttl!r}; known: {sorted(self.ttls)}") from None
        return float(ttl)

    def grace_s(self, ttl_s: float) -> float:
        """Seconds an entry of ``ttl_s`` may be served stale (CACHE_STALE_GRACE or the TTL)."""
        return ttl_s if self.stale_grace_s is None else float(self.stale_grace_s)

    def note(self, event: str, by: int = 1) -> None:
        """Count an event (stale_served, refreshes, ...) shown under stats()['events']."""
        self._events.incr(event, by)

    # -- reads -----------------------------------------------------------------------

    def get(self, key: str) -> CacheResult | None:
        """Return the entry for ``key`` as a CacheResult (stale flagged) or None."""
        now = time.time()
        entry = self._l1.get(key)
        if entry is not None and now < entry.l1_until and now < entry.fresh_until:
            return CacheResult(entry.value, False, now - entry.stored_at)
        if self._l2 is None:
            return None if entry is None else entry.result(now)
        raw = self._l2_call(self._l2.get, key)
        if raw is _UNAVAILABLE:
            return None if entry is None else entry.result(now)
        if entry is not None:
            self._l1.record(hits=-1, misses=1)  # the L1 copy was not the answer
        fetched = self._adopt(key, raw, entry, now)
        return None if fetched is None else fetched.result(now)

    def get_many(self, keys: Iterable[str]) -> dict[str, CacheResult]:
        """Look up many keys: L1 first, then one MGET for the rest; misses are left out."""
        keys = list(keys)
        now = time.time()
        in_l1 = self._l1.get_many(keys)
        results: dict[str, CacheResult] = {}
        need: list[str] = []
        for key in keys:
            entry = in_l1.get(key)
            if entry is not None and now < entry.l1_until and now < entry.fresh_until:
                results[key] = CacheResult(entry.value, False, now - entry.stored_at)
            else:
                need.append(key)
        if not need:
            return results
        raws = _UNAVAILABLE if self._l2 is None else self._l2_call(self._l2.get_many, need)
        if raws is _UNAVAILABLE:
            for key in need:
                entry = in_l1.get(key)
                if entry is not None:
                    results[key] = entry.result(now)
            return results
        rechecked = sum(1 for key in need if key in in_l1)
        if rechecked:
            self._l1.record(hits=-rechecked, misses=rechecked)
        # Hot loop for the batch quote path: build tuples directly (no NamedTuple __new__).
        new, entry_cls, result_cls = tuple.__new__, Entry, CacheResult
        to_l1: list[tuple[str, Entry, float]] = []
        dropped: list[str] = []
        push_back: list[tuple[str, list, float]] = []
        l1_cap = now + self.l1_ttl_s
        for key in need:
            raw = raws.get(key)
            old = in_l1.get(key)
            if type(raw) is not list or len(raw) != 5 or raw[0] != WIRE_TAG:
                if raw is not None:
                    self.note("l2_errors")
                if old is not None:
                    dropped.append(key)
                continue
            _, stored_at, fresh_until, stale_until, value = raw
            if old is not None and old.stored_at > stored_at:
                # Written here while Redis was away: newer than Redis's copy; push it back.
                value, stored_at, fresh_until, stale_until = old[:4]
                push_back.append((key, old.to_wire(), max(0.001, stale_until - now)))
            entry = new(entry_cls, (value, stored_at, fresh_until, stale_until,
                                    l1_cap if l1_cap < fresh_until else fresh_until))
            to_l1.append((key, entry, stale_until - now))
            results[key] = new(result_cls, (value, now >= fresh_until, now - stored_at))
        if to_l1:
            self._l1.set_entries(to_l1)
        if dropped:
            self._l1.delete(*dropped)
        if push_back:
            self._l2_call(self._l2.set_entries, push_back)
        return results

    def lastgood(self, key: str) -> CacheResult | None:
        """Return the long-lived last good copy of ``key`` (always marked stale) or None."""
        found = self.get(LASTGOOD_PREFIX + key)
        return None if found is None else CacheResult(found.value, True, found.age_s)

    # -- writes ----------------------------------------------------------------------

    def set(self, key: str, value: Any, ttl: str | float = "quote", *,
            grace_s: float | None = None, keep_lastgood: bool = False) -> None:
        """Store ``value`` fresh for ``ttl`` (class name or seconds) in L1 and Redis."""
        self.set_many({key: value}, ttl, grace_s=grace_s, keep_lastgood=keep_lastgood)

    def set_many(self, mapping: Mapping[str, Any], ttl: str | float = "quote", *,
                 grace_s: float | None = None, keep_lastgood: bool = False) -> None:
        """Store every item with one Redis pipeline (plus last-good copies if asked)."""
        ttl_s = self.ttl_s(ttl)
        grace = self.grace_s(ttl_s) if grace_s is None else float(grace_s)
        now = time.time()
        items: list[tuple[str, Entry, float]] = []
        for key, value in mapping.items():
            items.append((key, make_entry(value, ttl_s, grace, now), ttl_s + grace))
            if keep_lastgood:
                items.append((LASTGOOD_PREFIX + key, make_entry(value, LASTGOOD_TTL_S, 0.0, now),
                              float(LASTGOOD_TTL_S)))
        if items:
            self._write(items, now)

    def delete(self, *keys: str) -> int:
        """Remove the keys from both levels; return how many Redis (or L1) held."""
        removed_l1 = self._l1.delete(*keys)
        if self._l2 is None:
            return removed_l1
        removed = self._l2_call(self._l2.delete, *keys)
        if removed is _UNAVAILABLE:
            self._remember("delete", keys)
            return removed_l1
        return removed

    def invalidate(self, pattern: str) -> dict:
        """Remove keys matching the glob ``pattern`` from L1 and (SCAN+UNLINK) Redis.

        Returns ``{"l1": n, "l2": n | None, "deferred": bool}``; when Redis is
        unreachable the pattern is replayed on it as soon as it is back.
        """
        removed_l1 = self._l1.invalidate(pattern)
        if self._l2 is None:
            return {"l1": removed_l1, "l2": None, "deferred": False}
        removed = self._l2_call(self._l2.invalidate, pattern)
        if removed is _UNAVAILABLE:
            self._remember("invalidate", pattern)
            return {"l1": removed_l1, "l2": None, "deferred": True}
        return {"l1": removed_l1, "l2": removed, "deferred": False}

    # -- admin -----------------------------------------------------------------------

    def stats(self) -> dict:
        """Return JSON-able stats per level (l1 + l2, or memory) plus cache events."""
        out: dict[str, Any] = {"mode": self.mode, "ttl_s": dict(self.ttls),
                               "stale_grace_s": self.stale_grace_s,
                               "events": self._events.snapshot()}
        l1 = self._l1.stats()
        if self._l2 is None:
            out["memory"] = l1
            return out
        l1["ttl_cap_s"] = self.l1_ttl_s
        out["l1"] = l1
        if self._breaker.is_open:
            l2 = {"backend": "redis", "url": self._l2.safe_url, "prefix": self._l2.prefix,
                  **self._l2.counters(), "size": None, "db_keys": None}
            hits, misses = l2["hits"], l2["misses"]
            l2["hit_rate"] = round(hits / (hits + misses), 4) if hits + misses else None
        else:
            l2 = self._l2.stats()
        l2.update({"state": "down" if self._breaker.is_open else "up",
                   "retry_in_s": round(self._breaker.retry_in_s, 3), "backoff_s": self._breaker.reset_after_s,
                   "outages": self._breaker.outages})
        with self._pending_lock:
            l2["pending_replays"] = len(self._pending)
        out["l2"] = l2
        return out

    def counters(self) -> dict[str, dict[str, int]]:
        """Return running hit/miss(/error) totals per level, without asking Redis anything."""
        hits, misses = self._l1.counts()
        out = {"memory" if self._l2 is None else "l1": {"hit": hits, "miss": misses}}
        if self._l2 is not None:
            l2 = self._l2.counters()
            out["l2"] = {"hit": l2["hits"], "miss": l2["misses"], "error": l2["errors"]}
        return out

    def reset_stats(self) -> None:
        """Zero every counter (sizes are unaffected)."""
        self._l1.reset_stats()
        self._events.reset()
        if self._l2 is not None:
            self._l2.reset_stats()

    def close(self) -> None:
        """Drop L1 and disconnect from Redis."""
        self._l1.close()
        if self._l2 is not None:
            self._l2.close()

    # -- internals -------------------------------------------------------------------

    def _write(self, items: list[tuple[str, Entry, float]], now: float) -> None:
        if self._l2 is not None:
            self._l2_call(self._l2.set_entries, [(key, entry.to_wire(), ttl_s)
                                                 for key, entry, ttl_s in items])
        # With Redis configured, the L1 copy is trusted for l1_ttl_s even when this write
        # missed Redis: afterwards reads ask Redis again (and push this copy back if it is
        # newer), so other workers' writes and invalidations are seen once Redis returns.
        l1_cap = now + self.l1_ttl_s
        l1_items = []
        for key, entry, ttl_s in items:
            l1_until = min(l1_cap, entry.fresh_until) if self._l2 is not None else entry.stale_until
            l1_items.append((key, entry._replace(l1_until=l1_until), ttl_s))
        self._l1.set_entries(l1_items)

    def _adopt(self, key: str, raw: Any, old: Entry | None, now: float) -> Entry | None:
        """Turn what Redis returned for ``key`` into the entry to serve, refreshing L1."""
        entry = None if raw is None else Entry.from_wire(raw)
        if entry is None:
            if raw is not None:
                self.note("l2_errors")
                log.warning("cache.foreign_value", key=key)
            if old is not None:
                self._l1.delete(key)
            return None
        if old is not None and old.stored_at > entry.stored_at:
            # Written here while Redis was unreachable: newer than Redis's; push it back.
            self._l2_call(self._l2.set, key, old.to_wire(), max(0.001, old.stale_until - now))
            entry = old
        entry = entry._replace(l1_until=min(now + self.l1_ttl_s, entry.fresh_until))
        self._l1.set(key, entry, entry.stale_until - now)
        return entry

    def _l2_call(self, command, *args):
        """Run a Redis command unless backing off; connection errors trip the back-off."""
        breaker = self._breaker
        if not breaker.allow():
            self.note("l2_skipped")
            return _UNAVAILABLE
        settled = False
        try:
            if breaker.is_open:  # this caller is the probe: confirm, replay, then run
                self._l2.ping()
                self._reachable()
            result = command(*args)
            settled = True
        except _CONNECTION_ERRORS as exc:
            settled = True
            breaker.failure(exc)
            self.note("l2_errors")
            return _UNAVAILABLE
        except RedisError as exc:  # Redis answered, with an error: reachable, no back-off
            settled = True
            self.note("l2_errors")
            self._reachable()
            log.warning("cache.remote_error", store="redis", error_type=type(exc).__name__,
                        error=str(exc))
            return _UNAVAILABLE
        finally:
            if not settled:  # e.g. a value orjson cannot encode: not Redis's fault
                breaker.release()
        self._reachable()
        return result

    def _reachable(self) -> None:
        if self._breaker.success():
            self._replay()

    def _remember(self, op: str, arg: Any) -> None:
        with self._pending_lock:
            if len(self._pending) < _MAX_PENDING:
                self._pending.append((op, arg))
                return
            overflow_first = not self._pending_overflow
            self._pending_overflow = True
        if overflow_first:
            log.warning("cache.replay_overflow", store="redis", max_pending=_MAX_PENDING)

    def _replay(self) -> None:
        """Apply deletes/invalidations that Redis missed while it was unreachable."""
        with self._pending_lock:
            pending, self._pending = self._pending, []
            overflow, self._pending_overflow = self._pending_overflow, False
        for done, (op, arg) in enumerate(pending):
            command = self._l2.delete if op == "delete" else self._l2.invalidate
            args = arg if op == "delete" else (arg,)
            try:
                command(*args)
            except RedisError as exc:
                log.warning("cache.replay_failed", store="redis", error_type=type(exc).__name__,
                            error=str(exc), left=len(pending) - done)
                with self._pending_lock:
                    self._pending[:0] = pending[done:]
                return
            self.note("l2_replayed")
        if overflow:
            log.warning("cache.replay_incomplete", store="redis",
                        detail="too many changes during the outage; some were not replayed")


def _log_down(target: str | None, backoff_s: float, exc: BaseException | None) -> None:
    log.warning("cache.remote_down", store="redis", target=target, error_type=type(exc).__name__,
                error=str(exc), backoff_s=backoff_s)


def _log_back(target: str | None, down_s: float) -> None:
    log.info("cache.remote_back", store="redis", target=target, down_s=round(down_s, 3))
