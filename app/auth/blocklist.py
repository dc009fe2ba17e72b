"""Revoked JWTs: in Redis when configured (shared by every process), else in process memory.

Revocations are also kept in memory, so a check still answers while Redis is unreachable.
"""
from __future__ import annotations

import threading
import time

import redis
import structlog
from flask import current_app

from app.ops.redis import redis_client

log = structlog.get_logger(__name__)
_PREFIX = "td:revoked:"
_lock = threading.Lock()


def revoke(jti: str, expires_at: float) -> None:
    """Mark the token `jti` revoked until it would have expired anyway."""
    ttl_s = max(1, int(expires_at - time.time()) + 1)
    local = _local()
    with _lock:
        local[jti] = expires_at
        _prune_locked(local)
    client = redis_client(current_app)
    if client is None:
        return
    try:
        client.set(_PREFIX + jti, "1", ex=ttl_s)
    except redis.RedisError as exc:
        log.warning("blocklist_redis_write_failed", error=type(exc).__name__)


def is_revoked(jti: str) -> bool:
    """Return whether the token `jti` was revoked (by any process sharing the Redis)."""
    with _lock:
        expiry = _local().get(jti)
    if expiry is not None and expiry > time.time():
        return True
    client = redis_client(current_app)
    if client is None:
        return False
    try:
        return bool(client.exists(_PREFIX + jti))
    except redis.RedisError as exc:
        log.warning("blocklist_redis_read_failed", error=type(exc).__name__)
        return False


def _local() -> dict[str, float]:
    # jti -> expiry (epoch seconds), per app: this process's own revocations.
    return current_app.extensions.setdefault("tickerdesk_revoked", {})


def _prune_locked(local: dict[str, float]) -> None:
    if len(local) < 10_000:
        return
    now = time.time()
    for jti in [j for j, exp in local.items() if exp <= now]:
        del local[jti]
