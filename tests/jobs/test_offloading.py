"""Heavy work runs in workers, never in a web request: universe scores and portfolio performance.

These apps run with JOBS_INLINE_COMPUTE off, as in production: a request only reads what a
worker stored and queues what is missing, once. The computation counters of the test's own
process (where the requests run) prove that no request computed; a real Celery worker process
on the embedded filesystem broker then does the work and the pages show it.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from tests.conftest import PASSWORD, login_page, register_api

pytestmark = pytest.mark.slow
THREADS = ("--pool", "threads", "--concurrency", "2", "--loglevel", "INFO")


def _scorings() -> float:
    return sum(s.value for m in REGISTRY.collect() if m.name == "tickerdesk_score_computations"
               for s in m.samples if s.name.endswith("_total"))


def _performances() -> float:
    return REGISTRY.get_sample_value("tickerdesk_performance_computations_total") or 0.0


def _queued(app, task: str) -> int:
    """Messages for `task` waiting in the embedded broker's queue folder."""
    folder = Path(app.config["JOBS_DIR"]) / "queue"
    return sum(task in path.read_text(errors="replace") for path in folder.glob("*.msg")) if folder.exists() else 0


def _wait(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} within {timeout} s"
        time.sleep(0.25)


def test_the_first_visit_to_a_stock_page_does_no_scoring(jobs_app, workers) -> None:
    app = jobs_app(JOBS_INLINE_COMPUTE=False, JOBS_SCHEDULE=["heartbeat"])
    client = app.test_client()
    user = register_api(client)
    login_page(client, user["email"])
    before = _scorings()

    page = client.get("/stocks/SAP.DE")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "DAX has not been scored yet" in html  # the score section says so; the rest of the page is there
    assert 'data-testid="quote"' in html
    api = client.get("/api/v1/stocks/SAP.DE/score", headers=user["headers"])
    assert api.status_code == 503 and api.get_json()["error"]["code"] == "not_yet_scored"
    assert api.headers["Retry-After"] == "30"
    rankings = client.get("/api/v1/rankings/growth?index=DAX", headers=user["headers"])
    assert rankings.status_code == 503 and rankings.get_json()["error"]["code"] == "not_yet_scored"
    assert _scorings() == before, "a request computed scores"
    assert _queued(app, "jobs.scores.universe") == 1, "three asks for DAX queue one scoring"

    group = workers(app, redis=False)
    group.start(*THREADS, JOBS_SCHEDULE="heartbeat")
    _wait(lambda: client.get("/api/v1/stocks/SAP.DE/score", headers=user["headers"]).status_code == 200, 60,
          "the worker scored DAX")
    score = client.get("/api/v1/stocks/SAP.DE/score", headers=user["headers"]).get_json()
    assert score["universe"] == "DAX" and score["of"] == 40 and 0 <= score["score"] <= 100
    html = client.get("/stocks/SAP.DE").get_data(as_text=True)
    assert f"rank {score['rank']} of 40" in html
    assert _scorings() == before, "the pages read the worker's scores; none were computed here"


def _buy(client, headers, day: str, quantity: str = "10") -> None:
    response = client.post("/api/v1/portfolio/transactions", headers=headers, json={
        "symbol": "SAP.DE", "kind": "buy", "date": day, "quantity": quantity, "price": "100"})
    assert response.status_code == 201, response.get_json()


def test_performance_is_computed_by_a_worker_and_the_last_result_shown_meanwhile(jobs_app, workers) -> None:
    app = jobs_app(JOBS_INLINE_COMPUTE=False, JOBS_SCHEDULE=["heartbeat"])
    client = app.test_client()
    user = register_api(client)
    headers = user["headers"]
    _buy(client, headers, "2025-01-06")
    before = _performances()

    first = client.get("/api/v1/portfolio/performance?range=max", headers=headers).get_json()
    assert first["status"] == "computing" and first["series"] == [] and first["computed_at"] is None
    for _ in range(3):  # asking again while it is queued queues nothing more
        assert client.get("/api/v1/portfolio/performance?range=max", headers=headers).get_json()["status"] == \
            "computing"
    assert _queued(app, "jobs.compute.performance") == 1
    login_page(client, user["email"])
    html = client.get("/portfolio?range=max").get_data(as_text=True)
    assert 'data-performance-status="computing"' in html

    group = workers(app, redis=False)
    group.start(*THREADS, JOBS_SCHEDULE="heartbeat")
    ready = _wait(lambda: (r := client.get("/api/v1/portfolio/performance?range=max", headers=headers).get_json())
                  ["status"] == "ready" and r, 60, "the worker computed the performance")
    assert ready["series"][0]["date"] == "2025-01-06" and ready["returns"]["max"] is not None
    status = client.get("/portfolio/performance-status?range=max").get_json()
    assert status["status"] == "ready" and status["computed_at"] == ready["computed_at"]

    # A change: the last result is shown, marked stale, while the worker computes the new one.
    _buy(client, headers, "2025-03-03", "5")
    stale = client.get("/api/v1/portfolio/performance?range=max", headers=headers).get_json()
    assert stale["status"] == "stale" and stale["series"] == ready["series"]
    fresh = _wait(lambda: (r := client.get("/api/v1/portfolio/performance?range=max", headers=headers).get_json())
                  ["status"] == "ready" and r, 60, "the worker recomputed after the change")
    march = next(p for p in fresh["series"] if p["date"] == "2025-03-03")
    assert float(march["flow"]) > 0 and fresh["computed_at"] > ready["computed_at"]
    assert _performances() == before, "a request computed a performance"
    assert client.get("/portfolio/performance-status?range=week").status_code == 400


def test_one_computation_per_portfolio_at_a_time(jobs_app) -> None:
    from celery.exceptions import Retry

    from app.jobs import compute, state

    app = jobs_app(JOBS_INLINE_COMPUTE=False)
    user = register_api(app.test_client())
    _buy(app.test_client(), user["headers"], "2025-01-06")
    with app.app_context():
        with state.run_lock(f"performance:{user['id']}", ttl_s=30) as got:
            assert got
            # Another range of the same portfolio is being computed: this one waits its turn.
            with pytest.raises(Retry):
                compute.performance.apply(args=[user["id"], "1y"], throw=True)
        result = compute.performance.apply(args=[user["id"], "1y"], throw=True).get()
        assert result["computed"] == 1
        again = compute.performance.apply(args=[user["id"], "1y"], throw=True).get()
        assert again["computed"] == 0  # idempotent: the stored result is current


def test_erasing_an_account_erases_its_stored_performance(jobs_app) -> None:
    from sqlalchemy import func, select

    from app.extensions import db
    from app.jobs import compute
    from app.models import ComputedResult

    app = jobs_app(JOBS_INLINE_COMPUTE=False)
    client = app.test_client()
    user = register_api(client)
    _buy(client, user["headers"], "2025-01-06")
    with app.app_context():
        compute.performance.apply(args=[user["id"], "max"], throw=True)
        prefix = f"performance:{user['id']}:"
        count = select(func.count()).select_from(ComputedResult).where(ComputedResult.key.startswith(prefix))
        assert db.session.scalar(count) == 1
    response = client.delete("/api/v1/me", headers=user["headers"],  # a fresh token: just logged in
                             data=json.dumps({"password": PASSWORD}), content_type="application/json")
    assert response.status_code == 204, response.get_json()
    with app.app_context():
        assert db.session.scalar(count) == 0


def _trainings() -> float:
    return sum(s.value for m in REGISTRY.collect() if m.name == "tickerdesk_forecast_trainings"
               for s in m.samples if s.name.endswith("_total"))


def test_forecasts_are_trained_by_a_worker_and_only_read_by_requests(jobs_app, workers) -> None:
    app = jobs_app(JOBS_INLINE_COMPUTE=False, JOBS_INLINE_RESEARCH=False, JOBS_SCHEDULE=["heartbeat"],
                   FORECAST_YEARS=5)
    client = app.test_client()
    user = register_api(client)
    before = _trainings()
    for symbol in ("KBC.BR", "UCB.BR", "KBC.BR"):  # BEL 20 members
        response = client.get(f"/api/v1/stocks/{symbol}/forecast", headers=user["headers"])
        assert response.status_code == 503 and response.get_json()["error"]["code"] == "not_yet_trained"
    assert _queued(app, "jobs.research.forecasts") == 1, "three asks for one index queue one training"

    group = workers(app, redis=False)
    group.start(*THREADS, JOBS_SCHEDULE="heartbeat")
    body = _wait(lambda: (r := client.get("/api/v1/stocks/KBC.BR/forecast", headers=user["headers"])).status_code
                 == 200 and r.get_json(), 120, "the worker trained the BEL 20's forecasts")
    assert body["universe"] == "BEL 20" and body["verdict"] in ("skill", "no_skill")
    assert (Path(app.config["FORECAST_DIR"]) / "bel-20" / f"{body['model']['version']}.joblib").is_file()
    login_page(client, user["email"])
    assert 'data-testid="fan-chart"' in client.get("/stocks/KBC.BR").get_data(as_text=True)
    assert _trainings() == before, "a request trained a model"
