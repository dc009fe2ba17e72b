"""The warm-up on worker start (app/jobs/warmup.py): recently active users' quotes, charts, FX and
portfolio performance are cached afterwards; it runs once however many workers start together."""
from __future__ import annotations

import time
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import update

from app.extensions import db
from app.jobs import state, warmup
from app.models import LoginSession, Transaction, Watchlist, WatchlistItem
from app.models.types import utcnow
from tests.conftest import register_api
from tests.jobs.test_data_jobs import provider_calls


def _holder(app, held: str, watched: str) -> dict:
    user = register_api(app.test_client())  # logging in opens a log-in session now
    with app.app_context():
        db.session.add(Transaction(user_id=user["id"], symbol=held, kind="buy", quantity=Decimal("2"),
                                   price=Decimal("100"), fee=Decimal("0"), currency="EUR", day=date(2024, 6, 3)))
        watchlist = Watchlist(user_id=user["id"], name="w")
        db.session.add(watchlist)
        db.session.flush()
        db.session.add(WatchlistItem(watchlist_id=watchlist.id, symbol=watched))
        db.session.commit()
    return user


def test_warmup_fills_what_an_active_users_pages_read(jobs_app) -> None:
    # No inline computing: a performance the warm-up did not store would read "computing".
    app = jobs_app(JOBS_INLINE_COMPUTE=False)
    active = _holder(app, held="SAP.DE", watched="AAPL")
    away = _holder(app, held="MSFT", watched="MSFT")
    with app.app_context():
        db.session.execute(update(LoginSession).where(LoginSession.user_id == away["id"])
                           .values(created_at=utcnow() - timedelta(days=10)))  # last log-in 10 days ago
        db.session.commit()
        result = warmup.warm_active_users()
    # One active user; SAP.DE (EUR) and AAPL (USD); base EUR: one rate (USD->EUR); one portfolio.
    assert {k: result[k] for k in ("users", "symbols", "quotes", "charts", "fx", "portfolios", "failed")} == {
        "users": 1, "symbols": 2, "quotes": 2, "charts": 2, "fx": 1, "portfolios": 1, "failed": 0}
    client, headers = app.test_client(), active["headers"]
    before = provider_calls()
    for symbol in ("SAP.DE", "AAPL"):
        assert client.get(f"/api/v1/stocks/{symbol}/quote", headers=headers).status_code == 200
        assert client.get(f"/api/v1/stocks/{symbol}/history?range=1y", headers=headers).get_json()["bars"]
    performance = client.get("/api/v1/portfolio/performance?range=1y", headers=headers).get_json()
    assert performance["status"] == "ready"
    with app.app_context():
        from app.market.research import fx_rates

        assert set(fx_rates(["USD"], "EUR")) == {"USD", "EUR"}
    assert provider_calls() == before, "the active user's reads are all cache hits"
    client.get("/api/v1/stocks/MSFT/quote", headers=away["headers"])
    assert provider_calls() > before  # the user away for 10 days was not warmed


def test_warmup_runs_once_per_start_window(jobs_app) -> None:
    app = jobs_app()
    _holder(app, held="SAP.DE", watched="AAPL")
    with app.app_context():
        with state.run_lock("warmup", ttl_s=30):
            assert warmup.warmup.run() == {"skipped": True}  # another worker is warming
        first = warmup.warmup.run()
        assert first["users"] == 1
        assert first["kicked"] == ["news", "bars", "fx", "profiles", "splits"]  # the scheduled data jobs, sent once
        assert warmup.warmup.run() == {"skipped": True}  # warmed moments ago
        state.mark("warmup", time.time() - app.config["JOBS_WARMUP_ONCE_S"] - 1)
        assert warmup.warmup.run()["users"] == 1  # a later start warms again


@pytest.mark.slow
@pytest.mark.redis
def test_two_workers_starting_together_warm_once(jobs_app, workers) -> None:
    app = jobs_app()
    _holder(app, held="SAP.DE", watched="AAPL")
    group = workers(app, redis=True)
    args = ("--pool", "threads", "--concurrency", "2", "--loglevel", "INFO")
    env = {"JOBS_SCHEDULE": "heartbeat"}  # no beat runs (-B absent): only the workers' own warm-up requests
    first, second = group.start(*args, "-n", "one@%h", **env), group.start(*args, "-n", "two@%h", **env)
    for worker in (first, second):
        worker.wait_for("ready.", 40)
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        done = first.count("jobs_warmup_done") + second.count("jobs_warmup_done")
        skipped = first.count("jobs_warmup_skipped") + second.count("jobs_warmup_skipped")
        if done + skipped >= 2:
            break
        time.sleep(0.2)
    assert (done, skipped) == (1, 1), first.log()[-3000:] + second.log()[-3000:]
    assert "users=1" in first.log() + second.log()
