"""GET /api/v1/portfolio/performance: the value series, TWR/MWR per period, the benchmark, the monthly grid.

The expected returns are computed here from the closes the app itself reads
(`app.market.research.closes_for`, the demo market's deterministic daily closes).
"""
from __future__ import annotations

import calendar
import math
from datetime import date, timedelta
from decimal import Decimal

import pytest

from app.market.research import closes_for
from app.market.service import utc_today
from app.portfolio import services
from tests.conftest import csrf_token
from tests.portfolio.helpers import error, ok_txn

PERF = "/api/v1/portfolio/performance"
D = Decimal


def _closes(app, symbol: str, first: date) -> dict[date, Decimal]:
    """The closes the performance service uses: closes_for(symbols, first - 10 days, today)."""
    with app.app_context():
        raw = closes_for([symbol], first - timedelta(days=10), utc_today())[symbol]
    return {date.fromordinal(d): D(str(c)) for d, c in zip(raw["d"], raw["c"])}


def _latest(closes: dict[date, Decimal], day: date) -> Decimal:
    return closes[max(d for d in closes if d <= day)]


def _months_back(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def _perf(client, headers, range_name: str = "max") -> dict:
    response = client.get(f"{PERF}?range={range_name}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_bad_range_is_400(client, auth) -> None:
    for query in ("range=7d", "range=", "range=MAX", "range=1Y"):
        response = client.get(f"{PERF}?{query}", headers=auth["headers"])
        assert response.status_code == 400 and "range" in error(response)["details"]["fields"], query
    assert client.get(PERF, headers=auth["headers"]).get_json()["range"] == "1y"  # the default


def test_empty_portfolio(client, auth) -> None:
    body = _perf(client, auth["headers"], "1y")
    assert body["series"] == [] and body["returns"] == {} and body["monthly"] == {}
    assert body["base_currency"] == "EUR" and body["range"] == "1y"
    assert body["benchmark"]["name"] == "DAX" and body["benchmark"]["series"] == []


def test_single_buy_twr_equals_the_value_ratio(app, client, auth) -> None:
    h = auth["headers"]
    first = date(2026, 2, 2)  # a Monday
    closes = _closes(app, "SAP.DE", first)
    # Buy 10 at exactly that day's close with no fee: the buy's flow F0 = 10 * close equals the
    # first point's value V0, and no other cash flows follow.
    buy_price = closes[first]
    ok_txn(client, h, "buy", "SAP.DE", 10, buy_price, first.isoformat(), fee=0)
    body = _perf(client, h, "max")
    series = body["series"]
    days = [date.fromisoformat(p["date"]) for p in series]
    assert days == sorted(days) and len(set(days)) == len(days)           # ascending, no repeats
    assert days[0] == first and all(d.weekday() < 5 for d in days)        # business days from the first trade
    assert days[-1] == max(d for d in (utc_today() - timedelta(days=i) for i in range(7)) if d.weekday() < 5)
    # Each point is 10 shares at the latest close on or before the day (fx 1: EUR stock, EUR base).
    for point, day in zip(series, days):
        assert D(point["value"]) == 10 * _latest(closes, day), day
    assert D(series[0]["flow"]) == 10 * buy_price and all(D(p["flow"]) == 0 for p in series[1:])

    # TWR links daily returns (V_i + Out_i) / (V_{i-1} + In_i) - 1. The first day starts from nothing, so
    # its return is V0 / F0 - 1 = 0 (bought at the close); every later day has no flow, and the product telescopes:
    #   (V0/F0) * (V1/V0) * ... * (Vn/Vn-1) = Vn / F0 = Vn / V0   ->   TWR(max) = V_last / V_first - 1.
    v_first, v_last = D(series[0]["value"]), D(series[-1]["value"])
    plain = float(v_last / v_first) - 1
    span = (days[-1] - days[0]).days
    result = body["returns"]["max"]
    # "max" is annualised only when it spans more than a year: (1 + r) ** (365 / days) - 1.
    assert result["annualised"] is (days[0] < _months_back(days[-1], 12))
    expected = (1 + plain) ** (365 / span) - 1 if result["annualised"] else plain
    assert result["twr"] == pytest.approx(expected, rel=1e-9, abs=1e-12)
    # With one deposit and the final value, the money-weighted return is the same plain return.
    assert result["mwr"] == pytest.approx(expected, rel=1e-6, abs=1e-9)

    # 1m: anchored on the last point on or before one calendar month ago; no flows inside, so
    # TWR(1m) = V_last / V_anchor - 1.
    start = _months_back(utc_today(), 1)
    anchor = [p for p, d in zip(series, days) if d <= start][-1]
    assert body["returns"]["1m"]["twr"] == pytest.approx(float(v_last / D(anchor["value"])) - 1, rel=1e-9)
    assert set(body["returns"]) == {"1m", "3m", "ytd", "1y", "max"}
    assert all({"twr", "mwr", "annualised"} <= set(r) for r in body["returns"].values())

    # The growth-of-100 line ends at 100 * V_last / V_first as well.
    assert body["twr_index"][0]["value"] == 100
    assert body["twr_index"][-1]["value"] == pytest.approx(100 * float(v_last / v_first), abs=1e-3)

    # The monthly grid: one row per year since the first trade, months 1..12; nothing before February.
    assert set(body["monthly"]) == {str(y) for y in range(first.year, utc_today().year + 1)}
    grid = body["monthly"][str(first.year)]
    assert set(grid) == {str(m) for m in range(1, 13)} and grid["1"] is None
    # A full month is the last value of the month over the last value of the month before.
    end_may = [p for p, d in zip(series, days) if d <= date(2026, 5, 31)][-1]
    end_apr = [p for p, d in zip(series, days) if d <= date(2026, 4, 30)][-1]
    assert grid["5"] == pytest.approx(float(D(end_may["value"]) / D(end_apr["value"])) - 1, rel=1e-9)
    # The months chain into the whole: the product of (1 + monthly) is 1 + plain TWR.
    product = 1.0
    for year, months in body["monthly"].items():
        for value in months.values():
            product *= 1 + (value or 0)
    assert product == pytest.approx(1 + plain, rel=1e-9)

    # The benchmark: the DAX for a EUR portfolio, rebased to 100 at the range start.
    bench = body["benchmark"]
    assert bench["name"] == "DAX" and bench["series"][0]["value"] == 100
    assert bench["return"] == pytest.approx(bench["series"][-1]["value"] / 100 - 1, abs=1e-9)


def test_twr_takes_a_second_deposit_out(app, client, auth) -> None:
    h = auth["headers"]
    first, second = date(2026, 3, 2), date(2026, 6, 1)   # both Mondays
    closes = _closes(app, "ADS.DE", first)
    ok_txn(client, h, "buy", "ADS.DE", 10, closes[first], first.isoformat())
    ok_txn(client, h, "buy", "ADS.DE", 30, closes[second], second.isoformat())
    series = _perf(client, h, "max")["series"]
    by_day = {date.fromisoformat(p["date"]): (D(p["value"]), D(p["flow"])) for p in series}
    # The deposit on `second` buys 30 at that day's close, so it adds 30 * close to both the value and the flow.
    assert by_day[second] == (40 * closes[second], 30 * closes[second])
    before = max(d for d in by_day if d < second)
    v0, vb, (vs, fs), vn = by_day[first][0], by_day[before][0], by_day[second], by_day[max(by_day)][0]
    # The deposit is invested at the start of its day, at that day's close: it earns nothing on the
    # day, while the 10 held earn the move from the close before:
    # TWR = (Vb / V0) * (Vs / (Vb + Fs)) * (Vn / Vs) - 1.
    plain = float((vb / v0) * (vs / (vb + fs)) * (vn / vs)) - 1
    returns = _perf(client, h, "max")["returns"]["max"]
    span = (max(by_day) - first).days
    expected = (1 + plain) ** (365 / span) - 1 if returns["annualised"] else plain  # annualised after a year
    assert returns["twr"] == pytest.approx(expected, rel=1e-9)
    # The simple value ratio is not the TWR: it would count the deposit as a gain.
    assert float(vn / v0) - 1 != pytest.approx(plain, rel=1e-3)


def test_range_limits_the_series(client, auth) -> None:
    h = auth["headers"]
    ok_txn(client, h, "buy", "SAP.DE", 1, 40, "2025-03-03")
    full, month = _perf(client, h, "max")["series"], _perf(client, h, "1m")["series"]
    assert full[0]["date"] == "2025-03-03" and month[-1] == full[-1]
    assert month[0]["date"] >= (utc_today() - timedelta(days=31)).isoformat() and len(month) < 25
    assert month == full[-len(month):]


def test_benchmark_follows_the_base_currency_and_the_users_choice(client, page_user, monkeypatch) -> None:
    h = page_user["headers"]
    ok_txn(client, h, "buy", "SAP.DE", 1, 40, "2026-03-02")
    assert _perf(client, h, "1m")["benchmark"]["name"] == "DAX"
    # Valuing the S&P 500's 500 members takes seconds; only which index is asked for matters here.
    asked = []
    monkeypatch.setattr(services, "_benchmark", lambda name, start, end: asked.append(name) or {
        "name": name, "method": "stub", "series": [], "return": None})
    token = csrf_token(client, "/account")
    assert client.post("/account", data={"settings-csrf_token": token, "action": "settings",
                                         "settings-base_currency": "USD"}).status_code == 302
    assert _perf(client, h, "1m")["benchmark"]["name"] == "S&P 500" and asked == ["S&P 500"]
    monkeypatch.undo()
    # The user's own choice (the portfolio page's form) wins over the currency's default.
    token = csrf_token(client, "/account")  # the session's token (the portfolio page would value the S&P 500)
    assert client.post("/portfolio/benchmark", data={"csrf_token": token, "benchmark": "Switzerland 20"}
                       ).status_code == 302
    body = _perf(client, h, "1m")
    assert body["benchmark"]["name"] == "Switzerland 20" and body["benchmark"]["series"]
    # An unknown index is refused with a message and changes nothing.
    page = client.post("/portfolio/benchmark", data={"csrf_token": token, "benchmark": "Nope 99"},
                       follow_redirects=True)
    assert "Must be one of" in page.get_data(as_text=True)
    assert _perf(client, h, "1m")["benchmark"]["name"] == "Switzerland 20"


def _business_day(day: date) -> date:
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def _plain(period: dict, days: int) -> float:
    """Undo the annualisation of a period's TWR: (1 + annual) ** (days / 365) - 1."""
    return (1 + period["twr"]) ** (days / 365) - 1 if period["annualised"] else period["twr"]


def test_the_index_ends_at_one_plus_twr_for_every_range_and_starts_with_the_first_day(app, client, auth) -> None:
    # Issue 13 item 10: with range=max the index started at 100 on the first day, without that day's return.
    h = auth["headers"]
    today = utc_today()
    first = _business_day(today - timedelta(days=500))
    second = _business_day(today - timedelta(days=120))
    closes = _closes(app, "SAP.DE", first)
    price = (closes[first] * D("1.5")).quantize(D("0.01"))  # bought well above the close, with a commission
    ok_txn(client, h, "buy", "SAP.DE", 10, price, first.isoformat(), fee="7")
    ok_txn(client, h, "buy", "SAP.DE", 4, (closes[second] * D("0.8")).quantize(D("0.01")), second.isoformat())
    body = _perf(client, h, "max")
    index = body["twr_index"]
    # The first day: 10 shares worth 10 * close, bought for 10 * price + 7 (money in at the start of the day).
    assert index[0]["date"] == first.isoformat()
    assert index[0]["value"] == pytest.approx(100 * float(10 * closes[first] / (10 * price + 7)), abs=1e-3)
    span = (date.fromisoformat(body["series"][-1]["date"]) - first).days
    assert body["returns"]["max"]["annualised"]
    plain_max = _plain(body["returns"]["max"], span)
    assert index[-1]["value"] == pytest.approx(100 * (1 + plain_max), rel=1e-5)
    product = 1.0
    for months in body["monthly"].values():
        product *= math.prod(1 + (v or 0) for v in months.values())
    assert product == pytest.approx(1 + plain_max, rel=1e-9)

    year = _perf(client, h, "1y")
    assert year["twr_index"][0]["value"] == 100  # the anchor: the last point on or before a year ago
    assert year["twr_index"][0]["date"] <= _months_back(today, 12).isoformat() < year["twr_index"][1]["date"]
    assert year["twr_index"][-1]["value"] == pytest.approx(100 * (1 + year["returns"]["1y"]["twr"]), rel=1e-5)


def test_the_readme_example_on_the_demo_market_never_shows_less_than_minus_100_percent(client, auth) -> None:
    # Issue 13 item 9: the README's example buys far above the demo market's closes; end-of-day flows
    # made the TWR -100 % and some months -170 %.
    h = auth["headers"]
    csv = ("date,symbol,kind,quantity,price,fee,currency,note\n2024-03-01,SAP.DE,buy,10,180.50,4.90,EUR,first lot\n"
           "2024-05-15,SAP.DE,dividend,10,2.20,,EUR,\n2024-09-02,AAPL,buy,5,220,1,USD,\n")
    imported = client.post("/api/v1/portfolio/import", headers=h, data=csv, content_type="text/csv")
    assert imported.status_code == 200, imported.get_json()
    for range_name in ("max", "1y", "ytd", "1m"):
        body = _perf(client, h, range_name)
        assert all(r["twr"] is None or r["twr"] > -1 for r in body["returns"].values()), body["returns"]
        assert all(v is None or v > -1 for months in body["monthly"].values() for v in months.values())
        assert all(p["value"] > 0 for p in body["twr_index"])


def test_a_dividend_after_selling_out_counts_in_the_twr(app, client, auth, other) -> None:
    # Issue 13 item 11: the same trades, one of the two users also booking a dividend after selling out.
    day_buy, day_sell, day_div, day_rebuy = date(2026, 3, 2), date(2026, 4, 1), date(2026, 4, 15), date(2026, 5, 4)
    closes = _closes(app, "SAP.DE", day_buy)
    for user in (auth, other):
        h = user["headers"]
        ok_txn(client, h, "buy", "SAP.DE", 10, closes[day_buy], day_buy.isoformat())
        ok_txn(client, h, "sell", "SAP.DE", 10, closes[day_sell], day_sell.isoformat())
        ok_txn(client, h, "buy", "SAP.DE", 5, closes[day_rebuy], day_rebuy.isoformat())
    ok_txn(client, other["headers"], "dividend", "SAP.DE", 1, 50, day_div.isoformat())
    without, with_dividend = (_perf(client, u["headers"], "max") for u in (auth, other))
    # Sold at the close for S = 10 * close: the dividend of 50 joins that day, multiplying the growth by (S + 50) / S.
    sold = float(10 * closes[day_sell])
    span = (date.fromisoformat(without["series"][-1]["date"]) - day_buy).days
    assert 1 + _plain(with_dividend["returns"]["max"], span) == pytest.approx(
        (1 + _plain(without["returns"]["max"], span)) * (sold + 50) / sold, rel=1e-9)
    assert with_dividend["monthly"]["2026"]["4"] == pytest.approx(
        (1 + without["monthly"]["2026"]["4"]) * (sold + 50) / sold - 1, rel=1e-9)
