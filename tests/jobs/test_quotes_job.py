"""The quotes job in process: which symbols it tracks, what it fetches, and that it fires alerts
of users who are not connected; the run locks that keep a slow run from stacking up."""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from app.extensions import db
from app.jobs import quotes, state
from app.models import Alert, Transaction, Watchlist, WatchlistItem
from tests.conftest import TEST_REDIS_URL, needs_redis, register_api
from tests.jobs.conftest import alert_near_price


def _users(app, n: int) -> list[int]:
    return [register_api(app.test_client())["id"] for _ in range(n)]


def test_tracked_symbols_are_held_watched_or_alerted_by_anyone(jobs_app) -> None:
    app = jobs_app()
    holder, watcher, alerter, fired = _users(app, 4)
    with app.app_context():
        db.session.add(Transaction(user_id=holder, symbol="SAP.DE", kind="buy", quantity=Decimal("1"),
                                   price=Decimal("100"), fee=Decimal("0"), currency="EUR", day=date(2025, 1, 2)))
        watchlist = Watchlist(user_id=watcher, name="w")
        db.session.add(watchlist)
        db.session.flush()
        db.session.add(WatchlistItem(watchlist_id=watchlist.id, symbol="AAPL"))
        db.session.add(Alert(user_id=alerter, symbol="MSFT", kind="above", threshold=Decimal("1")))
        db.session.add(Alert(user_id=fired, symbol="ADS.DE", kind="above", threshold=Decimal("1"), active=False))
        db.session.commit()
        # Nobody is connected: every user's symbols count, an inactive alert's does not.
        assert quotes.tracked_symbols() == ["AAPL", "MSFT", "SAP.DE"]


def test_the_job_fires_an_unconnected_users_alert_and_hands_it_to_delivery(jobs_app, monkeypatch) -> None:
    app = jobs_app()
    user = register_api(app.test_client())
    alert_id = alert_near_price(app, user["headers"])
    handed: list[list[dict]] = []
    monkeypatch.setattr("app.notify.on_fired", handed.append)
    with app.app_context():
        first = quotes.refresh_and_evaluate()
        assert first["symbols"] == 1 and first["fired"] == 1
        assert db.session.get(Alert, alert_id).triggered_at is not None
        # Idempotent: a second run (a redelivered task) fires nothing again.
        assert quotes.refresh_and_evaluate()["fired"] == 0
    assert [[f["id"] for f in batch] for batch in handed] == [[alert_id]]


def test_fresh_cached_quotes_are_not_fetched_again(jobs_app, monkeypatch) -> None:
    app = jobs_app()
    user = register_api(app.test_client())
    alert_near_price(app, user["headers"], "AAPL")  # the quote call caches AAPL (fresh for 15 s)
    monkeypatch.setattr("app.notify.on_fired", lambda fired: None)
    fetched: list[list[str]] = []
    from app.market import service

    real = service.refresh_quotes
    monkeypatch.setattr(service, "refresh_quotes", lambda symbols: fetched.append(list(symbols)) or real(symbols))
    with app.app_context():
        result = quotes.refresh_and_evaluate()
    assert fetched == [] and result["cached"] == 1 and result["fired"] == 1


def _lock_holds_once(app) -> None:
    with app.app_context():
        with state.run_lock("quotes", ttl_s=30) as first:
            with state.run_lock("quotes", ttl_s=30) as second:
                assert first is True and second is False
            assert quotes.refresh.run() == {"skipped": True}  # the task skips while a run holds it
        with state.run_lock("quotes", ttl_s=30) as again:
            assert again is True  # released at the end of the run


def test_the_run_lock_without_redis_is_a_file_lock(jobs_app) -> None:
    app = jobs_app()
    _lock_holds_once(app)
    assert (Path(app.config["JOBS_DIR"]) / "locks" / "quotes.lock").exists()


@needs_redis
@pytest.mark.redis
def test_the_run_lock_with_redis_is_set_nx_px_in_the_namespace(jobs_app) -> None:
    import redis

    app = jobs_app(redis_url=TEST_REDIS_URL)
    _lock_holds_once(app)
    client = redis.Redis.from_url(TEST_REDIS_URL)
    with app.app_context(), state.run_lock("scores", ttl_s=5):
        key = f"{app.config['JOBS_KEY_PREFIX']}lock:scores"
        assert 0 < client.pttl(key) <= 5000
    assert client.exists(key) == 0
    client.close()


def test_ready_reports_the_pipeline_starting_then_ok_then_down_and_stays_200(jobs_app) -> None:
    app = jobs_app(JOBS_HEARTBEAT_STALE_S=60)
    client = app.test_client()
    body = client.get("/ready").get_json()
    assert body["components"]["worker"] == {"status": "starting"}
    assert body["components"]["scheduler"] == {"status": "starting"}
    import time

    with app.app_context():
        state.mark("worker")
        state.mark("scheduler", time.time() - 120)
    response = client.get("/ready")
    body = response.get_json()
    assert response.status_code == 200 and body["status"] == "ok"
    assert body["components"]["worker"]["status"] == "ok"
    assert body["components"]["scheduler"]["status"] == "down" and body["degraded"] == ["scheduler"]


def test_provider_outages_are_retried_with_backoff_then_fail(jobs_app, monkeypatch) -> None:
    from prometheus_client import REGISTRY

    from app.jobs import celery_app
    from app.market import service

    app = jobs_app()
    user = register_api(app.test_client())
    with app.app_context():
        db.session.add(Alert(user_id=user["id"], symbol="SAP.DE", kind="above", threshold=Decimal("1")))
        db.session.commit()
    calls: list[list[str]] = []
    monkeypatch.setattr(service, "refresh_quotes", lambda symbols: calls.append(list(symbols)) or service.QuoteBatch(
        quotes={}, errors={s: {"code": "provider_unavailable", "message": "down"} for s in symbols}))
    assert quotes.refresh.retry_backoff and quotes.refresh.max_retries == 3
    celery_app.flask_app = app
    name = quotes.refresh.name
    retries = REGISTRY.get_sample_value("tickerdesk_task_retries_total", {"task": name}) or 0.0
    result = quotes.refresh.apply()  # eager: the retries run at once, without their countdown
    assert result.failed() and isinstance(result.result, quotes.ProviderUnavailableError)
    assert len(calls) == 1 + 3
    assert REGISTRY.get_sample_value("tickerdesk_task_retries_total", {"task": name}) == retries + 3
