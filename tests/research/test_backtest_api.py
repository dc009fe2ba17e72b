"""GET /api/v1/research/backtest and the backtest page: validated, computed by the job, reproducible."""
from __future__ import annotations

import shutil
import uuid
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from bs4 import BeautifulSoup

from app import computed, create_app
from app.analysis.backtest import point_in_time_scores, rebalance_columns
from app.research import backtests
from app.research.forecasts import load_panel
from app.research.services import resolve_universe
from tests.conftest import base_env, login_page, make_config, register_api

QUERY = {"index": "BEL 20", "top": 5, "cost_bps": 25, "from": "2022-01-01", "to": "2024-12-31"}


def _app(tmp: Path, sqlite_template: Path, **overrides):
    path = tmp / f"app-{uuid.uuid4().hex[:8]}.db"
    shutil.copy(sqlite_template, path)
    return create_app(make_config(**{"JOBS_INLINE_RESEARCH": True, **overrides}), env=base_env(f"sqlite:///{path}"))


@pytest.fixture(scope="module")
def bt(tmp_path_factory, sqlite_template):
    app = _app(tmp_path_factory.mktemp("backtest"), sqlite_template)
    client = app.test_client()
    user = register_api(client)
    first = client.get("/api/v1/research/backtest", query_string=QUERY, headers=user["headers"])
    return {"app": app, "client": client, "user": user, "first": first}


def test_a_backtest_of_the_top_five(bt):
    assert bt["first"].status_code == 200, bt["first"].get_json()
    body = bt["first"].get_json()
    assert body["index"] == "BEL 20" and body["top"] == 5 and body["cost_bps"] == 25 and body["simulated"] is True
    # Month-ends from January 2022 to December 2024: 36; the test runs from the first to the last.
    assert body["from"] == "2022-01-31" and body["to"] == "2024-12-31" and body["months"] == 35
    assert len(body["holdings"]) == 35 and all(len(h["symbols"]) == 5 for h in body["holdings"])
    equity = body["equity"]
    assert equity["strategy"][0] == 1.0 and equity["benchmark"][0] == 1.0
    assert len(equity["dates"]) == len(equity["strategy"]) == len(equity["benchmark"])
    # The figures follow from the curve (checked independently of the engine's arithmetic).
    s = np.array(equity["strategy"])
    assert body["strategy"]["total_return"] == pytest.approx(s[-1] - 1, abs=1e-5)
    assert body["strategy"]["max_drawdown"] == pytest.approx(float(np.min(s / np.maximum.accumulate(s) - 1)), abs=1e-5)
    years = (date.fromisoformat(equity["dates"][-1]) - date.fromisoformat(equity["dates"][0])).days / 365.25
    assert body["strategy"]["cagr"] == pytest.approx(s[-1] ** (1 / years) - 1, abs=1e-5)
    months = body["monthly"]
    assert body["hit_rate"] == pytest.approx(sum(m["beat"] for m in months) / len(months))
    dsr = body["deflated_sharpe"]
    assert dsr["trials"] == len(dsr["variants"]) == 5 and 0 <= dsr["value"] <= 1  # tops 3, 5, 10, 15, 20 of 20
    assert any("survivorship" in a for a in body["assumptions"])


def test_the_picks_are_the_point_in_time_scores_best(bt):
    """Each rebalance holds the five best growth scores computed from the closes up to that day only."""
    body = bt["first"].get_json()
    with bt["app"].test_request_context():
        panel, _ = load_panel(resolve_universe(index="BEL 20"), date(2020, 11, 1), date(2024, 12, 31))
    cols = rebalance_columns(panel.days, date(2022, 1, 1), date(2024, 12, 31))
    for held, col in list(zip(body["holdings"], cols))[::7]:
        scores = point_in_time_scores(panel, col)
        best = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:5]
        assert sorted(held["symbols"]) == sorted(panel.symbols[i] for i in best)


def test_the_backtest_reproduces_itself_exactly(bt):
    app = bt["app"]
    with app.test_request_context():
        request = backtests.parse({**QUERY, "from": date(2022, 1, 1), "to": date(2024, 12, 31)})
        first = computed.read(request.key).payload
        backtests.compute(request)
        assert computed.read(request.key).payload == first


def test_a_higher_cost_lowers_the_return_by_the_traded_amount(bt):
    free = bt["client"].get("/api/v1/research/backtest", query_string={**QUERY, "cost_bps": 0},
                            headers=bt["user"]["headers"]).get_json()
    paid = bt["first"].get_json()
    assert [h["symbols"] for h in free["holdings"]] == [h["symbols"] for h in paid["holdings"]]
    assert paid["strategy"]["total_return"] < free["strategy"]["total_return"]
    assert paid["benchmark"] == free["benchmark"]  # the index is compared without costs


@pytest.mark.parametrize(("query", "field"), [
    ({"top": 0}, "top"), ({"top": 21}, "top"), ({"cost_bps": -1}, "cost_bps"), ({"cost_bps": 1001}, "cost_bps"),
    ({"from": "2024-06-01", "to": "2024-01-01"}, "from"), ({"from": "2024-01-05", "to": "2024-02-10"}, "to"),
    ({"index": "Nope 99"}, "index"), ({"trials": 2}, "trials"), ({"from": "not-a-date"}, "from"),
    ({"to": "0001-01-01"}, "to"), ({"from": "1960-01-01", "to": "1999-12-31"}, "to"),
])
def test_bad_arguments_are_refused_with_the_field_named(bt, query, field):
    response = bt["client"].get("/api/v1/research/backtest", query_string={**QUERY, **query},
                                headers=bt["user"]["headers"])
    assert response.status_code in (400, 422), response.get_json()
    assert field in str(response.get_json()["error"]["details"])


def test_the_index_is_required_and_a_token_too(bt):
    response = bt["client"].get("/api/v1/research/backtest", headers=bt["user"]["headers"])
    assert response.status_code in (400, 422) and "index" in str(response.get_json())
    assert bt["client"].get("/api/v1/research/backtest", query_string=QUERY).status_code == 401


def test_a_web_request_only_queues_the_backtest(tmp_path, sqlite_template):
    app = _app(tmp_path, sqlite_template, JOBS_INLINE_RESEARCH=False)
    client = app.test_client()
    user = register_api(client)
    response = client.get("/api/v1/research/backtest", query_string=QUERY, headers=user["headers"])
    assert response.status_code == 503 and response.get_json()["error"]["code"] == "backtest_running"
    assert response.headers["Retry-After"] == "10"
    # The page says so too, with the form still there.
    login_page(client, user["email"])
    page = client.get("/research/backtest", query_string=QUERY)
    assert page.status_code == 200 and "being computed" in page.get_data(as_text=True)


def test_the_rankings_page_links_to_the_backtest_page_which_shows_it(bt):
    client = bt["client"]
    login_page(client, bt["user"]["email"])
    rankings = BeautifulSoup(client.get("/rankings?index=BEL 20").get_data(as_text=True), "html.parser")
    link = rankings.select_one("[data-testid=backtest-link]")["href"]
    assert link.startswith("/research/backtest") and "BEL" in link
    page = client.get("/research/backtest", query_string=QUERY)
    assert page.status_code == 200
    soup = BeautifulSoup(page.get_data(as_text=True), "html.parser")
    assert soup.select_one("svg[data-testid=equity-chart] polyline.median") is not None
    figures = soup.select_one("[data-testid=backtest-figures]").get_text(" ")
    assert "CAGR" in figures and "Maximum drawdown" in figures and "Turnover" in figures
    assert "Deflated Sharpe Ratio" in soup.select_one("[data-testid=deflated-sharpe]").get_text()
    bad = client.get("/research/backtest", query_string={**QUERY, "top": "0"})
    assert bad.status_code == 400
    assert BeautifulSoup(bad.get_data(as_text=True), "html.parser").select_one("input[name=top][aria-invalid]")
