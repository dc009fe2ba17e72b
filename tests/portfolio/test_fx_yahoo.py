"""A two-currency portfolio on a real provider chain: exchange rates come from Yahoo's pair charts.

The app runs with MARKET_PROVIDERS=yahoo against the recorded-response stub over real HTTP
(quotes, closes and the USDEUR=X pair synthesised in the recorded chart's shape).
"""
from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal as D
from typing import Any, Iterator

import pytest

from app.market.service import utc_today
from tests.conftest import register_api
from tests.portfolio.helpers import ok_txn


@pytest.fixture(scope="module")
def yahoo_stub() -> Iterator[Any]:
    from tests.market.stub_server import start_stub_server

    server = start_stub_server()
    yield server
    server.stop()


def test_foreign_holding_is_valued_with_the_pair_rate(make_app, yahoo_stub) -> None:
    yahoo_stub.reset()
    # a YAHOO_* setting of its own: apps with equal provider settings share one client and breaker
    app = make_app(MARKET_PROVIDERS=["yahoo"], **yahoo_stub.settings(), YAHOO_RATE_PER_S=0,
                   YAHOO_TIMEOUT_S=2.0 + uuid.uuid4().int % 1000 / 1e6, BASE_CURRENCY="EUR")
    client = app.test_client()
    headers = register_api(client)["headers"]
    day = (utc_today() - timedelta(days=20)).isoformat()
    ok_txn(client, headers, "buy", "SAP.DE", 5, "100", day)
    ok_txn(client, headers, "buy", "AAPL", 10, "150", day)

    response = client.get("/api/v1/portfolio", headers=headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    held = {h["symbol"]: h for h in body["holdings"]}
    assert body["base_currency"] == "EUR" and body["complete"] is True
    aapl, sap = held["AAPL"], held["SAP.DE"]
    assert aapl["currency"] == "USD" and D(aapl["fx_rate"]) not in (0, 1)
    assert sap["fx_rate"] == "1.000000"
    local, rate = D(aapl["market_value_local"]), D(aapl["fx_rate"])
    assert abs(D(aapl["market_value_base"]) - local * rate) <= D("0.01") * (1 + rate)
    assert "/v8/finance/chart/USDEUR=X" in {r.path for r in yahoo_stub.requests}

    performance = client.get("/api/v1/portfolio/performance?range=1m", headers=headers)
    assert performance.status_code == 200, performance.get_json()


def test_no_rate_from_the_provider_is_a_503_not_a_rate_of_one(make_app, yahoo_stub) -> None:
    yahoo_stub.reset()
    empty = yahoo_stub.fixture_json("yahoo/v8_chart_AAPL_range_1d.json")
    empty["chart"]["result"][0].pop("timestamp", None)
    empty["chart"]["result"][0]["indicators"] = {"quote": [{}]}
    yahoo_stub.override("/v8/finance/chart/USDEUR=X", empty)
    try:
        app = make_app(MARKET_PROVIDERS=["yahoo"], **yahoo_stub.settings(), YAHOO_RATE_PER_S=0,
                       YAHOO_TIMEOUT_S=2.0 + uuid.uuid4().int % 1000 / 1e6, BASE_CURRENCY="EUR")
        client = app.test_client()
        headers = register_api(client)["headers"]
        ok_txn(client, headers, "buy", "AAPL", 10, "150", (utc_today() - timedelta(days=20)).isoformat())
        response = client.get("/api/v1/portfolio", headers=headers)
        assert response.status_code == 503, response.get_json()
        assert response.get_json()["error"]["code"] == "provider_unavailable"
    finally:
        yahoo_stub.reset()
