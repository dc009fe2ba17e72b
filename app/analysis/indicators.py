"""Technical indicators with TA-Lib's definitions (SMA, EMA, RSI, MACD, Bollinger Bands).

Pure numpy: numbers in, numbers out. Inputs are closing prices, oldest first, finite and
without gaps (a missing day is simply absent, never None/NaN). The array functions return
float64 arrays aligned with the input, NaN wherever TA-Lib returns NaN (the warm-up, or the
whole output when the input is too short); `compute_all` turns those into JSON-ready lists
with None in place of NaN.

TA-Lib details reproduced here (checked against TA-Lib 0.8.2 in tests/analysis):
- EMA is seeded with the SMA of its first n values; k = 2/(n+1); first value at index n-1.
- RSI uses Wilder smoothing seeded with the plain mean of the first n changes; first value
  at index n. RSI = 100*gain/(gain+loss): 100 when only gains, and 0 (not 50 or 100) when
  gain and loss are both exactly zero, e.g. an all-flat input.
- MACD seeds *both* EMAs so that they start at index slow-1: the fast EMA's seed is the mean
  of closes[slow-fast : slow], not of the first `fast` closes. The signal EMA is seeded with
  the mean of the first `signal` MACD values. All three outputs (including the MACD line)
  are NaN before index slow+signal-2 (33 for 12/26/9). If slow < fast they are swapped.
- Bollinger middle is the SMA; the width uses the population standard deviation (ddof=0).
"""
from __future__ import annotations

import math
import operator
from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

FloatArray = np.ndarray

KEYS = ("sma20", "sma50", "sma200", "ema20", "rsi14", "macd", "macd_signal", "macd_hist",
        "bb_upper", "bb_middle", "bb_lower")


def compute_all(closes: Sequence[float]) -> dict[str, list[float | None]]:
    """Return every dashboard indicator for closes (oldest first, no gaps) as lists with None in warm-up."""
    x = _as_array(closes)
    if not np.all(np.isfinite(x)):
        raise ValueError("closes must be finite numbers without gaps")
    macd_line, macd_signal, macd_hist = macd(x)
    bb_upper, bb_middle, bb_lower = bollinger(x)
    series = (sma(x, 20), sma(x, 50), sma(x, 200), ema(x, 20), rsi(x, 14),
              macd_line, macd_signal, macd_hist, bb_upper, bb_middle, bb_lower)
    return {key: _to_list(values) for key, values in zip(KEYS, series)}


def sma(close: Sequence[float] | FloatArray, n: int) -> FloatArray:
    """Simple moving average over n values; NaN for the first n-1."""
    x = _as_array(close)
    n = _period(n)
    out = _nans(len(x))
    if len(x) >= n:
        out[n - 1:] = sliding_window_view(x, n).mean(axis=1)
    return out


def ema(close: Sequence[float] | FloatArray, n: int) -> FloatArray:
    """Exponential moving average (k=2/(n+1)) seeded with the SMA of the first n values; NaN for the first n-1."""
    x = _as_array(close)
    n = _period(n)
    return _ema(x, n, seed_end=n - 1, seed_len=n)


def rsi(close: Sequence[float] | FloatArray, n: int = 14) -> FloatArray:
    """Wilder's relative strength index (0-100); NaN for the first n values."""
    x = _as_array(close)
    n = _period(n)
    out = _nans(len(x))
    if len(x) <= n:
        return out
    change = np.diff(x)
    gain = _wilder(np.maximum(change, 0.0), n)
    loss = _wilder(np.maximum(-change, 0.0), n)
    total = gain + loss
    with np.errstate(invalid="ignore"):
        out[n:] = np.where(total != 0.0, 100.0 * (gain / total), 0.0)  # TA-Lib: 0 when flat
    return out


def macd(close: Sequence[float] | FloatArray, fast: int = 12, slow: int = 26,
         signal: int = 9) -> tuple[FloatArray, FloatArray, FloatArray]:
    """MACD line, signal line and histogram as TA-Lib's MACD; all NaN before index slow+signal-2."""
    x = _as_array(close)
    fast, slow, signal = _period(fast), _period(slow), _period(signal)
    if slow < fast:
        fast, slow = slow, fast
    start = slow + signal - 2
    line, sig, hist = _nans(len(x)), _nans(len(x)), _nans(len(x))
    if len(x) <= start:
        return line, sig, hist
    # Both EMAs begin at index slow-1; the fast one is seeded from the `fast` closes ending there.
    full_line = _ema(x, fast, seed_end=slow - 1, seed_len=fast) - _ema(x, slow, seed_end=slow - 1, seed_len=slow)
    full_sig = _nans(len(x))
    full_sig[slow - 1:] = _ema(full_line[slow - 1:], signal, seed_end=signal - 1, seed_len=signal)
    line[start:] = full_line[start:]
    sig[start:] = full_sig[start:]
    hist[start:] = line[start:] - sig[start:]
    return line, sig, hist


def bollinger(close: Sequence[float] | FloatArray, n: int = 20,
              k: float = 2.0) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Bollinger Bands (upper, middle, lower): SMA(n) +/- k population standard deviations."""
    x = _as_array(close)
    n = _period(n)
    middle = sma(x, n)
    width = _nans(len(x))
    if len(x) >= n:
        width[n - 1:] = k * sliding_window_view(x, n).std(axis=1)
    return middle + width, middle, middle - width


# --- helpers -------------------------------------------------------------------------------


def _ema(x: FloatArray, n: int, seed_end: int, seed_len: int) -> FloatArray:
    """EMA with k=2/(n+1) whose first value, at seed_end, is the mean of the seed_len values ending there."""
    out = _nans(len(x))
    if len(x) <= seed_end:
        return out
    values = x.tolist()
    k = 2.0 / (n + 1)
    prev = sum(values[seed_end - seed_len + 1:seed_end + 1]) / seed_len
    result = [prev]
    for value in values[seed_end + 1:]:
        prev = (value - prev) * k + prev
        result.append(prev)
    out[seed_end:] = result
    return out


def _wilder(x: FloatArray, n: int) -> FloatArray:
    """Wilder's running average of x: mean of the first n, then (prev*(n-1)+value)/n; one value per x[n-1:]."""
    values = x.tolist()
    prev = sum(values[:n]) / n
    result = [prev]
    for value in values[n:]:
        prev = (prev * (n - 1) + value) / n
        result.append(prev)
    return np.array(result)


def _as_array(values: Sequence[float] | FloatArray) -> FloatArray:
    """Return values as a 1-D float64 array (None becomes NaN)."""
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError("expected a 1-D sequence of prices")
    return x


def _period(n: int) -> int:
    """Return n as an int, rejecting non-integers and periods below 1."""
    if isinstance(n, bool) or operator.index(n) < 1:
        raise ValueError(f"period must be a positive integer, got {n!r}")
    return operator.index(n)


def _nans(length: int) -> FloatArray:
    """Return a float64 array of NaN."""
    return np.full(length, np.nan)


def _to_list(values: FloatArray) -> list[float | None]:
    """Return values as plain Python floats with None for NaN."""
    return [None if math.isnan(v) else v for v in values.tolist()]
