"""In-process backend: TTL + LRU, bounded by entry count, thread- and greenlet-safe."""

from __future__ import annotations

import fnmatch
import re
import threading
import time
from collections import OrderedDict
from typing import Any, Iterable, Mapping

from app.cache.base import hit_rate

DEFAULT_MAX_ENTRIES = 10_000
_NO_EXPIRY = float("inf")


class MemoryBackend:
    """A bounded LRU dict whose entries expire after their TTL.

    Values are stored by reference, not copied: treat what ``get`` returns as
    read-only. Expired entries are dropped when touched, when the bound forces an
    eviction (least recently used first), or by ``purge_expired``/``stats``.
    The lock is created per instance from ``threading``, so under gevent's
    monkey-patching (done before the cache is built) it is a greenlet lock.
    """

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES, clock=time.monotonic) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, got {max_entries}")
        self.max_entries = int(max_entries)
        self._clock = clock
        self._lock = threading.Lock()
        # key -> (expires_at monotonic seconds, value)
        self._data: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._hits = 0
        self._misses = 0
        self._evictions = 0
        self._expired = 0

    def get(self, key: str) -> Any | None:
        """Return the live value for ``key`` (and mark it recently used) or None."""
        with self._lock:
            item = self._data.get(key)
            if item is None:
                self._misses += 1
                return None
            if item[0] <= self._clock():
                del self._data[key]
                self._expired += 1
                self._misses += 1
                return None
            self._data.move_to_end(key)
            self._hits += 1
            return item[1]

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """Return the live values among ``keys`` under a single lock acquisition."""
        found: dict[str, Any] = {}
        data = self._data
        with self._lock:
            now = self._clock()
            hits = misses = 0
            for key in keys:
                item = data.get(key)
                if item is None:
                    misses += 1
                elif item[0] <= now:
                    del data[key]
                    self._expired += 1
                    misses += 1
                else:
                    data.move_to_end(key)
                    found[key] = item[1]
                    hits += 1
            self._hits += hits
            self._misses += misses
        return found

    def set(self, key: str, value: Any, ttl_s: float | None) -> None:
        """Store ``value`` for ``ttl_s`` seconds (None: until evicted)."""
        with self._lock:
            self._store(key, value, self._expiry(ttl_s))

    def set_many(self, mapping: Mapping[str, Any], ttl_s: float | None) -> None:
        """Store every item of ``mapping`` with the same TTL under one lock."""
        with self._lock:
            expires_at = self._expiry(ttl_s)
            for key, value in mapping.items():
                self._store(key, value, expires_at)

    def set_entries(self, items: Iterable[tuple[str, Any, float | None]]) -> None:
        """Store (key, value, ttl_s) triples, each with its own TTL, under one lock."""
        with self._lock:
            now = self._clock()
            for key, value, ttl_s in items:
                self._store(key, value, _NO_EXPIRY if ttl_s is None else now + ttl_s)

    def delete(self, *keys: str) -> int:
        """Remove the keys; return how many were present."""
        removed = 0
        with self._lock:
            for key in keys:
                if self._data.pop(key, None) is not None:
                    removed += 1
        return removed

    def invalidate(self, pattern: str) -> int:
        """Remove keys matching the glob ``pattern`` (fnmatch syntax); return how many."""
        match = re.compile(fnmatch.translate(pattern)).match
        with self._lock:
            doomed = [key for key in self._data if match(key)]
            for key in doomed:
                del self._data[key]
        return len(doomed)

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._data.clear()

    def purge_expired(self) -> int:
        """Drop every expired entry now; return how many (O(n), for admin paths)."""
        with self._lock:
            now = self._clock()
            doomed = [key for key, (expires_at, _) in self._data.items() if expires_at <= now]
            for key in doomed:
                del self._data[key]
            self._expired += len(doomed)
        return len(doomed)

    def record(self, hits: int = 0, misses: int = 0) -> None:
        """Adjust the hit/miss counters (used by a tiered cache that re-checks L2)."""
        with self._lock:
            self._hits += hits
            self._misses += misses

    def __len__(self) -> int:
        return len(self._data)

    def stats(self) -> dict:
        """Return hits, misses, hit_rate, errors (always 0), size, max_entries, evictions."""
        self.purge_expired()
        with self._lock:
            return {
                "backend": "memory",
                "hits": self._hits,
                "misses": self._misses,
                "hit_rate": hit_rate(self._hits, self._misses),
                "errors": 0,
                "size": len(self._data),
                "max_entries": self.max_entries,
                "evictions": self._evictions,
                "expired": self._expired,
            }

    def counts(self) -> tuple[int, int]:
        """Return (hits, misses) so far; O(1), unlike stats()."""
        with self._lock:
            return self._hits, self._misses

    def reset_stats(self) -> None:
        """Zero the counters (size is unaffected)."""
        with self._lock:
            self._hits = self._misses = self._evictions = self._expired = 0

    def close(self) -> None:
        """Drop every entry (nothing else to release)."""
        self.clear()

    # -- internals (caller holds the lock) --------------------------------------

    def _expiry(self, ttl_s: float | None) -> float:
        if ttl_s is None:
            return _NO_EXPIRY
        return self._clock() + ttl_s

    def _store(self, key: str, value: Any, expires_at: float) -> None:
        data = self._data
        if key in data:
            data.move_to_end(key)
        data[key] = (expires_at, value)
        while len(data) > self.max_entries:
            data.popitem(last=False)
            self._evictions += 1
