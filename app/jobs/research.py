"""Research jobs: train and re-predict each index's forecast models; run growth-score backtests.

- `jobs.research.forecasts(index)` trains (when the stored model is past its week) and predicts
  one index; a page or API request queues it for an index with no forecasts yet.
- `jobs.research.refresh` (the "forecasts" family of the schedule, every JOBS_FORECASTS_S) keeps
  every index that has forecasts current: retrained weekly, re-predicted after each new close.
- `jobs.research.backtest(...)` computes one backtest that a request asked for.

Each holds a run lock per index (or per backtest), so two workers never train the same index at once.
"""
from __future__ import annotations

from typing import Any

import structlog
from celery import shared_task

from app import computed
from app.jobs import state
from app.market.types import ProviderUnavailableError

log = structlog.get_logger(__name__)
SOFT_LIMIT_S, HARD_LIMIT_S = 1500, 1560  # the S&P 500's training on 2 cores, with room
RETRY = {"autoretry_for": (ProviderUnavailableError,), "retry_backoff": 5, "retry_backoff_max": 300,
         "retry_jitter": True, "max_retries": 3}


@shared_task(name="jobs.research.forecasts", acks_late=True, soft_time_limit=SOFT_LIMIT_S, time_limit=HARD_LIMIT_S,
             **RETRY)
def forecasts(index: str) -> dict[str, Any]:
    """Train (when due) and predict one index's forecasts."""
    from app.research import forecasts as service  # noqa: PLC0415
    from app.research.services import resolve_universe  # noqa: PLC0415

    universe = resolve_universe(index=index)
    try:
        return _train(universe)
    finally:
        computed.done(service.result_key(universe))


@shared_task(name="jobs.research.refresh", bind=True, acks_late=True, soft_time_limit=SOFT_LIMIT_S,
             time_limit=HARD_LIMIT_S, **RETRY)
def refresh(self: Any) -> dict[str, Any]:
    """Retrain or re-predict every index with forecasts that is due."""
    from app.research import forecasts as service  # noqa: PLC0415

    with state.run_lock("forecasts", ttl_s=HARD_LIMIT_S) as got:
        if not got:
            state.retry_if_redelivered(self)
            return {"skipped": True}
        done = [_train(u) for u in service.trained_universes() if service.due(u)]
    log.info("jobs_forecasts_done", universes=len(done))
    return {"done": done}


@shared_task(name="jobs.research.backtest", acks_late=True, soft_time_limit=600, time_limit=660, **RETRY)
def backtest(params: dict[str, Any]) -> dict[str, Any]:
    """Compute and store one growth-score backtest."""
    from app.research import backtests as service  # noqa: PLC0415

    request = service.BacktestRequest.from_json(params)
    with state.run_lock(f"backtest:{request.key}", ttl_s=660) as got:
        try:
            if not got:
                return {"skipped": True}
            return service.compute(request)
        finally:
            computed.done(request.key)


def _train(universe: Any) -> dict[str, Any]:
    from app.research import forecasts as service  # noqa: PLC0415

    with state.run_lock(f"forecasts:{universe.key}", ttl_s=HARD_LIMIT_S) as got:
        if not got:
            return {"universe": universe.label, "skipped": True}
        return service.train_universe(universe)
