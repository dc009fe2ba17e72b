"""GET /api/v1/portfolio/allocation: the value split by holding, sector, country and currency."""
from __future__ import annotations

from decimal import Decimal

import pytest

from tests.portfolio.helpers import cents, ok_txn, quote_price

D = Decimal


def test_empty_allocation(client, auth) -> None:
    body = client.get("/api/v1/portfolio/allocation", headers=auth["headers"]).get_json()
    assert body == {"base_currency": "EUR", "holding": [], "sector": [], "country": [], "currency": []}


def test_weights_sum_to_one_in_every_dimension(client, auth) -> None:
    h = auth["headers"]
    ok_txn(client, h, "buy", "SAP.DE", 10, 40, "2025-03-03")
    ok_txn(client, h, "buy", "ADS.DE", 2, 200, "2025-03-03")
    ok_txn(client, h, "buy", "AAPL", 5, 150, "2025-03-03")
    ok_txn(client, h, "buy", "NESN.SW", 3, 80, "2025-03-03")
    ok_txn(client, h, "buy", "ALV.DE", 1, 300, "2025-03-03")
    ok_txn(client, h, "sell", "ALV.DE", 1, 310, "2025-04-01")  # sold out: no longer part of the split
    portfolio = client.get("/api/v1/portfolio", headers=h).get_json()
    body = client.get("/api/v1/portfolio/allocation", headers=h).get_json()
    assert body["base_currency"] == "EUR"
    values = {x["symbol"]: D(x["market_value_base"]) for x in portfolio["holdings"]}
    for dimension in ("holding", "sector", "country", "currency"):
        slices = body[dimension]
        assert sum(s["weight"] for s in slices) == pytest.approx(1.0, abs=1e-12), dimension
        # Every dimension splits the same total (slice values are rounded to the cent).
        assert abs(sum(D(s["value"]) for s in slices) - D(portfolio["totals"]["value"])) <= D("0.02"), dimension
        assert [D(s["value"]) for s in slices] == sorted((D(s["value"]) for s in slices), reverse=True)
        assert len({s["key"] for s in slices}) == len(slices)
    assert {s["key"] for s in body["holding"]} == {"SAP.DE", "ADS.DE", "AAPL", "NESN.SW"}
    for s in body["holding"]:
        assert D(s["value"]) == values[s["key"]]
    # Currency: the stocks' own currencies, here three of them; EUR = SAP.DE + ADS.DE.
    currency = {s["key"]: D(s["value"]) for s in body["currency"]}
    assert set(currency) == {"EUR", "USD", "CHF"}
    eur = cents(10 * quote_price(client, h, "SAP.DE") + 2 * quote_price(client, h, "ADS.DE"))
    assert abs(currency["EUR"] - eur) <= D("0.01") and currency["USD"] == values["AAPL"]
    countries = {s["key"] for s in body["country"]}
    assert {"Germany", "United States", "Switzerland"} <= countries
    assert all(s["key"] for s in body["sector"])


def test_two_currencies_appear(client, auth) -> None:
    h = auth["headers"]
    ok_txn(client, h, "buy", "SAP.DE", 1, 40, "2025-03-03")
    ok_txn(client, h, "buy", "AAPL", 1, 150, "2025-03-03")
    body = client.get("/api/v1/portfolio/allocation", headers=h).get_json()
    assert sorted(s["key"] for s in body["currency"]) == ["EUR", "USD"]
    weights = {s["key"]: s["weight"] for s in body["currency"]}
    assert 0 < weights["EUR"] < 1 and weights["EUR"] + weights["USD"] == pytest.approx(1.0)
