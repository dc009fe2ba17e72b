"""The research API through the test client: indicators, profile, news, score, rankings and the screener.

Most tests share one app on the deterministic demo market (module scope), so each universe is
scored once. Provider failures use their own apps: every provider pointing at a closed port, and
Finnhub served by the recorded-response stub of tests/market with faults injected.
"""
from __future__ import annotations

import shutil
import socket
import time
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import numpy as np
import pytest
import talib
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.analysis.periods import RANGES
from app.analysis.score import WEIGHTS
from app.universe import SECTORS
from tests.conftest import base_env, make_config, register_api

INDICATOR_KEYS = ("sma20", "sma50", "sma200", "ema20", "rsi14", "macd", "macd_signal", "macd_hist",
                  "bb_upper", "bb_middle", "bb_lower")
FACTORS = set(WEIGHTS)
NEW_ENDPOINTS = ("/api/v1/stocks/SAP.DE/indicators", "/api/v1/stocks/SAP.DE/profile", "/api/v1/stocks/SAP.DE/news",
                 "/api/v1/stocks/SAP.DE/score", "/api/v1/rankings/growth", "/api/v1/screener")


@pytest.fixture(scope="module")
def demo_app(sqlite_template, tmp_path_factory) -> Flask:
    """One demo-market app for the module (a fresh copy of the seeded database)."""
    path = tmp_path_factory.mktemp("research") / "app.db"
    shutil.copy(sqlite_template, path)
    return create_app(make_config(RATELIMIT_DEFAULT="100000 per minute"), env=base_env(f"sqlite:///{path}"))


@pytest.fixture(scope="module")
def api(demo_app) -> FlaskClient:
    return demo_app.test_client()


@pytest.fixture(scope="module")
def headers(api) -> dict[str, str]:
    return register_api(api)["headers"]


def get(api: FlaskClient, headers: dict[str, str], path: str, status: int = 200) -> Any:
    response = api.get(path, headers=headers)
    assert response.status_code == status, (path, response.get_json())
    return response.get_json()


def error_fields(body: dict) -> dict[str, list[str]]:
    assert body["error"]["code"] == "validation_error", body
    return body["error"]["details"]["fields"]


# -- authentication -------------------------------------------------------------------------

@pytest.mark.parametrize("path", NEW_ENDPOINTS)
def test_every_research_endpoint_needs_a_token(api, path) -> None:
    assert api.get(path).status_code == 401
    assert api.get(path, headers={"Authorization": "Bearer not-a-token"}).status_code in (401, 422)


# -- indicators -----------------------------------------------------------------------------

@pytest.mark.parametrize("query", ["range=7y", "range=", "range=1Y"])
def test_indicators_bad_range_lists_the_allowed_values(api, headers, query) -> None:
    body = get(api, headers, f"/api/v1/stocks/SAP.DE/indicators?{query}", 400)
    message = error_fields(body)["range"][0]
    assert "Must be one of" in message and all(r in message for r in RANGES)


def test_indicators_unknown_symbol_is_404(api, headers) -> None:
    body = get(api, headers, "/api/v1/stocks/NOPE.XX/indicators", 404)
    assert body["error"]["code"] == "symbol_not_found"


@pytest.fixture(scope="module")
def max_history(api, headers) -> list[dict]:
    bars = get(api, headers, "/api/v1/stocks/SAP.DE/history?range=max")["bars"]
    assert len(bars) > 5000
    return bars


@pytest.mark.parametrize("range_name", ["1m", "6m", "1y", "max"])
def test_indicators_equal_talib_over_the_range_and_its_warmup(api, headers, max_history, range_name) -> None:
    body = get(api, headers, f"/api/v1/stocks/sap.de/indicators?range={range_name}")
    assert body["symbol"] == "SAP.DE" and body["range"] == range_name
    assert body["source"] == "demo" and body["stale"] is False
    dates = body["dates"]
    assert dates and dates == sorted(dates) and len(set(dates)) == len(dates)
    for key in INDICATOR_KEYS:
        assert len(body[key]) == len(dates), key

    # the same closes the endpoint computed from: warmup_from .. today
    bars = [b for b in max_history if b["date"] >= body["warmup_from"]]
    assert bars[0]["date"] == body["warmup_from"]
    closes = np.array([b["close"] for b in bars], dtype=float)
    first = [b["date"] for b in bars].index(dates[0])
    assert [b["date"] for b in bars[first:]] == dates
    if range_name == "max":
        assert first == 0
    else:
        assert first >= 190  # up to 300 calendar days of warm-up
    macd, signal, hist = talib.MACD(closes, 12, 26, 9)
    upper, middle, lower = talib.BBANDS(closes, 20, 2.0, 2.0, 0)
    expected = {"sma20": talib.SMA(closes, 20), "sma50": talib.SMA(closes, 50), "sma200": talib.SMA(closes, 200),
                "ema20": talib.EMA(closes, 20), "rsi14": talib.RSI(closes, 14), "macd": macd,
                "macd_signal": signal, "macd_hist": hist, "bb_upper": upper, "bb_middle": middle, "bb_lower": lower}
    for key, ref in expected.items():
        ref = ref[first:]
        got = body[key]
        for i, (value, want) in enumerate(zip(got, ref)):
            if np.isnan(want):
                assert value is None, (key, dates[i])
            else:
                assert value is not None and abs(value - want) <= 1e-6, (key, dates[i], value, want)
    if range_name != "max":
        # the warm-up is long enough for every series to be known from the range's first day
        assert all(body[key][0] is not None for key in INDICATOR_KEYS)
    else:
        assert body["sma200"][198] is None and body["sma200"][199] is not None
        assert body["rsi14"][13] is None and body["rsi14"][14] is not None
        assert body["macd"][32] is None and body["macd"][33] is not None


def test_indicators_default_range_is_one_year(api, headers) -> None:
    default = get(api, headers, "/api/v1/stocks/SAP.DE/indicators")
    one_year = get(api, headers, "/api/v1/stocks/SAP.DE/indicators?range=1y")
    assert default["range"] == "1y" and default["dates"] == one_year["dates"]
    assert default["rsi14"] == one_year["rsi14"]
    assert (date.fromisoformat(default["dates"][-1]) - date.fromisoformat(default["dates"][0])).days <= 366


# -- profile and news -----------------------------------------------------------------------

def test_profile_has_source_and_figures(api, headers) -> None:
    body = get(api, headers, "/api/v1/stocks/sap.de/profile")
    assert body["symbol"] == "SAP.DE" and body["source"] == "demo" and body["stale"] is False
    assert body["as_of"] and "T" in body["as_of"]
    for figure in ("market_cap", "pe_ratio", "pb_ratio", "debt_to_equity", "roe", "dividend_yield",
                   "revenue_growth"):
        assert isinstance(body[figure], float), figure
    assert body["market_cap"] > 0 and 0 <= body["dividend_yield"] < 1
    assert body["currency"] == "EUR" and body["sector"] in SECTORS
    assert get(api, headers, "/api/v1/stocks/NOPE.XX/profile", 404)["error"]["code"] == "symbol_not_found"


def test_news_items_carry_sentiment_and_the_aggregate_counts_them(api, headers) -> None:
    body = get(api, headers, "/api/v1/stocks/SAP.DE/news")
    assert body["symbol"] == "SAP.DE" and body["source"] == "demo" and body["stale"] is False
    items = body["items"]
    assert items
    for news_item in items:
        assert -1.0 <= news_item["sentiment"] <= 1.0
        assert news_item["label"] in ("positive", "negative", "neutral")
        expected = "positive" if news_item["sentiment"] >= 0.05 else \
            "negative" if news_item["sentiment"] <= -0.05 else "neutral"
        assert news_item["label"] == expected
        assert news_item["headline"] and news_item["published_at"]
    published = [i["published_at"] for i in items]
    assert published == sorted(published, reverse=True)  # newest first
    agg = body["sentiment"]
    assert agg["count"] == len(items)
    assert agg["positive"] + agg["negative"] + agg["neutral"] == len(items)
    assert agg["positive"] == sum(i["label"] == "positive" for i in items)
    assert agg["score"] is not None and -1.0 <= agg["score"] <= 1.0
    assert get(api, headers, "/api/v1/stocks/NOPE.XX/news", 404)["error"]["code"] == "symbol_not_found"


# -- score ----------------------------------------------------------------------------------

def assert_scored(item: dict) -> None:
    assert 0.0 <= item["score"] <= 100.0 and 0.0 <= item["confidence"] <= 1.0
    assert set(item["factors"]) == FACTORS
    for name, factor in item["factors"].items():
        assert 0.0 <= factor["score"] <= 100.0
        assert factor["weight"] == WEIGHTS[name]
        assert isinstance(factor["inputs"], dict) and factor["inputs"]
    weighted = sum(f["score"] * f["weight"] for f in item["factors"].values())
    assert abs(item["score"] - weighted) <= 0.1 + 1e-9


def test_score_of_a_stock_within_its_home_index(api, headers) -> None:
    body = get(api, headers, "/api/v1/stocks/sap.de/score")
    assert body["symbol"] == "SAP.DE" and body["name"] == "SAP"
    assert body["universe"] == "DAX" and body["simulated"] is True
    assert 1 <= body["rank"] <= body["of"] and body["of"] == 40
    assert body["weights"] == WEIGHTS
    assert_scored(body)
    assert body["factors"]["sector"]["inputs"]["sector"] == "Technology"
    # the same score and rank as in the DAX ranking
    ranking = get(api, headers, "/api/v1/rankings/growth?index=DAX&limit=500")
    mine = next(i for i in ranking["items"] if i["symbol"] == "SAP.DE")
    assert (mine["score"], mine["rank"], mine["factors"]) == (body["score"], body["rank"], body["factors"])
    assert ranking["count"] == body["of"] == len(ranking["items"])
    # asking for the DAX explicitly (any case) is the same
    explicit = get(api, headers, "/api/v1/stocks/SAP.DE/score?index=dax")
    assert (explicit["universe"], explicit["score"], explicit["rank"]) == ("DAX", body["score"], body["rank"])


def test_score_within_a_country(api, headers) -> None:
    body = get(api, headers, "/api/v1/stocks/SAP.DE/score?country=germany")
    assert body["universe"] == "Germany" and body["of"] > 40 and 1 <= body["rank"] <= body["of"]
    assert_scored(body)


def test_score_outside_the_universe_and_bad_universes(api, headers) -> None:
    body = get(api, headers, "/api/v1/stocks/SAP.DE/score?index=MDAX", 404)
    assert body["error"]["code"] == "not_in_universe" and "MDAX" in body["error"]["message"]
    foo = get(api, headers, "/api/v1/stocks/SAP.DE/score?index=FOO", 400)
    assert "Allowed" in error_fields(foo)["index"][0] and "DAX" in error_fields(foo)["index"][0]
    both = get(api, headers, "/api/v1/stocks/SAP.DE/score?index=DAX&country=Germany", 400)
    assert "index" in error_fields(both)
    nowhere = get(api, headers, "/api/v1/stocks/SAP.DE/score?country=Atlantis", 400)
    assert "Germany" in error_fields(nowhere)["country"][0]
    assert get(api, headers, "/api/v1/stocks/NOPE.XX/score", 404)["error"]["code"] == "symbol_not_found"


# -- rankings -------------------------------------------------------------------------------

def assert_sorted_by_score(items: list[dict]) -> None:
    keys = [(-i["score"], i["symbol"]) for i in items]
    assert keys == sorted(keys)


def test_rankings_top_five_of_the_dax(api, headers) -> None:
    body = get(api, headers, "/api/v1/rankings/growth?index=DAX&limit=5")
    assert body["universe"] == "DAX" and body["count"] == 40 and body["simulated"] is True
    assert body["weights"] == WEIGHTS and body["as_of"]
    items = body["items"]
    assert len(items) == 5
    assert_sorted_by_score(items)
    assert [i["rank"] for i in items] == [1, 2, 3, 4, 5]
    for item in items:
        assert item["name"] and item["symbol"]
        assert_scored(item)
    # the top five are the first five of the full ranking, which is sorted all the way down
    full = get(api, headers, "/api/v1/rankings/growth?index=DAX&limit=500")["items"]
    assert_sorted_by_score(full)
    assert [i["rank"] for i in full] == list(range(1, 41))
    assert [i["symbol"] for i in full[:5]] == [i["symbol"] for i in items]
    assert len({i["symbol"] for i in full}) == 40


def test_rankings_index_is_case_insensitive_and_limit_defaults_to_ten(api, headers) -> None:
    lower = get(api, headers, "/api/v1/rankings/growth?index=dax")
    upper = get(api, headers, "/api/v1/rankings/growth?index=DAX&limit=10")
    assert lower["universe"] == "DAX" and len(lower["items"]) == 10
    assert lower["items"] == upper["items"]


def test_rankings_of_a_country(api, headers) -> None:
    body = get(api, headers, "/api/v1/rankings/growth?country=Germany&limit=20")
    assert body["universe"] == "Germany" and body["count"] > 40 and len(body["items"]) == 20
    assert_sorted_by_score(body["items"])
    german = get(api, headers, "/api/v1/screener?country=Germany&limit=500")
    assert german["count"] == body["count"] and all(i["country"] == "Germany" for i in german["items"])
    assert {i["symbol"] for i in body["items"]} <= {i["symbol"] for i in german["items"]}


@pytest.mark.parametrize("query, field", [
    ("index=DAX&limit=0", "limit"), ("index=DAX&limit=501", "limit"), ("index=DAX&limit=x", "limit"),
    ("index=FOO", "index"), ("index=DAX&country=Germany", "index"), ("index=", "index"),
])
def test_rankings_bad_parameters(api, headers, query, field) -> None:
    body = get(api, headers, f"/api/v1/rankings/growth?{query}", 400)
    assert field in error_fields(body)


def test_rankings_unknown_country_lists_the_allowed_ones(api, headers) -> None:
    body = get(api, headers, "/api/v1/rankings/growth?country=Atlantis", 400)
    message = error_fields(body)["country"][0]
    assert "Allowed" in message
    for country in ("Germany", "France", "United States", "Japan"):
        assert country in message


# -- screener -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dax_screen(api, headers) -> list[dict]:
    body = get(api, headers, "/api/v1/screener?index=DAX&limit=500")
    assert body["count"] == len(body["items"]) == 40 and body["universe"] == "DAX"
    assert body["sort"] == "-score"
    return body["items"]


def test_screener_unfiltered_is_the_ranking(api, headers, dax_screen) -> None:
    ranking = get(api, headers, "/api/v1/rankings/growth?index=DAX&limit=500")["items"]
    assert [i["symbol"] for i in dax_screen] == [i["symbol"] for i in ranking]
    assert [i["score"] for i in dax_screen] == [i["score"] for i in ranking]
    for item in dax_screen:
        assert item["currency"] and item["name"]
        if item["market_cap"] is not None:
            assert item["market_cap_usd"] is not None and item["market_cap_usd"] > 0


@pytest.mark.parametrize("filters", [
    {"pe_max": 20},
    {"dividend_yield_min": 0.02},
    {"score_min": 50},
    {"sector": "Industrials"},
    {"pe_max": 25, "dividend_yield_min": 0.01, "score_min": 30},
    {"sector": "Financials", "pe_max": 15},
    {"market_cap_min": 50e9},
])
def test_screener_filters(api, headers, dax_screen, filters) -> None:
    query = "&".join(f"{k}={v}" for k, v in filters.items())
    body = get(api, headers, f"/api/v1/screener?index=DAX&limit=500&{query}")

    def passes(row: dict) -> bool:
        checks = {
            "pe_max": lambda v: row["pe_ratio"] is not None and 0 < row["pe_ratio"] <= v,
            "dividend_yield_min": lambda v: row["dividend_yield"] is not None and row["dividend_yield"] >= v,
            "score_min": lambda v: row["score"] >= v,
            "sector": lambda v: row["sector"] == v,
            "market_cap_min": lambda v: row["market_cap_usd"] is not None and row["market_cap_usd"] >= v,
        }
        return all(checks[k](v) for k, v in filters.items())

    for item in body["items"]:
        assert passes(item), (filters, item)
    expected = [row["symbol"] for row in dax_screen if passes(row)]
    assert [i["symbol"] for i in body["items"]] == expected  # nothing wrongly left out, same order
    assert body["count"] == len(body["items"]) == len(expected)
    assert 0 < len(expected) < 40, "the filter should select some but not all of the DAX"


def test_screener_count_is_before_the_limit(api, headers) -> None:
    body = get(api, headers, "/api/v1/screener?index=DAX&score_min=20&limit=3")
    full = get(api, headers, "/api/v1/screener?index=DAX&score_min=20&limit=500")
    assert len(body["items"]) == 3 and body["count"] == full["count"] > 3
    assert body["items"] == full["items"][:3]


def sort_key_ok(items: list[dict], field: str, descending: bool) -> None:
    known = [i for i in items if i[field] is not None]
    unknown = [i for i in items if i[field] is None]
    assert items == known + unknown  # unknown values last
    for a, b in zip(known, known[1:]):
        if a[field] == b[field]:
            assert a["symbol"] < b["symbol"], (a, b)  # ties broken by symbol
        else:
            assert (a[field] > b[field]) if descending else (a[field] < b[field]), (a, b)
    assert [i["symbol"] for i in unknown] == sorted(i["symbol"] for i in unknown)


@pytest.mark.parametrize("sort", ["pe_ratio", "-pe_ratio", "-score", "score", "symbol", "-market_cap_usd",
                                  "dividend_yield", "-dividend_yield", "name"])
def test_screener_sorts_stably(api, headers, dax_screen, sort) -> None:
    body = get(api, headers, f"/api/v1/screener?index=DAX&limit=500&sort={sort}")
    assert body["sort"] == sort
    items = body["items"]
    assert {i["symbol"] for i in items} == {i["symbol"] for i in dax_screen}
    sort_key_ok(items, sort.lstrip("-"), sort.startswith("-"))
    again = get(api, headers, f"/api/v1/screener?index=DAX&limit=500&sort={sort}")
    assert [i["symbol"] for i in again["items"]] == [i["symbol"] for i in items]


def test_screener_score_ties_are_broken_by_symbol(api, headers) -> None:
    # Germany is large enough for tied scores; -score orders them by symbol
    items = get(api, headers, "/api/v1/screener?country=Germany&limit=500&sort=-score")["items"]
    sort_key_ok(items, "score", True)
    asc = get(api, headers, "/api/v1/screener?country=Germany&limit=500&sort=score")["items"]
    sort_key_ok(asc, "score", False)


@pytest.mark.parametrize("query, field", [
    ("pe_max=0", "pe_max"), ("pe_max=-1", "pe_max"), ("pe_max=abc", "pe_max"), ("pe_max=nan", "pe_max"),
    ("dividend_yield_min=2", "dividend_yield_min"), ("dividend_yield_min=-0.1", "dividend_yield_min"),
    ("score_min=101", "score_min"), ("score_min=-1", "score_min"), ("market_cap_min=-5", "market_cap_min"),
    ("sort=bogus", "sort"), ("sort=--score", "sort"), ("sector=Nope", "sector"), ("limit=0", "limit"),
    ("limit=501", "limit"), ("index=FOO", "index"), ("country=Atlantis", "country"),
    ("index=DAX&country=Germany", "index"),
])
def test_screener_bad_filters_name_the_field(api, headers, query, field) -> None:
    body = get(api, headers, f"/api/v1/screener?{query}", 400)
    assert field in error_fields(body), body


# -- provider failures ------------------------------------------------------------------------

def closed_port() -> int:
    """A localhost port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


BUDGET_S = 1.0


@pytest.mark.parametrize("providers, what", [
    (["finnhub"], "profile"),            # connection refused on every attempt
    (["yahoo", "finnhub"], "news"),      # Yahoo has no news: the chain falls to Finnhub, which is down
    (["yahoo"], "profile"),              # no provider in the chain offers fundamentals at all
])
def test_provider_down_is_a_clear_503_within_the_budget(make_app, providers, what) -> None:
    url = f"http://127.0.0.1:{closed_port()}"  # a port of its own: no circuit breaker shared with other tests
    app = make_app(MARKET_PROVIDERS=providers, YAHOO_BASE_URL=url, YAHOO_COOKIE_URL=url + "/fc",
                   FINNHUB_BASE_URL=url + "/api/v1", FINNHUB_API_KEY="fhk-test-key", FINNHUB_RATE_PER_S=0, MARKET_BUDGET_S=BUDGET_S)
    client = app.test_client()
    user = register_api(client)
    started = time.monotonic()
    response = client.get(f"/api/v1/stocks/SAP.DE/{what}", headers=user["headers"])
    elapsed = time.monotonic() - started
    assert elapsed < BUDGET_S + 3
    assert response.status_code == 503, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "provider_unavailable"
    assert "unavailable" in error["message"] and "every provider failed" in error["message"]
    assert error["details"]["reason"]
    assert "fhk-test-key" not in response.get_data(as_text=True)


def test_history_provider_down_makes_indicators_503(make_app) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    app = make_app(MARKET_PROVIDERS=["yahoo"], YAHOO_BASE_URL=url, YAHOO_COOKIE_URL=url + "/fc",
                   MARKET_BUDGET_S=BUDGET_S)
    client = app.test_client()
    user = register_api(client)
    started = time.monotonic()
    response = client.get("/api/v1/stocks/SAP.DE/indicators?range=1m", headers=user["headers"])
    assert time.monotonic() - started < BUDGET_S + 3
    assert response.status_code == 503 and response.get_json()["error"]["code"] == "provider_unavailable"


# -- served stale: Finnhub via the recorded-response stub ----------------------------------------

@pytest.fixture(scope="module")
def provider_stub() -> Iterator[Any]:
    from tests.market.stub_server import start_stub_server

    try:
        server = start_stub_server()
    except FileNotFoundError as exc:
        pytest.skip(f"provider fixtures not available: {exc}")
    yield server
    server.stop()


@pytest.fixture
def stub_app(make_app, provider_stub) -> Iterator[tuple[Flask, Any]]:
    provider_stub.reset()
    # Apps with the same provider settings share one client, circuit breakers included: a key of
    # its own keeps this test's breaker apart from the failures injected by the others.
    app = make_app(MARKET_PROVIDERS=["finnhub"], FINNHUB_BASE_URL=provider_stub.url + "/api/v1",
                   FINNHUB_API_KEY=f"fhk-{uuid.uuid4().hex[:12]}", FINNHUB_RATE_PER_S=0, FINNHUB_TIMEOUT_S=2.0,
                   MARKET_BUDGET_S=BUDGET_S)
    yield app, provider_stub
    provider_stub.reset()


@pytest.mark.parametrize("what, path, cache_key", [
    ("profile", "/api/v1/stock/", "profile:SAP.DE"),
    ("news", "/api/v1/company-news", "news:SAP.DE"),
])
def test_last_good_copy_is_served_stale_when_the_provider_fails(stub_app, what, path, cache_key) -> None:
    app, stub = stub_app
    client = app.test_client()
    user = register_api(client)
    url = f"/api/v1/stocks/SAP.DE/{what}"

    fresh = client.get(url, headers=user["headers"])
    assert fresh.status_code == 200, fresh.get_json()
    first = fresh.get_json()
    assert first["source"] == "finnhub" and first["stale"] is False
    asked = stub.request_count
    assert asked >= 1 and all(r.path.startswith(path) for r in stub.requests)

    # a second call is answered from the cache, without asking the provider
    assert client.get(url, headers=user["headers"]).get_json() == first
    assert stub.request_count == asked

    # the provider now fails, and the fresh entry is gone: the last good copy is served, marked stale
    stub.error_next(1000, status=503, path=path)
    cache = app.extensions["tickerdesk_cache"]
    assert cache.delete(cache_key) == 1
    assert cache.lastgood(cache_key) is not None
    started = time.monotonic()
    stale = client.get(url, headers=user["headers"])
    assert time.monotonic() - started < BUDGET_S + 3
    assert stale.status_code == 200, stale.get_json()
    body = stale.get_json()
    assert body["stale"] is True
    assert {k: v for k, v in body.items() if k != "stale"} == {k: v for k, v in first.items() if k != "stale"}
    assert stub.request_count > asked  # the provider was really asked, and failed

    # without a last good copy either, it is a 503
    cache.delete(cache_key, "lastgood:" + cache_key)
    down = client.get(url, headers=user["headers"])
    assert down.status_code == 503 and down.get_json()["error"]["code"] == "provider_unavailable"


def test_a_hanging_provider_is_cut_off_at_the_budget(stub_app) -> None:
    app, stub = stub_app
    client = app.test_client()
    user = register_api(client)
    stub.hang_next(50, seconds=8, path="/api/v1/company-news")
    started = time.monotonic()
    response = client.get("/api/v1/stocks/SAP.DE/news", headers=user["headers"])
    elapsed = time.monotonic() - started
    assert response.status_code == 503 and response.get_json()["error"]["code"] == "provider_unavailable"
    assert elapsed < BUDGET_S + 3


# -- history persisted across days -------------------------------------------------------------

def trading_days(symbol: str, start: date, end: date) -> list[date]:
    """The demo market's closed trading days of `symbol` from start to end."""
    import asyncio

    from app.market.providers.demo import DemoProvider

    return [bar.date for bar in asyncio.run(DemoProvider().history(symbol, start, end))]


def test_the_bar_of_a_request_day_is_served_on_later_days(make_app, monkeypatch) -> None:
    """Only closed days are stored, so the day of a request must not count as covered (no holes later)."""
    import app.market.bars as market_bars
    import app.market.service as market_service
    import app.stocks.services as stock_services

    real_today = market_service.utc_today()
    days = trading_days("SAP.DE", real_today - timedelta(days=60), real_today - timedelta(days=10))
    day_one, day_two = days[-3], days[-1]  # both long closed in the demo market

    def today_is(day: date) -> None:
        for module in (market_bars, market_service, stock_services):
            monkeypatch.setattr(module, "utc_today", lambda day=day: day)

    client = make_app().test_client()
    user = register_api(client)
    today_is(day_one)
    first = get(client, user["headers"], "/api/v1/stocks/SAP.DE/history?range=1m")
    assert first["bars"][-1]["date"] < day_one.isoformat()  # the running day is not served: fine
    today_is(day_two)
    later = get(client, user["headers"], "/api/v1/stocks/SAP.DE/history?range=1m")
    served = [b["date"] for b in later["bars"]]
    expected = [d.isoformat() for d in days if d.isoformat() >= served[0] and d < day_two]
    assert served == expected, sorted(set(expected) - set(served))
