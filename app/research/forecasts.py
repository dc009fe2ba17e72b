"""Forecasts per index: trained by the pipeline, stored with joblib, served from their stored predictions.

- **Training** (`train_universe`, workers only: `jobs.research.forecasts`) loads the index's
  daily closes of the last FORECAST_YEARS, trains the quantile models walk-forward
  (`app.analysis.forecast`) and stores them as a versioned joblib file under FORECAST_DIR.
  A model is retrained when it is older than JOBS_FORECASTS_PERIOD_S (weekly) or was trained
  by another definition (FORECAST_DIGEST).
- **Predictions** for every member at the last closed day are made by the same job with the
  stored model and kept as a computed result (`forecasts:<universe>`); the job's schedule
  re-predicts after each new close. A web request only reads that result: training and
  prediction never run in a web process, and a forecast is served in well under a millisecond.
- **Before the first training** the API answers 503 `not_yet_trained` with a Retry-After and the
  training is queued, as the scores are (`app.computed`).
"""
from __future__ import annotations

import re
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import structlog
from flask import current_app
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from prometheus_client import Counter
from sqlalchemy import func, select

from app import computed
from app.analysis import forecast as model
from app.analysis.backtest import Panel
from app.analysis.score import align_closes
from app.extensions import db
from app.market.research import closes_for, news_of
from app.market.service import chain_settings, utc_today
from app.models import IndexMembership, PriceBar, Stock
from app.ops.errors import APIError
from app.research.services import Universe, home_universe, members
from app.stocks.services import canonical

log = structlog.get_logger(__name__)
FORECAST_TASK = "jobs.research.forecasts"
FORECAST_DIGEST = "forecast-v1"  # bump when features, target or model change: models are retrained
KEEP_VERSIONS = 3
TRAININGS = Counter("tickerdesk_forecast_trainings_total", "Forecast model trainings run in this process",
                    ["universe"])
SENTIMENT_WINDOW_DAYS = 7
DISCLAIMER = _l("Hypothetical: a statistical model's forecast, evaluated on past data only. "
              "It is not investment advice, and past accuracy does not promise future accuracy.")


def load_panel(universe: Universe, start: date, end: date) -> tuple[Panel, np.ndarray]:
    """Read (fetching what was never stored) the universe's closes and news into aligned arrays.

    Returns the panel and its (N, T) news sentiment known on each day (NaN: none); the panel's
    `sentiment` reads the same matrix by day.
    """
    rows = members(universe)
    symbols = [r["symbol"] for r in rows]
    days, closes = align_closes(symbols, closes_for(symbols, start, end))
    news = news_of(symbols)
    events = [[(datetime.fromisoformat(item["published_at"]).date().toordinal(), float(item["sentiment"]))
               for item in news.get(s, {}).get("items", []) if item.get("sentiment") is not None] for s in symbols]
    sentiment = model.sentiment_matrix(days, events, SENTIMENT_WINDOW_DAYS)

    def known_on(day: int) -> np.ndarray:
        col = int(np.searchsorted(days, day, side="right")) - 1
        return sentiment[:, col] if col >= 0 else np.full(len(symbols), np.nan)

    return Panel(symbols, days, closes, [r["sector"] for r in rows], known_on), sentiment


# -- worker side -------------------------------------------------------------------------------

def train_universe(universe: Universe, force: bool = False) -> dict[str, Any]:
    """Train (when due) and predict one index; store the predictions. Workers and the CLI only."""
    started = time.perf_counter()
    today = utc_today()
    years = current_app.config["FORECAST_YEARS"]  # ten years of origins after the first year's look-back
    panel, sentiment = load_panel(universe, today - timedelta(days=round(years * 365.25)), today)
    stored = None if force else _load_model(universe)
    trained_now = stored is None
    if stored is None:
        TRAININGS.labels(universe.label).inc()
        try:
            trained = model.train(panel.days, panel.closes, panel.sectors, panel.symbols, sentiment)
        except ValueError as exc:  # too little history: say so until the next period, not retry each page view
            computed.store(result_key(universe), FORECAST_DIGEST, {"universe": universe.label, "error": str(exc)},
                           round(time.perf_counter() - started, 2))
            log.warning("forecasts_untrainable", universe=universe.label, reason=str(exc))
            return {"universe": universe.label, "trained": False, "error": str(exc)}
        stored = _save_model(universe, trained)
    trained, version, trained_at = stored["trained"], stored["version"], stored["trained_at"]
    predictions = model.forecast_last(trained, panel.closes, panel.sectors, sentiment)
    as_of = date.fromordinal(int(panel.days[-1])).isoformat()
    payload = {"universe": universe.label, "as_of": as_of, "simulated": chain_settings()[0][0] == "demo",
               "model": {**trained.card(), "version": version, "trained_at": trained_at, "universe": universe.label},
               "record": trained.record,
               "items": {symbol: {**p, "record": trained.symbol_records.get(symbol)}
                         for symbol, p in zip(panel.symbols, predictions) if p is not None}}
    seconds = round(time.perf_counter() - started, 2)
    computed.store(result_key(universe), FORECAST_DIGEST, payload, seconds)
    log.info("forecasts_stored", universe=universe.label, trained=trained_now, seconds=seconds,
             beats_naive=trained.record["beats_naive"])
    return {"universe": universe.label, "trained": trained_now, "version": version, "seconds": seconds,
            "items": len(payload["items"])}


def due(universe: Universe) -> bool:
    """Return whether the index's model is past its period or its predictions older than its last close."""
    found = computed.read(result_key(universe))
    if found is None or found.digest != FORECAST_DIGEST:
        return True
    untrainable = "error" in found.payload  # tried again after a period: the history grows
    trained_at = found.computed_at if untrainable else datetime.fromisoformat(found.payload["model"]["trained_at"])
    if (datetime.now(timezone.utc) - trained_at).total_seconds() >= current_app.config["JOBS_FORECASTS_PERIOD_S"]:
        return True
    if untrainable:
        return False
    last_close = db.session.scalar(select(func.max(PriceBar.day)).join(Stock, Stock.symbol == PriceBar.symbol)
                                   .join(IndexMembership).where(IndexMembership.index_name == universe.name))
    return last_close is not None and last_close.isoformat() > found.payload["as_of"]


def trained_universes() -> list[Universe]:
    """Return the indices that have stored forecasts (the schedule keeps those current)."""
    out = []
    for key in computed.keys("forecasts:index:"):
        out.append(Universe("index", key.removeprefix("forecasts:index:")))
    return out


def result_key(universe: Universe) -> str:
    """Return the computed-result key of an index's forecasts."""
    return f"forecasts:{universe.key}"


# -- web side ----------------------------------------------------------------------------------

def stock_forecast(symbol: str) -> dict[str, Any]:
    """Return one stock's 20-day forecast with its record and model card (never computes)."""
    symbol = canonical(symbol)
    universe = home_universe(symbol)
    if universe.kind != "index":
        raise APIError(404, gettext("Forecasts are trained per index, and %(symbol)s is in none.", symbol=symbol),
                       code="no_forecast")
    found = computed.get_or_request(result_key(universe), FORECAST_TASK, [universe.name], fresh=_fresh,
                                    inline=current_app.config["JOBS_INLINE_RESEARCH"], ttl_s=900.0)
    if found is None:
        raise APIError(503, gettext("The forecasts of %(universe)s are being trained by the background job. "
                                    "Try again in a few minutes.", universe=universe.label),
                       code="not_yet_trained", headers={"Retry-After": "60"})
    table = found.payload
    if "error" in table:
        raise APIError(404, gettext("The forecasts of %(universe)s cannot be trained: %(reason)s",
                                    universe=universe.label, reason=table["error"]), code="no_forecast")
    item = table["items"].get(symbol)
    if item is None:
        raise APIError(404, gettext("%(symbol)s has too little history for a forecast.", symbol=symbol),
                       code="no_forecast")
    record = table["record"]
    return {"symbol": symbol, "universe": table["universe"], "as_of": table["as_of"],
            "horizon_days": model.HORIZON, "price": item["price"], "quantiles": item["quantiles"],
            "band": item["band"], "naive": item["naive"], "naive_band": item["naive_band"],
            "fan": model.fan(item["price"], item["log_quantiles"]), "record": record,
            "symbol_record": item["record"], "beats_naive": record["beats_naive"],
            "verdict": "skill" if record["beats_naive"] else "no_skill", "simulated": table["simulated"],
            "model": table["model"], "disclaimer": str(DISCLAIMER)}


def _fresh(found: computed.Computed) -> bool:
    # The schedule re-predicts after each close; this only catches forecasts nobody refreshed for a day.
    age = (datetime.now(timezone.utc) - found.computed_at).total_seconds()
    return found.digest == FORECAST_DIGEST and age < 86400


# -- model files -------------------------------------------------------------------------------

def _model_dir(universe: Universe) -> Path:
    slug = re.sub(r"[^a-z0-9]+", "-", universe.label.lower()).strip("-")
    return Path(current_app.config["FORECAST_DIR"]) / slug


def _load_model(universe: Universe) -> dict[str, Any] | None:
    """Return the newest stored model of the index if it is of this definition and within its period."""
    import joblib  # noqa: PLC0415

    folder = _model_dir(universe)
    for path in sorted(folder.glob("*.joblib"), reverse=True):
        try:
            stored = joblib.load(path)
        except Exception as exc:  # noqa: BLE001 - a damaged or foreign file: train anew
            log.warning("forecast_model_unreadable", path=path.name, error=type(exc).__name__)
            continue
        if stored.get("digest") != FORECAST_DIGEST:
            continue
        age = (datetime.now(timezone.utc) - datetime.fromisoformat(stored["trained_at"])).total_seconds()
        return stored if age < current_app.config["JOBS_FORECASTS_PERIOD_S"] else None
    return None


def _save_model(universe: Universe, trained: model.Trained) -> dict[str, Any]:
    """Write a new version (atomically) and keep the newest KEEP_VERSIONS."""
    import joblib  # noqa: PLC0415

    now = datetime.now(timezone.utc)
    version = now.strftime("%Y%m%dT%H%M%S%fZ")
    stored = {"digest": FORECAST_DIGEST, "version": version, "trained_at": now.isoformat(),
              "universe": universe.label, "trained": trained}
    folder = _model_dir(universe)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{version}.tmp"
    joblib.dump(stored, tmp, compress=3)
    tmp.replace(folder / f"{version}.joblib")
    for old in sorted(folder.glob("*.joblib"), reverse=True)[KEEP_VERSIONS:]:
        old.unlink(missing_ok=True)
    return stored


def fan_chart(symbol: str, forecast: dict[str, Any], width: int = 640, height: int = 220,
              history_days: int = 60) -> dict[str, Any]:
    """Return the stock page's fan chart as SVG coordinates: the last closes, then the forecast's 10-90 %
    band and median and the naive band, over the next `horizon_days` trading days."""
    today = utc_today()
    series = closes_for([symbol], today - timedelta(days=history_days * 2), today).get(symbol) or {"c": []}
    closes = [float(c) for c in series["c"][-history_days:]] or [forecast["price"]]
    steps = forecast["fan"]
    naive_log = [float(np.log1p(forecast["naive"][k])) for k in ("p10", "p50", "p90")]
    naive = model.fan(forecast["price"], naive_log, forecast["horizon_days"])
    values = closes + [p[k] for p in steps + naive for k in ("p10", "p90")]
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.08 or 1.0
    lo, hi = lo - pad, hi + pad
    n_x = len(closes) - 1 + len(steps) - 1
    left, right, top, bottom = 48, 8, 8, 22

    def x(i: float) -> float:
        return round(left + (width - left - right) * i / max(n_x, 1), 1)

    def y(v: float) -> float:
        return round(top + (height - top - bottom) * (hi - v) / (hi - lo), 1)

    start = len(closes) - 1

    def band(path: list[dict[str, float]]) -> str:
        upper = [f"{x(start + p['step'])},{y(p['p90'])}" for p in path]
        lower = [f"{x(start + p['step'])},{y(p['p10'])}" for p in reversed(path)]
        return " ".join(upper + lower)

    ticks = [lo + (hi - lo) * k / 4 for k in range(1, 4)]
    return {"width": width, "height": height, "split_x": x(start),
            "history": " ".join(f"{x(i)},{y(v)}" for i, v in enumerate(closes)),
            "band": band(steps), "naive_band": band(naive),
            "median": " ".join(f"{x(start + p['step'])},{y(p['p50'])}" for p in steps),
            "ticks": [{"y": y(t), "value": t} for t in ticks], "left": left, "bottom": height - bottom,
            "history_days": len(closes), "horizon_days": forecast["horizon_days"]}
