"""Value series, TWR, XIRR, period returns and the monthly grid, checked against hand arithmetic.

Dates: 2024-01-01 is a Monday, so 1-5 January 2024 is one Mon-Fri week and 2023-12-29 the Friday before.
"""
from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal as D

import pytest

from app.analysis.portfolio import Txn
from app.analysis.returns import (DayValue, annualise, benchmark_returns, daily_value_series, monthly_returns,
                                  normalise, period_returns, twr, twr_index, xirr)


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


def test_two_buys_link_with_the_second_invested_at_the_start_of_its_day():
    # Money comes in at the start of the day: r_i = (V_i + Out_i) / (V_{i-1} + In_i) - 1.
    # Mon: buy 10 @ 100, close 100            -> V = 1000, F = 1000 (the anchor)
    # Tue: close 110, buy 10 @ 110 (In = 1100) -> V = 20 * 110 = 2200; r = 2200 / (1000 + 1100) - 1
    #      (the new 1100 earned nothing from its price to the close; the old 1000 earned 10 %)
    # Wed: close 121                          -> V = 2420;             r = 2420 / 2200 - 1 = 10 %
    # TWR = 2200 / 2100 * 1.1 - 1 = 2420 / 2100 - 1
    txns = [txn(1, "buy", "2024-01-01", "10", "100"), txn(2, "buy", "2024-01-02", "10", "110")]
    series = daily_value_series(txns, closes(jan1="100", jan2="110", jan3="121"), {}, d("2024-01-01"),
                                d("2024-01-03"), "USD")
    assert series == [dv("2024-01-01", "1000", "1000"), dv("2024-01-02", "2200", "1100"), dv("2024-01-03", "2420")]
    assert twr(series) == pytest.approx(2420 / 2100 - 1, abs=1e-12)
    # Starting the series on the empty Friday before changes nothing: Monday's r = 1000 / (0 + 1000) - 1 = 0.
    earlier = daily_value_series(txns, closes(jan1="100", jan2="110", jan3="121"), {}, d("2023-12-29"),
                                 d("2024-01-03"), "USD")
    assert earlier[0] == dv("2023-12-29", "0")
    assert twr(earlier) == pytest.approx(2420 / 2100 - 1, abs=1e-12)


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


def test_two_flows_on_one_day_are_summed_per_side():
    # Mon: buy 10 @ 100, close 100                       V = 1000 (anchor)
    # Tue: close 110; buy 10 @ 110 (In = 1100), sell 4 @ 110 (Out = 440): F = 660, 16 held -> V = 1760
    #      r = (1760 + 440) / (1000 + 1100) - 1 = 2200 / 2100 - 1
    # Wed: close 99                                       V = 1584 -> r = 1584 / 1760 - 1 = -10 %
    # TWR = 2200 / 2100 * 0.9 - 1
    txns = [txn(1, "buy", "2024-01-01", "10", "100"), txn(2, "buy", "2024-01-02", "10", "110"),
            txn(3, "sell", "2024-01-02", "4", "110")]
    series = daily_value_series(txns, closes(jan1="100", jan2="110", jan3="99"), {}, d("2024-01-01"),
                                d("2024-01-03"), "USD")
    assert series[1] == dv("2024-01-02", "1760", "660")
    assert (series[1].inflow, series[1].outflow) == (D("1100"), D("440"))
    assert twr(series) == pytest.approx(2200 / 2100 * 0.9 - 1, abs=1e-12)


def test_dividends_and_fees_are_flows():
    # Fri: nothing held.
    # Mon: buy 10 @ 100 + 1 commission: In = 1001, close 100 -> V = 1000; r = 1000 / (0 + 1001) - 1
    # Tue: dividend 20 paid out: Out = 20, V = 1000          -> r = (1000 + 20) / 1000 - 1 = 2 %
    # Wed: account fee 5 paid in: In = 5, V = 1000           -> r = 1000 / (1000 + 5) - 1
    # TWR = 1000/1001 * 1.02 * 1000/1005 - 1
    txns = [txn(1, "buy", "2024-01-01", "10", "100", fee="1"), txn(2, "dividend", "2024-01-02", "1", "20"),
            txn(3, "fee", "2024-01-03", "1", "5")]
    series = daily_value_series(txns, closes(jan1="100", jan2="100", jan3="100"), {}, d("2023-12-29"),
                                d("2024-01-03"), "USD")
    assert [p.flow for p in series] == [D("0"), D("1001"), D("-20"), D("5")]
    assert twr(series) == pytest.approx(1000 / 1001 * 1.02 * 1000 / 1005 - 1, abs=1e-12)


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
    # 29 Feb: -10 % -> 1890. The deposit counts as invested at the start of 15 Feb, the series'
    # next point: r = 2100 / (1000 + 1000) - 1 = 5 %, then 1890 / 2100 - 1 = -10 %.
    # TWR = 1.05 * 0.9 - 1 = -5.5 %.
    # MWR loses more: the extra 1000 was only in for the fall. Its period return m must zero the
    # NPV at the annual rate a = (1 + m) ** (365/29) - 1, with flows on days 0, 15 and 29.
    series = [dv("2024-01-31", "1000"), dv("2024-02-15", "2100", "1000"), dv("2024-02-29", "1890")]
    result = period_returns(series, d("2024-02-29"), periods=("1m",))["1m"]
    assert result["twr"] == pytest.approx(1.05 * 0.9 - 1, abs=1e-12)
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


# --- the day convention: money in at the start of the day, out at its end (issue 13 items 9-11) ---------


def test_a_buy_far_above_the_close_loses_at_most_everything():
    # Mon: buy 10 @ 100, close 100                      V = 1000 (In = 1000): r = 1000 / (0 + 1000) - 1 = 0
    # Tue: buy 10 @ 300 (In = 3000), close still 100   V = 20 * 100 = 2000: r = 2000 / (1000 + 3000) - 1 = -50 %
    #      (end-of-day flows gave (2000 - 3000) / 1000 - 1 = -200 %)
    # Wed: close 110                                    V = 2200: r = 2200 / 2000 - 1 = 10 %
    # TWR = 1 * 0.5 * 1.1 - 1 = -45 %
    txns = [txn(1, "buy", "2024-01-01", "10", "100"), txn(2, "buy", "2024-01-02", "10", "300")]
    series = daily_value_series(txns, closes(jan1="100", jan2="100", jan3="110"), {}, d("2023-12-29"),
                                d("2024-01-03"), "USD")
    assert twr(series) == pytest.approx(0.5 * 1.1 - 1, abs=1e-12)
    assert monthly_returns(series)[2024][1] == pytest.approx(0.5 * 1.1 - 1, abs=1e-12)
    # Bought at ten times the close: r = 10 * 100 / (10 * 1000 + 5) - 1, above -100 %.
    series = daily_value_series([txn(1, "buy", "2024-01-01", "10", "1000", fee="5")], closes(jan1="100"), {},
                                d("2024-01-01"), d("2024-01-01"), "USD")
    assert period_returns(series, d("2024-01-01"), periods=("max",))["max"]["twr"] == pytest.approx(
        1000 / 10005 - 1, abs=1e-12)


def test_a_sale_earns_the_move_from_the_last_close_to_its_price():
    # Mon: buy 10 @ 100, close 100 -> V = 1000. Tue: sell 10 @ 120 + 2 fee: Out = 1198, V = 0.
    # r = (0 + 1198) / (1000 + 0) - 1 = 19.8 %
    txns = [txn(1, "buy", "2024-01-01", "10", "100"), txn(2, "sell", "2024-01-02", "10", "120", fee="2")]
    series = daily_value_series(txns, closes(jan1="100", jan2="90"), {}, d("2024-01-01"), d("2024-01-02"), "USD")
    assert twr(series) == pytest.approx(1198 / 1000 - 1, abs=1e-12)


def test_a_dividend_after_a_full_exit_counts_as_income_of_the_last_holding():
    # Mon: buy 10 @ 100, close 100       In = 1000, V = 1000 -> factor 1000 / 1000 = 1
    # Tue: sell 10 @ 110                 Out = 1100, V = 0   -> factor (0 + 1100) / 1000 = 1.1
    # Wed: dividend 22, nothing held     joins Tuesday: (1100 + 22) / 1000, i.e. a factor of 1122 / 1100
    # Thu: buy 5 @ 100, close 105        In = 500, V = 525   -> factor 525 / 500 = 1.05
    # TWR = 1.122 * 1.05 - 1; without Wednesday's dividend it would be 1.1 * 1.05 - 1.
    txns = [txn(1, "buy", "2024-01-01", "10", "100"), txn(2, "sell", "2024-01-02", "10", "110"),
            txn(3, "dividend", "2024-01-03", "1", "22"), txn(4, "buy", "2024-01-04", "5", "100")]
    series = daily_value_series(txns, closes(jan1="100", jan2="110", jan4="105"), {}, d("2024-01-01"),
                                d("2024-01-04"), "USD")
    assert [p.traded for p in series] == [True, True, False, True]
    full = [dv("2023-12-29", "0"), *series]
    assert period_returns(full, d("2024-01-04"), periods=("max",))["max"]["twr"] == pytest.approx(
        1.122 * 1.05 - 1, abs=1e-12)
    assert monthly_returns(full)[2024][1] == pytest.approx(1.122 * 1.05 - 1, abs=1e-12)
    # A fee booked there is a cost of the last holding: Tuesday's ratio becomes 1100 / (1000 + 11).
    fee = [*txns[:2], txn(3, "fee", "2024-01-03", "1", "11")]
    series = daily_value_series(fee, closes(jan1="100", jan2="110"), {}, d("2024-01-01"), d("2024-01-03"), "USD")
    assert twr([dv("2023-12-29", "0"), *series]) == pytest.approx(1100 / 1011 - 1, abs=1e-12)
    # Before anything was ever held there is nothing to link it to.
    assert twr([dv("2023-12-29", "0"), DayValue(d("2024-01-01"), D(0), D(-22), traded=False)]) is None


def test_the_index_ends_at_one_plus_twr_and_its_first_day_has_the_commission():
    # Mon: buy 10 @ 100 + 10 commission, close 98 -> index 100 * 980 / 1010 on the first day already.
    # Tue: close 107.8 -> 100 * 980 / 1010 * 1078 / 980 = 100 * 1078 / 1010.
    txns = [txn(1, "buy", "2024-01-01", "10", "100", fee="10")]
    series = daily_value_series(txns, closes(jan1="98", jan2="107.8"), {}, d("2024-01-01"), d("2024-01-02"), "USD")
    index = twr_index(series, None, d("2024-01-02"))
    assert index[0] == (d("2024-01-01"), pytest.approx(100 * 980 / 1010, abs=1e-9))
    assert index[-1][1] == pytest.approx(100 * 1078 / 1010, abs=1e-9)
    max_twr = period_returns(series, d("2024-01-02"), periods=("max",))["max"]["twr"]
    assert index[-1][1] == pytest.approx(100 * (1 + max_twr), abs=1e-9)
    # From an anchor inside the series (after Monday): 100 on Monday, 100 * 1078 / 980 on Tuesday.
    assert twr_index(series, d("2024-01-01"), d("2024-01-02")) == [
        (d("2024-01-01"), 100.0), (d("2024-01-02"), pytest.approx(100 * 1078 / 980, abs=1e-9))]


def test_long_only_ledgers_never_show_less_than_minus_100_percent():
    # Random buys, sells, dividends and fees at prices up to 20x away from the close: every month,
    # period and index point stays at or above -100 %, and the months chain to the whole span's TWR.
    rng = random.Random(13)
    days = [date(2024, 1, 1) + timedelta(days=i) for i in range(60)]
    for _ in range(200):
        close = {day: D(str(round(rng.uniform(1, 200), 2))) for day in days}
        ledger, held = [], D(0)
        for i, day in enumerate(sorted(rng.sample(days, 12))):
            kind = rng.choice(["buy", "buy", "sell", "dividend", "fee"])
            quantity = D(rng.randint(1, 20)) if kind != "sell" else min(D(rng.randint(1, 20)), held)
            if not quantity:
                continue
            held += {"buy": quantity, "sell": -quantity}.get(kind, D(0))
            price = (close[day] * D(str(rng.choice([0.05, 0.5, 1, 2, 20])))).quantize(D("0.01"))
            ledger.append(txn(i, kind, day.isoformat(), str(quantity), str(price), fee=str(rng.randint(0, 30))))
        if not ledger:
            continue
        series = daily_value_series(ledger, {"AAPL": close}, {}, ledger[0].day, days[-1], "USD")
        result = period_returns(series, days[-1], periods=("1m", "max"))
        assert all(p["twr"] is None or p["twr"] >= -1.0 for p in result.values())
        chained = 1.0
        for months in monthly_returns(series).values():
            for value in months.values():
                assert value is None or value >= -1.0
                chained *= 1.0 + (value or 0.0)
        index = twr_index(series, None, days[-1])
        assert all(level >= 0 for _, level in index)
        if result["max"]["twr"] is not None:  # 60 days: never annualised
            assert chained == pytest.approx(1.0 + result["max"]["twr"], rel=1e-9, abs=1e-12)
            assert index[-1][1] == pytest.approx(100 * (1.0 + result["max"]["twr"]), rel=1e-9, abs=1e-9)


# --- daily_value_series against a day-by-day reference ------------------------------------------

def _reference_values(txns, closes_, fx, start, end, base):
    """Value each day by the definition, slowly: the holdings after the day's transactions, each at
    its latest close on or before the day (else the latest buy/sell price; a close wins a tie),
    times its currency's latest rate (stored, else the latest transaction's; base = 1)."""
    ordered = sorted(txns, key=lambda t: (t.day, t.id))
    days = sorted({start + timedelta(days=n) for n in range((end - start).days + 1)
                   if (start + timedelta(days=n)).weekday() < 5} | {t.day for t in ordered if start <= t.day <= end})

    def latest(stored, seen, day):
        known = [(k, 1, 0, v) for k, v in stored.items() if k <= day] + [(t_day, 0, n, v) for n, (t_day, v)
                                                                       in enumerate(seen) if t_day <= day]
        return max(known, key=lambda e: e[:3])[3]  # the latest day; on a tie the stored value, else the last seen

    out = []
    for day in days:
        done = [t for t in ordered if t.day <= day]
        held, currency = {}, {}
        for t in done:
            held[t.symbol] = held.get(t.symbol, D(0)) + {"buy": t.quantity, "sell": -t.quantity}.get(t.kind, D(0))
            currency[t.symbol] = t.currency
        value = D(0)
        for symbol, quantity in held.items():
            if not quantity:
                continue
            price = latest(closes_.get(symbol, {}), [(t.day, t.price) for t in done
                                                     if t.symbol == symbol and t.kind in ("buy", "sell")], day)
            rate = D(1) if currency[symbol] == base else latest(
                fx.get(currency[symbol], {}), [(t.day, t.fx) for t in done if t.currency == currency[symbol]], day)
            value += quantity * price * rate
        out.append((day, value))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_value_series_matches_valuing_each_day_by_the_definition(seed):
    """Random two-currency ledgers (weekend trades, sells to zero, trades before the first close,
    gaps in the closes and rates): every day's value equals the reference, exactly (Decimal)."""
    rng = random.Random(seed)
    start, end = d("2024-01-01"), d("2024-03-29")
    calendar = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    symbols = {"SAP.DE": "EUR", "AAPL": "USD", "NVDA": "USD"}
    closes_ = {s: {day: D(str(round(rng.uniform(5, 300), rng.choice([0, 2, 4])))) for day in calendar
                   if day.weekday() < 5 and day > start + timedelta(days=rng.randint(0, 20)) and rng.random() > 0.1}
               for s in symbols}
    closes_["NVDA"] = {day: float(v) for day, v in closes_["NVDA"].items()}  # floats: taken at their repr
    fx = {"USD": {day: D(str(round(rng.uniform(0.85, 0.95), 6))) for day in calendar
                  if day.weekday() < 5 and day > start + timedelta(days=15) and rng.random() > 0.2}}
    held = {s: D(0) for s in symbols}
    ledger = []
    for i, day in enumerate(sorted(rng.choices(calendar, k=40))):
        symbol = rng.choice(list(symbols))
        kind = rng.choice(["buy", "buy", "sell", "dividend", "fee"])
        quantity = D(rng.randint(1, 9)) / rng.choice([1, 4]) if kind != "sell" else held[symbol]
        if kind == "sell" and rng.random() < 0.5:
            quantity = (held[symbol] / 2).quantize(D("0.01"))
        if not quantity:
            continue
        held[symbol] += {"buy": quantity, "sell": -quantity}.get(kind, D(0))
        ledger.append(txn(i, kind, day.isoformat(), str(quantity), str(round(rng.uniform(5, 300), 2)),
                          fee=str(rng.randint(0, 3)), symbol=symbol, currency=symbols[symbol],
                          fx="1" if symbols[symbol] == "EUR" else str(round(rng.uniform(0.85, 0.95), 4))))
    series = daily_value_series(ledger, closes_, fx, start, end, "EUR")
    reference_closes = {s: {k: D(str(v)) for k, v in c.items()} for s, c in closes_.items()}
    assert [(p.day, p.value) for p in series] == _reference_values(ledger, reference_closes, fx, start, end, "EUR")
    # The days kept from an earlier run are taken as they are; the others are valued again.
    marker = {p.day: DayValue(p.day, D(-1), p.flow) for p in series}
    cut = series[len(series) // 2].day
    again = daily_value_series(ledger, closes_, fx, start, end, "EUR", reuse=marker, reuse_before=cut)
    assert [p.value for p in again] == [D(-1) if p.day < cut else p.value for p in series]
