"""Revoked JWTs and each user's current token version, shared through Redis when configured.

A token is refused when its `jti` was revoked (log-out, account deletion) or when its `ver`
claim is not the user's current token version (password changed, account gone). Both are
answered with one Redis round trip per request (MGET), or from process memory without Redis.
A user's version is read from the database on a miss and remembered (Redis: an hour; memory:
`LOCAL_VERSION_TTL_S`, since another process without Redis cannot tell this one it changed);
`forget_user` must be called once a change of version is committed.

Revocations are also kept in memory, so a check still answers while Redis is unreachable.
"""
from __future__ import annotations

import threading
import time

import redis
import structlog
from flask import current_app

from app.extensions import db
from app.models import User
from app.ops.redis import redis_client

log = structlog.get_logger(__name__)
_PREFIX = "td:revoked:"
_VERSION_PREFIX = "td:userver:"
VERSION_TTL_S = 3600
LOCAL_VERSION_TTL_S = 30.0
GONE = -1  # the version of a user who no longer exists: no token matches it
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
    return token_state(jti, None)[0]


def token_state(jti: str, user_id: int | None) -> tuple[bool, int | None]:
    """Return (revoked?, the user's current token version or GONE) in one Redis round trip.

    The version is None only when `user_id` is None.
    """
    with _lock:
        expiry = _local().get(jti)
    revoked_here = expiry is not None and expiry > time.time()
    client = redis_client(current_app)
    if client is None:
        return revoked_here, None if user_id is None else _local_version(user_id)
    keys = [_PREFIX + jti] if user_id is None else [_PREFIX + jti, f"{_VERSION_PREFIX}{user_id}"]
    try:
        found = client.mget(keys)
    except redis.RedisError as exc:
        log.warning("blocklist_redis_read_failed", error=type(exc).__name__)
        return revoked_here, None if user_id is None else _db_version(user_id)
    revoked = revoked_here or found[0] is not None
    if user_id is None:
        return revoked, None
    if found[1] is not None:
        return revoked, int(found[1])
    version = _db_version(user_id)
    try:
        client.set(f"{_VERSION_PREFIX}{user_id}", version, ex=VERSION_TTL_S)
    except redis.RedisError as exc:
        log.warning("blocklist_redis_write_failed", error=type(exc).__name__)
    return revoked, version


def forget_user(user_id: int) -> None:
    """Drop the remembered token version of `user_id` (call after committing a change to it)."""
    with _lock:
        _versions().pop(user_id, None)
    client = redis_client(current_app)
    if client is None:
        return
    try:
        client.delete(f"{_VERSION_PREFIX}{user_id}")
    except redis.RedisError as exc:  # the hour-long copy may outlive the change: say so
        log.error("blocklist_version_forget_failed", user_id=user_id, error=type(exc).__name__)


def _db_version(user_id: int) -> int:
    version = db.session.execute(db.select(User.token_version).where(User.id == user_id)).scalar()
    return GONE if version is None else int(version)


def _local_version(user_id: int) -> int:
    now = time.monotonic()
    versions = _versions()
    found = versions.get(user_id)
    if found is not None and found[1] > now:
        return found[0]
    version = _db_version(user_id)
    with _lock:
        versions[user_id] = (version, now + LOCAL_VERSION_TTL_S)
        if len(versions) > 10_000:
            for uid in [u for u, (_, until) in versions.items() if until <= now]:
                del versions[uid]
    return version


def _versions() -> dict[int, tuple[int, float]]:
    # user id -> (token version, monotonic expiry), per app, only without Redis.
    return current_app.extensions.setdefault("tickerdesk_user_versions", {})


def _local() -> dict[str, float]:
    # jti -> expiry (epoch seconds), per app: this process's own revocations.
    return current_app.extensions.setdefault("tickerdesk_revoked", {})


def _prune_locked(local: dict[str, float]) -> None:
    if len(local) < 10_000:
        return
    now = time.time()
    for jti in [j for j, exp in local.items() if exp <= now]:
        del local[jti]
