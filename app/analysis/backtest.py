"""Point-in-time backtest of the 5-factor growth score (app.analysis.score): top N stocks against the index.

Method
------
- Rebalance days are the last trading day of each calendar month whose calendar month-end lies in
  [start, end] (`rebalance_columns`); the first is the day the test starts with cash, the last the
  day it ends. Each period runs from one rebalance day to the next, so the test spans first..last.
- On a rebalance day the universe is ranked (by default with `point_in_time_scores`: the growth score
  from the closes up to that day only, the news sentiment known that day and no fundamentals, since
  no point-in-time fundamentals exist). The `top` best finite scores are bought in equal weights,
  ties going to the stock listed first in the panel. A stock without a close that day can't be
  bought (nor kept). Trades happen at that day's close.
- In between, the portfolio is held (weights drift with prices). A held stock without a close on a
  day keeps its last close.
- Costs: a rebalance trades sum |w_target - w_drifted| of the portfolio (1 for the first purchase,
  from cash); cost_bps of that is taken from the portfolio's value on the rebalance day. Equity is
  recorded before the cost, so each month's return includes the cost of the rebalance it starts with.
- Benchmark: the equal-weighted index of every stock with a close on the rebalance day, rebalanced
  the same way, without costs.
- Figures: CAGR over calendar days (365.25 a year); volatility is the sample standard deviation of
  daily simple returns x sqrt(252); Sharpe is their mean / standard deviation x sqrt(252), risk-free
  rate 0; maximum drawdown is the deepest fall from a running peak (-0.23 = 23 % lost).
- Deflated Sharpe ratio (Bailey & Lopez de Prado, 2014) on the monthly returns: the strategy is also
  run for other top-N sizes; the variance of their per-month Sharpe ratios and the number of trials
  give the Sharpe ratio the best of that many unskilled trials would reach (SR0), and the DSR is the
  probability that the true Sharpe ratio exceeds it, given the sample's length, skew and kurtosis.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
from scipy.special import ndtr, ndtri

from app.analysis.score import FUNDAMENTALS, TRADING_DAYS, ScoreInputs, growth_scores

DAYS_A_YEAR = 365.25
LOOKBACK_DAYS = 400
MAX_COST_BPS = 1000.0
# Below this standard deviation returns count as constant: a Sharpe ratio would only measure rounding.
FLAT = 1e-12
_EPOCH = date(1970, 1, 1).toordinal()


@dataclass(frozen=True)
class Panel:
    """Aligned history of a universe: one row per symbol, one column per trading day."""

    symbols: list[str]
    days: np.ndarray  # (T,) ascending day ordinals (int64) of trading days
    closes: np.ndarray  # (N, T) closes, NaN where a stock has no close (before listing, holiday)
    sectors: list[str | None]
    sentiment: Callable[[int], np.ndarray] | None = None  # day ordinal -> (N,) sentiment known then, NaN unknown


def rebalance_columns(days: np.ndarray, start: date, end: date) -> list[int]:
    """Column of the last trading day of each calendar month whose month-end lies in [start, end].

    A month in which `days` stop before its end counts with its last day in `days`; with `end` at or
    before the panel's last day that can't happen (the month-end would lie after `end`).
    """
    days = np.asarray(days, dtype=np.int64)
    if not days.size:
        return []
    months = (days - _EPOCH).astype("datetime64[D]").astype("datetime64[M]")
    last = np.flatnonzero(np.append(months[1:] != months[:-1], True))
    month_end = (months[last] + 1).astype("datetime64[D]") - np.timedelta64(1, "D")
    inside = (month_end >= np.datetime64(start, "D")) & (month_end <= np.datetime64(end, "D"))
    return [int(col) for col in last[inside]]


def point_in_time_scores(panel: Panel, col: int, lookback_days: int = LOOKBACK_DAYS) -> np.ndarray:
    """(N,) growth score of each stock on day `col`, from what was known that day only.

    The universe is the stocks with a close at `col` (the others get NaN); the score sees their closes
    from days[col] - lookback_days to days[col] inclusive, the sentiment known at days[col] and no
    fundamentals (that factor scores a neutral 50 with confidence 0).
    """
    out = np.full(len(panel.symbols), np.nan)
    rows = np.flatnonzero(np.isfinite(panel.closes[:, col]))
    if not rows.size:
        return out
    first = int(np.searchsorted(panel.days, panel.days[col] - lookback_days, side="left"))
    window = panel.closes[rows, first:col + 1]
    # Like score.build_inputs: only the days on which one of these stocks has a close.
    traded = np.isfinite(window).any(axis=0)
    sentiment = np.full(len(panel.symbols), np.nan) if panel.sentiment is None \
        else np.asarray(panel.sentiment(int(panel.days[col])), dtype=float)
    inputs = ScoreInputs(symbols=[panel.symbols[i] for i in rows], days=panel.days[first:col + 1][traded],
                         closes=window[:, traded], sectors=[panel.sectors[i] for i in rows],
                         fundamentals={name: np.full(rows.size, np.nan) for name in FUNDAMENTALS},
                         sentiment=sentiment[rows])
    out[rows] = [item["score"] for item in growth_scores(inputs)]
    return out


def run(panel: Panel, start: date, end: date, top: int = 10, cost_bps: float = 10.0,
        ranker: Callable[[int], np.ndarray] | None = None, variants: Sequence[int] = (3, 5, 10, 15, 20),
        trials: int | None = None) -> dict[str, Any]:
    """Backtest holding the `top` best-ranked stocks, rebalanced monthly, against the equal-weighted index.

    - Rebalance columns come from `rebalance_columns(panel.days, start, end)`; periods run between
      consecutive ones, so the test spans the first to the last (which only closes the last period).
    - `ranker(col)` returns (N,) scores, higher is better, NaN never picked (default: point_in_time_scores).
      The `top` best finite scores of stocks with a close at `col` are bought in equal weights; ties
      go to the stock listed first in `panel.symbols`. Buy and hold until the next rebalance.
    - Costs: traded = sum |w_target - w_drifted| (1 for the first purchase from cash); traded x
      cost_bps / 10,000 is taken from the value on the rebalance day. `turnover` is the mean one-way
      turnover (traded / 2) of the rebalances after the first purchase (None when there is none).
    - A held stock without a close keeps its last close; one without a close on a rebalance day is sold.
    - Benchmark: equal weight over every stock with a close on the rebalance day, same rebalancing,
      no costs. `hit_rate` is the share of months whose strategy return beat the benchmark's (strictly).
    - `rebalances` (= `months`) counts the rebalances that trade: every rebalance column but the last.
    - Deflated Sharpe: the strategy is also run (same scores) for each size in `variants` up to the
      number of stocks; with `top` these are the trials, unless `trials` (at least their number) says more.
    """
    n_stocks = len(panel.symbols)
    if top < 1:
        raise ValueError(f"top must be at least 1, not {top}")
    if top > n_stocks:
        raise ValueError(f"top ({top}) can't exceed the number of stocks in the panel ({n_stocks})")
    if not 0 <= cost_bps <= MAX_COST_BPS:
        raise ValueError(f"cost_bps must lie between 0 and {MAX_COST_BPS:g}, not {cost_bps}")
    if start >= end:
        raise ValueError(f"start ({start}) must lie before end ({end})")
    if any(size < 1 for size in variants):
        raise ValueError("every variant's top N must be at least 1")
    cols = rebalance_columns(panel.days, start, end)
    if len(cols) < 2:
        raise ValueError(f"{start}..{end} holds {len(cols)} month-end(s) of the panel: a backtest needs at least 2")
    idle = [col for col in cols if not np.isfinite(panel.closes[:, col]).any()]
    if idle:
        raise ValueError(f"no stock has a close on {_iso(panel.days[idle[0]])}, a month's last day in the panel:"
                         " its days must be trading days")
    sizes = sorted({top, *(size for size in variants if size <= n_stocks)})
    if trials is not None and trials < len(sizes):
        raise ValueError(f"trials ({trials}) can't be fewer than the {len(sizes)} variants run: {sizes}")

    prices = _forward_fill(panel.closes)
    rank = ranker or (lambda col: point_in_time_scores(panel, col))
    orders = [_ranked(rank(col), panel.closes[:, col]) for col in cols[:-1]]
    listed = [np.flatnonzero(np.isfinite(panel.closes[:, col])) for col in cols[:-1]]
    benchmark, _ = _simulate(prices, cols, listed, 0.0)
    runs = {size: _simulate(prices, cols, [order[:size] for order in orders], cost_bps / 10_000) for size in sizes}
    strategy, traded = runs[top]

    at = np.asarray(cols) - cols[0]
    monthly = {size: equity[at[1:]] / equity[at[:-1]] - 1.0 for size, (equity, _) in runs.items()}
    bench_monthly = benchmark[at[1:]] / benchmark[at[:-1]] - 1.0
    beat = monthly[top] > bench_monthly
    variant_sharpe = {size: _sharpe(returns) for size, returns in monthly.items()}
    known = [sr for sr in variant_sharpe.values() if sr is not None]
    sharpe_variance = float(np.var(known, ddof=1)) if len(known) >= 2 else 0.0
    deflated = deflated_sharpe(monthly[top], sharpe_variance, trials or len(sizes))
    deflated["variants"] = [{"top": size, "sharpe": _round(sr, 6)} for size, sr in variant_sharpe.items()]

    days = panel.days[cols[0]:cols[-1] + 1]
    turns = [t / 2 for t in traded[1:]]
    return {
        "from": _iso(days[0]), "to": _iso(days[-1]), "top": int(top), "cost_bps": float(cost_bps),
        "rebalances": len(cols) - 1, "months": len(cols) - 1,
        "equity": {"dates": [_iso(d) for d in days], "strategy": [round(float(v), 6) for v in strategy],
                   "benchmark": [round(float(v), 6) for v in benchmark]},
        "strategy": {**performance(days, strategy), "turnover": _round(np.mean(turns), 6) if turns else None},
        "benchmark": performance(days, benchmark),
        "hit_rate": round(float(beat.mean()), 6),
        "monthly": [{"month": _iso(panel.days[col])[:7], "strategy": round(float(s), 6),
                     "benchmark": round(float(b), 6), "beat": bool(w)}
                    for col, s, b, w in zip(cols[1:], monthly[top], bench_monthly, beat)],
        "holdings": [{"date": _iso(panel.days[col]), "symbols": [panel.symbols[i] for i in order[:top]]}
                     for col, order in zip(cols, orders)],
        "deflated_sharpe": deflated,
        "assumptions": _assumptions(ranker is None, cost_bps, sizes, trials or len(sizes)),
    }


def performance(days: np.ndarray, equity: np.ndarray) -> dict[str, float | None]:
    """{cagr, volatility, max_drawdown, sharpe, total_return} of a daily equity curve (oldest first)."""
    equity = np.asarray(equity, dtype=float)
    growth = equity[-1] / equity[0]
    span = int(days[-1]) - int(days[0])
    cagr = (growth ** (DAYS_A_YEAR / span) - 1.0 if growth > 0 else -1.0) if span > 0 else None
    returns = equity[1:] / equity[:-1] - 1.0
    std = float(np.std(returns, ddof=1)) if returns.size >= 2 else math.nan
    sharpe = _sharpe(returns)
    return {"cagr": _round(cagr, 6), "volatility": _round(0.0 if std <= FLAT else std * math.sqrt(TRADING_DAYS), 6),
            "max_drawdown": round(float(np.min(equity / np.maximum.accumulate(equity)) - 1.0), 6),
            "sharpe": _round(None if sharpe is None else sharpe * math.sqrt(TRADING_DAYS), 4),
            "total_return": round(float(growth - 1.0), 6)}


def deflated_sharpe(returns: np.ndarray, sharpe_variance: float, trials: int) -> dict[str, Any]:
    """Deflated Sharpe ratio of per-period returns: {value, sharpe, trials, sharpe_variance, threshold}.

    sharpe = mean / sample standard deviation (per period, not annualised); threshold SR0 =
    sqrt(V) ((1 - g) PhiInv(1 - 1/N) + g PhiInv(1 - 1/(N e))), g the Euler-Mascheroni constant, 0 when
    N = 1 or V = 0; value = Phi((SR - SR0) sqrt(T - 1) / sqrt(1 - skew SR + (kurt - 1) / 4 SR^2)) with
    the sample's (population-moment) skew and non-excess kurtosis. value is None with fewer than three
    returns or constant ones (no Sharpe ratio), sharpe None with constant returns.
    """
    if trials < 1:
        raise ValueError(f"trials must be at least 1, not {trials}")
    if not sharpe_variance >= 0:
        raise ValueError(f"sharpe_variance must be a non-negative number, not {sharpe_variance}")
    returns = np.asarray(returns, dtype=float)
    sharpe = _sharpe(returns)
    threshold = 0.0
    if trials > 1 and sharpe_variance > 0:
        threshold = math.sqrt(sharpe_variance) * ((1 - np.euler_gamma) * ndtri(1 - 1 / trials)
                                                  + np.euler_gamma * ndtri(1 - 1 / (trials * math.e)))
    value = None
    if sharpe is not None and returns.size >= 3:
        centred = returns - returns.mean()
        m2 = float(np.mean(centred ** 2))
        skew = float(np.mean(centred ** 3)) / m2 ** 1.5
        kurt = float(np.mean(centred ** 4)) / m2 ** 2
        spread = 1 - skew * sharpe + (kurt - 1) / 4 * sharpe ** 2
        # spread >= (1 - skew SR / 2)^2 since kurt >= 1 + skew^2; it is 0 only in a degenerate sample.
        if spread > 0:
            value = float(ndtr((sharpe - threshold) * math.sqrt(returns.size - 1) / math.sqrt(spread)))
    return {"value": _round(value, 6), "sharpe": _round(sharpe, 6), "trials": int(trials),
            "sharpe_variance": _round(sharpe_variance, 6), "threshold": _round(threshold, 6)}


# -- internals -------------------------------------------------------------------------

def _ranked(scores: np.ndarray, closes: np.ndarray) -> np.ndarray:
    # Rows that can be bought, best score first; the stable sort keeps panel order among ties.
    scores = np.asarray(scores, dtype=float)
    if scores.shape != closes.shape:
        raise ValueError(f"the ranker returned {scores.shape} scores for {closes.shape[0]} stocks")
    rows = np.flatnonzero(np.isfinite(scores) & np.isfinite(closes))
    return rows[np.argsort(-scores[rows], kind="stable")]


def _simulate(prices: np.ndarray, cols: list[int], picks: list[np.ndarray],
              cost: float) -> tuple[np.ndarray, list[float]]:
    """Daily value from cols[0] to cols[-1] (1.0 at the start) and the traded fraction of each rebalance."""
    equity = np.empty(cols[-1] - cols[0] + 1)
    equity[0] = value = 1.0
    drifted = np.zeros(prices.shape[0])
    traded = []
    for (a, b), held in zip(zip(cols, cols[1:]), picks):
        target = np.zeros(prices.shape[0])
        target[held] = 1.0 / len(held) if len(held) else 0.0
        trade = float(np.abs(target - drifted).sum())
        traded.append(trade)
        invested = value * (1.0 - trade * cost)
        growth = prices[held, a + 1:b + 1] / prices[held, a][:, None]
        path = invested * (target[held] @ growth) if len(held) else np.full(b - a, invested)
        equity[a + 1 - cols[0]:b + 1 - cols[0]] = path
        value = float(path[-1])
        drifted = np.zeros(prices.shape[0])
        if len(held) and value > 0:
            drifted[held] = invested * target[held] * growth[:, -1] / value
    return equity, traded


def _sharpe(returns: np.ndarray) -> float | None:
    # Per-period mean / sample standard deviation; None when undefined (fewer than 2 or constant returns).
    if len(returns) < 2:
        return None
    std = float(np.std(returns, ddof=1))
    return float(np.mean(returns)) / std if std > FLAT else None


def _forward_fill(matrix: np.ndarray) -> np.ndarray:
    index = np.where(np.isnan(matrix), 0, np.arange(matrix.shape[1]))
    np.maximum.accumulate(index, axis=1, out=index)
    return matrix[np.arange(matrix.shape[0])[:, None], index]


def _assumptions(growth_score: bool, cost_bps: float, sizes: list[int], trials: int) -> list[str]:
    ranking = [
        f"Point in time: each rebalance ranks by the growth score from the closes of the last {LOOKBACK_DAYS}"
        " calendar days up to that day only and the news sentiment known that day.",
        "No point-in-time fundamentals exist: the fundamental factor (25 % of the score) is a neutral 50 with"
        " confidence 0, so the score tested is performance, sentiment, sector and momentum only.",
    ] if growth_score else ["Ranked by the caller's ranker, assumed to use only what was known on each rebalance day."]
    return ranking + [
        "The universe is the panel's stocks on every date: if they are today's index members, stocks that left"
        " the index are missing (survivorship bias), which flatters both strategy and benchmark.",
        "Rebalanced at the close of the last trading day of each month: the top N by score in equal weights"
        " (ties to the stock listed first), held unchanged in between (weights drift with prices).",
        f"Costs: {cost_bps:g} bp of the value traded at each rebalance (sum of |weight changes|, the first"
        " purchase from cash included), taken from the portfolio's value that day; no spread, slippage or taxes.",
        "Returns are those of the closes given: dividends count only if the closes are adjusted for them.",
        "A held stock without a close keeps its last close; a stock without a close on a rebalance day is"
        " neither bought nor kept.",
        "Benchmark: equal weight over every stock with a close on the rebalance day, rebalanced monthly the"
        " same way, without costs.",
        "CAGR over calendar days (365.25 a year); volatility: sample standard deviation of daily simple returns"
        " x sqrt(252); Sharpe: mean / standard deviation of daily simple returns x sqrt(252), risk-free rate 0.",
        f"Deflated Sharpe ratio on monthly returns; trials: {trials}, top-N variants run: {sizes}, whose"
        " per-month Sharpe ratios' sample variance is V.",
    ]


def _round(value: Any, digits: int) -> float | None:
    if value is None:
        return None
    value = float(value)
    return round(value, digits) if math.isfinite(value) else None


def _iso(day: Any) -> str:
    return date.fromordinal(int(day)).isoformat()
