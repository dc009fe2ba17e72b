"""The point-in-time backtest of the growth score (app.analysis.backtest): pure numpy, no app or database.

Expected figures are worked out by hand in the comments or recomputed here with scipy, never copied
from the code's output.
"""
from __future__ import annotations

import json
import math
from datetime import date

import numpy as np
import pytest
from scipy import stats

from app.analysis.backtest import Panel, deflated_sharpe, performance, point_in_time_scores, rebalance_columns, run
from app.analysis.score import build_inputs, growth_scores

NAN = math.nan


def ordinals(*days: date) -> np.ndarray:
    return np.array([d.toordinal() for d in days], dtype=np.int64)


def business_days(first: date, last: date) -> np.ndarray:
    return np.array([d for d in range(first.toordinal(), last.toordinal() + 1) if date.fromordinal(d).weekday() < 5],
                    dtype=np.int64)


def random_panel(seed: int, n: int, first: date, last: date, late: tuple[int, date] | None = None) -> Panel:
    """Random-walk closes with a few holidays (NaN); `late` = (row, day): that stock has no close before day."""
    rng = np.random.default_rng(seed)
    days = business_days(first, last)
    drifts = rng.normal(0.0004, 0.0006, (n, 1))
    closes = 50.0 * np.exp(np.cumsum(rng.normal(0.0, 0.018, (n, days.size)) + drifts, axis=1))
    closes[rng.random(closes.shape) < 0.02] = NAN
    if late is not None:
        closes[late[0], days < late[1].toordinal()] = NAN
    phases = rng.uniform(0, 6, n)

    def sentiment(day: int) -> np.ndarray:
        # Depends on the day only, never on closes; one stock's sentiment is unknown.
        out = np.tanh(np.sin(phases + day / 45.0))
        out[1] = NAN
        return out

    return Panel(symbols=[f"S{i:02d}" for i in range(n)], days=days, closes=closes,
                 sectors=[("Tech", "Banks", "Energy", None)[i % 4] for i in range(n)], sentiment=sentiment)


# -- 1. a backtest worked out by hand ------------------------------------------------------

HAND_DAYS = ordinals(date(2024, 1, 30), date(2024, 1, 31), date(2024, 2, 15), date(2024, 2, 29),
                     date(2024, 3, 15), date(2024, 3, 28), date(2024, 4, 15), date(2024, 4, 30))
HAND_CLOSES = np.array([
    # col: 0     1     2     3     4     5     6     7
    [10.0, 10.0, 11.0, 12.0, 12.0, 9.0, 10.0, 11.0],  # A
    [20.0, 20.0, 20.0, 22.0, 24.0, 24.0, 20.0, 18.0],  # B
    [NAN, NAN, 5.0, 5.0, 5.5, 6.0, NAN, 6.6],  # C: listed from col 2, a holiday at col 6
])
# Month-ends Jan 31, Feb 29, Mar 28, Apr 30 = columns 1, 3, 5, 7.
HAND_SCORES = {
    1: np.array([1.0, 2.0, 9.0]),  # C has the best score but no close: B then A
    3: np.array([5.0, 1.0, 5.0]),  # A and C tie: A, listed first, ranks first
    5: np.array([3.0, NAN, 2.0]),  # B unranked: A, C again (a pure re-weighting)
}


def rounded(values: list[float]) -> object:
    """pytest.approx for figures the result rounds to 6 decimal places."""
    return pytest.approx(values, abs=2e-6)


def hand_panel() -> Panel:
    return Panel(symbols=["A", "B", "C"], days=HAND_DAYS, closes=HAND_CLOSES, sectors=["X", "X", "Y"])


def test_rebalance_columns_are_the_last_trading_day_of_each_month_in_range() -> None:
    assert rebalance_columns(HAND_DAYS, date(2024, 1, 1), date(2024, 4, 30)) == [1, 3, 5, 7]
    # April's month-end (Apr 30) lies after Apr 29; January's (Jan 31) before Feb 1.
    assert rebalance_columns(HAND_DAYS, date(2024, 2, 1), date(2024, 4, 29)) == [3, 5]
    # Mar 28 is March's last trading day although the month ends on the 31st.
    assert rebalance_columns(HAND_DAYS, date(2024, 3, 31), date(2024, 3, 31)) == [5]
    assert rebalance_columns(np.zeros(0, dtype=np.int64), date(2024, 1, 1), date(2024, 12, 31)) == []


def test_hand_calculated_three_stocks_three_months() -> None:
    calls = []

    def ranker(col: int) -> np.ndarray:
        calls.append(col)
        return HAND_SCORES[col]

    result = run(hand_panel(), date(2024, 1, 1), date(2024, 4, 30), top=2, cost_bps=50, ranker=ranker)
    assert calls == [1, 3, 5]  # ranked at each rebalance but the last, which only ends the test
    cost = 50 / 10_000

    # Strategy. Jan 31: buy B, A at 1/2 each from cash: traded 1, cost 0.005; invested 0.995.
    s1 = 1.0
    s2 = 0.995 * (0.5 * 11 / 10 + 0.5 * 20 / 20)  # Feb 15: 0.995 x 1.05 = 1.04475
    s3 = 0.995 * (0.5 * 12 / 10 + 0.5 * 22 / 20)  # Feb 29: 0.995 x 1.15 = 1.14425
    # Drifted: A = 0.6 / 1.15 = 12/23, B = 0.55 / 1.15 = 11/23. Target A, C at 1/2:
    # traded = |1/2 - 12/23| + |0 - 11/23| + |1/2 - 0| = 1/46 + 22/46 + 23/46 = 1.
    traded_feb = abs(0.5 - 12 / 23) + 11 / 23 + 0.5
    assert traded_feb == pytest.approx(1.0)
    invested_feb = s3 * (1 - traded_feb * cost)  # 1.14425 x 0.995 = 1.13852875
    s4 = invested_feb * (0.5 * 12 / 12 + 0.5 * 5.5 / 5)  # Mar 15: x 1.05
    s5 = invested_feb * (0.5 * 9 / 12 + 0.5 * 6 / 5)  # Mar 28: x 0.975 = 1.11006553125
    # Drifted: A = 0.375 / 0.975 = 5/13, C = 0.6 / 0.975 = 8/13; back to 1/2 each:
    # traded = 2 x (1/2 - 5/13) = 3/13.
    traded_mar = abs(0.5 - 5 / 13) + abs(0.5 - 8 / 13)
    assert traded_mar == pytest.approx(3 / 13)
    invested_mar = s5 * (1 - traded_mar * cost)
    s6 = invested_mar * (0.5 * 10 / 9 + 0.5 * 6 / 6)  # Apr 15: C has no close, keeps 6
    s7 = invested_mar * (0.5 * 11 / 9 + 0.5 * 6.6 / 6)  # Apr 30

    # Benchmark, no costs. Jan 31: A, B (C unlisted); Feb 29 and Mar 28: A, B, C in thirds.
    b2 = (11 / 10 + 20 / 20) / 2  # 1.05
    b3 = (12 / 10 + 22 / 20) / 2  # 1.15
    b4 = b3 * (12 / 12 + 24 / 22 + 5.5 / 5) / 3
    b5 = b3 * (9 / 12 + 24 / 22 + 6 / 5) / 3
    b6 = b5 * (10 / 9 + 20 / 24 + 6 / 6) / 3
    b7 = b5 * (11 / 9 + 18 / 24 + 6.6 / 6) / 3

    assert result["equity"]["dates"] == [date.fromordinal(int(d)).isoformat() for d in HAND_DAYS[1:]]
    assert result["equity"]["strategy"] == rounded([s1, s2, s3, s4, s5, s6, s7])
    assert result["equity"]["benchmark"] == rounded([1.0, b2, b3, b4, b5, b6, b7])
    assert (result["from"], result["to"]) == ("2024-01-31", "2024-04-30")
    assert (result["rebalances"], result["months"], result["top"], result["cost_bps"]) == (3, 3, 2, 50.0)

    # Months: Feb 0.14425 vs 0.15 (lost), Mar -0.029875 vs +0.0136 (lost), Apr +0.1598 vs +0.0241 (won).
    monthly = result["monthly"]
    assert [m["month"] for m in monthly] == ["2024-02", "2024-03", "2024-04"]
    assert [m["strategy"] for m in monthly] == rounded([s3 - 1, s5 / s3 - 1, s7 / s5 - 1])
    assert [m["benchmark"] for m in monthly] == rounded([b3 - 1, b5 / b3 - 1, b7 / b5 - 1])
    assert monthly[1]["strategy"] == pytest.approx(0.995 * 0.975 - 1, abs=2e-6)  # -0.029875
    assert [m["beat"] for m in monthly] == [False, False, True]
    assert result["hit_rate"] == pytest.approx(1 / 3, abs=1e-6)

    assert result["holdings"] == [{"date": "2024-01-31", "symbols": ["B", "A"]},
                                  {"date": "2024-02-29", "symbols": ["A", "C"]},
                                  {"date": "2024-03-28", "symbols": ["A", "C"]}]
    strategy, benchmark = result["strategy"], result["benchmark"]
    # One-way turnover of the two rebalances after the purchase: (1/2 + 3/26) / 2 = 4/13.
    assert strategy["turnover"] == pytest.approx(4 / 13, abs=1e-6)
    assert strategy["total_return"] == pytest.approx(s7 - 1, abs=1e-6)
    assert benchmark["total_return"] == pytest.approx(b7 - 1, abs=1e-6)
    # Jan 31 -> Apr 30 2024 is 90 days.
    assert strategy["cagr"] == pytest.approx(s7 ** (365.25 / 90) - 1, abs=1e-6)
    # Strategy: peak Mar 15, trough the next close (Mar 28): 0.975 / 1.05 - 1 = -1/14 (Apr 15 stays above).
    assert strategy["max_drawdown"] == pytest.approx(-1 / 14, abs=1e-6)
    # Benchmark's peak is Mar 15 (b4), its trough Apr 15 (b6).
    assert benchmark["max_drawdown"] == pytest.approx(b6 / b4 - 1, abs=1e-6)
    assert "turnover" not in benchmark


def test_hand_backtest_without_costs_follows_the_prices_only() -> None:
    result = run(hand_panel(), date(2024, 1, 1), date(2024, 4, 30), top=2, cost_bps=0,
                 ranker=lambda col: HAND_SCORES[col])
    # The same months with nothing deducted: 1.15 x 0.975 x (11/9 + 1.1) / 2.
    assert result["equity"]["strategy"][-1] == pytest.approx(1.15 * 0.975 * (11 / 9 + 1.1) / 2, abs=2e-6)


# -- 2. point in time: nothing after the day matters ----------------------------------------

def test_no_look_ahead() -> None:
    panel = random_panel(7, 10, date(2021, 1, 4), date(2023, 12, 29), late=(4, date(2022, 6, 15)))
    cut = int(np.searchsorted(panel.days, date(2023, 3, 15).toordinal()))
    rng = np.random.default_rng(99)
    changed = panel.closes.copy()
    changed[:, cut + 1:] *= rng.uniform(0.5, 1.5, changed[:, cut + 1:].shape)
    future = Panel(panel.symbols, panel.days, changed, panel.sectors, panel.sentiment)
    start, end = date(2022, 1, 1), date(2023, 12, 31)

    cols = rebalance_columns(panel.days, start, end)
    before = [c for c in cols if c <= cut]
    assert len(before) >= 10
    for col in [*before, cut]:
        np.testing.assert_array_equal(point_in_time_scores(panel, col), point_in_time_scores(future, col))
    assert np.isfinite(point_in_time_scores(panel, cut)).sum() == 10

    a, b = run(panel, start, end, top=3), run(future, start, end, top=3)
    last = date.fromordinal(int(panel.days[cut])).isoformat()
    early = [h for h in a["holdings"] if h["date"] <= last]
    assert len(early) == len(before) and early == b["holdings"][:len(early)]
    upto = sum(1 for d in a["equity"]["dates"] if d <= last)
    for curve in ("strategy", "benchmark"):
        assert a["equity"][curve][:upto] == b["equity"][curve][:upto]
        assert a["equity"][curve][upto:] != b["equity"][curve][upto:]  # the test does see the change


def test_closes_older_than_the_lookback_do_not_matter() -> None:
    panel = random_panel(3, 8, date(2021, 1, 4), date(2023, 6, 30))
    col = panel.days.size - 1
    old = panel.days < panel.days[col] - 400
    changed = panel.closes.copy()
    changed[:, old] *= 3.0
    other = Panel(panel.symbols, panel.days, changed, panel.sectors, panel.sentiment)
    np.testing.assert_array_equal(point_in_time_scores(panel, col), point_in_time_scores(other, col))
    # ...while a longer look-back does see them (the 12-month return's base moves).
    assert not np.array_equal(point_in_time_scores(panel, col, lookback_days=600),
                              point_in_time_scores(other, col, lookback_days=600))


# -- 3. determinism, JSON -------------------------------------------------------------------

def test_same_inputs_same_output_and_json_ready() -> None:
    panel = random_panel(11, 12, date(2020, 6, 1), date(2023, 6, 30), late=(5, date(2022, 2, 14)))
    first = run(panel, date(2021, 7, 1), date(2023, 6, 30), top=4, cost_bps=15)
    second = run(panel, date(2021, 7, 1), date(2023, 6, 30), top=4, cost_bps=15)
    assert first == second
    text = json.dumps(first, allow_nan=False)  # no NaN, no numpy types
    assert json.loads(text) == first
    assert set(first) == {"from", "to", "top", "cost_bps", "rebalances", "months", "equity", "strategy",
                          "benchmark", "hit_rate", "monthly", "holdings", "deflated_sharpe", "assumptions"}
    assert set(first["strategy"]) == {"cagr", "volatility", "max_drawdown", "sharpe", "turnover", "total_return"}
    assert set(first["benchmark"]) == {"cagr", "volatility", "max_drawdown", "sharpe", "total_return"}
    assert {"value", "sharpe", "trials", "sharpe_variance", "threshold"} <= set(first["deflated_sharpe"])
    # 24 month-ends, Jul 2021 to Jun 2023: 23 months between them.
    assert first["months"] == len(first["monthly"]) == len(first["holdings"]) == 23
    assert all(isinstance(line, str) for line in first["assumptions"])
    # The late stock is not bought before it lists.
    listed = date.fromordinal(int(panel.days[np.isfinite(panel.closes[5]).argmax()])).isoformat()
    assert all("S05" not in h["symbols"] for h in first["holdings"] if h["date"] < listed)


# -- 4. deflated Sharpe ratio -----------------------------------------------------------------

def reference_dsr(sr: float, t: int, skew: float, kurt: float, variance: float, trials: int) -> float:
    """Bailey & Lopez de Prado (2014), eq. for SR0 and the DSR, written out with scipy."""
    g = np.euler_gamma
    sr0 = math.sqrt(variance) * ((1 - g) * stats.norm.ppf(1 - 1 / trials)
                                 + g * stats.norm.ppf(1 - 1 / (trials * math.e)))
    z = (sr - sr0) * math.sqrt(t - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr ** 2)
    return float(stats.norm.cdf(z))


def test_reference_formula_reproduces_the_papers_example() -> None:
    # The paper's numerical example: annualised SR 2.5 and V = 0.5 over 250-day years, T = 1250 days,
    # skew -3, kurtosis 10, N = 100 trials -> DSR ~ 0.90.
    assert reference_dsr(2.5 / math.sqrt(250), 1250, -3, 10, 0.5 / 250, 100) == pytest.approx(0.9004, abs=1e-3)


def test_deflated_sharpe_matches_an_independent_computation() -> None:
    rng = np.random.default_rng(5)
    returns = 0.01 + 0.04 * rng.standard_t(4, 60) + 0.02 * rng.exponential(1, 60) - 0.02
    sr = returns.mean() / returns.std(ddof=1)
    skew, kurt = stats.skew(returns), stats.kurtosis(returns, fisher=False)
    out = deflated_sharpe(returns, 0.02, 12)
    g = np.euler_gamma
    sr0 = math.sqrt(0.02) * ((1 - g) * stats.norm.ppf(1 - 1 / 12) + g * stats.norm.ppf(1 - 1 / (12 * math.e)))
    assert out["sharpe"] == pytest.approx(sr, abs=1e-6)
    assert out["threshold"] == pytest.approx(sr0, abs=1e-6)
    assert out["value"] == pytest.approx(reference_dsr(sr, 60, skew, kurt, 0.02, 12), abs=1e-6)
    assert (out["trials"], out["sharpe_variance"]) == (12, 0.02)


def test_more_trials_deflate_more_and_a_zero_sharpe_fails() -> None:
    rng = np.random.default_rng(8)
    returns = rng.normal(0.01, 0.04, 48)
    values = [deflated_sharpe(returns, 0.01, n)["value"] for n in (2, 5, 20, 100, 1000)]
    assert values == sorted(values, reverse=True) and values[0] > values[-1]
    # Mean exactly zero: SR = 0 against a positive SR0.
    flat = np.tile([0.03, -0.01, -0.02, 0.05, -0.05], 12)
    out = deflated_sharpe(flat, 0.01, 50)
    assert out["sharpe"] == pytest.approx(0.0, abs=1e-9)
    assert out["threshold"] > 0 and out["value"] < 0.5


def test_deflated_sharpe_degenerate_cases() -> None:
    returns = np.array([0.02, -0.01, 0.03, 0.01])
    sr = returns.mean() / returns.std(ddof=1)
    one = deflated_sharpe(returns, 0.5, 1)  # one trial: nothing to deflate, SR0 = 0
    assert one["threshold"] == 0.0
    skew, kurt = stats.skew(returns), stats.kurtosis(returns, fisher=False)
    psr = stats.norm.cdf(sr * math.sqrt(4 - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr ** 2))
    assert one["value"] == pytest.approx(psr, abs=1e-6)  # the probabilistic Sharpe ratio against 0
    assert deflated_sharpe(returns, 0.0, 30)["threshold"] == 0.0  # no variance across trials
    short = deflated_sharpe(np.array([0.01, 0.02]), 0.01, 3)  # T < 3
    assert short["value"] is None and short["sharpe"] is not None
    constant = deflated_sharpe(np.full(12, 0.01), 0.01, 3)
    assert constant["sharpe"] is None and constant["value"] is None
    assert deflated_sharpe(np.zeros(0), 0.01, 3)["value"] is None
    for out in (one, short, constant):
        json.dumps(out, allow_nan=False)
    with pytest.raises(ValueError):
        deflated_sharpe(returns, 0.01, 0)
    with pytest.raises(ValueError):
        deflated_sharpe(returns, -0.01, 3)


def test_run_deflates_by_the_variants_sharpe_variance() -> None:
    panel = random_panel(21, 9, date(2020, 1, 1), date(2023, 12, 29))
    start, end = date(2021, 3, 1), date(2023, 12, 31)
    out = run(panel, start, end, top=4, variants=(2, 4, 6, 30), trials=10)["deflated_sharpe"]
    # The variants run are 2, 4, 6 (30 > 9 stocks); each one's monthly returns, from its own run (the
    # scores computed once here only to save time):
    scores = {col: point_in_time_scores(panel, col) for col in rebalance_columns(panel.days, start, end)}
    monthly = {n: np.array([m["strategy"] for m in run(panel, start, end, top=n, ranker=scores.__getitem__,
                                                       variants=())["monthly"]])
               for n in (2, 4, 6)}
    sharpes = {n: r.mean() / r.std(ddof=1) for n, r in monthly.items()}
    variance = float(np.var(list(sharpes.values()), ddof=1))
    r = monthly[4]
    expected = reference_dsr(sharpes[4], r.size, stats.skew(r), stats.kurtosis(r, fisher=False), variance, 10)
    assert [v["top"] for v in out["variants"]] == [2, 4, 6]
    assert out["trials"] == 10
    assert out["sharpe"] == pytest.approx(sharpes[4], abs=1e-4)
    assert out["sharpe_variance"] == pytest.approx(variance, abs=1e-5)
    assert out["value"] == pytest.approx(expected, abs=1e-3)
    # Without `trials`, N is the number of variants run.
    assert run(panel, start, end, top=4, ranker=scores.__getitem__, variants=(2, 4, 6))["deflated_sharpe"]["trials"] \
        == 3


# -- 5. performance figures -------------------------------------------------------------------

def test_max_drawdown_of_a_known_path() -> None:
    days = np.arange(6) + date(2024, 1, 1).toordinal()
    # Peaks 1.2 then falls to 0.6: -50 %; the earlier fall 1.2 -> 0.9 is only -25 %.
    out = performance(days, np.array([1.0, 1.2, 0.9, 1.1, 0.6, 1.5]))
    assert out["max_drawdown"] == pytest.approx(-0.5)
    assert out["total_return"] == pytest.approx(0.5)
    assert performance(days, np.array([1.0, 1.1, 1.2, 1.3, 1.4, 1.5]))["max_drawdown"] == 0.0


def test_cagr_of_a_path_doubling_in_two_years() -> None:
    days = ordinals(date(2021, 1, 1), date(2022, 1, 1), date(2023, 1, 1))  # 730 days = 1.9986 years
    out = performance(days, np.array([1.0, 1.5, 2.0]))
    assert out["cagr"] == pytest.approx(2 ** (365.25 / 730) - 1, abs=1e-6)
    assert out["cagr"] == pytest.approx(math.sqrt(2) - 1, abs=5e-4)  # ~41.42 % a year


def test_sharpe_and_volatility_of_daily_returns() -> None:
    returns = np.array([0.01, -0.005, 0.02, 0.0, 0.004])
    equity = np.concatenate([[1.0], np.cumprod(1 + returns)])
    out = performance(np.arange(6) + 738000, equity)
    assert out["volatility"] == pytest.approx(np.std(returns, ddof=1) * math.sqrt(252), abs=1e-6)
    assert out["sharpe"] == pytest.approx(returns.mean() / np.std(returns, ddof=1) * math.sqrt(252), abs=1e-4)
    # Constant returns: no risk, so no Sharpe ratio (not infinity, not NaN).
    constant = performance(np.arange(30) + 738000, 1.001 ** np.arange(30))
    assert constant["sharpe"] is None and constant["volatility"] == 0.0
    json.dumps(constant, allow_nan=False)


# -- 6. validation -----------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    ({"top": 0}, "top"),
    ({"top": 4}, "top"),
    ({"cost_bps": -1}, "cost_bps"),
    ({"cost_bps": 1001}, "cost_bps"),
    ({"start": date(2024, 4, 30), "end": date(2024, 4, 30)}, "before"),
    ({"start": date(2024, 5, 1), "end": date(2024, 1, 1)}, "before"),
    ({"start": date(2024, 2, 1), "end": date(2024, 3, 10)}, "at least 2"),
    ({"variants": (0, 2)}, "variant"),
    ({"trials": 1}, "trials"),
])
def test_invalid_arguments_raise(kwargs: dict, message: str) -> None:
    args = {"start": date(2024, 1, 1), "end": date(2024, 4, 30), "top": 2, "ranker": lambda col: HAND_SCORES[col],
            **kwargs}
    with pytest.raises(ValueError, match=message):
        run(hand_panel(), **args)


def test_a_month_end_without_any_close_is_refused() -> None:
    closes = HAND_CLOSES.copy()
    closes[:, 3] = NAN  # Feb 29 is in the panel but no stock trades on it
    panel = Panel(["A", "B", "C"], HAND_DAYS, closes, ["X", "X", "Y"])
    with pytest.raises(ValueError, match="2024-02-29"):
        run(panel, date(2024, 1, 1), date(2024, 4, 30), top=2, ranker=lambda col: HAND_SCORES[col])


def test_a_ranker_returning_the_wrong_shape_is_refused() -> None:
    with pytest.raises(ValueError, match="ranker"):
        run(hand_panel(), date(2024, 1, 1), date(2024, 4, 30), top=2, ranker=lambda col: np.ones(2))


# -- 7. the default ranker is the growth score -------------------------------------------------

def test_default_ranker_picks_what_growth_scores_ranks_highest() -> None:
    panel = random_panel(42, 12, date(2021, 1, 4), date(2023, 9, 29), late=(7, date(2023, 1, 16)))
    start, end = date(2022, 6, 1), date(2023, 9, 30)
    col = rebalance_columns(panel.days, start, end)[4]  # 2022-10-31's month-end, stock 7 not yet listed
    assert not np.isfinite(panel.closes[7, col])
    day = int(panel.days[col])

    # The universe that day, its closes of the last 400 calendar days, through score.build_inputs.
    listed = [s for i, s in enumerate(panel.symbols) if np.isfinite(panel.closes[i, col])]
    closes = {}
    for i, symbol in enumerate(panel.symbols):
        keep = (panel.days >= day - 400) & (panel.days <= day) & np.isfinite(panel.closes[i])
        closes[symbol] = {"d": panel.days[keep].tolist(), "c": panel.closes[i, keep].tolist()}
    sentiment = dict(zip(panel.symbols, panel.sentiment(day).tolist()))
    sentiments = {s: v for s, v in sentiment.items() if not math.isnan(v)}
    scores = growth_scores(build_inputs(listed, closes, {}, sentiments, dict(zip(panel.symbols, panel.sectors))))
    order = sorted(range(len(scores)), key=lambda k: (-scores[k]["score"], k))
    expected = [scores[k]["symbol"] for k in order[:4]]

    result = run(panel, start, end, top=4)
    picks = next(h["symbols"] for h in result["holdings"] if h["date"] == date.fromordinal(day).isoformat())
    assert picks == expected
    got = point_in_time_scores(panel, col)
    assert math.isnan(got[7])
    assert [got[panel.symbols.index(s["symbol"])] for s in scores] == [s["score"] for s in scores]
    # On a calendar-day grid, weekends are columns on which no stock trades; build_inputs never sees such days.
    days = np.arange(panel.days[0], panel.days[-1] + 1)
    grid = np.full((12, days.size), NAN)
    grid[:, np.searchsorted(days, panel.days)] = panel.closes
    calendar = Panel(panel.symbols, days, grid, panel.sectors, panel.sentiment)
    np.testing.assert_array_equal(point_in_time_scores(calendar, int(np.searchsorted(days, day))), got)
    # Fundamentals are unknown: that factor is neutral with no confidence for every stock.
    assert {(s["factors"]["fundamental"]["score"], s["factors"]["fundamental"]["confidence"]) for s in scores} \
        == {(50.0, 0.0)}
