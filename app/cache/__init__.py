"""Tickerdesk cache layer: memory/Redis backends, a tiered cache and the @cached decorator.

Typical use::

    from app.cache import cached, get_cache, init_app

    init_app(app)                      # once, in create_app (after gevent patching)

    @cached("quote", key=lambda symbol: f"quote:{symbol}")
    def get_quote(symbol): ...

    get_quote("AAPL")                  # -> value
    get_quote.lookup("AAPL")           # -> CacheResult(value, stale, age_s)
    get_cache().get_many(["quote:AAPL", "quote:MSFT"])   # -> {key: CacheResult}
"""

from app.cache.base import DEFAULT_TTLS, LASTGOOD_PREFIX, LASTGOOD_TTL_S, Backend, CacheResult
from app.cache.config import build_cache, get_cache, init_app, init_cache, set_cache
from app.cache.decorator import cached
from app.cache.memory import MemoryBackend
from app.cache.redis_backend import RedisBackend, redact_url
from app.cache.tiered import TieredCache

__all__ = [
    "DEFAULT_TTLS",
    "LASTGOOD_PREFIX",
    "LASTGOOD_TTL_S",
    "Backend",
    "CacheResult",
    "MemoryBackend",
    "RedisBackend",
    "TieredCache",
    "build_cache",
    "cached",
    "get_cache",
    "init_app",
    "init_cache",
    "redact_url",
    "set_cache",
]
