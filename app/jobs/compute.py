"""Heavy computations that pages ask for, run in workers: a portfolio's performance.

A web request that finds no current result queues `jobs.compute.performance` once per
portfolio and range (`app.computed.request`) and shows the last result meanwhile. The task
holds the portfolio's run lock, so one computation per portfolio runs at a time; a second one
for the same portfolio waits its turn (it is retried shortly, not dropped: it may be for
another range). The universe's scores are the scores job's (`jobs.scores.universe`).
"""
from __future__ import annotations

from typing import Any

import structlog
from celery import shared_task

from app import computed
from app.jobs import state
from app.market.types import ProviderUnavailableError

log = structlog.get_logger(__name__)
SOFT_LIMIT_S, HARD_LIMIT_S = 120, 150
BUSY_RETRY_S = 0.5


@shared_task(name="jobs.compute.performance", bind=True, acks_late=True, soft_time_limit=SOFT_LIMIT_S,
             time_limit=HARD_LIMIT_S, autoretry_for=(ProviderUnavailableError,), retry_backoff=2,
             retry_backoff_max=30, retry_jitter=True, max_retries=240)
def performance(self: Any, user_id: int, range_name: str) -> dict[str, Any]:
    """Compute and store one portfolio's performance for one range (idempotent: skipped when current)."""
    from app.portfolio.services import performance_key, refresh_performance  # noqa: PLC0415

    with state.run_lock(f"performance:{user_id}", ttl_s=HARD_LIMIT_S) as got:
        if not got:  # another range of this portfolio is being computed: take the next turn
            raise self.retry(countdown=BUSY_RETRY_S)
        try:
            rounds = refresh_performance(user_id, range_name)
        finally:
            computed.done(performance_key(user_id, range_name))
    log.info("jobs_performance_done", user_id=user_id, range=range_name, computed=rounds)
    return {"user_id": user_id, "range": range_name, "computed": rounds}
