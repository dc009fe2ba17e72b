"""The stocks API: search, quote, batch and history, with their bad inputs."""
from __future__ import annotations

import pytest

from app import aio


def test_endpoints_need_a_token(client) -> None:
    for path in ("/api/v1/stocks/search?q=sap", "/api/v1/stocks/SAP.DE/quote", "/api/v1/stocks/batch?symbols=SAP.DE",
                 "/api/v1/stocks/SAP.DE/history"):
        assert client.get(path).status_code == 401


@pytest.mark.parametrize("query, first", [("adidas", "ADS.DE"), ("ADS", "ADS.DE"), ("sap", "SAP.DE"),
                                          ("DE0007164600", "SAP.DE"), ("Apple", "AAPL"), ("siemens", None)])
def test_search_prefix_before_fuzzy(client, auth, query, first) -> None:
    results = client.get(f"/api/v1/stocks/search?q={query}&limit=5", headers=auth["headers"]).get_json()["results"]
    assert results
    if first:
        assert results[0]["symbol"] == first
    else:
        assert all("siemens" in r["name"].lower() for r in results[:3])


def test_search_is_accent_insensitive_and_fuzzy(client, auth) -> None:
    accented = client.get("/api/v1/stocks/search?q=Nestlé", headers=auth["headers"]).get_json()["results"]
    plain = client.get("/api/v1/stocks/search?q=nestle", headers=auth["headers"]).get_json()["results"]
    assert accented == plain and accented[0]["symbol"] == "NESN.SW"
    typo = client.get("/api/v1/stocks/search?q=siemns", headers=auth["headers"]).get_json()["results"]
    assert any(r["symbol"] == "SIE.DE" for r in typo)


@pytest.mark.parametrize("query", ["", "q=", "q=x&limit=0", "q=x&limit=51", "q=x&limit=ten", "q=" + "x" * 101])
def test_search_bad_input(client, auth, query) -> None:
    response = client.get(f"/api/v1/stocks/search?{query}", headers=auth["headers"])
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "validation_error"


def test_quote_and_unknown_symbol(client, auth) -> None:
    quote = client.get("/api/v1/stocks/sap.de/quote", headers=auth["headers"]).get_json()
    assert quote["symbol"] == "SAP.DE" and quote["currency"] == "EUR" and quote["source"] == "demo"
    missing = client.get("/api/v1/stocks/NOPE.XX/quote", headers=auth["headers"])
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "symbol_not_found"


def test_batch_is_one_call_into_the_core(client, auth, monkeypatch) -> None:
    calls = []
    real = aio.run_sync
    monkeypatch.setattr(aio, "run_sync", lambda coro, **kw: (calls.append(1), real(coro, **kw))[1])
    symbols = ["AAPL", "MSFT", "ADS.DE", "SAP.DE", "NOPE", "aapl", "ALV.DE"]
    body = client.post("/api/v1/stocks/batch", json={"symbols": symbols}, headers=auth["headers"]).get_json()
    assert sorted(body["quotes"]) == ["AAPL", "ADS.DE", "ALV.DE", "MSFT", "SAP.DE"]
    assert body["errors"] == {"NOPE": {"code": "symbol_not_found", "message": "not in the stock universe"}}
    assert len(calls) == 1
    same = client.get("/api/v1/stocks/batch?symbols=AAPL,MSFT", headers=auth["headers"]).get_json()
    assert same["quotes"]["AAPL"]["price"] == body["quotes"]["AAPL"]["price"] and len(calls) == 1


@pytest.mark.parametrize("method, kwargs", [
    ("get", {"query_string": {"symbols": ",".join(f"S{i}" for i in range(51))}}),
    ("post", {"json": {"symbols": [f"S{i}" for i in range(51)]}}),
])
def test_batch_over_the_limit_is_400(client, auth, method, kwargs) -> None:
    response = getattr(client, method)("/api/v1/stocks/batch", headers=auth["headers"], **kwargs)
    assert response.status_code == 400 and "At most 50" in response.get_json()["error"]["message"]


@pytest.mark.parametrize("kwargs", [{"json": {}}, {"json": {"symbols": "AAPL"}}, {"json": {"symbols": []}},
                                    {"json": {"symbols": [1, 2]}}, {"data": "{bad", "content_type": "application/json"}])
def test_batch_bad_bodies(client, auth, kwargs) -> None:
    assert client.post("/api/v1/stocks/batch", headers=auth["headers"], **kwargs).status_code == 400


def test_history_ranges_and_weekly(client, auth) -> None:
    daily = client.get("/api/v1/stocks/ADS.DE/history?range=6m", headers=auth["headers"]).get_json()
    weekly = client.get("/api/v1/stocks/ADS.DE/history?range=6m&interval=1wk", headers=auth["headers"]).get_json()
    assert daily["currency"] == "EUR" and 100 < len(daily["bars"]) < 140
    assert len(daily["bars"]) / 6 < len(weekly["bars"]) <= len(daily["bars"]) / 4 + 2
    assert weekly["bars"][-1]["close"] == daily["bars"][-1]["close"]
    assert max(b["high"] for b in weekly["bars"]) == max(b["high"] for b in daily["bars"])


@pytest.mark.parametrize("query, field", [("range=7y", "range"), ("interval=1h", "interval"), ("range=", "range")])
def test_history_bad_params_list_the_allowed_values(client, auth, query, field) -> None:
    response = client.get(f"/api/v1/stocks/ADS.DE/history?{query}", headers=auth["headers"])
    assert response.status_code == 400
    assert "Must be one of" in response.get_json()["error"]["details"]["fields"][field][0]


def test_every_provider_down_with_nothing_cached_is_503(make_app) -> None:
    from tests.conftest import register_api

    app = make_app(DEMO_FAILURE_RATE=1.0, MARKET_BUDGET_S=1.0)
    client = app.test_client()
    user = register_api(client)
    response = client.get("/api/v1/stocks/SAP.DE/quote", headers=user["headers"])
    assert response.status_code == 503
    assert "every provider failed" in response.get_json()["error"]["message"]
    assert client.get("/api/v1/stocks/SAP.DE/history", headers=user["headers"]).status_code == 503
