"""Shared types of the cache layer: results, entries, the backend interface, counters."""

from __future__ import annotations

import threading
import time
from typing import Any, Iterable, Mapping, NamedTuple, Protocol, runtime_checkable

# Default TTL (seconds) of each named TTL class.
DEFAULT_TTLS: dict[str, int] = {
    "quote": 15,
    "history": 3600,
    "profile": 86400,
    "news": 900,
    "score": 300,
}

# Seconds a "last good" copy of a decorated function's result is kept (7 days).
LASTGOOD_TTL_S = 7 * 24 * 3600
LASTGOOD_PREFIX = "lastgood:"

# Marker in front of every entry written to Redis, so foreign values are recognised.
WIRE_TAG = 1


class CacheResult(NamedTuple):
    """What a cache lookup returns: the value, whether it is past its fresh time, its age."""

    value: Any
    stale: bool
    age_s: float


class Entry(NamedTuple):
    """A stored value with its wall-clock times (epoch seconds).

    ``fresh_until``: served as fresh before this; ``stale_until``: may be served stale
    (while it refreshes) before this, then it is gone. ``l1_until`` only matters in
    the in-process L1 of a tiered cache: after it the L1 copy must be re-checked
    against Redis, though it stays as a fallback for when Redis is unreachable.
    """

    value: Any
    stored_at: float
    fresh_until: float
    stale_until: float
    l1_until: float

    def result(self, now: float) -> CacheResult:
        """Turn the entry into a CacheResult as seen at ``now``."""
        return CacheResult(self.value, now >= self.fresh_until, max(0.0, now - self.stored_at))

    def to_wire(self) -> list:
        """Return the JSON-able form stored in Redis."""
        return [WIRE_TAG, self.stored_at, self.fresh_until, self.stale_until, self.value]

    @classmethod
    def from_wire(cls, raw: Any, l1_until: float = 0.0) -> Entry | None:
        """Parse the Redis form back into an Entry; None when it is not one of ours."""
        if type(raw) is not list or len(raw) != 5 or raw[0] != WIRE_TAG:
            return None
        return cls(raw[4], raw[1], raw[2], raw[3], l1_until)


def make_entry(value: Any, ttl_s: float, grace_s: float, now: float | None = None) -> Entry:
    """Build an entry fresh for ``ttl_s`` and servable stale for ``grace_s`` more."""
    if now is None:
        now = time.time()
    fresh_until = now + ttl_s
    return Entry(value, now, fresh_until, fresh_until + max(0.0, grace_s), now)


@runtime_checkable
class Backend(Protocol):
    """The interface every storage backend offers (values are stored as given)."""

    def get(self, key: str) -> Any | None:
        """Return the value for ``key`` or None when missing or expired."""

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """Return a dict of the keys that are present (missing keys are left out)."""

    def set(self, key: str, value: Any, ttl_s: float | None) -> None:
        """Store ``value`` under ``key`` for ``ttl_s`` seconds (None: no expiry)."""

    def set_many(self, mapping: Mapping[str, Any], ttl_s: float | None) -> None:
        """Store every item of ``mapping`` with the same TTL."""

    def delete(self, *keys: str) -> int:
        """Remove the keys; return how many existed."""

    def invalidate(self, pattern: str) -> int:
        """Remove every key matching the glob ``pattern``; return how many."""

    def stats(self) -> dict:
        """Return JSON-able counters: hits, misses, hit_rate, errors, size."""

    def close(self) -> None:
        """Release resources held by the backend."""


class Counters:
    """Thread-safe named integer counters (the lock is greenlet-aware under gevent)."""

    def __init__(self, *names: str) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, int] = dict.fromkeys(names, 0)

    def incr(self, name: str, by: int = 1) -> None:
        """Add ``by`` to counter ``name``."""
        with self._lock:
            self._values[name] = self._values.get(name, 0) + by

    def snapshot(self) -> dict[str, int]:
        """Return a copy of all counters."""
        with self._lock:
            return dict(self._values)

    def reset(self) -> None:
        """Set every counter back to zero."""
        with self._lock:
            for name in self._values:
                self._values[name] = 0


def hit_rate(hits: int, misses: int) -> float | None:
    """Return hits / (hits + misses) rounded to 4 places, or None before any lookup."""
    total = hits + misses
    return round(hits / total, 4) if total else None
