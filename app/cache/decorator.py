"""@cached: stale-while-revalidate, last-good fallback and miss coalescing for sync functions."""

from __future__ import annotations

import functools
import sys
import threading
from typing import Any, Callable

import structlog

from app.cache.base import DEFAULT_TTLS, CacheResult
from app.cache.config import get_cache
from app.cache.tiered import TieredCache

log = structlog.get_logger(__name__)


class _Flight:
    """One in-progress load that concurrent callers of the same key wait on."""

    __slots__ = ("done", "result", "error")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: CacheResult | None = None
        self.error: BaseException | None = None


class _KeyGuards:
    """Per-key coalescing of loads and at-most-one background refresh per key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[str, _Flight] = {}
        self._refreshing: set[str] = set()

    def join(self, key: str) -> tuple[bool, _Flight]:
        """Return (True, new flight) for the leader, (False, its flight) for followers."""
        with self._lock:
            flight = self._flights.get(key)
            if flight is not None:
                return False, flight
            flight = self._flights[key] = _Flight()
            return True, flight

    def land(self, key: str, flight: _Flight) -> None:
        """Finish a flight: forget it and wake its followers."""
        with self._lock:
            if self._flights.get(key) is flight:
                del self._flights[key]
        flight.done.set()

    def claim_refresh(self, key: str) -> bool:
        """Return True if the caller may start the (only) refresh of ``key``."""
        with self._lock:
            if key in self._refreshing:
                return False
            self._refreshing.add(key)
            return True

    def end_refresh(self, key: str) -> None:
        """Allow a new refresh of ``key``."""
        with self._lock:
            self._refreshing.discard(key)


def default_key(name: str, args: tuple, kwargs: dict) -> str:
    """Build '<name>:<arg>:<arg>:k=v' from the call's arguments."""
    parts = [name, *map(str, args)]
    if kwargs:
        parts.extend(f"{k}={kwargs[k]}" for k in sorted(kwargs))
    return ":".join(parts)


def _app_context_factory() -> Callable[[], Any] | None:
    """Return the current Flask app's app_context factory, if there is an app context."""
    flask = sys.modules.get("flask")
    if flask is None or not flask.has_app_context():
        return None
    return flask.current_app._get_current_object().app_context


def cached(
    ttl: str | float = "quote",
    key: Callable[..., str] | None = None,
    *,
    grace_s: float | None = None,
    lastgood: bool = True,
    name: str | None = None,
    cache: TieredCache | None = None,
):
    """Cache a sync function's results with stale-while-revalidate and last-good fallback.

    ``ttl``: a TTL class ('quote', 'history', 'profile', 'news', 'score') or seconds.
    ``key``: callable(*args, **kwargs) -> str; default '<module.qualname>:<args>'.
    ``grace_s``: stale grace override (default: the cache's CACHE_STALE_GRACE or the TTL).
    ``lastgood``: keep a 7-day copy to serve (stale) when the function raises.
    ``cache``: a specific cache; default get_cache() at call time.

    The wrapper returns the value; ``wrapper.lookup(...)`` returns a CacheResult
    (value, stale, age_s); ``wrapper.invalidate(...)`` drops the entry;
    ``wrapper.key(...)`` shows the key.
    """
    if isinstance(ttl, str) and ttl not in DEFAULT_TTLS:
        raise ValueError(f"unknown TTL class {ttl!r}; known: {sorted(DEFAULT_TTLS)}")
    if not isinstance(ttl, str) and ttl <= 0:
        raise ValueError(f"ttl must be > 0 seconds, got {ttl}")

    def decorate(fn: Callable[..., Any]):
        """Wrap ``fn``; attach lookup/invalidate/key helpers."""
        qualname = getattr(fn, "__qualname__", type(fn).__qualname__)
        base = name or f"{getattr(fn, '__module__', None) or type(fn).__module__}.{qualname}"
        guards = _KeyGuards()

        def make_key(args: tuple, kwargs: dict) -> str:
            """Return the cache key for one call."""
            return key(*args, **kwargs) if key is not None else default_key(base, args, kwargs)

        def call_and_store(store: TieredCache, k: str, args: tuple, kwargs: dict) -> CacheResult:
            """Call fn and store its value; on error fall back to the last good value."""
            store.note("loads")
            try:
                value = fn(*args, **kwargs)
            except Exception as exc:
                store.note("load_errors")
                previous = store.lastgood(k) if lastgood else None
                if previous is None:
                    raise
                store.note("lastgood_served")
                log.warning("cache.lastgood_served", key=k, error_type=type(exc).__name__,
                            error=str(exc), age_s=round(previous.age_s, 3))
                return previous
            store.set(k, value, ttl, grace_s=grace_s, keep_lastgood=lastgood)
            return CacheResult(value, False, 0.0)

        def load(store: TieredCache, k: str, args: tuple, kwargs: dict) -> CacheResult:
            """Run one load per key at a time; concurrent callers share its outcome."""
            leader, flight = guards.join(k)
            if not leader:
                store.note("coalesced")
                flight.done.wait()
                if flight.error is not None:
                    raise flight.error
                if flight.result is not None:
                    return flight.result
                return load(store, k, args, kwargs)  # the leader was interrupted
            try:
                flight.result = call_and_store(store, k, args, kwargs)
                return flight.result
            except Exception as exc:
                flight.error = exc
                raise
            finally:
                guards.land(k, flight)

        def refresh(store: TieredCache, k: str, args: tuple, kwargs: dict, app_context) -> None:
            """Background refresh of a stale key (runs in a daemon thread / greenlet)."""
            try:
                current = store.get(k)
                if current is not None and not current.stale:
                    return  # another worker already refreshed it
                store.note("refreshes")
                if app_context is None:
                    value = fn(*args, **kwargs)
                else:
                    with app_context():
                        value = fn(*args, **kwargs)
                store.set(k, value, ttl, grace_s=grace_s, keep_lastgood=lastgood)
            except Exception as exc:  # keep serving the stale value; report why
                store.note("refresh_errors")
                log.warning("cache.refresh_failed", key=k, error_type=type(exc).__name__,
                            error=str(exc))
            finally:
                guards.end_refresh(k)

        def start_refresh(store: TieredCache, k: str, args: tuple, kwargs: dict) -> None:
            """Start the background refresh of ``k`` unless one is already running."""
            if not guards.claim_refresh(k):
                return
            thread = threading.Thread(
                target=refresh, args=(store, k, args, kwargs, _app_context_factory()),
                name=f"cache-refresh:{k[:60]}", daemon=True,
            )
            try:
                thread.start()
            except RuntimeError as exc:  # no new threads (e.g. shutting down): stay stale
                guards.end_refresh(k)
                store.note("refresh_errors")
                log.warning("cache.refresh_not_started", key=k, error=str(exc))

        def lookup(*args, **kwargs) -> CacheResult:
            """Return CacheResult(value, stale, age_s) for this call."""
            store = cache if cache is not None else get_cache()
            k = make_key(args, kwargs)
            found = store.get(k)
            if found is None:
                return load(store, k, args, kwargs)
            if found.stale:
                store.note("stale_served")
                start_refresh(store, k, args, kwargs)
            return found

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            """Return the (possibly stale) cached value for this call."""
            return lookup(*args, **kwargs).value

        def invalidate(*args, **kwargs) -> int:
            """Drop the cached entry for these arguments (the last-good copy stays)."""
            store = cache if cache is not None else get_cache()
            return store.delete(make_key(args, kwargs))

        def key_for(*args, **kwargs) -> str:
            """Return the cache key used for these arguments."""
            return make_key(args, kwargs)

        wrapper.lookup = lookup
        wrapper.invalidate = invalidate
        wrapper.key = key_for
        wrapper.uncached = fn
        return wrapper

    return decorate
