"""Revoked JWTs and each user's current token version, shared through Redis when configured.

A token is refused when its `jti` was revoked (log-out, account deletion) or when its `ver`
claim is not the user's current token version (password changed, account gone). Both are
answered with one Redis round trip per request (MGET), or from process memory without Redis.
A user's version is read from the database on a miss and remembered (Redis: an hour; memory:
`LOCAL_VERSION_TTL_S`, since another process without Redis cannot tell this one it changed);
`forget_user` must be called once a change of version is committed.

Revocations are also kept in memory, so a check still answers while Redis is unreachable.
When a Redis call fails, Redis is left alone for `REDIS_RETRY_S` (checks fall back to this
process's memory and the database), and the first call that reaches it again first writes
back what it missed: every revocation this process still remembers (a restarted Redis may
have lost them all) and the version keys of users whose version changed meanwhile.
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
def _revoked_key(jti: str) -> str:
    return f"{current_app.config.get('AUTH_REDIS_PREFIX', 'td:')}revoked:{jti}"


def _version_key(user_id: int | str) -> str:
    return f"{current_app.config.get('AUTH_REDIS_PREFIX', 'td:')}userver:{user_id}"
VERSION_TTL_S = 3600
LOCAL_VERSION_TTL_S = 30.0
REDIS_RETRY_S = 1.0  # after a failed Redis call, how long to use memory and the database alone
_MAX_PENDING_FORGETS = 10_000
GONE = -1  # the version of a user who no longer exists: no token matches it
_lock = threading.Lock()


def revoke(jti: str, expires_at: float) -> None:
    """Mark the token `jti` revoked until it would have expired anyway."""
    ttl_s = max(1, int(expires_at - time.time()) + 1)
    local = _local()
    with _lock:
        local[jti] = expires_at
        _prune_locked(local)
    if _with_redis(lambda client: client.set(_revoked_key(jti), "1", ex=ttl_s), "revoke") is _UNAVAILABLE:
        log.info("blocklist_revocation_deferred")  # kept here; written to Redis when it is back


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
    keys = [_revoked_key(jti)] if user_id is None else [_revoked_key(jti), _version_key(user_id)]
    found = _with_redis(lambda client: client.mget(keys), "check")
    if found is _NO_REDIS:
        return revoked_here, None if user_id is None else _local_version(user_id)
    if found is _UNAVAILABLE:
        return revoked_here, None if user_id is None else _db_version(user_id)
    revoked = revoked_here or found[0] is not None
    if user_id is None:
        return revoked, None
    if found[1] is not None:
        return revoked, int(found[1])
    version = _db_version(user_id)
    _with_redis(lambda client: client.set(_version_key(user_id), version, ex=VERSION_TTL_S), "remember")
    return revoked, version


def forget_user(user_id: int) -> None:
    """Drop the remembered token version of `user_id` (call after committing a change to it)."""
    with _lock:
        _versions().pop(user_id, None)
    if _with_redis(lambda client: client.delete(_version_key(user_id)), "forget") is _UNAVAILABLE:
        # The hour-long copy in Redis would outlive the change: delete it as soon as Redis is back.
        state = _redis_state()
        with _lock:
            if len(state["forget"]) < _MAX_PENDING_FORGETS:
                state["forget"].add(user_id)
            else:
                state["forget_all"] = True
        log.warning("blocklist_version_forget_deferred", user_id=user_id)


# -- Redis, and what to do while it is unreachable ------------------------------------------

_NO_REDIS = object()  # REDIS_URL is not set
_UNAVAILABLE = object()  # Redis failed just now, or recently enough to be left alone


def _with_redis(action, what: str):
    """Run `action(client)` on Redis; _NO_REDIS without one, _UNAVAILABLE when it fails or is resting.

    The first call after a failure (once `REDIS_RETRY_S` has passed) writes back what this
    process missed before running `action`; one warning is logged per outage.
    """
    client = redis_client(current_app)
    if client is None:
        return _NO_REDIS
    state = _redis_state()
    with _lock:
        if state["down"] and time.monotonic() < state["retry_at"]:
            return _UNAVAILABLE
        recovering = state["down"]
    try:
        if recovering:
            replayed = _replay(client, state)
        value = action(client)
    except redis.RedisError as exc:
        with _lock:
            first = not state["down"]
            state["down"], state["retry_at"] = True, time.monotonic() + REDIS_RETRY_S
        if first:
            log.warning("blocklist_redis_down", during=what, error=type(exc).__name__, retry_s=REDIS_RETRY_S)
        return _UNAVAILABLE
    if recovering:
        with _lock:
            was_down, state["down"] = state["down"], False
        if was_down:
            log.info("blocklist_redis_back", **replayed)
    return value


def _replay(client: redis.Redis, state: dict) -> dict[str, int]:
    """Write this process's unexpired revocations and pending version deletes back to Redis."""
    now = time.time()
    with _lock:
        revoked = {jti: exp for jti, exp in _local().items() if exp > now}
        forget, forget_all = set(state["forget"]), state["forget_all"]
    pipe = client.pipeline(transaction=False)
    for jti, expires_at in revoked.items():
        pipe.set(_revoked_key(jti), "1", ex=max(1, int(expires_at - now) + 1))
    if forget:
        pipe.delete(*(_version_key(uid) for uid in forget))
    pipe.execute()
    if forget_all:  # too many to remember one by one: drop every remembered version (a cache)
        for batch in _batched(client.scan_iter(match=_version_key("*"), count=1000), 1000):
            client.delete(*batch)
    with _lock:
        state["forget"].difference_update(forget)
        if forget_all:
            state["forget_all"] = False
    return {"revocations": len(revoked), "versions_forgotten": len(forget), "forgot_all": int(forget_all)}


def _batched(items, size: int):
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _redis_state() -> dict:
    # Per app: whether Redis is failing, when to try it again, version deletes it still owes.
    return current_app.extensions.setdefault(
        "tickerdesk_blocklist_redis", {"down": False, "retry_at": 0.0, "forget": set(), "forget_all": False})


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
