"""Growth scores per universe (an index, a country or every stock), rankings and the screener."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from flask import current_app
from flask_babel import gettext
from prometheus_client import Counter
from sqlalchemy import select

from app import computed

from app.analysis.score import WEIGHTS, build_inputs, growth_scores
from app.extensions import db
from app.market.research import closes_for, fx_rates, profiles_for, sentiments_for
from app.market.service import chain_settings, utc_today
from app.models import IndexMembership, Stock
from app.ops.errors import APIError, validation_error
from app.stocks.services import canonical
from app.universe import INDEX_NAMES

# Enough calendar days for a 12-month return and a 200-day average.
HISTORY_DAYS = 400
# The universe a single stock is compared in: its first home index from this list.
PREFERRED_INDICES = ("DAX", "MDAX", "SDAX", "S&P 500", "NASDAQ 100", "FTSE 100", "CAC 40", "NIKKEI 225")
SCORE_TASK = "jobs.scores.universe"
SCORE_DIGEST = "scores-v1"  # bump when the score's definition changes: stored tables are then recomputed
SCORE_COMPUTATIONS = Counter("tickerdesk_score_computations_total", "Universe scorings run in this process",
                             ["universe"])
SCREEN_SORTS = ("score", "symbol", "name", "pe_ratio", "market_cap_usd", "dividend_yield")


@dataclass(frozen=True)
class Universe:
    """The set of stocks scores are compared within."""

    kind: str  # "index" | "country" | "all"
    name: str | None = None

    @property
    def label(self) -> str:
        """Return a display name ("DAX", "Germany", "All stocks")."""
        return self.name or "All stocks"

    @property
    def key(self) -> str:
        """Return the cache key part."""
        return f"{self.kind}:{self.name or '*'}"


def _shown_label(universe: Universe) -> str:
    """The universe's name in a message: an index or a country as named, "All stocks" in the page's language."""
    return universe.name or gettext("All stocks")


def resolve_universe(index: str | None = None, country: str | None = None) -> Universe:
    """Return the named universe; 400 naming the allowed values for an unknown index or country."""
    if index and country:
        raise validation_error({"index": [gettext("Give an index or a country, not both.")]})
    if index:
        match = {name.lower(): name for name in INDEX_NAMES}.get(index.strip().lower())
        if match is None:
            raise validation_error({"index": [gettext("Unknown index. Allowed: %(allowed)s.",
                                                      allowed=", ".join(INDEX_NAMES))]})
        return Universe("index", match)
    if country:
        match = {name.lower(): name for name in countries()}.get(country.strip().lower())
        if match is None:
            raise validation_error({"country": [gettext("Unknown country. Allowed: %(allowed)s.",
                                                        allowed=", ".join(countries()))]})
        return Universe("country", match)
    return Universe("all")


def countries() -> list[str]:
    """Return every country in the universe, sorted."""
    return sorted(c for c in db.session.scalars(select(Stock.country).distinct()) if c)


def home_universe(symbol: str) -> Universe:
    """Return the index a stock is compared in by default."""
    indices = set(db.session.scalars(select(IndexMembership.index_name).join(Stock)
                                     .where(Stock.symbol == symbol)))
    for name in PREFERRED_INDICES + INDEX_NAMES:
        if name in indices:
            return Universe("index", name)
    return Universe("all")


def members(universe: Universe) -> list[dict[str, Any]]:
    """Return `{symbol, name, sector, country, currency}` of every stock in the universe."""
    query = select(Stock.symbol, Stock.name, Stock.sector, Stock.country, Stock.currency).order_by(Stock.symbol)
    if universe.kind == "index":
        query = query.join(IndexMembership).where(IndexMembership.index_name == universe.name)
    elif universe.kind == "country":
        query = query.where(Stock.country == universe.name)
    return [dict(row._mapping) for row in db.session.execute(query)]


def score_table(universe: Universe) -> dict[str, Any]:
    """Return every member's score, best first, as the pipeline last computed it.

    Never computes (README "Background jobs"): the scores job rescores each index on its
    schedule, and a universe with no scores yet (or old ones) is queued for the worker.
    Before its first scoring: 503 `not_yet_scored` with a Retry-After.
    """
    found = computed.get_or_request(f"scores:{universe.key}", SCORE_TASK, [universe.kind, universe.name],
                                    fresh=_scores_fresh)
    if found is None:
        raise APIError(503, gettext("%(universe)s has not been scored yet: the background job is scoring it now. "
                                    "Try again in a minute.", universe=_shown_label(universe)),
                       code="not_yet_scored", headers={"Retry-After": "30"})
    return found.payload


def compute_scores(universe: Universe) -> dict[str, Any]:
    """Fetch (or read cached) history, fundamentals and news for a universe and score it (workers only)."""
    SCORE_COMPUTATIONS.labels(universe.label).inc()
    return score_rows(members(universe), universe.label)


def score_rows(rows: list[dict[str, Any]], label: str) -> dict[str, Any]:
    """Score the given stocks (`members()` rows) against each other, best first."""
    symbols = [r["symbol"] for r in rows]
    today = utc_today()
    closes = closes_for(symbols, today - timedelta(days=HISTORY_DAYS), today)
    profiles = profiles_for(symbols)
    sentiments = sentiments_for(symbols)
    inputs = build_inputs(symbols, closes, profiles, sentiments, {r["symbol"]: r["sector"] for r in rows})
    by_symbol = {r["symbol"]: r for r in rows}
    items = [{**s, "name": by_symbol[s["symbol"]]["name"]} for s in growth_scores(inputs)]
    items.sort(key=lambda item: (-item["score"], item["symbol"]))
    for rank, item in enumerate(items, start=1):
        item["rank"] = rank
    return {"universe": label, "weights": WEIGHTS, "as_of": datetime.now(timezone.utc).isoformat(),
            "simulated": _simulated(), "count": len(items), "items": items}


def stock_score(symbol: str, index: str | None = None, country: str | None = None) -> dict[str, Any]:
    """Return one stock's score within its home index (or the universe asked for)."""
    symbol = canonical(symbol)
    universe = resolve_universe(index, country) if index or country else home_universe(symbol)
    table = score_table(universe)
    for item in table["items"]:
        if item["symbol"] == symbol:
            return {**item, "universe": table["universe"], "of": table["count"], "weights": table["weights"],
                    "as_of": table["as_of"], "simulated": table["simulated"]}
    raise APIError(404, gettext("%(symbol)s is not part of %(universe)s; compare it within an index it belongs to.",
                                symbol=symbol, universe=_shown_label(universe)), code="not_in_universe")


def rankings(index: str | None, country: str | None, limit: int) -> dict[str, Any]:
    """Return the top stocks of a universe by growth score."""
    table = score_table(resolve_universe(index, country))
    return {**{k: table[k] for k in ("universe", "weights", "as_of", "simulated", "count")},
            "items": table["items"][:limit]}


def screen(filters: dict[str, Any]) -> dict[str, Any]:
    """Return the stocks of a universe that pass every filter, sorted stably (ties by symbol)."""
    universe = resolve_universe(filters.get("index"), filters.get("country"))
    table = score_table(universe)
    rows = {r["symbol"]: r for r in members(universe)}
    profiles = profiles_for(rows)
    rates = fx_rates({r["currency"] for r in rows.values()}, "USD")
    results = []
    for item in table["items"]:
        row, profile = rows[item["symbol"]], profiles.get(item["symbol"], {})
        cap, rate = profile.get("market_cap"), rates.get(row["currency"])
        result = {"symbol": item["symbol"], "name": row["name"], "sector": row["sector"],
                  "country": row["country"], "currency": row["currency"], "score": item["score"],
                  "confidence": item["confidence"], "pe_ratio": profile.get("pe_ratio"),
                  "market_cap": cap, "market_cap_usd": cap * rate if cap is not None and rate else None,
                  "dividend_yield": profile.get("dividend_yield")}
        if _passes(result, filters):
            results.append(result)
    sort = filters.get("sort") or "-score"
    field, descending = sort.lstrip("-"), sort.startswith("-")
    results.sort(key=lambda r: r["symbol"])  # the tie-break; Python's sort is stable
    known = [r for r in results if r[field] is not None]
    known.sort(key=lambda r: r[field], reverse=descending)
    results = known + [r for r in results if r[field] is None]  # unknown values last, either way
    limit = filters.get("limit") or 50
    return {"universe": table["universe"], "as_of": table["as_of"], "simulated": table["simulated"],
            "count": len(results), "sort": sort, "items": results[:limit]}


def refresh_scores(universes: list[Universe]) -> list[dict[str, Any]]:
    """Recompute and store the scores of each universe (workers and the CLI); returns `{universe, count, seconds}`."""
    out = []
    for universe in universes:
        started = time.perf_counter()
        table = compute_scores(universe)
        seconds = round(time.perf_counter() - started, 2)
        computed.store(f"scores:{universe.key}", SCORE_DIGEST, table, seconds)
        out.append({"universe": universe.label, "count": table["count"], "seconds": seconds})
    return out


def universe_from_key(kind: str, name: str | None) -> Universe:
    """Return the universe a scores task names (`Universe.kind`, `Universe.name`), validated."""
    if kind == "index":
        return resolve_universe(index=name)
    if kind == "country":
        return resolve_universe(country=name)
    return Universe("all")


def stored_universes() -> list[Universe]:
    """Return the universes that have stored scores (indices, and countries or all stocks once asked for)."""
    out = []
    for key in computed.keys("scores:"):
        kind, _, name = key.removeprefix("scores:").partition(":")
        try:
            out.append(universe_from_key(kind, None if name == "*" else name))
        except APIError:
            continue  # a country that left the universe
    return out


def _scores_fresh(found: computed.Computed) -> bool:
    # Indices are rescored by the schedule; this only catches scores nobody has refreshed for long
    # (a country asked for once), at twice the closed-market pace.
    age = (datetime.now(timezone.utc) - found.computed_at).total_seconds()
    return found.digest == SCORE_DIGEST and age < 2 * float(current_app.config["JOBS_SCORES_CLOSED_S"])


def _passes(row: dict[str, Any], filters: dict[str, Any]) -> bool:
    checks = (("sector", lambda v, f: (v or "").lower() == f.lower()),
              ("pe_max", lambda v, f: v is not None and 0 < v <= f, "pe_ratio"),
              ("market_cap_min", lambda v, f: v is not None and v >= f, "market_cap_usd"),
              ("dividend_yield_min", lambda v, f: v is not None and v >= f, "dividend_yield"),
              ("score_min", lambda v, f: v is not None and v >= f, "score"))
    for check in checks:
        name, test = check[0], check[1]
        wanted = filters.get(name)
        if wanted is None or (isinstance(wanted, float) and math.isnan(wanted)):
            continue
        if not test(row[check[2] if len(check) > 2 else name], wanted):
            return False
    return True


def _simulated() -> bool:
    return chain_settings()[0][0] == "demo"
