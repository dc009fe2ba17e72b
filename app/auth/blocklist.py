"""Revoked JWTs and the state of each log-in session, shared through Redis when configured.

A token is refused when its `jti` was revoked (log-out) or when its `sid` claim no longer
names a live log-in session of its subject (app.auth.sessions: logged out, logged out
everywhere, password changed, account erased, expired). Both are answered with one Redis
round trip per request (MGET). The database is the truth about sessions: Redis only
remembers each session's owner for an hour (`sess:<sid>`, "-1" once it is gone), and
`forget_sessions` drops that copy once an ending is committed. Without Redis the session is
read from the database on every check, so every process sees an ending at once.

Revocations are also kept in memory, so a check still answers while Redis is unreachable.
When a Redis call fails, Redis is left alone for `REDIS_RETRY_S` (checks fall back to this
process's memory and the database), and the first call that reaches it again first writes
back what it missed: every revocation this process still remembers (a restarted Redis may
have lost them all) and the session keys of sessions that ended meanwhile.
"""
from __future__ import annotations

import threading
import time

import redis
import structlog
from flask import current_app

from app.auth import sessions
from app.ops.redis import redis_client

log = structlog.get_logger(__name__)
def _revoked_key(jti: str) -> str:
    return f"{current_app.config.get('AUTH_REDIS_PREFIX', 'td:')}revoked:{jti}"


def _session_key(sid: str) -> str:
    return f"{current_app.config.get('AUTH_REDIS_PREFIX', 'td:')}sess:{sid}"


SESSION_TTL_S = 3600
REDIS_RETRY_S = 1.0  # after a failed Redis call, how long to use memory and the database alone
_MAX_PENDING_FORGETS = 10_000
GONE = -1  # the owner of a session that ended: no token matches it
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


def token_state(jti: str, sid: str | None) -> tuple[bool, int | None]:
    """Return (revoked?, the owner of log-in session `sid` or GONE) in one Redis round trip.

    The owner is None only when `sid` is None.
    """
    with _lock:
        expiry = _local().get(jti)
    revoked_here = expiry is not None and expiry > time.time()
    keys = [_revoked_key(jti)] if sid is None else [_revoked_key(jti), _session_key(sid)]
    found = _with_redis(lambda client: client.mget(keys), "check")
    if found is _NO_REDIS or found is _UNAVAILABLE:
        return revoked_here, None if sid is None else _db_owner(sid)
    revoked = revoked_here or found[0] is not None
    if sid is None:
        return revoked, None
    if found[1] is not None:
        return revoked, int(found[1])
    owner = _db_owner(sid)
    _with_redis(lambda client: client.set(_session_key(sid), owner, ex=SESSION_TTL_S), "remember")
    return revoked, owner


def forget_sessions(sids) -> None:
    """Drop the remembered state of these sessions (call after committing their end)."""
    sids = list(sids)
    if not sids:
        return
    if _with_redis(lambda client: client.delete(*map(_session_key, sids)), "forget") is _UNAVAILABLE:
        # The hour-long copies in Redis would outlive the ending: delete them as soon as Redis is back.
        state = _redis_state()
        with _lock:
            if len(state["forget"]) + len(sids) <= _MAX_PENDING_FORGETS:
                state["forget"].update(sids)
            else:
                state["forget_all"] = True
        log.warning("blocklist_session_forget_deferred", sessions=len(sids))


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
        pipe.delete(*(_session_key(sid) for sid in forget))
    pipe.execute()
    if forget_all:  # too many to remember one by one: drop every remembered session (a cache)
        for batch in _batched(client.scan_iter(match=_session_key("*"), count=1000), 1000):
            client.delete(*batch)
    with _lock:
        state["forget"].difference_update(forget)
        if forget_all:
            state["forget_all"] = False
    return {"revocations": len(revoked), "sessions_forgotten": len(forget), "forgot_all": int(forget_all)}


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
    # Per app: whether Redis is failing, when to try it again, session deletes it still owes.
    return current_app.extensions.setdefault(
        "tickerdesk_blocklist_redis", {"down": False, "retry_at": 0.0, "forget": set(), "forget_all": False})


def _db_owner(sid: str) -> int:
    owner = sessions.user_of(sid)
    return GONE if owner is None else owner


def _local() -> dict[str, float]:
    # jti -> expiry (epoch seconds), per app: this process's own revocations.
    return current_app.extensions.setdefault("tickerdesk_revoked", {})


def _prune_locked(local: dict[str, float]) -> None:
    if len(local) < 10_000:
        return
    now = time.time()
    for jti in [j for j, exp in local.items() if exp <= now]:
        del local[jti]


@sessions.sessions_ended.connect
def _forget_ended(_app: object, session_ids: set[str], **_: object) -> None:
    forget_sessions(session_ids)
