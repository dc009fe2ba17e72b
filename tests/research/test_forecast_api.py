"""GET /api/v1/stocks/<symbol>/forecast and the stock page's forecast: trained by the job, served from storage.

One app per module (BEL 20, five years of the demo market, trained once); each test reads what
that training stored, or builds its own app where it needs another configuration.
"""
from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from app import computed, create_app
from app.research import forecasts
from app.research.services import resolve_universe
from tests.conftest import base_env, login_page, make_config, register_api

INDEX = "BEL 20"
SYMBOL, OTHER = "KBC.BR", "UCB.BR"  # members of the BEL 20 only


def _app(tmp: Path, sqlite_template: Path, **overrides):
    path = tmp / f"app-{uuid.uuid4().hex[:8]}.db"
    shutil.copy(sqlite_template, path)
    config = make_config(**{"FORECAST_DIR": str(tmp / "models"), "FORECAST_YEARS": 5, "JOBS_INLINE_RESEARCH": True, **overrides})
    return create_app(config, env=base_env(f"sqlite:///{path}"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, sqlite_template):
    tmp = tmp_path_factory.mktemp("forecast")
    app = _app(tmp, sqlite_template)
    client = app.test_client()
    user = register_api(client)
    first = client.get(f"/api/v1/stocks/{SYMBOL}/forecast", headers=user["headers"])
    return {"app": app, "client": client, "user": user, "first": first, "dir": tmp / "models"}


def test_the_first_request_trains_the_index_once_and_stores_a_versioned_model(trained):
    assert trained["first"].status_code == 200, trained["first"].get_json()
    files = sorted((trained["dir"] / "bel-20").glob("*.joblib"))
    assert len(files) == 1
    body = trained["first"].get_json()
    assert files[0].stem == body["model"]["version"]
    # A second stock of the index is served from the stored predictions: nothing is trained again.
    with trained["app"].app_context():
        before = computed.read(forecasts.result_key(resolve_universe(index=INDEX))).computed_at
    other = trained["client"].get(f"/api/v1/stocks/{OTHER}/forecast", headers=trained["user"]["headers"])
    assert other.status_code == 200 and other.get_json()["model"]["version"] == body["model"]["version"]
    with trained["app"].app_context():
        assert computed.read(forecasts.result_key(resolve_universe(index=INDEX))).computed_at == before
    assert len(list((trained["dir"] / "bel-20").glob("*.joblib"))) == 1


def test_the_forecast_is_a_distribution_beside_the_naive_one_with_its_record(trained):
    body = trained["first"].get_json()
    assert body["symbol"] == SYMBOL and body["universe"] == INDEX and body["horizon_days"] == 20
    q, band, price = body["quantiles"], body["band"], body["price"]
    assert q["p10"] <= q["p50"] <= q["p90"]
    for k in ("p10", "p50", "p90"):
        assert band[k] == pytest.approx(price * (1 + q[k]), rel=1e-4)
    # The naive forecast: zero drift, symmetric in log returns (z of 10 % = -z of 90 %).
    import math
    assert body["naive"]["p50"] == 0.0
    assert math.log1p(body["naive"]["p10"]) == pytest.approx(-math.log1p(body["naive"]["p90"]), rel=1e-4)
    record = body["record"]
    assert record["rows"] > 0 and record["origins"] > 0 and 0 <= record["coverage_80"] <= 1
    assert body["verdict"] == ("skill" if record["beats_naive"] else "no_skill")
    assert body["symbol_record"]["rows"] == record["rows"] // 20  # the stock's share of the pooled record
    card = body["model"]
    assert card["configurations_tried"] == 1 and card["universe"] == INDEX and "return_20d" in card["features"]
    assert any("fundamentals" in reason for reason in card["not_used"])
    assert len(body["fan"]) == 21 and body["fan"][-1]["p90"] == pytest.approx(band["p90"], rel=1e-4)
    assert "not investment advice" in body["disclaimer"]


def test_the_demo_market_shows_no_skill(trained):
    """The demo market is a simulated random walk: the honest result is that no model beats the naive one."""
    body = trained["first"].get_json()
    assert body["simulated"] is True
    assert body["beats_naive"] is False and body["verdict"] == "no_skill"
    assert body["record"]["pinball_loss"] > body["record"]["naive_pinball_loss"] * 0.99


def test_the_stock_page_shows_the_fan_chart_the_record_and_the_model_card(trained):
    client = trained["client"]
    login_page(client, trained["user"]["email"])
    html = client.get(f"/stocks/{SYMBOL}").get_data(as_text=True)
    page = BeautifulSoup(html, "html.parser")
    section = page.select_one("[data-testid=forecast]")
    assert section is not None
    assert "Beats the naive forecast: no." in section.select_one("[data-testid=forecast-verdict]").get_text()
    assert "random walk, so the honest result is no skill" in section.select_one(
        "[data-testid=forecast-simulated]").get_text()
    svg = section.select_one("svg[data-testid=fan-chart]")
    assert svg is not None and svg.select_one("polygon.model-band") and svg.select_one("polygon.naive-band")
    card = section.select_one("[data-testid=model-card]").get_text(" ")
    assert "Configurations tried" in card and trained["first"].get_json()["model"]["version"] in card
    assert "not investment advice" in section.select_one("[data-testid=forecast-disclaimer]").get_text()
    why = page.select_one("[data-testid=why-text]")
    assert SYMBOL in why.get_text() and "does not beat the naive forecast" in why.get_text()
    assert not why.has_attr("data-url")  # no LLM configured: no request for a generated text


def test_the_job_reuses_the_model_within_its_week_and_retrains_after(trained, tmp_path, sqlite_template):
    app = trained["app"]
    universe = resolve_universe(index=INDEX)
    with app.app_context():
        assert forecasts.due(universe) is False
        again = forecasts.train_universe(universe)
        assert again["trained"] is False
        version = again["version"]
        forced = forecasts.train_universe(universe, force=True)
        assert forced["trained"] is True and forced["version"] > version
    assert len(list((trained["dir"] / "bel-20").glob("*.joblib"))) == 2
    with app.app_context():
        app.config["JOBS_FORECASTS_PERIOD_S"] = 0.0
        try:
            assert forecasts.due(universe) is True
            assert forecasts.train_universe(universe)["trained"] is True
        finally:
            app.config["JOBS_FORECASTS_PERIOD_S"] = 604800.0


def test_a_web_request_never_trains(tmp_path, sqlite_template):
    app = _app(tmp_path, sqlite_template, JOBS_INLINE_RESEARCH=False)
    client = app.test_client()
    user = register_api(client)
    response = client.get(f"/api/v1/stocks/{SYMBOL}/forecast", headers=user["headers"])
    assert response.status_code == 503, response.get_json()
    assert response.get_json()["error"]["code"] == "not_yet_trained" and response.headers["Retry-After"] == "60"
    assert not (tmp_path / "models").exists()  # nothing trained in this process
    # The training was queued once for the worker: the embedded broker holds one message naming the task.
    queued = [p for p in Path(app.config["JOBS_DIR"]).rglob("*") if p.is_file() and b"jobs.research.forecasts"
              in p.read_bytes()]
    assert len(queued) == 1
    client.get(f"/api/v1/stocks/{OTHER}/forecast", headers=user["headers"])  # same index: not queued again
    assert len([p for p in Path(app.config["JOBS_DIR"]).rglob("*") if p.is_file()
                and b"jobs.research.forecasts" in p.read_bytes()]) == 1


def test_forecast_errors(trained):
    client, headers = trained["client"], trained["user"]["headers"]
    assert client.get(f"/api/v1/stocks/{SYMBOL}/forecast").status_code == 401
    unknown = client.get("/api/v1/stocks/NOPE.XX/forecast", headers=headers)
    assert unknown.status_code == 404 and unknown.get_json()["error"]["code"] == "symbol_not_found"


def test_an_index_with_too_little_history_says_so_and_is_not_retrained_on_each_view(tmp_path, sqlite_template):
    app = _app(tmp_path, sqlite_template, FORECAST_YEARS=2)
    client = app.test_client()
    user = register_api(client)
    response = client.get(f"/api/v1/stocks/{SYMBOL}/forecast", headers=user["headers"])
    assert response.status_code == 404, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "no_forecast" and "too little history" in error["message"]
    with app.app_context():
        universe = resolve_universe(index=INDEX)
        stored_at = computed.read(forecasts.result_key(universe)).computed_at
        assert forecasts.due(universe) is False
    client.get(f"/api/v1/stocks/{OTHER}/forecast", headers=user["headers"])
    with app.app_context():
        assert computed.read(forecasts.result_key(universe)).computed_at == stored_at
