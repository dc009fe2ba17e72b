"""Value series, TWR, XIRR, period returns and the monthly grid, checked against hand arithmetic.

Dates: 2024-01-01 is a Monday, so 1-5 January 2024 is one Mon-Fri week and 2023-12-29 the Friday before.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from app.analysis.portfolio import Txn
from app.analysis.returns import (DayValue, annualise, benchmark_returns, daily_value_series, monthly_returns,
                                  normalise, period_returns, twr, xirr)


def txn(id, kind, day, quantity, price, fee="0", symbol="AAPL", currency="USD", fx="1"):
    return Txn(id=id, symbol=symbol, kind=kind, day=date.fromisoformat(day), quantity=D(quantity),
               price=D(price), fee=D(fee), currency=currency, fx=D(fx))


def closes(symbol="AAPL", **by_day):
    """closes(jan1="100", jan2="110") -> {"AAPL": {date(2024, 1, 1): D("100"), ...}} (January 2024)."""
    return {symbol: {date(2024, 1, int(k[3:])): D(v) for k, v in by_day.items()}}


def d(text):
    return date.fromisoformat(text)


def dv(day, value, flow="0"):
    return DayValue(d(day), D(value), D(flow))


# --- daily_value_series -------------------------------------------------------------------------------


def test_two_buys_link_to_21_percent():
    # Mon: buy 10 @ 100, close 100            -> V = 1000, F = 1000 (the anchor)
    # Tue: close 110, buy 10 @ 110 (F = 1100)  -> V = 20 * 110 = 2200; r = (2200 - 1100) / 1000 - 1 = 10 %
    # Wed: close 121                          -> V = 2420;             r = 2420 / 2200 - 1 = 10 %
    # TWR = 1.1 * 1.1 - 1 = 21 %
    txns = [txn(1, "buy", "2024-01-01", "10", "100"), txn(2, "buy", "2024-01-02", "10", "110")]
    series = daily_value_series(txns, closes(jan1="100", jan2="110", jan3="121"), {}, d("2024-01-01"),
                                d("2024-01-03"), "USD")
    assert series == [dv("2024-01-01", "1000", "1000"), dv("2024-01-02", "2200", "1100"), dv("2024-01-03", "2420")]
    assert twr(series) == pytest.approx(0.21, abs=1e-12)
    # Starting the series on the empty Friday before changes nothing: Monday's r = 1000 / 1000 - 1 = 0.
    earlier = daily_value_series(txns, closes(jan1="100", jan2="110", jan3="121"), {}, d("2023-12-29"),
                                 d("2024-01-03"), "USD")
    assert earlier[0] == dv("2023-12-29", "0")
    assert twr(earlier) == pytest.approx(0.21, abs=1e-12)


def test_full_exit_then_rebuy_links_without_dividing_by_zero():
    # Fri 29 Dec: nothing held                     V = 0
    # Mon: buy 10 @ 100, close 100                 V = 1000, F = 1000 -> r = 1000 / 1000 - 1 = 0
    # Tue: sell all 10 @ 110                       V = 0, F = -1100   -> r = (0 + 1100) / 1000 - 1 = 10 %
    # Wed: nothing held                            V = 0, F = 0, V_prev = 0 -> skipped
    # Thu: buy 5 @ 100, close 105                  V = 525, F = 500, V_prev = 0 -> r = 525 / 500 - 1 = 5 %
    # Fri: close 126                               V = 630           -> r = 630 / 525 - 1 = 20 %
    # TWR = 1.1 * 1.05 * 1.2 - 1 = 38.6 %
    txns = [txn(1, "buy", "2024-01-01", "10", "100"), txn(2, "sell", "2024-01-02", "10", "110"),
            txn(3, "buy", "2024-01-04", "5", "100")]
    series = daily_value_series(txns, closes(jan1="100", jan2="110", jan3="120", jan4="105", jan5="126"), {},
                                d("2023-12-29"), d("2024-01-05"), "USD")
    assert [(p.value, p.flow) for p in series] == [
        (D("0"), D("0")), (D("1000"), D("1000")), (D("0"), D("-1100")), (D("0"), D("0")),
        (D("525"), D("500")), (D("630"), D("0"))]
    assert twr(series) == pytest.approx(1.1 * 1.05 * 1.2 - 1, abs=1e-12)


def test_two_flows_on_one_day_are_summed():
    # Mon: buy 10 @ 100, close 100                       V = 1000 (anchor)
    # Tue: close 110; buy 10 @ 110 (+1100), sell 4 @ 110 (-440): F = 660, 16 held -> V = 1760
    #      r = (1760 - 660) / 1000 - 1 = 10 %
    # Wed: close 99                                       V = 1584 -> r = 1584 / 1760 - 1 = -10 %
    # TWR = 1.1 * 0.9 - 1 = -1 %
    txns = [txn(1, "buy", "2024-01-01", "10", "100"), txn(2, "buy", "2024-01-02", "10", "110"),
            txn(3, "sell", "2024-01-02", "4", "110")]
    series = daily_value_series(txns, closes(jan1="100", jan2="110", jan3="99"), {}, d("2024-01-01"),
                                d("2024-01-03"), "USD")
    assert series[1] == dv("2024-01-02", "1760", "660")
    assert twr(series) == pytest.approx(-0.01, abs=1e-12)


def test_dividends_and_fees_are_flows():
    # Fri: nothing held.
    # Mon: buy 10 @ 100 + 1 commission: F = 1001, close 100 -> V = 1000; r = 1000 / 1001 - 1
    # Tue: dividend 20 paid out: F = -20, V = 1000          -> r = (1000 + 20) / 1000 - 1 = 2 %
    # Wed: account fee 5 paid in: F = +5, V = 1000          -> r = (1000 - 5) / 1000 - 1 = -0.5 %
    # TWR = 1000/1001 * 1.02 * 0.995 - 1 = 1014.9 / 1001 - 1
    txns = [txn(1, "buy", "2024-01-01", "10", "100", fee="1"), txn(2, "dividend", "2024-01-02", "1", "20"),
            txn(3, "fee", "2024-01-03", "1", "5")]
    series = daily_value_series(txns, closes(jan1="100", jan2="100", jan3="100"), {}, d("2023-12-29"),
                                d("2024-01-03"), "USD")
    assert [p.flow for p in series] == [D("0"), D("1001"), D("-20"), D("5")]
    assert twr(series) == pytest.approx(1014.9 / 1001 - 1, abs=1e-12)


def test_multi_currency_values_use_the_latest_rate():
    # A EUR investor buys 10 AAPL @ 100 USD when 1 USD = 0.90 EUR: F = 900 EUR, V = 10 * 100 * 0.90 = 900.
    # Tue: close 110, 1 USD = 0.80 EUR  -> V = 10 * 110 * 0.80 = 880
    # Wed: close 121, no new rate        -> V = 10 * 121 * 0.80 = 968 (Tuesday's rate carried)
    # TWR = 968 / 900 - 1: a 21 % price gain, less the dollar's fall.
    txns = [txn(1, "buy", "2024-01-01", "10", "100", fx="0.90")]
    fx = {"USD": {d("2024-01-01"): D("0.90"), d("2024-01-02"): D("0.80")}}
    series = daily_value_series(txns, closes(jan1="100", jan2="110", jan3="121"), fx, d("2024-01-01"),
                                d("2024-01-03"), "EUR")
    assert series == [dv("2024-01-01", "900", "900"), dv("2024-01-02", "880"), dv("2024-01-03", "968")]
    assert twr(series) == pytest.approx(968 / 900 - 1, abs=1e-12)


def test_weekends_are_skipped_unless_something_happens():
    # Fri 5 Jan close 100; no close on Mon 8 (a holiday): Monday is valued at Friday's close.
    # A buy on Saturday 6 Jan adds that day, carrying its own flow and shares.
    txns = [txn(1, "buy", "2024-01-05", "1", "100"), txn(2, "buy", "2024-01-06", "1", "100")]
    series = daily_value_series(txns, closes(jan5="100", jan9="90"), {}, d("2024-01-05"), d("2024-01-09"), "USD")
    assert series == [dv("2024-01-05", "100", "100"), dv("2024-01-06", "200", "100"), dv("2024-01-08", "200"),
                      dv("2024-01-09", "180")]


def test_trade_prices_fill_in_for_missing_closes_and_earlier_trades_are_not_flows():
    # Bought Mon @ 100 with no close stored until Wed: Mon and Tue are valued at the trade price.
    # Thu's buy @ 130 is newer than Wed's close of 120, so Thu is valued at 130.
    # The series starts Tue, so Monday's buy is inside Tuesday's value rather than a flow.
    txns = [txn(1, "buy", "2024-01-01", "1", "100"), txn(2, "buy", "2024-01-04", "1", "130")]
    series = daily_value_series(txns, closes(jan3="120"), {}, d("2024-01-02"), d("2024-01-04"), "USD")
    assert series == [dv("2024-01-02", "100"), dv("2024-01-03", "120"), dv("2024-01-04", "260", "130")]


def test_twr_without_anything_to_link_is_none():
    assert twr([]) is None
    assert twr([dv("2024-01-01", "100")]) is None
    assert twr([dv("2024-01-01", "0"), dv("2024-01-02", "0")]) is None


# --- xirr and annualise ------------------------------------------------------------------------------


def test_xirr_one_year_ten_percent():
    # 2021 is not a leap year: 365 days, so 1000 * 1.1 = 1100 gives exactly 10 %.
    assert xirr([(d("2021-01-01"), -1000.0), (d("2022-01-01"), 1100.0)]) == pytest.approx(0.1, abs=1e-6)
    # Over leap-year 2020 the span is 366 days and XIRR counts 365-day years: 1.1 ** (365/366) - 1.
    assert xirr([(d("2020-01-01"), -1000.0), (d("2021-01-01"), 1100.0)]) == pytest.approx(
        1.1 ** (365 / 366) - 1, abs=1e-9)


def test_xirr_multiple_flows_with_a_hand_checked_npv():
    # -1000 now, +550 in a year, +605 in two: at 10 %, 550/1.1 + 605/1.21 = 500 + 500 = 1000, NPV = 0.
    flows = [(d("2021-01-01"), -1000.0), (d("2022-01-01"), 550.0), (d("2023-01-01"), 605.0)]
    assert xirr(flows) == pytest.approx(0.1, abs=1e-6)
    # Two deposits: -1000 - 1000/1.1 + 2310/1.21 = -1000 - 909.09 + 1909.09 = 0 at 10 %. Order does not matter.
    flows = [(d("2023-01-01"), 2310.0), (d("2021-01-01"), -1000.0), (d("2022-01-01"), -1000.0)]
    assert xirr(flows) == pytest.approx(0.1, abs=1e-6)


def test_xirr_losses_and_the_bisection_fallback():
    assert xirr([(d("2021-01-01"), -1000.0), (d("2022-01-01"), 900.0)]) == pytest.approx(-0.1, abs=1e-6)
    # -100 then +1 a year later is -99 %. Newton from 10 % jumps below -100 %, so bisection finds it.
    assert xirr([(d("2021-01-01"), -100.0), (d("2022-01-01"), 1.0)]) == pytest.approx(-0.99, abs=1e-6)


def test_xirr_without_an_answer_is_none():
    assert xirr([]) is None
    assert xirr([(d("2021-01-01"), -1000.0), (d("2022-01-01"), -5.0)]) is None  # no money out
    assert xirr([(d("2021-01-01"), -1000.0), (d("2021-01-01"), 1100.0)]) is None  # no time passes
    # 1000x in ten days is ~1e109 % a year: beyond the ceiling, given up on rather than looped on.
    assert xirr([(d("2021-01-01"), -1.0), (d("2021-01-11"), 1000.0)]) is None


def test_annualise():
    assert annualise(0.21, 730) == pytest.approx(0.1, abs=1e-12)  # 1.21 ** (365/730) = 1.1
    assert annualise(0.1, 365) == pytest.approx(0.1, abs=1e-12)
    assert annualise(-1.0, 10) == -1.0
    with pytest.raises(ValueError):
        annualise(0.1, 0)


# --- period_returns ---------------------------------------------------------------------------------


# Bought for 1000 on 3 Jan 2022, no further flows; values at a few month ends.
SPARSE = [dv("2022-01-03", "1000", "1000"), dv("2022-12-29", "1090"), dv("2022-12-30", "1100"),
          dv("2023-11-29", "1200"), dv("2023-12-29", "1320")]


def test_period_returns_measure_from_the_last_point_on_or_before_the_start():
    result = period_returns(SPARSE, d("2023-12-29"))
    # 1m: from 29 Nov (1200) to 1320: 10 %. With one flow in and one out, MWR is the same 10 %.
    assert result["1m"] == {"twr": pytest.approx(0.1, abs=1e-12), "mwr": pytest.approx(0.1, abs=1e-9),
                            "annualised": False}
    # 3m: the last point on or before 29 Sep is 30 Dec 2022 (1100): 1320 / 1100 - 1 = 20 %.
    assert result["3m"]["twr"] == pytest.approx(0.2, abs=1e-12)
    # ytd: anchored on 30 Dec 2022, the last point of last year: 20 %.
    assert result["ytd"]["twr"] == pytest.approx(0.2, abs=1e-12)
    assert result["ytd"]["mwr"] == pytest.approx(0.2, abs=1e-9)
    # 1y: from 29 Dec 2022 (1090): 1320 / 1090 - 1; one year is never annualised.
    assert result["1y"] == {"twr": pytest.approx(1320 / 1090 - 1, abs=1e-12),
                            "mwr": pytest.approx(1320 / 1090 - 1, abs=1e-9), "annualised": False}
    # max: 1000 -> 1320 (+32 %) over 725 days (3 Jan 2022 - 29 Dec 2023), so annualised:
    # 1.32 ** (365/725) - 1, for both TWR and MWR (a single flow in).
    expected = 1.32 ** (365 / 725) - 1
    assert result["max"] == {"twr": pytest.approx(expected, abs=1e-12), "mwr": pytest.approx(expected, abs=1e-9),
                             "annualised": True}


def test_period_returns_on_a_young_portfolio_are_since_inception_and_not_annualised():
    result = period_returns(SPARSE[:1] + [dv("2022-02-03", "1050")], d("2022-02-03"), periods=("1y", "5y", "max"))
    for name in ("1y", "5y", "max"):
        assert result[name]["twr"] == pytest.approx(0.05, abs=1e-12)
        assert result[name]["annualised"] is False
    assert period_returns([], d("2022-02-03"))["1m"] == {"twr": None, "mwr": None, "annualised": False}
    with pytest.raises(ValueError):
        period_returns(SPARSE, d("2023-12-29"), periods=("7w",))


def test_mwr_weights_money_while_twr_does_not():
    # 31 Jan: 1000 held. 15 Feb: +10 % -> 1100, then 1000 paid in: V = 2100, F = 1000.
    # 29 Feb: -10 % -> 1890.  TWR = 1.1 * 0.9 - 1 = -1 %.
    # MWR loses more: the extra 1000 was only in for the fall. Its period return m must zero the
    # NPV at the annual rate a = (1 + m) ** (365/29) - 1, with flows on days 0, 15 and 29.
    series = [dv("2024-01-31", "1000"), dv("2024-02-15", "2100", "1000"), dv("2024-02-29", "1890")]
    result = period_returns(series, d("2024-02-29"), periods=("1m",))["1m"]
    assert result["twr"] == pytest.approx(-0.01, abs=1e-12)
    m = result["mwr"]
    assert -0.1 < m < -0.01
    growth = (1 + m) ** (1 / 29)  # per day
    assert -1000 - 1000 / growth ** 15 + 1890 / growth ** 29 == pytest.approx(0, abs=1e-6)


# --- monthly_returns -----------------------------------------------------------------------------------


def test_monthly_grid():
    series = [
        dv("2023-12-29", "1000", "1000"),  # Dec: bought at 1000, worth 1000: 0 %
        dv("2024-01-15", "1100"),
        dv("2024-01-31", "1210"),          # Jan: 1210 / 1000 - 1 = 21 %
        dv("2024-03-15", "1089"),          # Feb: no data. Mar: 1089 / 1210 - 1 = -10 %
        dv("2024-04-10", "0", "-1200"),    # Apr: sold for 1200: (0 + 1200) / 1089 - 1
        dv("2024-05-15", "0"),             # May: nothing held all month -> None
    ]
    grid = monthly_returns(series)
    assert set(grid) == {2023, 2024}
    assert grid[2023] == {**{m: None for m in range(1, 12)}, 12: pytest.approx(0.0, abs=1e-12)}
    assert grid[2024][1] == pytest.approx(0.21, abs=1e-12)
    assert grid[2024][2] is None
    assert grid[2024][3] == pytest.approx(-0.1, abs=1e-12)
    assert grid[2024][4] == pytest.approx(1200 / 1089 - 1, abs=1e-12)
    assert [grid[2024][m] for m in range(5, 13)] == [None] * 8
    assert monthly_returns([]) == {}


# --- benchmark_returns and normalise ---------------------------------------------------------------


def test_benchmark_returns():
    prices = {d("2024-01-02"): D("100"), d("2024-01-03"): D("105"), d("2024-01-05"): D("120")}
    # No close on or before 1 Jan: start at the first one (100); end at the last on or before 4 Jan (105).
    assert benchmark_returns(prices, d("2024-01-01"), d("2024-01-04")) == pytest.approx(0.05, abs=1e-12)
    assert benchmark_returns(prices, d("2024-01-03"), d("2024-01-31")) == pytest.approx(120 / 105 - 1, abs=1e-12)
    assert benchmark_returns(prices, d("2024-01-05"), d("2024-01-05")) is None
    assert benchmark_returns({}, d("2024-01-01"), d("2024-01-31")) is None


def test_normalise_rebases_to_the_first_nonzero_value():
    points = [(d("2024-01-01"), D("0")), (d("2024-01-02"), D("50")), (d("2024-01-03"), D("75"))]
    assert normalise(points) == [(d("2024-01-02"), 100.0), (d("2024-01-03"), 150.0)]
    assert normalise(points, base=1) == [(d("2024-01-02"), 1.0), (d("2024-01-03"), 1.5)]
    assert normalise([]) == []
