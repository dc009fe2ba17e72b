"""20-trading-day return forecasts as quantiles, trained and judged walk-forward against a naive forecast.

The method follows Hyndman & Athanasopoulos, *Forecasting: Principles and Practice*: a forecast
is a distribution, it is evaluated on a rolling origin, and it is worth showing only beside the
naive forecast it must beat.

- **Origins.** Every STEP-th column of the universe's daily panel is a forecast origin. At an
  origin every feature is computed from closes up to and including that day only (causal
  rolling windows and exponential filters, cross-sections of the same day), so changing data
  after T changes nothing made at T.
- **Target.** The log return over the next HORIZON trading days. It is modelled scaled by the
  naive forecast's spread (the stock's 60-day daily volatility x sqrt(HORIZON)), so the model
  learns how far the distribution differs from the naive one, not each stock's volatility.
- **Naive baseline.** Zero drift with historical volatility: the quantiles of N(0, scale^2).
- **Model.** scikit-learn's HistGradientBoostingRegressor with quantile loss, one per quantile
  (10/50/90), a fixed configuration (CONFIG; one configuration tried). Crossed quantiles are sorted.
- **Walk-forward record.** The last FOLDS blocks of FOLD_ORIGINS origins are predicted by models
  trained only on rows whose target had ended before the block's first origin (purged: no
  overlap of a training target with the test period). The record pools every out-of-sample
  prediction: pinball loss of model and naive, 80 % interval coverage, directional hit rate.
- **Beats naive.** Yes only when the model's loss is lower *and* the difference is significant:
  the per-origin mean loss differential (naive - model, averaged over the stocks of that day)
  has a one-sided Newey-West t-statistic above T_CRITICAL (lag: the overlap of the targets).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

HORIZON = 20
QUANTILES = (0.1, 0.5, 0.9)
Z = np.array([norm.ppf(q) for q in QUANTILES])  # the naive forecast's quantiles of N(0, 1)
TRADING_DAYS = 252
MIN_HISTORY = 260  # columns of history an origin needs (a 250-day return and a 200-day average)
T_CRITICAL = 1.645  # one-sided 5 %
FEATURES = ("return_5d", "return_20d", "return_60d", "return_120d", "return_250d", "volatility_20d",
            "volatility_60d", "volatility_ratio", "rsi14", "macd_hist_pct", "price_vs_sma50", "price_vs_sma200",
            "drawdown_250d", "relative_return_120d", "universe_return_20d", "sector_strength_120d",
            "news_sentiment")


@dataclass(frozen=True)
class Config:
    """The one model configuration (the model card lists it)."""

    horizon: int = HORIZON
    step: int = 5  # origins a week
    folds: int = 5
    fold_origins: int = 52  # a year of weekly origins per fold
    max_iter: int = 150
    learning_rate: float = 0.05
    max_leaf_nodes: int = 15
    min_samples_leaf: int = 200
    l2_regularization: float = 1.0
    seed: int = 0


CONFIG = Config()


@dataclass
class Trained:
    """A universe's fitted models, out-of-sample record and what they were trained on."""

    models: QuantileModels
    config: Config
    record: dict[str, Any]
    symbol_records: dict[str, dict[str, Any]]
    window: tuple[int, int]  # first and last origin day (ordinals) of the final fit
    rows: int
    sentiment_share: float  # share of training rows whose news sentiment was known
    features: tuple[str, ...] = field(default=FEATURES)

    def card(self) -> dict[str, Any]:
        """Return the model card's figures (JSON-ready)."""
        return {"algorithm": "scikit-learn HistGradientBoostingRegressor, quantile loss (10/50/90)",
                "features": [self.features[j] for j in self.models.columns], "configurations_tried": 1,
                "configuration": asdict(self.config), "rows": self.rows,
                "training_window": {"from": date.fromordinal(self.window[0]).isoformat(),
                                    "to": date.fromordinal(self.window[1]).isoformat()},
                "sentiment_share": round(self.sentiment_share, 4), "not_used": self.not_used()}

    def not_used(self) -> list[str]:
        """Return the inputs of the score the model does not use, and why."""
        out = ["fundamentals: the providers give only today's figures, which would leak into the past"]
        if FEATURES.index("news_sentiment") not in self.models.columns:
            out.append("news sentiment: known for no training row (the providers keep only recent headlines)")
        return out


# -- features ----------------------------------------------------------------------------------

def features(closes: np.ndarray, sectors: list[str | None], sentiment: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Return every feature as an (N, T) matrix, each value computed from columns <= its own.

    `closes` is (N, T) with NaN where a stock has no close (a holiday keeps the last close;
    before the first close everything is NaN). Also returns "scale": the naive forecast's
    spread of the HORIZON-day log return (60-day daily volatility x sqrt(HORIZON)).
    """
    prices = pd.DataFrame(closes.T).ffill()  # (T, N): rolling windows run down the columns
    logp = np.log(prices)
    ret1 = logp.diff()
    out: dict[str, pd.DataFrame] = {}
    for days in (5, 20, 60, 120, 250):
        out[f"return_{days}d"] = logp - logp.shift(days)
    vol20 = ret1.rolling(20, min_periods=15).std()
    vol60 = ret1.rolling(60, min_periods=40).std()
    out["volatility_20d"] = vol20 * math.sqrt(TRADING_DAYS)
    out["volatility_60d"] = vol60 * math.sqrt(TRADING_DAYS)
    out["volatility_ratio"] = vol20 / vol60
    gain, loss = ret1.clip(lower=0), (-ret1).clip(lower=0)
    avg_gain = gain.ewm(alpha=1 / 14, adjust=False, min_periods=14).mean()
    avg_loss = loss.ewm(alpha=1 / 14, adjust=False, min_periods=14).mean()
    out["rsi14"] = 100.0 - 100.0 / (1.0 + avg_gain / avg_loss.replace(0.0, np.nan))
    macd = prices.ewm(span=12, adjust=False, min_periods=26).mean() - prices.ewm(span=26, adjust=False,
                                                                                 min_periods=26).mean()
    out["macd_hist_pct"] = (macd - macd.ewm(span=9, adjust=False, min_periods=9).mean()) / prices
    for length in (50, 200):
        out[f"price_vs_sma{length}"] = prices / prices.rolling(length, min_periods=length).mean() - 1.0
    out["drawdown_250d"] = prices / prices.rolling(250, min_periods=60).max() - 1.0
    r120, r20 = out["return_120d"], out["return_20d"]
    universe_r120 = r120.median(axis=1)
    out["relative_return_120d"] = r120.sub(universe_r120, axis=0)
    out["universe_return_20d"] = pd.DataFrame(np.repeat(r20.mean(axis=1).to_numpy()[:, None], r20.shape[1], axis=1))
    out["sector_strength_120d"] = _sector_median(r120, sectors).sub(universe_r120, axis=0)
    result = {name: frame.to_numpy(dtype="float64").T for name, frame in out.items()}
    result["news_sentiment"] = (np.full(closes.shape, np.nan) if sentiment is None
                                else np.asarray(sentiment, dtype="float64"))
    result["scale"] = (vol60 * math.sqrt(HORIZON)).to_numpy(dtype="float64").T
    # A stock that has not started trading has no features (the forward fill must not invent them).
    started = np.isfinite(closes).cumsum(axis=1) > 0
    for name in result:
        result[name] = np.where(started, result[name], np.nan)
    return result


def sentiment_matrix(days: np.ndarray, events: list[list[tuple[int, float]]], window_days: int = 7) -> np.ndarray:
    """Return (N, T) news sentiment known on each day: the mean score of the stock's headlines
    published on that day or in the `window_days` - 1 days before (NaN when there were none)."""
    out = np.full((len(events), len(days)), np.nan)
    for i, items in enumerate(events):
        if not items:
            continue
        when = np.array([d for d, _ in items], dtype=np.int64)
        score = np.array([v for _, v in items], dtype="float64")
        order = np.argsort(when)
        when, cumulative = when[order], np.concatenate([[0.0], np.cumsum(score[order])])
        hi = np.searchsorted(when, days, side="right")  # headlines published on or before the day
        lo = np.searchsorted(when, days - window_days, side="right")
        count = hi - lo
        with np.errstate(invalid="ignore", divide="ignore"):
            out[i] = np.where(count > 0, (cumulative[hi] - cumulative[lo]) / count, np.nan)
    return out


def targets(closes: np.ndarray, horizon: int = HORIZON) -> np.ndarray:
    """Return the (N, T) log return from each column to `horizon` columns later (NaN where unknown)."""
    logp = np.log(pd.DataFrame(closes.T).ffill().to_numpy()).T
    out = np.full(closes.shape, np.nan)
    if closes.shape[1] > horizon:
        out[:, :-horizon] = logp[:, horizon:] - logp[:, :-horizon]
    return out


def origins(n_columns: int, step: int, last: int | None = None) -> np.ndarray:
    """Return the origin columns: every `step`-th column from MIN_HISTORY, ending exactly at `last`."""
    last = n_columns - 1 if last is None else last
    if last < MIN_HISTORY:
        return np.zeros(0, dtype=np.int64)
    return np.arange(last, MIN_HISTORY - 1, -step)[::-1]


def design(feats: dict[str, np.ndarray], cols: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return X (rows, F), scale (rows,), the row's column and stock, for every stock at every column in `cols`."""
    n = feats["scale"].shape[0]
    stock = np.tile(np.arange(n), len(cols))
    col = np.repeat(cols, n)
    x = np.column_stack([feats[name][stock, col] for name in FEATURES]) if len(col) else np.zeros((0, len(FEATURES)))
    return x, feats["scale"][stock, col], col, stock


# -- models ------------------------------------------------------------------------------------

@dataclass
class QuantileModels:
    """One fitted model per quantile, and the feature columns they use (those known in training)."""

    models: list[Any]
    columns: list[int]


def fit(x: np.ndarray, z: np.ndarray, config: Config = CONFIG) -> QuantileModels:
    """Fit one quantile model per QUANTILES on features x and scaled targets z.

    A feature never known in the training rows (news sentiment before the providers' recent
    headlines) is left out: it can teach nothing, and a column without values breaks the binning.
    """
    from sklearn.ensemble import HistGradientBoostingRegressor  # noqa: PLC0415 - heavy; workers only

    columns = [j for j in range(x.shape[1]) if np.isfinite(x[:, j]).any()]
    models = []
    for q in QUANTILES:
        model = HistGradientBoostingRegressor(
            loss="quantile", quantile=q, max_iter=config.max_iter, learning_rate=config.learning_rate,
            max_leaf_nodes=config.max_leaf_nodes, min_samples_leaf=config.min_samples_leaf,
            l2_regularization=config.l2_regularization, early_stopping=False, random_state=config.seed)
        models.append(model.fit(x[:, columns], z))
    return QuantileModels(models, columns)


def predict(fitted: QuantileModels, x: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Return (rows, 3) log-return quantiles: the models' scaled quantiles, sorted, times scale."""
    if len(x) == 0:
        return np.zeros((0, len(QUANTILES)))
    z = np.column_stack([m.predict(x[:, fitted.columns]) for m in fitted.models])
    return np.sort(z, axis=1) * scale[:, None]


def naive(scale: np.ndarray) -> np.ndarray:
    """Return (rows, 3) naive log-return quantiles: zero drift, historical volatility."""
    return scale[:, None] * Z[None, :]


# -- evaluation --------------------------------------------------------------------------------

def pinball(y: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Return each row's pinball loss averaged over QUANTILES ((rows,) for y (rows,), q (rows, 3))."""
    taus = np.array(QUANTILES)[None, :]
    diff = y[:, None] - q
    return np.mean(np.maximum(taus * diff, (taus - 1.0) * diff), axis=1)


def coverage(y: np.ndarray, low: np.ndarray, high: np.ndarray) -> float:
    """Return the share of y inside [low, high]."""
    return float(np.mean((y >= low) & (y <= high))) if len(y) else math.nan


def hit_rate(y: np.ndarray, median: np.ndarray) -> float | None:
    """Return the share of rows whose median forecast has the sign of the outcome (rows with a direction)."""
    mask = (np.sign(median) != 0) & (np.sign(y) != 0)
    return float(np.mean(np.sign(median[mask]) == np.sign(y[mask]))) if mask.any() else None


def newey_west_t(series: np.ndarray, lag: int) -> float:
    """Return the t-statistic of the mean of `series` with a Newey-West (Bartlett) standard error."""
    x = np.asarray(series, dtype="float64")
    n = len(x)
    if n < 3:
        return math.nan
    d = x - x.mean()
    variance = float(d @ d) / n
    for k in range(1, min(lag, n - 1) + 1):
        variance += 2.0 * (1.0 - k / (lag + 1)) * float(d[k:] @ d[:-k]) / n
    return float(x.mean() / math.sqrt(variance / n)) if variance > 0 else math.nan


def evaluate(y: np.ndarray, model_q: np.ndarray, naive_q: np.ndarray, cols: np.ndarray, lag: int) -> dict[str, Any]:
    """Return the out-of-sample record of model against naive (rows pooled; the t-test per origin)."""
    model_loss, naive_loss = pinball(y, model_q), pinball(y, naive_q)
    frame = pd.DataFrame({"col": cols, "gain": naive_loss - model_loss})
    per_origin = frame.groupby("col", sort=True)["gain"].mean().to_numpy()
    t_stat = newey_west_t(per_origin, lag)
    m, b = float(model_loss.mean()), float(naive_loss.mean())
    beats = bool(m < b and math.isfinite(t_stat) and t_stat > T_CRITICAL)
    hits = hit_rate(y, model_q[:, 1])
    return {"rows": int(len(y)), "origins": int(len(per_origin)), "pinball_loss": _r(m), "naive_pinball_loss": _r(b),
            "skill": _r(1.0 - m / b) if b > 0 else None,
            "coverage_80": _r(coverage(y, model_q[:, 0], model_q[:, 2])),
            "naive_coverage_80": _r(coverage(y, naive_q[:, 0], naive_q[:, 2])),
            "hit_rate": _r(hits) if hits is not None else None, "up_share": _r(float(np.mean(y > 0))),
            "t_stat": _r(t_stat) if math.isfinite(t_stat) else None, "beats_naive": beats}


# -- training ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class OutOfSample:
    """Every walk-forward prediction: its origin column, stock row, outcome, model and naive quantiles."""

    cols: np.ndarray
    stocks: np.ndarray
    y: np.ndarray
    model: np.ndarray
    naive: np.ndarray
    folds: int


def walk_forward(closes: np.ndarray, sectors: list[str | None], sentiment: np.ndarray | None = None,
                 config: Config = CONFIG) -> tuple[OutOfSample, tuple[np.ndarray, ...]]:
    """Predict the last `folds` blocks of origins, each with models trained on targets that ended before it.

    Returns the out-of-sample predictions and the design (x, scaled-target inputs) for the final fit.
    Raises ValueError when the history is too short for one fold and a training set.
    """
    feats = features(closes, sectors, sentiment)
    y_all = targets(closes, config.horizon)
    cols = origins(closes.shape[1], config.step)
    x, scale, col, stock = design(feats, cols)
    y = y_all[stock, col]
    known = np.isfinite(scale) & (scale > 0) & np.isfinite(y)
    test_cols = [c for c in cols if c + config.horizon <= closes.shape[1] - 1]
    n_test = min(config.folds * config.fold_origins, max(0, len(test_cols) - 2 * config.fold_origins))
    if n_test < config.fold_origins:
        raise ValueError(f"too little history: {closes.shape[1]} days give {len(test_cols)} origins, "
                         f"{3 * config.fold_origins} are needed")
    blocks = np.array_split(np.array(test_cols[-n_test:]), math.ceil(n_test / config.fold_origins))
    parts: list[tuple[np.ndarray, ...]] = []
    for block in blocks:
        # Purged: a training target must have ended before the block's first origin.
        train_rows = known & (col + config.horizon <= block[0])
        test_rows = known & np.isin(col, block)
        fitted = fit(x[train_rows], y[train_rows] / scale[train_rows], config)
        parts.append((col[test_rows], stock[test_rows], y[test_rows],
                      predict(fitted, x[test_rows], scale[test_rows]), naive(scale[test_rows])))
    oos = OutOfSample(*(np.concatenate([p[i] for p in parts]) for i in range(5)), folds=len(blocks))
    return oos, (x[known], y[known], scale[known], col[known])


def train(days: np.ndarray, closes: np.ndarray, sectors: list[str | None], symbols: list[str],
          sentiment: np.ndarray | None = None, config: Config = CONFIG) -> Trained:
    """Train the universe's models walk-forward, record them, and fit the final models on every known target."""
    oos, (x, y, scale, col) = walk_forward(closes, sectors, sentiment, config)
    lag = math.ceil(config.horizon / config.step)
    record = evaluate(oos.y, oos.model, oos.naive, oos.cols, lag)
    record.update({"from": _iso(days[oos.cols.min()]), "to": _iso(days[oos.cols.max()]), "folds": oos.folds})
    symbol_records = {}
    for i, symbol in enumerate(symbols):
        rows = oos.stocks == i
        if rows.sum() >= 20:
            symbol_records[symbol] = evaluate(oos.y[rows], oos.model[rows], oos.naive[rows], oos.cols[rows], lag)
    final = fit(x, y / scale, config)
    sentiment_share = float(np.isfinite(x[:, FEATURES.index("news_sentiment")]).mean())
    return Trained(models=final, config=config, record=record, symbol_records=symbol_records,
                   window=(int(days[col.min()]), int(days[col.max()])), rows=int(len(y)),
                   sentiment_share=sentiment_share)


def forecast_last(trained: Trained, closes: np.ndarray, sectors: list[str | None],
                  sentiment: np.ndarray | None = None) -> list[dict[str, Any] | None]:
    """Return, per stock, the forecast made at the panel's last column (None where it has no features)."""
    feats = features(closes, sectors, sentiment)
    last = closes.shape[1] - 1
    x, scale, _, _ = design(feats, np.array([last]))
    ok = np.isfinite(scale) & (scale > 0) & np.isfinite(closes[:, last])
    model_q = np.full((len(scale), 3), np.nan)
    model_q[ok] = predict(trained.models, x[ok], scale[ok])
    naive_q = naive(scale)
    out: list[dict[str, Any] | None] = []
    for i in range(len(scale)):
        if not ok[i]:
            out.append(None)
            continue
        price = float(closes[i, last])
        out.append({"price": _r(price, 6), "log_quantiles": [_r(v) for v in model_q[i]],
                    "quantiles": _named(np.expm1(model_q[i])), "band": _named(price * np.exp(model_q[i]), 4),
                    "naive": _named(np.expm1(naive_q[i])), "naive_band": _named(price * np.exp(naive_q[i]), 4)})
    return out


def fan(price: float, log_quantiles: list[float], horizon: int = HORIZON) -> list[dict[str, float]]:
    """Return the fan chart's path: each step's 10/50/90 % prices, the median drifting linearly and
    the spread widening with the square root of time (how a random walk's quantiles grow)."""
    q10, q50, q90 = log_quantiles
    out = []
    for step in range(horizon + 1):
        share = step / horizon
        root = math.sqrt(share)
        out.append({"step": step, "p10": price * math.exp(q50 * share + (q10 - q50) * root),
                    "p50": price * math.exp(q50 * share), "p90": price * math.exp(q50 * share + (q90 - q50) * root)})
    return out


def _sector_median(values: pd.DataFrame, sectors: list[str | None]) -> pd.DataFrame:
    labels = pd.Series([s or "" for s in sectors])
    out = pd.DataFrame(np.nan, index=values.index, columns=values.columns)
    for _, members in labels.groupby(labels).groups.items():
        idx = list(members)
        out.iloc[:, idx] = np.repeat(values.iloc[:, idx].median(axis=1).to_numpy()[:, None], len(idx), axis=1)
    return out


def _named(values: np.ndarray, digits: int = 6) -> dict[str, float]:
    return {f"p{round(q * 100)}": _r(float(v), digits) for q, v in zip(QUANTILES, values)}


def _iso(ordinal: Any) -> str:
    return date.fromordinal(int(ordinal)).isoformat()


def _r(value: float, digits: int = 6) -> float:
    return round(float(value), digits)
