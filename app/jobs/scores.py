"""Scores job: recompute every index's growth scores, often while its exchange trades, hourly when not.

Each run (every JOBS_SCORES_OPEN_S) goes through the indices and rescores those that are
due: an index whose members' exchange is open when its last scoring is JOBS_SCORES_OPEN_S old,
otherwise when it is JOBS_SCORES_CLOSED_S old. The scores land in the cache that the
rankings, screener and stock pages read (`app.research.services.refresh_scores`).
"""
from __future__ import annotations

import time
from typing import Any

import structlog
from celery import shared_task
from flask import current_app

from app import computed
from app.jobs import state
from app.jobs.markets import MarketHours
from app.market.types import ProviderUnavailableError

log = structlog.get_logger(__name__)
SOFT_LIMIT_S, HARD_LIMIT_S = 600, 660
SLACK = 0.9  # a run a little early (beat's pace, the run's own length) still counts as due


@shared_task(name="jobs.scores.refresh", bind=True, acks_late=True, soft_time_limit=SOFT_LIMIT_S,
             time_limit=HARD_LIMIT_S,
             autoretry_for=(ProviderUnavailableError,), retry_backoff=5, retry_backoff_max=300,
             retry_jitter=True, max_retries=3)
def refresh(self: Any) -> dict[str, Any]:
    """Rescore the indices that are due; skip if a run is still going."""
    with state.run_lock("scores", ttl_s=HARD_LIMIT_S) as got:
        if not got:
            state.retry_if_redelivered(self)
            log.info("jobs_scores_skipped", reason="a run is in progress")
            return {"skipped": True}
        return refresh_due()


def refresh_due() -> dict[str, Any]:
    """Rescore each stored or index universe that is due; return `{universe: seconds}` of those scored."""
    from app.research import services  # noqa: PLC0415
    from app.universe import INDEX_NAMES  # noqa: PLC0415

    cfg = current_app.config
    hours = MarketHours()
    done: dict[str, float] = {}
    universes = {u.key: u for u in [services.resolve_universe(index=name) for name in INDEX_NAMES]
                 + services.stored_universes()}
    for universe in universes.values():
        interval = float(cfg["JOBS_SCORES_OPEN_S"] if index_open(universe, hours) else cfg["JOBS_SCORES_CLOSED_S"])
        last = state.last(f"scores:{universe.key}")
        if last is not None and time.time() - last < interval * SLACK:
            continue
        seconds = score_universe(universe)
        if seconds is not None:
            done[universe.label] = seconds
    log.info("jobs_scores_done", scored=len(done), seconds=round(sum(done.values()), 2))
    return done


@shared_task(name="jobs.scores.universe", acks_late=True, soft_time_limit=SOFT_LIMIT_S, time_limit=HARD_LIMIT_S,
             autoretry_for=(ProviderUnavailableError,), retry_backoff=5, retry_backoff_max=300,
             retry_jitter=True, max_retries=3)
def universe(kind: str, name: str | None) -> dict[str, Any]:
    """Score one universe that a page asked for (it had no scores yet, or old ones)."""
    from app.research import services  # noqa: PLC0415

    target = services.universe_from_key(kind, name)
    try:
        seconds = score_universe(target)
    finally:
        computed.done(f"scores:{target.key}")
    return {"universe": target.label, "skipped": seconds is None, "seconds": seconds}


def score_universe(target: Any) -> float | None:
    """Score `target` and store it, unless another run is scoring it; return its seconds, or None if skipped."""
    from app.research import services  # noqa: PLC0415

    with state.run_lock(f"scores:{target.key}", ttl_s=HARD_LIMIT_S) as got:
        if not got:
            return None
        (row,) = services.refresh_scores([target])
        state.mark(f"scores:{target.key}")
        return row["seconds"]


def index_open(universe: Any, hours: MarketHours) -> bool:
    """Return whether the exchange of any member of the index trades now."""
    from app.research import services  # noqa: PLC0415

    return hours.any_open(m["symbol"] for m in services.members(universe))
