"""The 5-factor growth score (app.analysis.score) on synthetic universes: pure numpy/pandas, no app."""
from __future__ import annotations

import json
import math
from datetime import date, timedelta

import numpy as np
import pytest
import talib

from app.analysis import indicators as ind
from app.analysis import score as sc
from app.analysis.score import WEIGHTS, build_inputs, growth_scores, percentile, wilder_rsi

END = date(2024, 6, 28)  # a Friday
FACTORS = ("performance", "fundamental", "sentiment", "sector", "momentum")
INPUT_KEYS = {
    "performance": {"return_3m", "return_6m", "return_12m", "volatility"},
    "fundamental": {"pe_ratio", "pb_ratio", "debt_to_equity", "roe", "revenue_growth",
                    "sector_median_pe_ratio", "sector_median_pb_ratio", "sector_median_debt_to_equity",
                    "sector_median_roe", "sector_median_revenue_growth"},
    "sentiment": {"news_sentiment"},
    "sector": {"sector", "sector_return_6m", "universe_return_6m"},
    "momentum": {"rsi14", "macd_hist", "price_vs_sma50", "price_vs_sma200"},
}


# -- synthetic data ----------------------------------------------------------------------

def weekdays(count: int, end: date = END) -> list[int]:
    """The ordinals of the last `count` weekdays up to `end`, oldest first."""
    out, day = [], end
    while len(out) < count:
        if day.weekday() < 5:
            out.append(day.toordinal())
        day -= timedelta(days=1)
    return out[::-1]


def series(log_returns: np.ndarray, start: float = 100.0, end: date = END) -> dict[str, list]:
    """`{"d", "c"}` of closes following the daily log returns (one close per weekday, ending at `end`)."""
    closes = start * np.exp(np.concatenate([[0.0], np.cumsum(log_returns)]))
    return {"d": weekdays(len(closes), end), "c": [float(c) for c in closes]}


def noise(seed: int, days: int, sd: float, drift: float = 0.0) -> np.ndarray:
    """Random daily log returns."""
    return np.random.default_rng(seed).normal(drift, sd, days)


def wave(drift: float, days: int, amplitude: float = 0.012, omega: float = 2.0, phase: float = 0.0) -> np.ndarray:
    """Daily log returns `drift` plus an oscillation whose sums stay small: every window returns about drift*len."""
    return drift + amplitude * np.sin(omega * np.arange(days) + phase)


def by_symbol(results: list[dict]) -> dict[str, dict]:
    return {r["symbol"]: r for r in results}


def profile(pe: float | None, pb: float | None, de: float | None, roe: float | None, growth: float | None,
            sector: str | None = None) -> dict:
    out = {"pe_ratio": pe, "pb_ratio": pb, "debt_to_equity": de, "roe": roe, "revenue_growth": growth}
    if sector:
        out["sector"] = sector
    return out


DAYS = 300  # about 14 months of weekdays: every horizon is known


@pytest.fixture(scope="module")
def ranked_universe() -> dict[str, dict]:
    """BEST dominates every factor, WORST is last on every factor, five ordinary stocks in between."""
    ramp = np.linspace(0.5, 1.5, DAYS)
    closes = {
        # a steady, gently accelerating uptrend with low volatility
        "BEST": series(wave(0.002, DAYS, amplitude=0.008, omega=2.1) * ramp),
        # the mirror image: an accelerating downtrend
        "WORST": series(wave(-0.002, DAYS, amplitude=0.008, omega=2.1) * ramp),
        "T1": series(wave(0.0006, DAYS, omega=2.0)),
        "T2": series(wave(0.0005, DAYS, omega=2.3, phase=1.0)),
        "U1": series(wave(-0.0005, DAYS, omega=1.7, phase=2.0)),
        "U2": series(wave(-0.0006, DAYS, omega=2.6, phase=3.0)),
        "M1": series(wave(0.0, DAYS, omega=1.9, phase=4.0)),
    }
    profiles = {
        "BEST": profile(10, 1.0, 0.2, 0.30, 0.25),
        "T1": profile(20, 3.0, 0.8, 0.15, 0.08),
        "T2": profile(25, 3.5, 1.0, 0.12, 0.06),
        "WORST": profile(40, 8.0, 3.0, 0.01, -0.10),
        "U1": profile(15, 1.8, 1.1, 0.10, 0.03),
        "U2": profile(16, 2.0, 1.2, 0.09, 0.02),
        "M1": profile(18, 2.5, 1.0, 0.11, 0.04),
    }
    sentiments = {"BEST": 0.8, "T1": 0.2, "T2": 0.1, "M1": 0.0, "U1": -0.1, "U2": -0.2, "WORST": -0.8}
    sectors = {"BEST": "Tech", "T1": "Tech", "T2": "Tech", "WORST": "Util", "U1": "Util", "U2": "Util",
               "M1": "Mid"}
    symbols = list(closes)
    inputs = build_inputs(symbols, closes, profiles, sentiments, sectors)
    return {"inputs": inputs, "results": growth_scores(inputs)}


# -- ordering, weights, totals -----------------------------------------------------------

def test_best_and_worst_stock_rank_first_and_last(ranked_universe) -> None:
    results = ranked_universe["results"]
    assert [r["symbol"] for r in results] == ranked_universe["inputs"].symbols  # input order kept
    scores = {r["symbol"]: r["score"] for r in results}
    assert scores["BEST"] == max(scores.values()) and scores["BEST"] > sorted(scores.values())[-2]
    assert scores["WORST"] == min(scores.values()) and scores["WORST"] < sorted(scores.values())[1]
    for name in FACTORS:
        column = {r["symbol"]: r["factors"][name]["score"] for r in results}
        assert column["BEST"] == max(column.values()), (name, column)
        assert column["WORST"] == min(column.values()), (name, column)
    # every single-input factor with distinct values spreads the full 0..100
    best, worst = by_symbol(results)["BEST"]["factors"], by_symbol(results)["WORST"]["factors"]
    for name in ("performance", "fundamental", "sentiment", "momentum"):
        assert (best[name]["score"], worst[name]["score"]) == (100.0, 0.0), name
    # Tech (BEST's sector) is the strongest, Util the weakest: ties share the mean rank
    assert best["sector"]["score"] == pytest.approx(100 * 5 / 6, abs=0.05)
    assert worst["sector"]["score"] == pytest.approx(100 * 1 / 6, abs=0.05)


def test_factor_scores_weights_and_total(ranked_universe) -> None:
    assert set(WEIGHTS) == set(FACTORS)
    assert WEIGHTS == {"performance": 0.30, "fundamental": 0.25, "sentiment": 0.20, "sector": 0.15,
                       "momentum": 0.10}
    assert math.isclose(sum(WEIGHTS.values()), 1.0)
    for result in ranked_universe["results"]:
        factors = result["factors"]
        assert set(factors) == set(FACTORS)
        for name, factor in factors.items():
            assert 0.0 <= factor["score"] <= 100.0
            assert factor["weight"] == WEIGHTS[name]
            assert factor["confidence"] == 1.0
        weighted = sum(f["weight"] * f["score"] for f in factors.values())
        # factor scores and the total are each rounded to 0.1
        assert abs(result["score"] - weighted) <= 0.1 + 1e-9, result["symbol"]
        assert 0.0 <= result["score"] <= 100.0
        assert result["confidence"] == 1.0


# -- percentile ----------------------------------------------------------------------------

@pytest.mark.parametrize("values, expected", [
    ([1.0, 2.0, 3.0], [0.0, 50.0, 100.0]),
    ([3.0, 1.0, 2.0, 4.0, 5.0], [50.0, 0.0, 25.0, 75.0, 100.0]),
    ([1.0, 1.0, 3.0], [25.0, 25.0, 100.0]),                 # ties share the mean rank (1.5)
    ([2.0, 2.0, 2.0, 2.0], [50.0, 50.0, 50.0, 50.0]),
    ([5.0, 1.0, 5.0, 1.0, 3.0], [87.5, 12.5, 87.5, 12.5, 50.0]),
    ([3.0, np.nan, 1.0], [100.0, np.nan, 0.0]),             # NaN stays NaN, ranks over the known
    ([np.nan, 7.0, np.nan, 2.0, 2.0], [np.nan, 100.0, np.nan, 25.0, 25.0]),
    ([np.nan, 5.0], [np.nan, 50.0]),                         # one known value: neutral 50
    ([42.0], [50.0]),
    ([np.nan, np.nan], [np.nan, np.nan]),
    ([-1e9, 0.0, 1e-9], [0.0, 50.0, 100.0]),
])
def test_percentile_hand_computed(values, expected) -> None:
    got = percentile(np.array(values))
    np.testing.assert_allclose(got, np.array(expected), atol=1e-12, equal_nan=True)


def test_percentile_of_nothing() -> None:
    assert percentile(np.array([], dtype=float)).shape == (0,)


# -- performance with a short history ----------------------------------------------------

def universe_with_short(months_of_closes: int) -> dict[str, dict]:
    trading_days = int(months_of_closes * 21)
    closes = {f"L{i}": series(noise(10 + i, DAYS, 0.01, 0.0003)) for i in range(4)}
    closes["SHORT"] = series(noise(99, trading_days, 0.01, 0.0003))
    symbols = list(closes)
    return by_symbol(growth_scores(build_inputs(symbols, closes, {}, {}, {})))


def test_four_months_of_closes_know_only_the_3m_return() -> None:
    results = universe_with_short(4)
    perf = results["SHORT"]["factors"]["performance"]
    assert perf["inputs"]["return_12m"] is None and perf["inputs"]["return_6m"] is None
    assert perf["inputs"]["return_3m"] is not None and perf["inputs"]["volatility"] > 0
    assert perf["confidence"] == pytest.approx(1 / 3, abs=0.005)
    assert 0.0 <= perf["score"] <= 100.0
    assert all(r["factors"]["performance"]["confidence"] == 1.0 for s, r in results.items() if s != "SHORT")
    # no 200 closes: that momentum input is unknown too, the other three are known
    momentum = results["SHORT"]["factors"]["momentum"]
    assert momentum["inputs"]["price_vs_sma200"] is None and momentum["confidence"] == 0.75


def test_eight_months_of_closes_miss_only_the_12m_return() -> None:
    perf = universe_with_short(8)["SHORT"]["factors"]["performance"]
    assert perf["inputs"]["return_12m"] is None
    assert perf["inputs"]["return_3m"] is not None and perf["inputs"]["return_6m"] is not None
    assert perf["confidence"] == pytest.approx(2 / 3, abs=0.005)


def test_a_universe_of_only_short_histories_scores_without_error() -> None:
    closes = {"A": series(noise(1, 80, 0.01)), "B": series(noise(2, 80, 0.01, 0.001))}
    results = growth_scores(build_inputs(["A", "B"], closes, {}, {}, {}))
    for result in results:
        perf = result["factors"]["performance"]
        assert perf["inputs"]["return_12m"] is None and perf["inputs"]["return_6m"] is None
        assert perf["confidence"] == pytest.approx(1 / 3, abs=0.005)


def test_returns_match_hand_computed_values() -> None:
    closes = series(noise(7, DAYS, 0.01, 0.0004))
    result = growth_scores(build_inputs(["X"], {"X": closes}, {}, {}, {}))[0]
    inputs = result["factors"]["performance"]["inputs"]
    last_day, last = closes["d"][-1], closes["c"][-1]
    for key, horizon in sc.HORIZONS_DAYS.items():
        # the last close on or before the day `horizon` calendar days ago
        col = max(i for i, d in enumerate(closes["d"]) if d <= last_day - horizon)
        assert inputs[key] == pytest.approx(last / closes["c"][col] - 1.0, abs=5e-5), key
    log_returns = np.diff(np.log(closes["c"][-253:]))
    assert inputs["volatility"] == pytest.approx(np.std(log_returns) * math.sqrt(252), abs=5e-5)


# -- missing data, empty and single-stock universes ----------------------------------------

def test_missing_data_scores_neutral_with_zero_confidence() -> None:
    closes = {s: series(noise(i, DAYS, 0.012, 0.0003 * (i - 2))) for i, s in enumerate(("A", "B", "C", "D"))}
    profiles = {s: profile(10 + 5 * i, 1 + i, 0.5 + 0.2 * i, 0.1 + 0.02 * i, 0.05 * i)
                for i, s in enumerate(("A", "B", "C", "D"))}
    sentiments = {"A": 0.5, "B": 0.1, "C": -0.2, "D": 0.3}
    sectors = {"A": "Tech", "B": "Tech", "C": "Util", "D": "Util", "PRICED": "Tech"}
    closes["PRICED"] = series(noise(9, DAYS, 0.012))  # closes and a sector, no profile and no news
    symbols = ["A", "B", "C", "D", "EMPTY", "PRICED"]  # EMPTY: nothing at all, not even a sector
    results = by_symbol(growth_scores(build_inputs(symbols, closes, profiles, sentiments, sectors)))

    empty = results["EMPTY"]
    for name in FACTORS:
        assert empty["factors"][name]["score"] == 50.0, name
        assert empty["factors"][name]["confidence"] == 0.0, name
    assert empty["score"] == 50.0 and empty["confidence"] == 0.0
    assert all(v is None for f in empty["factors"].values() for k, v in f["inputs"].items()
               if not k.startswith("sector_median") and k != "universe_return_6m")

    priced = results["PRICED"]
    for name in ("fundamental", "sentiment"):
        assert (priced["factors"][name]["score"], priced["factors"][name]["confidence"]) == (50.0, 0.0)
    for name in ("performance", "sector", "momentum"):
        assert priced["factors"][name]["confidence"] == 1.0
    assert priced["confidence"] == pytest.approx(WEIGHTS["performance"] + WEIGHTS["sector"] + WEIGHTS["momentum"])
    for symbol in "ABCD":
        assert results[symbol]["confidence"] == 1.0


def test_partly_known_fundamentals_lower_the_factor_confidence() -> None:
    profiles = {"A": profile(10, 1, 0.5, 0.2, None), "B": profile(12, None, None, 0.1, 0.1),
                "C": profile(14, 2, 0.7, 0.15, 0.05)}
    results = by_symbol(growth_scores(build_inputs(list("ABC"), {}, profiles, {}, {})))
    assert results["A"]["factors"]["fundamental"]["confidence"] == 0.8
    assert results["B"]["factors"]["fundamental"]["confidence"] == 0.6
    assert results["C"]["factors"]["fundamental"]["confidence"] == 1.0
    assert results["B"]["confidence"] == pytest.approx(0.6 * WEIGHTS["fundamental"], abs=0.005)


def test_empty_universe() -> None:
    assert growth_scores(build_inputs([], {}, {}, {}, {})) == []


def test_universe_of_one_stock() -> None:
    closes = {"ONLY": series(noise(3, DAYS, 0.01, 0.0005))}
    results = growth_scores(build_inputs(["ONLY"], closes, {"ONLY": profile(12, 2, 0.5, 0.1, 0.1)},
                                         {"ONLY": 0.4}, {"ONLY": "Tech"}))
    assert len(results) == 1
    only = results[0]
    assert only["symbol"] == "ONLY" and only["score"] == 50.0 and only["confidence"] == 1.0
    assert all(f["score"] == 50.0 for f in only["factors"].values())
    # its own figures are the (universe) medians
    assert only["factors"]["fundamental"]["inputs"]["sector_median_pe_ratio"] == 12.0


# -- fundamentals relative to the sector median --------------------------------------------

def fundamentals_universe(pe: dict[str, float | None], sectors: dict[str, str]) -> dict[str, dict]:
    """Everything but the P/E is the same for every stock, so the fundamental factor ranks only P/E."""
    profiles = {s: profile(v, 2.0, 0.5, 0.15, 0.05) for s, v in pe.items()}
    return by_symbol(growth_scores(build_inputs(list(pe), {}, profiles, {}, sectors)))


def test_lower_pe_than_peers_ranks_higher() -> None:
    pe = {"CHEAP": 12.0, "DEAR": 30.0, "P1": 20.0, "P2": 22.0, "P3": 25.0}
    results = fundamentals_universe(pe, {s: "Tech" for s in pe})
    fund = {s: r["factors"]["fundamental"] for s, r in results.items()}
    assert fund["CHEAP"]["score"] > fund["DEAR"]["score"]
    assert [s for s, _ in sorted(pe.items(), key=lambda kv: kv[1])] == \
        [s for s, _ in sorted(fund.items(), key=lambda kv: -kv[1]["score"])]
    assert fund["CHEAP"]["score"] == 100.0 and fund["DEAR"]["score"] == 0.0
    assert all(f["inputs"]["sector_median_pe_ratio"] == 22.0 for f in fund.values())


def test_cheap_relative_to_its_own_sector_beats_cheap_in_absolute_terms() -> None:
    # BANK's P/E of 9 is above its sector's median of 8; SOFT's 25 is far below its sector's 40
    pe = {"BANK": 9.0, "B1": 7.0, "B2": 8.0, "B3": 8.5, "SOFT": 25.0, "S1": 40.0, "S2": 45.0, "S3": 35.0}
    sectors = {s: ("Financials" if s.startswith("B") else "Technology") for s in pe}
    results = fundamentals_universe(pe, sectors)
    soft, bank = results["SOFT"]["factors"]["fundamental"], results["BANK"]["factors"]["fundamental"]
    assert soft["score"] > bank["score"]
    assert bank["inputs"]["sector_median_pe_ratio"] == 8.25
    assert soft["inputs"]["sector_median_pe_ratio"] == 37.5


def test_a_negative_pe_ranks_below_every_positive_one() -> None:
    pe = {"LOSS": -5.0, "ZERO": 0.0, "A": 10.0, "B": 20.0, "C": 30.0, "PRICEY": 900.0}
    results = fundamentals_universe(pe, {s: "Tech" for s in pe})
    fund = {s: r["factors"]["fundamental"]["score"] for s, r in results.items()}
    positive = [fund[s] for s in ("A", "B", "C", "PRICEY")]
    assert fund["LOSS"] < min(positive) and fund["ZERO"] < min(positive)
    assert fund["LOSS"] == fund["ZERO"]  # both loss-making: tied at the bottom
    assert fund["A"] > fund["B"] > fund["C"] > fund["PRICEY"]
    # the loss-makers are left out of the median: median of 10, 20, 30, 900
    assert results["A"]["factors"]["fundamental"]["inputs"]["sector_median_pe_ratio"] == 25.0
    # the figure itself is shown as given
    assert results["LOSS"]["factors"]["fundamental"]["inputs"]["pe_ratio"] == -5.0


def test_a_sector_with_fewer_than_three_peers_uses_the_universe_median() -> None:
    pe = {"T1": 10.0, "T2": 12.0, "T3": 14.0, "T4": 16.0, "S1": 30.0, "S2": 50.0}
    sectors = {"T1": "Tech", "T2": "Tech", "T3": "Tech", "T4": "Tech", "S1": "Small", "S2": "Small"}
    results = fundamentals_universe(pe, sectors)
    universe_median = float(np.median(list(pe.values())))  # 15.0
    for symbol in ("S1", "S2"):
        assert results[symbol]["factors"]["fundamental"]["inputs"]["sector_median_pe_ratio"] == universe_median
    for symbol in ("T1", "T2", "T3", "T4"):
        assert results[symbol]["factors"]["fundamental"]["inputs"]["sector_median_pe_ratio"] == 13.0
    # exactly three peers is enough for the sector's own median
    three = fundamentals_universe({"A": 10.0, "B": 11.0, "C": 30.0, "D": 100.0},
                                  {"A": "X", "B": "X", "C": "X", "D": "Y"})
    assert three["A"]["factors"]["fundamental"]["inputs"]["sector_median_pe_ratio"] == 11.0
    assert three["D"]["factors"]["fundamental"]["inputs"]["sector_median_pe_ratio"] == 20.5


# -- wilder_rsi and momentum against TA-Lib ------------------------------------------------

@pytest.mark.parametrize("length", [15, 16, 29, 60, 300, 700])
def test_wilder_rsi_matches_the_indicator_rsi(length) -> None:
    rng = np.random.default_rng(length)
    prices = 100.0 * np.exp(np.cumsum(rng.normal(0.0002, 0.015, (6, length)), axis=1))
    got = wilder_rsi(prices)
    assert got.shape == (6,)
    for row, value in zip(prices, got):
        assert value == pytest.approx(ind.rsi(row, 14)[-1], abs=1e-9)
        assert value == pytest.approx(talib.RSI(row, 14)[-1], abs=1e-9)


def test_wilder_rsi_edges() -> None:
    assert np.isnan(wilder_rsi(np.ones((3, 14)))).all()  # needs period + 1 closes
    rising = np.arange(1.0, 31.0)[None, :]
    assert wilder_rsi(rising)[0] == 100.0
    assert wilder_rsi(rising[:, ::-1])[0] == 0.0
    assert wilder_rsi(np.full((1, 30), 7.0))[0] == 50.0  # flat: neutral (TA-Lib would say 0)
    assert wilder_rsi(np.zeros((0, 40))).shape == (0,)


def trend_after_flat(direction: int, flat: int = 240, trend: int = 30) -> dict[str, list]:
    closes = np.concatenate([np.full(flat, 100.0), 100.0 + direction * 0.5 * np.arange(1, trend + 1)])
    return {"d": weekdays(len(closes)), "c": [float(c) for c in closes]}


def test_momentum_of_an_uptrend_and_a_downtrend() -> None:
    closes = {"UP": trend_after_flat(+1), "DOWN": trend_after_flat(-1),
              "GEO": series(np.full(DAYS, 0.004))}
    results = by_symbol(growth_scores(build_inputs(list(closes), closes, {}, {}, {})))
    for symbol in ("UP", "GEO"):
        mom = results[symbol]["factors"]["momentum"]["inputs"]
        assert mom["price_vs_sma50"] > 0 and mom["price_vs_sma200"] > 0 and mom["macd_hist"] > 0, symbol
        assert mom["rsi14"] == 100.0
    down = results["DOWN"]["factors"]["momentum"]["inputs"]
    assert down["price_vs_sma50"] < 0 and down["price_vs_sma200"] < 0 and down["macd_hist"] < 0
    assert down["rsi14"] == 0.0
    assert results["UP"]["factors"]["momentum"]["score"] > results["DOWN"]["factors"]["momentum"]["score"]


@pytest.mark.parametrize("days", [300, 420])
def test_momentum_inputs_match_talib(days) -> None:
    closes = {s: series(noise(i, days - 1, 0.015, 0.0002)) for i, s in enumerate(("A", "B", "C"))}
    results = by_symbol(growth_scores(build_inputs(list(closes), closes, {}, {}, {})))
    for symbol, data in closes.items():
        c = np.array(data["c"])[-300:]  # the score looks at the last 300 days
        mom = results[symbol]["factors"]["momentum"]["inputs"]
        assert mom["rsi14"] == pytest.approx(talib.RSI(c, 14)[-1], abs=5e-5)
        assert mom["macd_hist"] == pytest.approx(talib.MACD(c, 12, 26, 9)[2][-1], abs=5e-5)
        assert mom["price_vs_sma50"] == pytest.approx(c[-1] / talib.SMA(c, 50)[-1] - 1, abs=5e-5)
        assert mom["price_vs_sma200"] == pytest.approx(c[-1] / talib.SMA(c, 200)[-1] - 1, abs=5e-5)


# -- the inputs each factor shows ------------------------------------------------------------

def test_every_factor_shows_its_documented_inputs_as_json(ranked_universe) -> None:
    # a mixed universe with missing values, so NaN must have become null
    closes = {"A": series(noise(1, DAYS, 0.01)), "B": series(noise(2, 60, 0.01))}
    mixed = growth_scores(build_inputs(["A", "B", "C"], closes, {"A": profile(-3, None, 1, 0.1, None)},
                                       {"B": 0.3}, {"A": "Tech"}))
    for result in ranked_universe["results"] + mixed:
        assert set(result) == {"symbol", "score", "confidence", "factors"}
        for name, factor in result["factors"].items():
            assert set(factor) == {"score", "weight", "confidence", "inputs"}
            assert set(factor["inputs"]) == INPUT_KEYS[name], name
            for key, value in factor["inputs"].items():
                assert value is None or isinstance(value, (float, str)), (name, key, value)
        json.dumps(result, allow_nan=False)
    a = by_symbol(mixed)["A"]["factors"]
    assert a["sector"]["inputs"]["sector"] == "Tech"
    assert a["fundamental"]["inputs"]["pb_ratio"] is None
    best = by_symbol(ranked_universe["results"])["BEST"]["factors"]
    assert best["sentiment"]["inputs"] == {"news_sentiment": 0.8}
    assert best["fundamental"]["inputs"]["pe_ratio"] == 10.0
    assert best["fundamental"]["inputs"]["sector_median_pe_ratio"] == 20.0
