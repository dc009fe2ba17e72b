"""Backtests of the growth score (top N of an index, monthly) that a request asks for and a worker computes.

The web side validates the request and reads the result (`computed`); the worker loads the
index's closes and news (`forecasts.load_panel`) and runs `app.analysis.backtest.run`, whose
docstring states the method and whose result lists its assumptions. Results are kept per
request (index, top, cost, dates, trials): closed days never change, so a result stays valid;
the newest KEEP_RESULTS are kept.
"""
from __future__ import annotations

import hashlib
import math
import time
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

import orjson
from flask import current_app
from flask_babel import gettext
from sqlalchemy import select

from app import computed
from app.analysis import backtest as engine
from app.extensions import db
from app.market.service import chain_settings, utc_today
from app.models import ComputedResult
from app.ops.errors import APIError, validation_error
from app.research.forecasts import load_panel
from app.research.services import members, resolve_universe

BACKTEST_TASK = "jobs.research.backtest"
BACKTEST_DIGEST = "backtest-v1"
DEFAULT_YEARS = 10
EARLIEST = date(2000, 1, 1)
MAX_YEARS = 30
KEEP_RESULTS = 100


@dataclass(frozen=True)
class BacktestRequest:
    """One backtest's parameters (validated)."""

    index: str
    top: int
    cost_bps: float
    start: date
    end: date
    trials: int | None = None

    @property
    def key(self) -> str:
        """Return the computed-result key: the parameters' digest."""
        return "backtest:" + hashlib.sha256(orjson.dumps(self.to_json())).hexdigest()[:32]

    def to_json(self) -> dict[str, Any]:
        """Return the parameters as a task argument."""
        return {**asdict(self), "start": self.start.isoformat(), "end": self.end.isoformat()}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> BacktestRequest:
        """Return the request a task was sent."""
        return cls(raw["index"], int(raw["top"]), float(raw["cost_bps"]), date.fromisoformat(raw["start"]),
                   date.fromisoformat(raw["end"]), raw.get("trials"))


def parse(args: dict[str, Any]) -> BacktestRequest:
    """Validate the API's arguments (`schemas.BacktestArgs`) into a request; 400 naming each bad field."""
    universe = resolve_universe(index=args["index"])
    today = utc_today()
    end = min(args.get("to") or today, today)
    errors: dict[str, list[str]] = {}
    if end <= EARLIEST:
        raise validation_error({"to": [gettext("Must be after %(day)s: the history starts then.",
                                               day=EARLIEST.isoformat())]})
    start = max(args.get("from") or end - timedelta(days=round(DEFAULT_YEARS * 365.25)), EARLIEST)
    if start >= end:
        errors["from"] = [gettext("Must be before the end date.")]
    elif _month_ends(start, end) < 2:
        errors["to"] = [gettext("The test needs at least two month-ends between its start and its end.")]
    elif (end - start).days > MAX_YEARS * 366:
        errors["from"] = [gettext("At most %(years)s years can be tested at once.", years=MAX_YEARS)]
    size = len(members(universe))
    if args["top"] > size:
        errors["top"] = [gettext("%(index)s has %(count)s stocks: pick at most that many.", index=universe.name,
                                 count=size)]
    trials = args.get("trials")
    if trials is not None and trials < len(_variants(args["top"], size)):
        errors["trials"] = [gettext("At least the %(count)s variants the test runs itself.",
                                    count=len(_variants(args["top"], size)))]
    if errors:
        raise validation_error(errors)
    return BacktestRequest(universe.name, args["top"], float(args["cost_bps"]), start, end, trials)


def backtest(args: dict[str, Any]) -> dict[str, Any]:
    """Return the backtest the arguments ask for; 503 `backtest_running` (queued) until a worker has run it."""
    request = parse(args)
    found = computed.get_or_request(request.key, BACKTEST_TASK, [request.to_json()],
                                    fresh=lambda c: c.digest == BACKTEST_DIGEST,
                                    inline=current_app.config["JOBS_INLINE_RESEARCH"], ttl_s=600.0)
    if found is None or found.digest != BACKTEST_DIGEST:
        raise APIError(503, gettext("The backtest is being computed by the background job. Try again in a moment."),
                       code="backtest_running", headers={"Retry-After": "10"})
    if "error" in found.payload:
        raise APIError(422, found.payload["error"], code="backtest_failed")
    return found.payload


def compute(request: BacktestRequest) -> dict[str, Any]:
    """Run and store one backtest (workers only); a request the data cannot answer stores its reason."""
    started = time.perf_counter()
    universe = resolve_universe(index=request.index)
    panel, _ = load_panel(universe, request.start - timedelta(days=engine.LOOKBACK_DAYS + 7), request.end)
    try:
        result = engine.run(panel, request.start, request.end, top=request.top, cost_bps=request.cost_bps,
                            variants=_variants(request.top, len(panel.symbols)), trials=request.trials)
        payload = {"index": universe.name, "simulated": chain_settings()[0][0] == "demo",
                   "stocks": len(panel.symbols), **result}
    except ValueError as exc:  # e.g. no closes that far back from the providers
        payload = {"error": gettext("This backtest cannot be run: %(reason)s", reason=str(exc))}
    seconds = round(time.perf_counter() - started, 2)
    computed.store(request.key, BACKTEST_DIGEST, payload, seconds)
    _prune()
    return {"key": request.key, "seconds": seconds, "failed": "error" in payload}


def _variants(top: int, size: int) -> list[int]:
    return sorted({n for n in (3, 5, 10, 15, 20, top) if n <= size})


def _month_ends(start: date, end: date) -> int:
    count, year, month = 0, start.year, start.month
    while True:
        last = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1))
        if last > end:
            return count
        count += last >= start
        year, month = year + month // 12, month % 12 + 1


def _prune() -> None:
    keys = db.session.scalars(select(ComputedResult.key).where(ComputedResult.key.startswith("backtest:"))
                              .order_by(ComputedResult.computed_at.desc()).offset(KEEP_RESULTS)).all()
    if keys:
        db.session.execute(db.delete(ComputedResult).where(ComputedResult.key.in_(keys)))
        db.session.commit()


def equity_chart(result: dict[str, Any], width: int = 720, height: int = 240, points: int = 360) -> dict[str, Any]:
    """Return the backtest page's equity curves as SVG coordinates (log scale, at most `points` a line)."""
    equity = result["equity"]
    n = len(equity["dates"])
    keep = sorted({round(i * (n - 1) / max(points - 1, 1)) for i in range(min(points, n))})
    lines = {name: [equity[name][i] for i in keep] for name in ("strategy", "benchmark")}
    logs = [math.log(v) for values in lines.values() for v in values if v and v > 0]
    lo, hi = (min(logs), max(logs)) if logs else (0.0, 1.0)
    pad = (hi - lo) * 0.06 or 0.05
    lo, hi = lo - pad, hi + pad
    left, right, top, bottom = 48, 8, 8, 22

    def xy(k: int, value: float) -> str:
        x = left + (width - left - right) * k / max(len(keep) - 1, 1)
        y = top + (height - top - bottom) * (hi - math.log(max(value, 1e-9))) / (hi - lo)
        return f"{x:.1f},{y:.1f}"

    ticks = [math.exp(lo + (hi - lo) * k / 4) for k in range(1, 4)]
    return {"width": width, "height": height, "left": left, "bottom": height - bottom,
            "strategy": " ".join(xy(k, v) for k, v in enumerate(lines["strategy"])),
            "benchmark": " ".join(xy(k, v) for k, v in enumerate(lines["benchmark"])),
            "ticks": [{"y": round(top + (height - top - bottom) * (hi - math.log(t)) / (hi - lo), 1), "value": t}
                      for t in ticks],
            "first": equity["dates"][0], "last": equity["dates"][-1]}
