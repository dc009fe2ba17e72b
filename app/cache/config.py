"""Building the process's single cache from configuration; Flask wiring."""

from __future__ import annotations

import sys
import threading
from typing import Any, Mapping

import structlog

from app.cache.base import DEFAULT_TTLS
from app.cache.memory import DEFAULT_MAX_ENTRIES
from app.cache.redis_backend import redact_url
from app.cache.tiered import TieredCache

log = structlog.get_logger(__name__)

EXTENSION_KEY = "tickerdesk_cache"

# Config key -> TTL class.
TTL_KEYS = {f"CACHE_TTL_{name.upper()}": name for name in DEFAULT_TTLS}

_lock = threading.Lock()
_active: TieredCache | None = None


def _number(config: Mapping[str, Any], key: str, default: float | None) -> float | None:
    """Read a non-negative number from ``config`` (strings from env files accepted)."""
    raw = config.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"{key} must be a number of seconds, got {raw!r}") from None
    if value < 0:
        raise ValueError(f"{key} must be >= 0, got {value}")
    return value


def build_cache(config: Mapping[str, Any]) -> TieredCache:
    """Build a TieredCache from config keys without making it the active one.

    Keys: CACHE_TTL_QUOTE/HISTORY/PROFILE/NEWS/SCORE, CACHE_STALE_GRACE,
    REDIS_URL (None or empty: memory only), CACHE_MAX_ENTRIES, and the optional
    CACHE_KEY_PREFIX ("td:"), CACHE_L1_TTL (5 s), CACHE_REDIS_BACKOFF (2 s),
    CACHE_REDIS_TIMEOUT (0.5 s).
    """
    ttls = {name: _number(config, key, DEFAULT_TTLS[name]) for key, name in TTL_KEYS.items()}
    max_entries = int(_number(config, "CACHE_MAX_ENTRIES", DEFAULT_MAX_ENTRIES))
    return TieredCache(
        config.get("REDIS_URL") or None,
        ttls=ttls,
        stale_grace_s=_number(config, "CACHE_STALE_GRACE", None),
        max_entries=max_entries,
        l1_ttl_s=_number(config, "CACHE_L1_TTL", 5.0),
        backoff_s=_number(config, "CACHE_REDIS_BACKOFF", 2.0),
        prefix=config.get("CACHE_KEY_PREFIX") or "td:",
        socket_timeout_s=_number(config, "CACHE_REDIS_TIMEOUT", 0.5),
    )


def init_cache(config: Mapping[str, Any]) -> TieredCache:
    """Build the cache from ``config``, make it the process's active cache, return it."""
    global _active
    cache = build_cache(config)
    with _lock:
        previous, _active = _active, cache
    if previous is not None and previous is not cache:
        previous.close()
    log.info("cache.init", mode=cache.mode, redis=redact_url(config.get("REDIS_URL") or None),
             max_entries=cache.l1.max_entries, ttl_s=cache.ttls)
    return cache


def init_app(app) -> TieredCache:
    """Flask hook: init_cache(app.config) and keep it on app.extensions['tickerdesk_cache']."""
    cache = init_cache(app.config)
    app.extensions[EXTENSION_KEY] = cache
    return cache


def get_cache() -> TieredCache:
    """Return the current Flask app's cache, else the active one (memory-only defaults if none)."""
    global _active
    flask = sys.modules.get("flask")
    if flask is not None and flask.has_app_context():
        own = flask.current_app.extensions.get(EXTENSION_KEY)
        if own is not None:
            return own
    cache = _active
    if cache is not None:
        return cache
    with _lock:
        if _active is None:
            _active = TieredCache(None)
            log.info("cache.default", mode="memory", detail="init_cache was not called")
        return _active


def set_cache(cache: TieredCache | None) -> TieredCache | None:
    """Replace the active cache (tests, scripts); return the previous one, not closed."""
    global _active
    with _lock:
        previous, _active = _active, cache
    return previous
