"""The data jobs (app/jobs/data.py) in process and in a real worker: news with its rotation, daily bars
after each exchange's close, FX and profiles once per period, Alpha Vantage spared; every page read
after a run is a cache hit that makes no provider call."""
from __future__ import annotations

import math
import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import delete, select

from app.config import JOB_FAMILIES, load_config
from app.extensions import db
from app.jobs import data, schedule, state
from app.models import IndexMembership, Stock, Transaction, User, Watchlist, WatchlistItem
from tests.conftest import register_api

DAX_MEMBERS = 40  # pytickersymbols' DAX; the tests below keep only its memberships


def provider_calls() -> float:
    """Every market-data provider call this process made so far (the client's metric)."""
    total = 0.0
    for metric in REGISTRY.collect():
        if metric.name == "tickerdesk_provider_calls":
            total += sum(s.value for s in metric.samples if s.name == "tickerdesk_provider_calls_total")
    return total


def only_dax(app) -> list[str]:
    """Keep only the DAX's memberships (the constituents become its 40 members); return them sorted."""
    with app.app_context():
        db.session.execute(delete(IndexMembership).where(IndexMembership.index_name != "DAX"))
        db.session.commit()
        return data.constituents()


def track(app, user_id: int, held: str, watched: str) -> None:
    with app.app_context():
        db.session.add(Transaction(user_id=user_id, symbol=held, kind="buy", quantity=Decimal("1"),
                                   price=Decimal("100"), fee=Decimal("0"), currency="EUR", day=date(2024, 1, 2)))
        watchlist = Watchlist(user_id=user_id, name="w")
        db.session.add(watchlist)
        db.session.flush()
        db.session.add(WatchlistItem(watchlist_id=watchlist.id, symbol=watched))
        db.session.commit()


def test_the_schedule_has_every_family_at_its_configured_pace(tmp_path) -> None:
    cfg = load_config(env={"SECRET_KEY": "s" * 40, "JOBS_NEWS_S": "450", "JOBS_PROFILES_S": "7200"},
                      instance_dir=tmp_path)
    entries = {name: (entry["task"], entry["schedule"]) for name, entry in schedule.beat_schedule(cfg).items()}
    assert {name: entries[name] for name in ("news", "bars", "fx", "profiles")} == {
        "news": ("jobs.data.news", 450.0), "bars": ("jobs.data.bars", 900.0), "fx": ("jobs.data.fx", 3600.0),
        "profiles": ("jobs.data.profiles", 7200.0)}
    # One list of families: the config's check and the schedule's tasks agree.
    assert set(schedule.TASKS) == set(JOB_FAMILIES) == set(entries)


def test_news_fills_the_entries_the_stock_page_reads(jobs_app) -> None:
    app = jobs_app(JOBS_NEWS_ROTATION=5)
    dax = only_dax(app)
    user = register_api(app.test_client())
    track(app, user["id"], held="AAPL", watched="SAP.DE")
    with app.app_context():
        result = data.refresh_news()
    assert "SAP.DE" not in dax[:5]
    # 2 tracked symbols + the first 5 of the 40 DAX members by symbol.
    assert result["tracked"] == 2 and result["rotation"] == 5 and result["cursor"] == 5
    assert result["fetched"] == 2 + 5 and result["failed"] == 0
    client, before = app.test_client(), provider_calls()
    for symbol in ("AAPL", "SAP.DE", *dax[:5]):
        response = client.get(f"/api/v1/stocks/{symbol}/news", headers=user["headers"])
        assert response.status_code == 200 and response.get_json()["items"]
    with app.app_context():
        from app.market.research import sentiments_for

        assert len(sentiments_for(["AAPL", "SAP.DE", *dax[:5]])) == 7  # what the scores read
    assert provider_calls() == before, "every read after the run is a cache hit"
    client.get(f"/api/v1/stocks/{dax[5]}/news", headers=user["headers"])
    assert provider_calls() == before + 1  # the sixth member was not in this run's slice


def test_the_news_rotation_covers_every_constituent_in_ceil_n_over_size_runs(jobs_app, monkeypatch) -> None:
    app = jobs_app(JOBS_NEWS_ROTATION=12)
    dax = only_dax(app)
    assert len(dax) == DAX_MEMBERS
    from app.market import research

    sent: list[list[str]] = []
    real = research.refresh_news
    monkeypatch.setattr(research, "refresh_news", lambda symbols, *a, **k: sent.append(list(symbols)) or real(
        symbols, *a, **k))
    runs = []
    with app.app_context():
        for _ in range(math.ceil(40 / 12) + 1):  # 4 runs cover 40 at 12 a run; the fifth starts over
            runs.append(data.refresh_news())
    assert [r["rotation"] for r in runs] == [12, 12, 12, 4, 12]
    assert [r["cursor"] for r in runs] == [12, 24, 36, 40, 12]
    per_run = [symbol for chunk in sent for symbol in chunk]
    assert sorted(per_run[:40]) == dax and len(set(per_run[:40])) == 40  # each once in the pass
    assert per_run[40:] == dax[:12]


def test_bars_run_once_per_exchange_session_after_its_close(jobs_app) -> None:
    app = jobs_app()
    user = register_api(app.test_client())
    with app.app_context():
        six = list(db.session.scalars(select(Stock.symbol).where(Stock.exchange == "SIX").order_by(Stock.symbol)))
    assert len(six) == 20
    track(app, user["id"], held=six[0], watched=six[1])
    # Wednesday 12 March 2025: SIX trades 09:00-17:30 Zurich (UTC+1), so it closes at 16:30 UTC.
    before_close = datetime(2025, 3, 12, 15, 0, tzinfo=timezone.utc)
    after_close = datetime(2025, 3, 12, 16, 45, tzinfo=timezone.utc)
    with app.app_context():
        for code in ("XNYS", "XNAS", "XTKS", "XETR", "XLON", "XPAR", "XMAD", "XSTO", "XAMS", "XHEL", "XBRU", "XMIL"):
            state.mark(f"bars:{code}", at=float(date(2100, 1, 1).toordinal()))  # only SIX is left to do
        state.mark("bars:XSWX", at=float(date(2025, 3, 11).toordinal()))  # Tuesday's session is done
        assert data.refresh_bars(before_close)["sessions"] == {}  # Wednesday's has not closed yet
        done = data.refresh_bars(after_close)
        assert done["sessions"] == {"XSWX": "2025-03-12"}
        assert done["fetched"] == 20 + 2  # the closes of all 20, the charts of the two tracked
        assert data.refresh_bars(after_close + timedelta(hours=3))["sessions"] == {}  # once per session
        assert data.refresh_bars(datetime(2025, 3, 13, 16, 45, tzinfo=timezone.utc))["sessions"] == {
            "XSWX": "2025-03-13"}
        from app.market.research import closes_for
        from app.market.service import utc_today
        from app.research.services import HISTORY_DAYS

        before = provider_calls()
        today = utc_today()
        assert len(closes_for(six, today - timedelta(days=HISTORY_DAYS), today)) == 20  # what the scores read
    client = app.test_client()
    for symbol in six[:2]:
        chart = client.get(f"/api/v1/stocks/{symbol}/history?range=1y", headers=user["headers"])
        assert chart.status_code == 200 and chart.get_json()["bars"]
        assert client.get(f"/api/v1/stocks/{symbol}/indicators?range=1y", headers=user["headers"]).status_code == 200
    assert provider_calls() == before


def test_fx_is_refreshed_once_per_period(jobs_app) -> None:
    app = jobs_app()
    user = register_api(app.test_client())
    with app.app_context():
        db.session.get(User, user["id"]).base_currency = "GBP"
        db.session.commit()
        t0 = time.time()
        # Currencies of the stocks: CHF, EUR, GBP, JPY, SEK, USD; bases: GBP (the user), EUR (BASE_CURRENCY),
        # USD. Each base takes the other five: 3 x 5 = 15 rates.
        assert data.refresh_fx(t0)["fetched"] == 15
        before = provider_calls()
        assert data.refresh_fx(t0 + 3600)["fetched"] == 0  # within the day: nothing again
        from app.market.research import fx_rates

        assert set(fx_rates(["USD", "JPY", "CHF"], "GBP")) == {"USD", "JPY", "CHF", "GBP"}  # what the pages read
        assert provider_calls() == before
        assert data.refresh_fx(t0 + 86400)["fetched"] == 15  # the next day: all again


def test_profiles_go_round_once_per_period(jobs_app) -> None:
    app = jobs_app(JOBS_PROFILES_ROTATION=12)
    dax = only_dax(app)
    user = register_api(app.test_client())
    with app.app_context():
        t0 = time.time()
        runs = [data.refresh_profiles(t0 + hour * 3600) for hour in range(5)]
        # 40 members at 12 a run: 12, 12, 12, 4; the fifth run waits for the week to pass.
        assert [r["fetched"] for r in runs] == [12, 12, 12, 4, 0]
        assert runs[4]["rotation"] == 0
        before = provider_calls()
        assert data.refresh_profiles(t0 + 6 * 86400)["fetched"] == 0
        assert provider_calls() == before
    client = app.test_client()
    for symbol in (dax[0], dax[-1]):
        assert client.get(f"/api/v1/stocks/{symbol}/profile", headers=user["headers"]).status_code == 200
    assert provider_calls() == before  # the pages read what the job wrote
    with app.app_context():
        assert data.refresh_profiles(t0 + 7 * 86400)["fetched"] == 12  # a week after the pass began


def test_profiles_and_news_never_spend_alpha_vantages_daily_calls(jobs_app) -> None:
    from tests.market.stub_server import start_stub_server

    stub = start_stub_server()
    try:
        limits = {f"{p}_RATE_PER_S": 0 for p in ("YAHOO", "FINNHUB", "ALPHAVANTAGE")}
        app = jobs_app(MARKET_PROVIDERS=["finnhub", "alphavantage"], FINNHUB_API_KEY="fhk-test",
                       ALPHAVANTAGE_API_KEY="avk-test", JOBS_PROFILES_ROTATION=3, JOBS_NEWS_ROTATION=3,
                       **stub.settings(**limits))
        only_dax(app)
        with app.app_context():
            chain = data.job_chain("profile")
            assert chain.names == ("finnhub",) and chain.metered
            assert data.refresh_profiles()["fetched"] == 3
            assert [r.path for r in stub.requests].count("/api/v1/stock/profile2") == 3
            stub.reset()
            stub.error_next(1000, status=500, path="/api/v1")  # Finnhub down: the job must not fall back
            from app.jobs.data import ProviderUnavailableError

            with pytest.raises(ProviderUnavailableError):
                data.refresh_news()
            paths = [r.path for r in stub.requests]
            assert paths and all(p.startswith("/api/v1/") for p in paths), paths
            assert "/query" not in paths  # Alpha Vantage untouched
    finally:
        stub.stop()


@pytest.mark.slow
@pytest.mark.redis
def test_a_real_worker_runs_the_news_job_into_the_shared_cache(jobs_app, workers) -> None:
    from tests.conftest import TEST_REDIS_URL

    app = jobs_app(redis_url=TEST_REDIS_URL, JOBS_NEWS_ROTATION=5)
    dax = only_dax(app)
    user = register_api(app.test_client())
    track(app, user["id"], held="AAPL", watched="SAP.DE")
    group = workers(app, redis=True)
    worker = group.start("--pool", "threads", "--concurrency", "2", "--loglevel", "INFO",
                         "-B", "--scheduler", "redbeat.RedBeatScheduler",
                         JOBS_SCHEDULE="news", JOBS_NEWS_S="2", JOBS_NEWS_ROTATION="5", JOBS_WARMUP_ACTIVE_DAYS="0")
    worker.wait_for("jobs_news_done", 60)
    assert "rotation=5" in worker.log() and "tracked=2" in worker.log()
    before = provider_calls()
    client = app.test_client()
    for symbol in ("AAPL", "SAP.DE", *dax[:5]):
        assert client.get(f"/api/v1/stocks/{symbol}/news", headers=user["headers"]).status_code == 200
    assert provider_calls() == before, "the worker's run filled the Redis entries this app reads"
