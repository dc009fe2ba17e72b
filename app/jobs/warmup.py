"""Warm-up on worker start: what recently active users' pages need, once per cluster start.

Every worker process that becomes ready sends `jobs.warmup`. The run that takes the lock warms;
a run that finds the lock taken, or a warm-up finished less than JOBS_WARMUP_ONCE_S ago, skips --
so a cluster whose workers start together warms once. For every user with a log-in in the last
JOBS_WARMUP_ACTIVE_DAYS days (0: no warm-up) it warms the quotes of the symbols they hold, watch
or have alerts on, the chart history of those symbols, the rates of their currencies to the
user's base currency, and the portfolio's performance for the default range. Then it sends the
scheduled data jobs once (`app.jobs.data`): the beat runs a family first only one interval after
it starts (15 minutes for news, an hour for FX, six for splits), and each job does only what is due.
"""
from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import structlog
from celery import shared_task
from celery.signals import worker_ready
from flask import current_app
from kombu.exceptions import OperationalError
from sqlalchemy import func, select, union

from app.extensions import db
from app.jobs import state
from app.jobs.data import CHART_RANGE, Counts, bars, fx, news, profiles, splits, warm_charts
from app.market.types import MarketError, ProviderUnavailableError

log = structlog.get_logger(__name__)
SOFT_LIMIT_S, HARD_LIMIT_S = 300, 330
MAX_USERS = 1000  # the most recently active first
QUOTE_BATCH = 200


@shared_task(name="jobs.warmup", bind=True, acks_late=True, soft_time_limit=SOFT_LIMIT_S, time_limit=HARD_LIMIT_S,
             autoretry_for=(ProviderUnavailableError,), retry_backoff=5, retry_backoff_max=60,
             retry_jitter=True, max_retries=3)
def warmup(self: Any) -> dict[str, Any]:
    """Warm the active users' pages unless another worker is doing it or just did."""
    with state.run_lock("warmup", ttl_s=HARD_LIMIT_S) as got:
        if not got:
            state.retry_if_redelivered(self)
            log.info("jobs_warmup_skipped", reason="a warm-up is in progress")
            return {"skipped": True}
        last = state.last("warmup")
        if last is not None and time.time() - last < float(current_app.config["JOBS_WARMUP_ONCE_S"]):
            log.info("jobs_warmup_skipped", reason="warmed moments ago", age_s=round(time.time() - last, 1))
            return {"skipped": True}
        result = warm_active_users()
        state.mark("warmup")
    kicked = kick_data_jobs()
    return {**result, "kicked": kicked}


def kick_data_jobs() -> list[str]:
    """Send each data job that JOBS_SCHEDULE names now; return their families."""
    tasks = {"news": news, "bars": bars, "fx": fx, "profiles": profiles, "splits": splits}
    kicked = [family for family in current_app.config["JOBS_SCHEDULE"] if family in tasks]
    for family in kicked:
        tasks[family].delay()
    return kicked


def active_users(days: int) -> list[int]:
    """Return the ids of the users who logged in within `days` days, the most recent first."""
    from app.models import LoginSession  # noqa: PLC0415
    from app.models.types import utcnow  # noqa: PLC0415

    since = utcnow() - timedelta(days=days)
    latest = func.max(LoginSession.created_at)
    return list(db.session.scalars(select(LoginSession.user_id).where(LoginSession.created_at >= since)
                                   .group_by(LoginSession.user_id).order_by(latest.desc()).limit(MAX_USERS)))


def warm_active_users() -> dict[str, Any]:
    """Warm quotes, charts, FX and portfolio performance for every recently active user; return counts."""
    from app.market.research import fx_rates  # noqa: PLC0415
    from app.market.service import quotes_for  # noqa: PLC0415
    from app.models import Stock, User  # noqa: PLC0415
    from app.portfolio.services import base_currency  # noqa: PLC0415

    started = time.perf_counter()
    users = active_users(int(current_app.config["JOBS_WARMUP_ACTIVE_DAYS"]))
    per_user = {user_id: user_symbols(user_id) for user_id in users}
    symbols = sorted(set().union(*per_user.values()))
    quotes = Counts()
    for start in range(0, len(symbols), QUOTE_BATCH):
        batch = quotes_for(symbols[start:start + QUOTE_BATCH])
        quotes.add(Counts(len(batch["quotes"]), len(batch["errors"])))
    charts = warm_charts(symbols)
    currency = dict(db.session.execute(select(Stock.symbol, Stock.currency).where(Stock.symbol.in_(symbols))).all()) \
        if symbols else {}
    fx, portfolios = Counts(), Counts()
    for user_id, mine in per_user.items():
        user = db.session.get(User, user_id)
        if user is None:
            continue
        wanted = {currency[s] for s in mine if currency.get(s)}
        try:
            fx.fetched += len(fx_rates(wanted, base_currency(user))) - 1  # less the base itself
        except MarketError:
            fx.failed += 1
        if _holds_anything(user_id):
            portfolios.add(_warm_performance(user_id))
    result = {"users": len(users), "symbols": len(symbols), "quotes": quotes.fetched, "charts": charts.fetched,
              "fx": fx.fetched, "portfolios": portfolios.fetched,
              "failed": quotes.failed + charts.failed + fx.failed + portfolios.failed,
              "seconds": round(time.perf_counter() - started, 3)}
    log.info("jobs_warmup_done", **result)
    return result


def user_symbols(user_id: int) -> set[str]:
    """Return the symbols a user holds, watches or has an active alert on."""
    from app.models import Alert, Transaction, Watchlist, WatchlistItem  # noqa: PLC0415

    query = union(select(Transaction.symbol).where(Transaction.user_id == user_id),
                  select(WatchlistItem.symbol).join(Watchlist).where(Watchlist.user_id == user_id),
                  select(Alert.symbol).where(Alert.user_id == user_id, Alert.active.is_(True)))
    return set(db.session.scalars(query))


def _holds_anything(user_id: int) -> bool:
    from app.models import Transaction  # noqa: PLC0415

    return db.session.scalar(select(Transaction.id).where(Transaction.user_id == user_id).limit(1)) is not None


def _warm_performance(user_id: int) -> Counts:
    from app.ops.errors import APIError  # noqa: PLC0415
    from app.portfolio.services import refresh_performance  # noqa: PLC0415

    # The portfolio's own lock (as jobs.compute.performance takes it): one computation per portfolio.
    with state.run_lock(f"performance:{user_id}", ttl_s=HARD_LIMIT_S) as got:
        if not got:
            return Counts()  # a worker computes it right now
        try:
            refresh_performance(user_id, CHART_RANGE)
        except (APIError, MarketError) as exc:  # FX or history unavailable: the page asks again later
            log.info("jobs_warmup_performance_failed", user_id=user_id, error=type(exc).__name__)
            return Counts(failed=1)
    return Counts(fetched=1)


@worker_ready.connect
def _send_warmup(sender: Any = None, **_: Any) -> None:
    from celery import current_app as celery_app  # noqa: PLC0415 - app.jobs's, without importing the package

    app = getattr(celery_app, "flask_app", None)
    if app is None or int(app.config["JOBS_WARMUP_ACTIVE_DAYS"]) <= 0:
        return
    try:
        warmup.delay()
    except OperationalError as exc:  # the broker is away: the pages warm the cache themselves
        log.warning("jobs_warmup_not_sent", error=type(exc).__name__)
