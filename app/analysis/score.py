"""The 5-factor growth score, computed for a whole universe of stocks in one vectorised pass.

Each factor is a cross-sectional percentile (0-100) within the compared universe (an
index, a country or every stock). A factor built from several inputs ranks each input
(turned so that higher is better), averages the ranks a stock has, and ranks that
average again, so every factor spreads over 0-100. A missing input lowers the factor's
`confidence` (the share of its inputs that were known); a factor with no input at all
scores a neutral 50 with confidence 0. The total is the weighted sum of the factors.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

WEIGHTS: dict[str, float] = {"performance": 0.30, "fundamental": 0.25, "sentiment": 0.20,
                             "sector": 0.15, "momentum": 0.10}
NEUTRAL = 50.0
# Look-backs in calendar days for the 3/6/12-month returns.
HORIZONS_DAYS = {"return_3m": 91, "return_6m": 182, "return_12m": 365}
TRADING_DAYS = 252
# A sector needs this many stocks with a figure before its own median is used.
MIN_SECTOR_PEERS = 3
FUNDAMENTALS = ("pe_ratio", "pb_ratio", "debt_to_equity", "roe", "revenue_growth")


@dataclass(frozen=True)
class ScoreInputs:
    """Everything the score needs, aligned by row: one row per symbol."""

    symbols: list[str]
    days: np.ndarray  # (T,) ascending day ordinals
    closes: np.ndarray  # (N, T) closes, NaN where a stock has no close that day
    sectors: list[str | None]
    fundamentals: dict[str, np.ndarray]  # FUNDAMENTALS -> (N,), NaN when unknown
    sentiment: np.ndarray  # (N,) aggregate news sentiment -1..1, NaN when unknown


def build_inputs(symbols: Sequence[str], closes: Mapping[str, Mapping[str, list]],
                 profiles: Mapping[str, Mapping[str, Any]], sentiments: Mapping[str, float],
                 sectors: Mapping[str, str | None]) -> ScoreInputs:
    """Align per-symbol series (`{"d": [ordinals], "c": [closes]}`) and figures into arrays."""
    symbols = list(symbols)
    days, matrix = align_closes(symbols, closes)
    figures = {name: np.array([_float(profiles.get(s, {}).get(name)) for s in symbols]) for name in FUNDAMENTALS}
    return ScoreInputs(symbols=symbols, days=days, closes=matrix,
                       sectors=[sectors.get(s) or (profiles.get(s) or {}).get("sector") for s in symbols],
                       fundamentals=figures,
                       sentiment=np.array([_float(sentiments.get(s)) for s in symbols]))


def align_closes(symbols: Sequence[str], closes: Mapping[str, Mapping[str, list]]) -> tuple[np.ndarray, np.ndarray]:
    """Return the union of the series' days (ascending ordinals) and an (N, T) matrix of closes, NaN where none."""
    present = [np.asarray(closes[s]["d"], dtype=np.int64) for s in symbols if closes.get(s, {}).get("d")]
    days = np.unique(np.concatenate(present)) if present else np.zeros(0, dtype=np.int64)
    matrix = np.full((len(symbols), len(days)), np.nan)
    for row, symbol in enumerate(symbols):
        series = closes.get(symbol)
        if series and series["d"]:
            matrix[row, np.searchsorted(days, series["d"])] = series["c"]
    return days, matrix


def growth_scores(inputs: ScoreInputs) -> list[dict[str, Any]]:
    """Return one `{symbol, score, confidence, factors}` per symbol, in input order."""
    n = len(inputs.symbols)
    if n == 0:
        return []
    prices = _ffill(inputs.closes)
    with warnings.catch_warnings():
        # Means and deviations of stocks without any close are NaN by design (a missing input).
        warnings.simplefilter("ignore", RuntimeWarning)
        perf_inputs = _performance_inputs(inputs.days, prices)
        fund_inputs, medians = _fundamental_inputs(inputs)
        sector_inputs = _sector_inputs(inputs.sectors, perf_inputs["return_6m"])
        mom_inputs = _momentum_inputs(prices)

    factors = {
        "performance": _factor([_risk_adjusted(perf_inputs[k], perf_inputs["volatility"], days)
                                for k, days in HORIZONS_DAYS.items()]),
        "fundamental": _factor(list(fund_inputs.values())),
        "sentiment": _factor([inputs.sentiment]),
        "sector": _factor([sector_inputs["relative_strength"]]),
        "momentum": _factor([-np.abs(mom_inputs["rsi14"] - 60.0), mom_inputs["macd_hist_pct"],
                             mom_inputs["price_vs_sma50"], mom_inputs["price_vs_sma200"]]),
    }
    total = sum(WEIGHTS[name] * score for name, (score, _) in factors.items())
    confidence = sum(WEIGHTS[name] * conf for name, (_, conf) in factors.items())

    shown = {
        "performance": perf_inputs,
        "fundamental": {**{k: inputs.fundamentals[k] for k in FUNDAMENTALS},
                        **{f"sector_median_{k}": medians[k] for k in FUNDAMENTALS}},
        "sentiment": {"news_sentiment": inputs.sentiment},
        "sector": {"sector_return_6m": sector_inputs["sector_return_6m"],
                   "universe_return_6m": np.full(n, sector_inputs["universe_return_6m"])},
        "momentum": {k: v for k, v in mom_inputs.items() if k != "macd_hist_pct"},
    }
    out = []
    for i, symbol in enumerate(inputs.symbols):
        detail = {}
        for name, (score, conf) in factors.items():
            values = {key: _num(col[i]) for key, col in shown[name].items()}
            if name == "sector":
                values["sector"] = inputs.sectors[i]
            detail[name] = {"score": round(float(score[i]), 1), "weight": WEIGHTS[name],
                            "confidence": round(float(conf[i]), 2), "inputs": values}
        out.append({"symbol": symbol, "score": round(float(total[i]), 1),
                    "confidence": round(float(confidence[i]), 2), "factors": detail})
    return out


def percentile(values: np.ndarray) -> np.ndarray:
    """Rank values into 0..100 (lowest 0, highest 100, ties share the mean rank); NaN stays NaN."""
    series = pd.Series(values, dtype="float64")
    known = int(series.count())
    if known <= 1:
        return np.where(np.isnan(values), np.nan, NEUTRAL)
    return ((series.rank(method="average") - 1.0) / (known - 1) * 100.0).to_numpy()


def wilder_rsi(prices: np.ndarray, period: int = 14) -> np.ndarray:
    """Return the last RSI (Wilder, TA-Lib seeding) of each row of a (N, T) price matrix."""
    if prices.shape[1] <= period:
        return np.full(prices.shape[0], np.nan)
    delta = np.diff(prices, axis=1)
    gain, loss = np.clip(delta, 0, None), np.clip(-delta, 0, None)
    avg_gain, avg_loss = gain[:, :period].mean(axis=1), loss[:, :period].mean(axis=1)
    for t in range(period, delta.shape[1]):
        avg_gain = (avg_gain * (period - 1) + gain[:, t]) / period
        avg_loss = (avg_loss * (period - 1) + loss[:, t]) / period
    with np.errstate(divide="ignore", invalid="ignore"):
        rsi = 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)
    rsi = np.where(avg_loss == 0, np.where(avg_gain == 0, NEUTRAL, 100.0), rsi)
    return np.where(np.isnan(avg_gain), np.nan, rsi)


# -- factors ---------------------------------------------------------------------------

def _risk_adjusted(total_return: np.ndarray, volatility: np.ndarray, horizon_days: int) -> np.ndarray:
    # The return less the drag its volatility costs over the horizon (r - sigma^2 t / 2): unlike
    # r / sigma, more volatility never helps, also when the return is negative.
    return total_return - 0.5 * volatility ** 2 * (horizon_days / 365.0)


def _factor(columns: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    ranks = np.column_stack([percentile(np.where(np.isfinite(c), c, np.nan)) for c in columns])
    known = np.isfinite(ranks).sum(axis=1)
    with np.errstate(invalid="ignore"):
        mean_rank = np.where(known > 0, np.nansum(ranks, axis=1) / np.maximum(known, 1), np.nan)
    score = percentile(mean_rank)
    return np.where(np.isnan(score), NEUTRAL, score), known / len(columns)


def _performance_inputs(days: np.ndarray, prices: np.ndarray) -> dict[str, np.ndarray]:
    n = prices.shape[0]
    out: dict[str, np.ndarray] = {}
    if prices.shape[1] == 0:
        return {**{k: np.full(n, np.nan) for k in HORIZONS_DAYS}, "volatility": np.full(n, np.nan)}
    last = prices[:, -1]
    for name, horizon in HORIZONS_DAYS.items():
        col = int(np.searchsorted(days, days[-1] - horizon, side="right")) - 1
        # A series must reach back to the horizon; otherwise the return is unknown, not shorter.
        out[name] = last / prices[:, col] - 1.0 if col >= 0 and days[0] <= days[-1] - horizon + 7 \
            else np.full(n, np.nan)
    window = prices[:, -(TRADING_DAYS + 1):]
    with np.errstate(divide="ignore", invalid="ignore"):
        log_returns = np.diff(np.log(window), axis=1)
    enough = np.isfinite(log_returns).sum(axis=1) >= 20
    vol = np.nanstd(np.where(np.isfinite(log_returns), log_returns, np.nan), axis=1) * math.sqrt(TRADING_DAYS) \
        if log_returns.shape[1] else np.full(n, np.nan)
    out["volatility"] = np.where(enough & (vol > 0), vol, np.nan)
    return out


def _fundamental_inputs(inputs: ScoreInputs) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    sectors = pd.Series([s or "" for s in inputs.sectors])
    better: dict[str, np.ndarray] = {}
    medians: dict[str, np.ndarray] = {}
    for name in FUNDAMENTALS:
        values = pd.Series(inputs.fundamentals[name], dtype="float64")
        if name in ("pe_ratio", "pb_ratio"):
            values = values.where(values > 0)  # a loss-making company has no meaningful multiple
        elif name == "debt_to_equity":
            values = values.where(values >= 0)  # nor has a company with negative equity a leverage ratio
        grouped = values.groupby(sectors)
        median = grouped.transform("median").where(grouped.transform("count") >= MIN_SECTOR_PEERS,
                                                   values.median())
        medians[name] = median.to_numpy()
        if name in ("pe_ratio", "pb_ratio", "debt_to_equity"):
            # Lower than the sector's median is better; compare as a log ratio.
            with np.errstate(divide="ignore", invalid="ignore"):
                rel = -np.log(values.clip(lower=1e-6) / median.clip(lower=1e-6)).to_numpy()
            # A loss (negative P/E or P/B) or negative equity (negative D/E) ranks below every real figure.
            raw = inputs.fundamentals[name]
            losses = raw < 0 if name == "debt_to_equity" else raw <= 0
            if losses.any():
                rel = np.where(losses, (np.nanmin(rel) if np.isfinite(rel).any() else 0.0) - 1.0, rel)
            better[name] = rel
        else:
            better[name] = (values - median).to_numpy()
    return better, medians


def _sector_inputs(sectors: list[str | None], return_6m: np.ndarray) -> dict[str, Any]:
    frame = pd.DataFrame({"sector": [s or None for s in sectors], "r": return_6m})
    sector_median = frame.groupby("sector")["r"].transform("median").to_numpy(dtype="float64")
    universe = float(np.nanmedian(return_6m)) if np.isfinite(return_6m).any() else math.nan
    return {"sector_return_6m": sector_median, "universe_return_6m": universe,
            "relative_strength": sector_median - universe}


def _momentum_inputs(prices: np.ndarray) -> dict[str, np.ndarray]:
    n = prices.shape[0]
    window = prices[:, -300:]
    valid = np.isfinite(window).sum(axis=1)
    filled = _bfill(window)
    last = window[:, -1] if window.shape[1] else np.full(n, np.nan)
    rsi = np.where(valid >= 29, wilder_rsi(filled), np.nan)
    macd, signal = _macd_last(filled)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = {"rsi14": rsi, "macd_hist": np.where(valid >= 34, macd - signal, np.nan)}
        out["macd_hist_pct"] = out["macd_hist"] / last
        for length in (50, 200):
            tail = window[:, -length:]
            sma = np.where(np.isfinite(tail).sum(axis=1) == length, np.nanmean(tail, axis=1), np.nan) \
                if window.shape[1] >= length else np.full(n, np.nan)
            out[f"price_vs_sma{length}"] = last / sma - 1.0
    return out


def _macd_last(prices: np.ndarray, fast: int = 12, slow: int = 26, signal: int = 9) -> tuple[np.ndarray, np.ndarray]:
    n, t = prices.shape
    if t < slow + signal - 1:
        return np.full(n, np.nan), np.full(n, np.nan)
    fast_ema = _ema_path(prices, fast)[:, slow - 1:]
    slow_ema = _ema_path(prices, slow)[:, slow - 1:]
    line = fast_ema - slow_ema
    return line[:, -1], _ema_path(line, signal)[:, -1]


def _ema_path(values: np.ndarray, period: int) -> np.ndarray:
    out = np.full(values.shape, np.nan)
    k = 2.0 / (period + 1)
    ema = values[:, :period].mean(axis=1)
    out[:, period - 1] = ema
    for t in range(period, values.shape[1]):
        ema = ema + k * (values[:, t] - ema)
        out[:, t] = ema
    return out


def _ffill(matrix: np.ndarray) -> np.ndarray:
    # A stock without a close on a day (its exchange's holiday) keeps its last close.
    if matrix.size == 0:
        return matrix
    index = np.where(np.isnan(matrix), 0, np.arange(matrix.shape[1]))
    np.maximum.accumulate(index, axis=1, out=index)
    return matrix[np.arange(matrix.shape[0])[:, None], index]


def _bfill(matrix: np.ndarray) -> np.ndarray:
    # Before a stock's first close its price is taken as flat, so the recursions can start.
    return _ffill(matrix[:, ::-1])[:, ::-1] if matrix.size else matrix


def _float(value: Any) -> float:
    try:
        return math.nan if value is None else float(value)
    except (TypeError, ValueError):
        return math.nan


def _num(value: Any) -> float | str | None:
    if isinstance(value, str) or value is None:
        return value
    value = float(value)
    return round(value, 4) if math.isfinite(value) else None
