"""app.analysis.indicators against TA-Lib itself, and against plain textbook loops."""
from __future__ import annotations

import json
import math
import statistics

import numpy as np
import pytest
import talib

from app.analysis import indicators as ind

SHORT_LENGTHS = (0, 1, 13, 14, 15, 25, 33, 34, 199, 200)


def random_walk(length: int = 600, seed: int = 20240601) -> np.ndarray:
    """Deterministic geometric random walk of closes around 100."""
    steps = np.random.default_rng(seed).normal(0.0003, 0.015, length)
    return np.round(100.0 * np.exp(np.cumsum(steps)), 2)


def realish() -> np.ndarray:
    """Flat open, steep rally, exactly flat plateau, crash, grind back: the awkward shapes."""
    rng = np.random.default_rng(7)
    parts = [
        np.full(30, 250.0),                                  # all flat: RSI 0, zero band width
        250.0 * 1.012 ** np.arange(1, 81),                   # steep uptrend, no losses
        np.full(40, 250.0 * 1.012 ** 80),                    # flat plateau after the rally
        250.0 * 1.012 ** 80 * 0.97 ** np.arange(1, 41),      # crash, no gains
        np.linspace(180.0, 240.0, 120) + rng.normal(0, 1.5, 120),
        np.full(25, 240.0),
    ]
    return np.round(np.concatenate(parts), 2)


SERIES = {"random_walk": random_walk(), "realish": realish()}
SERIES.update({f"short_{n}": random_walk(n, seed=n) for n in SHORT_LENGTHS})

# name -> (ours, TA-Lib), each a function of the closes returning one array
CASES = {
    "sma20": (lambda x: ind.sma(x, 20), lambda x: talib.SMA(x, 20)),
    "sma50": (lambda x: ind.sma(x, 50), lambda x: talib.SMA(x, 50)),
    "sma200": (lambda x: ind.sma(x, 200), lambda x: talib.SMA(x, 200)),
    "ema20": (lambda x: ind.ema(x, 20), lambda x: talib.EMA(x, 20)),
    "ema5": (lambda x: ind.ema(x, 5), lambda x: talib.EMA(x, 5)),
    "rsi14": (lambda x: ind.rsi(x, 14), lambda x: talib.RSI(x, 14)),
    "rsi5": (lambda x: ind.rsi(x, 5), lambda x: talib.RSI(x, 5)),
}
for i, part in enumerate(("line", "signal", "hist")):
    CASES[f"macd_{part}"] = (lambda x, i=i: ind.macd(x)[i], lambda x, i=i: talib.MACD(x, 12, 26, 9)[i])
    CASES[f"macd_5_35_5_{part}"] = (lambda x, i=i: ind.macd(x, 5, 35, 5)[i],
                                    lambda x, i=i: talib.MACD(x, 5, 35, 5)[i])
for i, part in enumerate(("upper", "middle", "lower")):
    CASES[f"bb_{part}"] = (lambda x, i=i: ind.bollinger(x)[i], lambda x, i=i: talib.BBANDS(x, 20, 2.0, 2.0, 0)[i])
    CASES[f"bb_10_1.5_{part}"] = (lambda x, i=i: ind.bollinger(x, 10, 1.5)[i],
                                  lambda x, i=i: talib.BBANDS(x, 10, 1.5, 1.5, 0)[i])


def assert_matches(ours: np.ndarray, ref: np.ndarray) -> None:
    """Same length, NaN in exactly the same places, values within 1e-6 (relative above 1)."""
    assert ours.dtype == np.float64 and ours.shape == ref.shape
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
    ok = ~np.isnan(ref)
    assert np.all(np.abs(ours[ok] - ref[ok]) <= 1e-6 * np.maximum(1.0, np.abs(ref[ok])))


@pytest.mark.parametrize("series", SERIES)
@pytest.mark.parametrize("case", CASES)
def test_matches_talib(case: str, series: str) -> None:
    ours, ref = CASES[case]
    closes = SERIES[series]
    assert_matches(ours(closes), ref(closes.copy()))


@pytest.mark.parametrize("length", SHORT_LENGTHS)
def test_warmup_positions(length: int) -> None:
    x = random_walk(length, seed=length)
    first = {"sma20": 19, "sma200": 199, "ema20": 19, "rsi14": 14, "macd": 33, "macd_signal": 33,
             "macd_hist": 33, "bb_upper": 19}
    out = ind.compute_all(x)
    for key, index in first.items():
        assert all(v is None for v in out[key][:index]), key
        assert all(v is not None for v in out[key][index:]), key


def test_flat_input_matches_talib_quirks() -> None:
    x = np.full(60, 42.0)
    assert np.all(talib.RSI(x, 14)[14:] == 0.0)  # TA-Lib: 0, not 50 or 100, when nothing moves
    assert np.all(ind.rsi(x)[14:] == 0.0)
    upper, middle, lower = ind.bollinger(x)
    assert np.all(upper[19:] == 42.0) and np.all(lower[19:] == 42.0) and np.all(middle[19:] == 42.0)
    assert np.all(ind.macd(x)[0][33:] == 0.0)


def test_rsi_by_hand() -> None:
    x = np.r_[np.arange(15.0), 13.0]  # fourteen +1 changes, then one -1
    out = ind.rsi(x, 14)
    assert out[14] == 100.0
    assert out[15] == pytest.approx(100.0 * 13 / 14)  # gain 13/14, loss 1/14


def textbook_rsi(closes: list[float], n: int) -> list[float]:
    """Wilder's RSI as usually printed: RS = avg gain / avg loss, RSI = 100 - 100/(1+RS)."""
    changes = [b - a for a, b in zip(closes, closes[1:])]
    gain = sum(max(c, 0.0) for c in changes[:n]) / n
    loss = sum(max(-c, 0.0) for c in changes[:n]) / n
    out = [math.nan] * n + [100.0 - 100.0 / (1.0 + gain / loss)]
    for c in changes[n:]:
        gain = (gain * (n - 1) + max(c, 0.0)) / n
        loss = (loss * (n - 1) + max(-c, 0.0)) / n
        out.append(100.0 - 100.0 / (1.0 + gain / loss))
    return out


def textbook_ema(values: list[float], n: int, seed_at: int | None = None) -> list[float]:
    """EMA with k = 2/(n+1) seeded at seed_at (default n-1) by the mean of the n values ending there."""
    seed_at = n - 1 if seed_at is None else seed_at
    k = 2.0 / (n + 1)
    out = [math.nan] * seed_at + [statistics.fmean(values[seed_at - n + 1:seed_at + 1])]
    for v in values[seed_at + 1:]:
        out.append(v * k + out[-1] * (1.0 - k))
    return out


def test_against_textbook_loops() -> None:
    x = random_walk()
    closes = x.tolist()
    np.testing.assert_allclose(ind.rsi(x, 14), textbook_rsi(closes, 14), rtol=1e-9, equal_nan=True)
    np.testing.assert_allclose(ind.ema(x, 20), textbook_ema(closes, 20), rtol=1e-9, equal_nan=True)
    assert ind.sma(x, 50)[321] == pytest.approx(statistics.fmean(closes[272:322]), rel=1e-12)
    upper, middle, lower = ind.bollinger(x, 20, 2.0)
    window = closes[400:420]
    assert middle[419] == pytest.approx(statistics.fmean(window), rel=1e-12)
    assert upper[419] - middle[419] == pytest.approx(2.0 * statistics.pstdev(window), rel=1e-9)
    assert middle[419] - lower[419] == pytest.approx(2.0 * statistics.pstdev(window), rel=1e-9)


def test_macd_seeds_fast_ema_where_slow_starts() -> None:
    x = random_walk()
    closes = x.tolist()
    fast = textbook_ema(closes, 12, seed_at=25)  # TA-Lib: mean of closes[14:26], not closes[0:12]
    slow = textbook_ema(closes, 26)
    line = [f - s for f, s in zip(fast, slow)]
    signal = [math.nan] * 25 + textbook_ema(line[25:], 9)
    ours_line, ours_signal, ours_hist = ind.macd(x)
    assert np.isnan(ours_line[:33]).all()  # TA-Lib hides the MACD line until the signal exists
    np.testing.assert_allclose(ours_line[33:], line[33:], rtol=1e-9)
    np.testing.assert_allclose(ours_signal[33:], signal[33:], rtol=1e-9)
    np.testing.assert_allclose(ours_hist[33:], np.subtract(line, signal)[33:], rtol=1e-9)
    naive = np.subtract(textbook_ema(closes, 12), slow)
    assert abs(naive[33] - ours_line[33]) > 1e-6  # the seeding really differs from EMA12 - EMA26


def test_compute_all_shape_and_json() -> None:
    closes = random_walk(250).tolist()
    out = ind.compute_all(closes)
    assert list(out) == ["sma20", "sma50", "sma200", "ema20", "rsi14", "macd", "macd_signal",
                         "macd_hist", "bb_upper", "bb_middle", "bb_lower"]
    for key, values in out.items():
        assert isinstance(values, list) and len(values) == 250, key
        assert all(v is None or type(v) is float for v in values), key
    assert out["sma200"][198] is None and out["sma200"][199] == pytest.approx(statistics.fmean(closes[:200]))
    assert out["rsi14"][13] is None and 0.0 <= out["rsi14"][14] <= 100.0
    json.dumps(out, allow_nan=False)


def test_compute_all_edge_inputs() -> None:
    assert ind.compute_all([]) == {key: [] for key in ind.KEYS}
    assert all(v == [None] * 10 for v in ind.compute_all(list(range(10))).values())
    assert ind.compute_all(tuple(range(1, 41)))["sma20"][-1] == pytest.approx(30.5)
    for bad in ([1.0, None, 2.0], [1.0, math.nan], [1.0, math.inf]):
        with pytest.raises(ValueError):
            ind.compute_all(bad)


def test_bad_periods_rejected() -> None:
    for bad in (0, -3, 2.5):
        with pytest.raises((ValueError, TypeError)):
            ind.sma([1.0, 2.0, 3.0], bad)
