"""Quotes job: refresh every tracked symbol of every user, then evaluate every active alert.

A symbol is tracked when anyone holds it (transactions), watches it (watchlist items) or has
an active alert on it, whether or not they are connected. Each run (every JOBS_QUOTES_OPEN_S)
refreshes, in batched core calls, the symbols that are due:

* exchange open (or the demo market replaying a session): when the cached quote is no longer
  fresh -- the live streamer polls the symbols people have on screen every couple of seconds,
  and the job does not fetch those again;
* exchange closed: when the cached quote is older than JOBS_QUOTES_CLOSED_S.

Then every active alert is evaluated against every fresh price (refreshed or cached) by
`app.alerts.services.evaluate`, the one place alerts fire, and what fired goes to
`app.notify.on_fired` for delivery.
"""
from __future__ import annotations

import time
from typing import Any

import structlog
from celery import shared_task
from flask import current_app
from sqlalchemy import select, union

from app.extensions import db
from app.jobs import state
from app.jobs.markets import MarketHours
from app.market.types import ProviderUnavailableError
from app.models import Alert, Transaction, WatchlistItem

log = structlog.get_logger(__name__)
BATCH = 200  # symbols per core call: the client splits further per provider batch limits
SOFT_LIMIT_S, HARD_LIMIT_S = 120, 150


@shared_task(name="jobs.quotes.refresh", bind=True, acks_late=True, soft_time_limit=SOFT_LIMIT_S,
             time_limit=HARD_LIMIT_S,
             autoretry_for=(ProviderUnavailableError,), retry_backoff=2, retry_backoff_max=60,
             retry_jitter=True, max_retries=3)
def refresh(self: Any) -> dict[str, Any]:
    """Refresh the due quotes and fire the alerts they meet; skip if a run is still going."""
    with state.run_lock("quotes", ttl_s=HARD_LIMIT_S) as got:
        if not got:
            state.retry_if_redelivered(self)
            log.info("jobs_quotes_skipped", reason="a run is in progress")
            return {"skipped": True}
        result = refresh_and_evaluate()
        state.mark("quotes")
        return result


def tracked_symbols() -> list[str]:
    """Return every symbol anyone holds, watches or has an active alert on, sorted."""
    query = union(select(Transaction.symbol), select(WatchlistItem.symbol),
                  select(Alert.symbol).where(Alert.active.is_(True)))
    return sorted(set(db.session.scalars(query)))


def due_symbols(symbols: list[str], hours: MarketHours) -> tuple[list[str], dict[str, Any]]:
    """Split symbols into those to fetch now and the fresh cached prices of the rest."""
    from app.market.service import market_cache  # noqa: PLC0415

    closed_s = float(current_app.config["JOBS_QUOTES_CLOSED_S"])
    found = market_cache().get_many(f"quote:{s}" for s in symbols)
    due: list[str] = []
    cached: dict[str, Any] = {}
    for symbol in symbols:
        hit = found.get(f"quote:{symbol}")
        if hit is None:
            due.append(symbol)
        elif hours.is_open(symbol):
            if hit.stale:
                due.append(symbol)
            else:
                cached[symbol] = hit.value["price"]
        elif hit.age_s >= closed_s:
            due.append(symbol)
        else:
            cached[symbol] = hit.value["price"]  # closed: the last price stands
    return due, cached


def refresh_and_evaluate() -> dict[str, Any]:
    """One round: fetch what is due, evaluate every active alert, hand what fired to delivery."""
    from app.alerts.services import evaluate  # noqa: PLC0415
    from app.market.service import refresh_quotes  # noqa: PLC0415

    started = time.perf_counter()
    symbols = tracked_symbols()
    due, prices = due_symbols(symbols, MarketHours())
    failed = 0
    for start in range(0, len(due), BATCH):
        batch = refresh_quotes(due[start:start + BATCH])
        failed += len(batch["errors"])
        prices.update({s: q["price"] for s, q in batch["quotes"].items() if not q.get("stale")})
    if due and failed == len(due):
        raise ProviderUnavailableError("no provider answered for any symbol")  # retried with backoff
    fired = evaluate(prices)
    if fired:
        from app.notify import on_fired  # noqa: PLC0415 - delivery (email, webhook) is its own package

        on_fired(fired)
    result = {"symbols": len(symbols), "fetched": len(due) - failed, "failed": failed,
              "cached": len(symbols) - len(due), "fired": len(fired),
              "seconds": round(time.perf_counter() - started, 3)}
    log.info("jobs_quotes_done", **result)
    return result
