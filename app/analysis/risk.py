"""Risk figures of a portfolio: maximum drawdown (with its dates), annualised volatility, Sharpe ratio.

Pure: the time-weighted index in (returns.twr_index, flows taken out), floats out. Measured on
the index, not on the value: a withdrawal is not a loss and a deposit is not a recovery.

- Day returns are the index's point-to-point changes. The series has a point every weekday
  (returns.daily_value_series), holidays included as flat days, so a year has 365.25 x 5 / 7
  of them; that is the annualisation factor (sqrt of it for volatility), which makes a year's
  variance the sum of its days' variances whatever the holidays.
- Volatility is the sample standard deviation (n - 1) of the day returns x sqrt(periods a year).
- Sharpe = (mean day return x periods a year - risk-free rate) / volatility: the arithmetic
  excess return per unit of volatility, annualised, as quantstats and PyPortfolioOpt compute it.
- Maximum drawdown is the largest fall of the index from a running peak to a later trough, as
  a fraction (-0.25 = a quarter lost). Its duration runs from the peak to the day the index
  first gets back to the peak, or to the last day when it has not yet.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from typing import Any

PERIODS_PER_YEAR = 365.25 * 5 / 7  # weekdays a year (~260.9)
MAX_RISK_FREE_RATE = 0.5  # 50 % a year: beyond any central bank's; a typo (5 for 5 %) is refused


def risk(index: Sequence[tuple[date, float]]) -> dict[str, Any]:
    """Return {max_drawdown: {...}, volatility, mean_return, days} of a TWR index (oldest first).

    volatility and mean_return are None with fewer than two day returns; the drawdown's dates
    are None when the index never falls below a peak.
    """
    levels = [level for _, level in index]
    returns = [b / a - 1.0 for a, b in zip(levels, levels[1:]) if a > 0]
    volatility = mean = None
    if len(returns) >= 2:
        average = sum(returns) / len(returns)
        variance = sum((r - average) ** 2 for r in returns) / (len(returns) - 1)
        volatility = math.sqrt(variance) * math.sqrt(PERIODS_PER_YEAR)
        mean = average * PERIODS_PER_YEAR
    return {"max_drawdown": max_drawdown(index), "volatility": volatility, "mean_return": mean,
            "days": len(returns)}


def max_drawdown(index: Sequence[tuple[date, float]]) -> dict[str, Any]:
    """The largest peak-to-trough fall: {depth, peak, trough, recovered, duration_days} (dates as date)."""
    best: dict[str, Any] = {"depth": 0.0, "peak": None, "trough": None, "recovered": None, "duration_days": 0}
    if not index:
        return best
    peak_day, peak = index[0]
    for day, level in index:
        if level >= peak:
            peak_day, peak = day, level
            continue
        depth = level / peak - 1.0 if peak > 0 else 0.0
        if depth < best["depth"]:
            best = {"depth": depth, "peak": peak_day, "trough": day, "recovered": None, "duration_days": 0}
    if best["peak"] is None:
        return best
    start = next(i for i, (day, _) in enumerate(index) if day == best["trough"])
    peak_level = next(level for day, level in index if day == best["peak"])
    best["recovered"] = next((day for day, level in index[start:] if level >= peak_level), None)
    best["duration_days"] = ((best["recovered"] or index[-1][0]) - best["peak"]).days
    return best


def sharpe(figures: dict[str, Any], risk_free_rate: float) -> float | None:
    """(mean_return - risk_free_rate) / volatility, None without a volatility (or with none at all)."""
    volatility, mean = figures.get("volatility"), figures.get("mean_return")
    if not volatility or mean is None:
        return None
    return (mean - risk_free_rate) / volatility


def as_json(figures: dict[str, Any], risk_free_rate: float) -> dict[str, Any]:
    """The API's shape: dates as ISO strings, the Sharpe ratio at the user's risk-free rate."""
    drawdown = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in figures["max_drawdown"].items()}
    return {"max_drawdown": drawdown, "volatility": figures["volatility"], "mean_return": figures["mean_return"],
            "sharpe": sharpe(figures, risk_free_rate), "risk_free_rate": risk_free_rate,
            "days": figures["days"]}
