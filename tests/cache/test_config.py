"""init_cache / init_app / get_cache and the config keys."""

from __future__ import annotations

import pytest

from app.cache import TieredCache, cached, get_cache, init_app, init_cache, set_cache


@pytest.fixture(autouse=True)
def restore_active_cache():
    previous = set_cache(None)
    yield
    current = set_cache(previous)
    if current is not None:
        current.close()


def test_defaults_are_memory_only_with_the_standard_ttls():
    cache = init_cache({})
    assert cache is get_cache() and cache.mode == "memory"
    assert cache.ttls == {"quote": 15, "history": 3600, "profile": 86400, "news": 900, "score": 300}
    assert cache.stale_grace_s is None and cache.l1.max_entries == 10_000


def test_config_keys_are_read():
    cache = init_cache({
        "CACHE_TTL_QUOTE": "20", "CACHE_TTL_HISTORY": 60, "CACHE_TTL_PROFILE": 61,
        "CACHE_TTL_NEWS": 62, "CACHE_TTL_SCORE": 63, "CACHE_STALE_GRACE": 4,
        "CACHE_MAX_ENTRIES": 50, "REDIS_URL": None,
    })
    assert cache.ttls == {"quote": 20, "history": 60, "profile": 61, "news": 62, "score": 63}
    assert cache.grace_s(20) == 4 and cache.l1.max_entries == 50


def test_bad_numbers_are_rejected_with_the_key_name():
    with pytest.raises(ValueError, match="CACHE_TTL_QUOTE"):
        init_cache({"CACHE_TTL_QUOTE": "soon"})
    with pytest.raises(ValueError, match="CACHE_STALE_GRACE"):
        init_cache({"CACHE_STALE_GRACE": -1})


def test_get_cache_without_init_gives_a_memory_cache():
    cache = get_cache()
    assert isinstance(cache, TieredCache) and cache.mode == "memory"
    assert get_cache() is cache


def test_reinit_replaces_the_active_cache_used_by_decorators():
    first = init_cache({"CACHE_TTL_QUOTE": 15})
    calls = []

    @cached("quote")
    def price(symbol):
        calls.append(symbol)
        return 1.0

    price("A")
    assert first.get(price.key("A")) is not None
    second = init_cache({"CACHE_TTL_QUOTE": 30})
    price("A")
    assert calls == ["A", "A"]  # the new cache is empty
    assert second.get(price.key("A")) is not None


def test_init_app_registers_the_extension():
    flask = pytest.importorskip("flask")
    app = flask.Flask("cache-config-test")
    app.config.update(CACHE_TTL_NEWS=5, REDIS_URL=None)
    cache = init_app(app)
    assert app.extensions["tickerdesk_cache"] is cache is get_cache()
    assert cache.ttl_s("news") == 5


def test_redis_url_enables_l2_and_never_logs_the_password(cache_logs):
    # Building the cache does not connect, so no server is needed here.
    url = "redis://user:pa55word@127.0.0.1:6379/0"
    cache = init_cache({"REDIS_URL": url, "CACHE_KEY_PREFIX": "tdtest:cfg:"})
    assert cache.mode == "tiered" and cache.redis.prefix == "tdtest:cfg:"
    assert "pa55word" not in repr(cache_logs) and "user:***@" in repr(cache_logs)
    assert cache.redis.safe_url == "redis://user:***@127.0.0.1:6379/0"
