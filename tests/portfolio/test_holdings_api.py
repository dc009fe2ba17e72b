"""GET /api/v1/portfolio: FIFO lots, realised P/L, dividends and fees, valuation at the quote, FX."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from app.extensions import db
from app.market.research import fx_history_for
from app.market.service import utc_today
from app.models import User
from app.portfolio import services
from tests.conftest import csrf_token
from tests.portfolio.helpers import cents, holdings, ok_txn, quote_price

D = Decimal


def _portfolio(client, headers) -> dict:
    response = client.get("/api/v1/portfolio", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _rate_on(app, currency: str, base: str, day: date) -> Decimal:
    """The demo market's `currency`->`base` rate on `day`: the latest published rate on or before it."""
    with app.app_context():
        series = fx_history_for({currency}, base, day - timedelta(days=10), utc_today())[currency]
    return D(str(series[max(d for d in series if d <= day)]))


def _set_base_currency(client, currency: str) -> None:
    token = csrf_token(client, "/account")
    response = client.post("/account", data={"settings-csrf_token": token, "action": "settings",
                                              "settings-base_currency": currency})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]


def test_empty_portfolio(client, auth) -> None:
    body = _portfolio(client, auth["headers"])
    assert body["base_currency"] == "EUR" and body["holdings"] == [] and body["complete"] is True
    assert all(body["totals"][k] == "0.00" for k in ("value", "cost_basis", "unrealised", "realised", "dividends",
                                                     "fees", "total_pl", "day_change"))


def test_fifo_realised_pl_and_what_remains(client, auth) -> None:
    h = auth["headers"]
    ok_txn(client, h, "buy", "SAP.DE", 10, 100, "2025-03-03", fee=0)
    ok_txn(client, h, "buy", "SAP.DE", 10, 120, "2025-04-01", fee=0)
    ok_txn(client, h, "sell", "SAP.DE", 15, 130, "2025-05-02", fee=0)
    body = _portfolio(client, h)
    held = {x["symbol"]: x for x in body["holdings"]}["SAP.DE"]
    # FIFO: the sell of 15 takes all 10 of the first lot and 5 of the second.
    #   realised = proceeds - cost of the shares sold = 15*130 - (10*100 + 5*120) = 1950 - 1600 = 350
    assert held["realised_base"] == "350.00" and body["totals"]["realised"] == "350.00"
    # What remains: 5 shares of the 120 lot -> cost basis 5*120 = 600, average cost 600/5 = 120.
    assert held["quantity"] == "5" and held["cost_basis"] == "600.00" and held["avg_cost"] == "120.0000"
    assert held["cost_basis_base"] == "600.00" and held["fx_rate"] == "1.000000" and held["currency"] == "EUR"
    assert body["totals"]["cost_basis"] == "600.00"


def test_fees_dividends_and_fee_rows_in_the_totals(client, auth) -> None:
    h = auth["headers"]
    ok_txn(client, h, "buy", "SAP.DE", 10, 100, "2025-03-03", fee=5)
    ok_txn(client, h, "buy", "SAP.DE", 10, 120, "2025-04-01", fee=5)
    ok_txn(client, h, "sell", "SAP.DE", 15, 130, "2025-05-02", fee=7)
    ok_txn(client, h, "dividend", "SAP.DE", 5, 2, "2025-06-02")   # 5 shares x 2.00 = 10.00
    ok_txn(client, h, "fee", "SAP.DE", 1, "3.5", "2025-06-03")     # a custody fee of 1 x 3.50 = 3.50
    price = quote_price(client, h, "SAP.DE")
    body = _portfolio(client, h)
    held, totals = body["holdings"][0], body["totals"]
    # Lots include their commission: lot 1 = 10*100 + 5 = 1005, lot 2 = 10*120 + 5 = 1205.
    # The sell of 15 consumes lot 1 and half of lot 2: cost 1005 + 1205 * 5/10 = 1607.50.
    # Proceeds net of the commission: 15*130 - 7 = 1943. Realised = 1943 - 1607.50 = 335.50.
    assert held["realised_base"] == "335.50" and totals["realised"] == "335.50"
    # Left: 5 shares costing 1205 - 602.50 = 602.50 -> average cost 602.50 / 5 = 120.50.
    assert held["quantity"] == "5" and held["cost_basis"] == "602.50" and held["avg_cost"] == "120.5000"
    assert held["dividends_base"] == "10.00" and totals["dividends"] == "10.00"
    # Fees paid: commissions 5 + 5 + 7 = 17 plus the fee row 3.50 = 20.50.
    assert held["fees_base"] == "20.50" and totals["fees"] == "20.50"
    # Unrealised = 5 * price - 602.50. Total P/L = unrealised + realised + dividends - fee rows
    # (commissions are already inside cost basis and realised P/L, so they are not deducted twice).
    unrealised = 5 * price - D("602.50")
    assert D(held["unrealised_base"]) == cents(unrealised) and D(totals["unrealised"]) == cents(unrealised)
    assert D(totals["total_pl"]) == cents(unrealised + D("335.50") + D("10.00") - D("3.50"))
    assert D(totals["value"]) == cents(5 * price)


def test_market_value_is_quantity_times_the_quote(client, auth) -> None:
    h = auth["headers"]
    ok_txn(client, h, "buy", "SAP.DE", 7, 100, "2025-03-03")
    ok_txn(client, h, "buy", "ADS.DE", 3, 200, "2025-03-03")
    quote = client.get("/api/v1/stocks/SAP.DE/quote", headers=h).get_json()
    sap, ads = D(str(quote["price"])), quote_price(client, h, "ADS.DE")
    body = _portfolio(client, h)
    held = {x["symbol"]: x for x in body["holdings"]}
    assert D(held["SAP.DE"]["price"]) == sap and D(held["ADS.DE"]["price"]) == ads
    # EUR stocks in a EUR portfolio: fx 1, so value = quantity * price in both currencies.
    assert D(held["SAP.DE"]["market_value_base"]) == cents(7 * sap) == D(held["SAP.DE"]["market_value_local"])
    assert D(held["ADS.DE"]["market_value_base"]) == cents(3 * ads)
    assert D(held["SAP.DE"]["unrealised_base"]) == cents(7 * sap - 700)
    assert D(body["totals"]["value"]) == cents(7 * sap + 3 * ads)
    # Day change = the quote's change per share * quantity.
    assert D(held["SAP.DE"]["day_change_base"]) == cents(D(str(quote["change"])) * 7)
    # Weights are each value over the total; sorted by value, largest first.
    total = 7 * sap + 3 * ads
    assert abs(held["SAP.DE"]["weight"] - float(7 * sap / total)) < 1e-12
    assert [x["symbol"] for x in body["holdings"]] == sorted(held, key=lambda s: -D(held[s]["market_value_base"]))
    assert body["complete"] is True and all(x["source"] == "demo" and x["error"] is None for x in body["holdings"])


def test_foreign_stock_in_a_eur_portfolio_splits_price_and_fx(app, client, auth) -> None:
    h = auth["headers"]
    ok_txn(client, h, "buy", "AAPL", 10, 200, "2025-03-03")  # a Monday
    price = quote_price(client, h, "AAPL")
    held = holdings(client, h)["AAPL"]
    r0 = _rate_on(app, "USD", "EUR", date(2025, 3, 3))     # EUR per USD on the buy date
    now = _rate_on(app, "USD", "EUR", utc_today())         # EUR per USD today
    assert held["currency"] == "USD" and D(held["fx_rate"]) == now.quantize(D("0.000001")) and now != 1
    # Cost: 10 * 200 = 2000 USD, converted at the buy date's rate.
    cost_base = 2000 * r0
    assert held["cost_basis"] == "2000.00" and D(held["cost_basis_base"]) == cents(cost_base)
    # Value: 10 * price USD, converted at today's rate.
    mv_local, mv_base = 10 * price, 10 * price * now
    assert D(held["market_value_local"]) == cents(mv_local) and D(held["market_value_base"]) == cents(mv_base)
    # price effect = local gain at the buy-date rate; FX effect = today's local value re-priced by the rate move.
    price_effect = (mv_local - 2000) * r0
    fx_effect = mv_local * (now - r0)
    assert D(held["price_effect_base"]) == cents(price_effect)
    assert D(held["fx_effect_base"]) == cents(fx_effect)
    assert D(held["unrealised_base"]) == cents(mv_base - cost_base)
    # Reconciliation as served (each field rounded to the cent on its own, so they may differ by one cent) ...
    assert abs(D(held["price_effect_base"]) + D(held["fx_effect_base"]) - D(held["unrealised_base"])) <= D("0.01")
    assert abs(D(held["market_value_local"]) * D(held["fx_rate"]) - D(held["market_value_base"])) <= D("0.01")
    # ... and exact before rounding.
    with app.test_request_context():
        user = db.session.get(User, auth["id"])
        exact = services.portfolio(user)["holdings"][0]
    assert exact["price_effect_base"] + exact["fx_effect_base"] == exact["unrealised_base"]
    assert exact["market_value_base"] == exact["market_value_local"] * exact["fx_rate"]


def test_switching_the_base_currency_to_usd_converts_the_eur_stock(app, client, page_user) -> None:
    h = page_user["headers"]
    ok_txn(client, h, "buy", "SAP.DE", 4, 100, "2025-03-03")
    ok_txn(client, h, "buy", "AAPL", 10, 200, "2025-03-03")
    eur = _portfolio(client, h)
    assert eur["base_currency"] == "EUR"
    _set_base_currency(client, "USD")
    assert client.get("/api/v1/me", headers=h).get_json()["base_currency"] == "USD"
    usd = _portfolio(client, h)
    held = {x["symbol"]: x for x in usd["holdings"]}
    assert usd["base_currency"] == "USD"
    # The USD stock is now in the base currency: rate 1, base amounts equal the local ones.
    aapl = held["AAPL"]
    assert aapl["fx_rate"] == "1.000000" and aapl["market_value_base"] == aapl["market_value_local"]
    assert aapl["cost_basis_base"] == "2000.00" and aapl["fx_effect_base"] == "0.00"
    # The EUR stock is converted at today's EUR->USD rate; its cost at the buy date's rate.
    sap, price = held["SAP.DE"], quote_price(client, h, "SAP.DE")
    now = _rate_on(app, "EUR", "USD", utc_today())
    r0 = _rate_on(app, "EUR", "USD", date(2025, 3, 3))
    assert now != 1 and D(sap["fx_rate"]) == now.quantize(D("0.000001"))
    assert D(sap["market_value_base"]) == cents(4 * price * now)
    assert D(sap["cost_basis_base"]) == cents(400 * r0) and sap["cost_basis"] == "400.00"
    # The two directions are the same market: EUR->USD is the inverse of USD->EUR.
    eur_aapl = {x["symbol"]: x for x in eur["holdings"]}["AAPL"]
    assert abs(D(sap["fx_rate"]) * D(eur_aapl["fx_rate"]) - 1) < D("0.000002")
    assert D(usd["totals"]["value"]) == cents(4 * price * now) + D(aapl["market_value_base"])


def test_a_fee_on_a_dividend_row_lowers_total_pl(client, auth) -> None:
    h = auth["headers"]
    ok_txn(client, h, "buy", "SAP.DE", 10, 40, "2025-03-03")
    ok_txn(client, h, "dividend", "SAP.DE", 10, 2, "2025-06-02", fee=1)  # 10 x 2.00 = 20.00, 1.00 withheld
    totals = _portfolio(client, h)["totals"]
    assert totals["dividends"] == "20.00" and totals["fees"] == "1.00"
    # Total P/L = unrealised + realised (0) + the dividend net of its fee (20 - 1 = 19).
    assert D(totals["total_pl"]) == D(totals["unrealised"]) + D("19.00")
