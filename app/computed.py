"""Results that workers compute and web processes read: a universe's scores, a portfolio's performance.

A web request never runs such a computation (README "Background jobs"). It reads the last
result (`read`), and when that is missing or was computed from other inputs (its digest
differs) it asks for a new one (`request`), which enqueues the named Celery task once per
key at a time: a claim marks "queued" until the worker is done with it (`done`) or it lapses.
Until the new result is stored, the caller shows the last one (stale-while-revalidate) or,
before the first, says that it is being computed.

The results live in the database (`computed_results`), the one store that the web and
the worker processes share in every configuration, the embedded default included. Each
process keeps the payload it last parsed per key, and reloads it only when the row's
computed_at moves.

JOBS_INLINE_COMPUTE runs the task in the requesting process instead (the unit tests'
setting, like Celery's task_always_eager); it is off by default and in production.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
import structlog
from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.models import ComputedResult, utcnow
from app.ops.coordination import claim, unclaim

log = structlog.get_logger(__name__)
_parsed: dict[str, tuple[datetime, str, Any]] = {}  # key -> (computed_at, digest, payload)
_parsed_lock = threading.Lock()
MAX_PARSED = 2000


@dataclass(frozen=True)
class Computed:
    """One stored result."""

    payload: Any
    digest: str
    computed_at: datetime
    seconds: float


def read(key: str) -> Computed | None:
    """Return the last result stored under `key`, or None if there is none yet."""
    head = db.session.execute(select(ComputedResult.computed_at, ComputedResult.digest, ComputedResult.seconds)
                              .where(ComputedResult.key == key)).first()
    if head is None:
        return None
    computed_at, digest, seconds = head
    with _parsed_lock:
        memo = _parsed.get(key)
    if memo is not None and memo[0] == computed_at and memo[1] == digest:
        return Computed(memo[2], digest, computed_at, seconds)
    raw = db.session.scalar(select(ComputedResult.payload).where(ComputedResult.key == key))
    if raw is None:
        return None
    payload = orjson.loads(raw)
    with _parsed_lock:
        if len(_parsed) >= MAX_PARSED:
            _parsed.clear()
        _parsed[key] = (computed_at, digest, payload)
    return Computed(payload, digest, computed_at, seconds)


def store(key: str, digest: str, payload: Any, seconds: float) -> None:
    """Store (replace) the result under `key` and commit."""
    raw = orjson.dumps(payload, default=_encode).decode()
    row = db.session.get(ComputedResult, key)
    if row is None:
        db.session.add(ComputedResult(key=key, digest=digest, payload=raw, computed_at=utcnow(), seconds=seconds))
    else:
        row.digest, row.payload, row.computed_at, row.seconds = digest, raw, utcnow(), seconds
    db.session.commit()


def request(task: str, args: list[Any], key: str, ttl_s: float = 300.0, inline: bool | None = None) -> bool:
    """Ask for task(*args) to compute `key` unless it is queued already; return whether it was enqueued.

    `inline` overrides JOBS_INLINE_COMPUTE for this task (research jobs follow JOBS_INLINE_RESEARCH).
    """
    if current_app.config.get("JOBS_INLINE_COMPUTE") if inline is None else inline:
        celery = current_app.extensions["tickerdesk.celery"]
        celery.tasks[task].apply(args=args, throw=True)
        return True
    if not claim(f"compute:{key}", ttl_s):
        return False
    try:
        current_app.extensions["tickerdesk.celery"].send_task(task, args=args)
    except Exception:
        unclaim(f"compute:{key}")  # a broker away must not block the next ask for ttl_s
        raise
    log.info("compute_requested", task=task, key=key)
    return True


def get_or_request(key: str, task: str, args: list[Any], fresh: Callable[[Computed], bool],
                   ttl_s: float = 300.0, inline: bool | None = None) -> Computed | None:
    """Return the stored result (maybe stale), asking for a new one when it is missing or not `fresh`."""
    found = read(key)
    if found is not None and fresh(found):
        return found
    inline = current_app.config.get("JOBS_INLINE_COMPUTE") if inline is None else inline
    if request(task, args, key, ttl_s, inline) and inline:
        return read(key)
    return found


def keys(prefix: str) -> list[str]:
    """Return the keys of the stored results that start with `prefix`."""
    return list(db.session.scalars(select(ComputedResult.key)
                                   .where(ComputedResult.key.startswith(prefix, autoescape=True))))


def done(key: str) -> None:
    """The worker finished computing `key`: the next change may ask again."""
    unclaim(f"compute:{key}")


def forget(prefix: str) -> None:
    """Delete every result whose key starts with `prefix` (an erased account's), without committing."""
    db.session.execute(db.delete(ComputedResult).where(ComputedResult.key.startswith(prefix, autoescape=True)))
    with _parsed_lock:
        for key in [k for k in _parsed if k.startswith(prefix)]:
            _parsed.pop(key, None)


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
