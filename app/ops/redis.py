"""The process's shared Redis client (None when REDIS_URL is not set)."""
from __future__ import annotations

import redis
from flask import Flask

_EXT_KEY = "tickerdesk_redis"


def redis_client(app: Flask) -> redis.Redis | None:
    """Return the app's Redis client, created on first use, or None without REDIS_URL."""
    url = app.config.get("REDIS_URL")
    if not url:
        return None
    client = app.extensions.get(_EXT_KEY)
    if client is None:
        client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0,
                                      health_check_interval=30)
        app.extensions[_EXT_KEY] = client
    return client


def close_redis(app: Flask) -> None:
    """Close the app's Redis pool (gunicorn's worker_exit calls this)."""
    client = app.extensions.pop(_EXT_KEY, None)
    if client is not None:
        client.close()
