"""Fixtures for the cache tests: the real Redis (TEST_REDIS_URL), unique key prefixes."""

from __future__ import annotations

import os
import uuid

import pytest
import redis
import structlog
from structlog.testing import LogCapture

from app.cache import TieredCache, set_cache
from app.cache import config, decorator, tiered as tiered_module

_LOGGING_MODULES = (config, decorator, tiered_module)


@pytest.fixture
def redis_url() -> str:
    """The real Redis to test against; skip (with the reason shown) when unset."""
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        pytest.skip("TEST_REDIS_URL not set: Redis-backed cache tests need a real Redis "
                    "(e.g. TEST_REDIS_URL=redis://127.0.0.1:6379/0)")
    return url


@pytest.fixture
def prefix() -> str:
    """A key prefix no other test (or process) uses."""
    return f"tdtest:{uuid.uuid4().hex[:12]}:"


@pytest.fixture
def raw_redis(redis_url, prefix):
    """A plain redis-py client; deletes every key under the test's prefix afterwards."""
    client = redis.Redis.from_url(redis_url, socket_timeout=2)
    yield client
    names = list(client.scan_iter(match=prefix + "*", count=1000))
    if names:
        client.unlink(*names)
    client.close()


@pytest.fixture
def tiered(redis_url, prefix, raw_redis):
    """A TieredCache on the real Redis with a unique prefix and short L1/back-off times."""
    cache = TieredCache(redis_url, prefix=prefix, l1_ttl_s=0.3, backoff_s=0.3)
    yield cache
    cache.close()


@pytest.fixture
def memory_cache():
    """A memory-only TieredCache installed as the active cache for the test."""
    cache = TieredCache(None, max_entries=1000)
    previous = set_cache(cache)
    yield cache
    set_cache(previous)
    cache.close()


@pytest.fixture
def cache_logs(monkeypatch) -> list[dict]:
    """Every event the cache modules log during the test (each with its log_level).

    The module loggers are swapped for capturing ones, so this works whatever the
    app's own structlog configuration (which caches loggers on first use) did.
    """
    capture = LogCapture()
    for module in _LOGGING_MODULES:
        monkeypatch.setattr(module, "log", structlog.wrap_logger(
            structlog.ReturnLogger(), processors=[capture], wrapper_class=structlog.BoundLogger))
    return capture.entries
