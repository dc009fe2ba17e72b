"""Daily history: closed trading days are immutable, so they are persisted in `PriceBar`
and only the ranges never fetched before go to the providers."""
from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app import aio
from app.extensions import db
from app.market.service import chain_settings, client_on_loop, market_cache, utc_today
from app.market.types import Bar, MarketError
from app.models import PriceBar

_COVERAGE_TTL_S = 7 * 24 * 3600
_COVERAGE_SLACK_DAYS = 7  # a recorded range may start or end on a weekend or holiday


def history_for(symbol: str, start: date, end: date) -> dict[str, Any]:
    """Return `{"bars": [...], "stale": bool, "source": ...}` for start..end, oldest first."""
    cache = market_cache()
    key = f"history:{symbol}:{start.isoformat()}:{end.isoformat()}"
    hit = cache.get(key)
    if hit is not None and not hit.stale:
        return {**hit.value, "stale": False}
    try:
        value = _load(symbol, start, end)
    except MarketError:
        last = hit or cache.lastgood(key)
        if last is None:
            raise
        return {**last.value, "stale": True}
    cache.set(key, value, "history", keep_lastgood=True)
    return {**value, "stale": False}


def _load(symbol: str, start: date, end: date) -> dict[str, Any]:
    end = min(end, utc_today())
    gaps = missing_ranges(_coverage(symbol), start, end)
    source = None
    if gaps:
        names, settings = chain_settings()
        fetched = aio.run_sync(_fetch_gaps(names, settings, symbol, gaps),
                               timeout=settings["MARKET_BUDGET_S"] + 2)
        bars = [bar for chunk in fetched for bar in chunk]
        persist(symbol, bars, source=names[0] if len(names) == 1 else "chain")
        covered = _coverage(symbol)
        lo = min([start] + ([covered[0]] if covered else []))
        # Only closed days are stored, so only they count as covered; today is asked for again.
        hi = max([min(end, utc_today() - timedelta(days=1))] + ([covered[1]] if covered else []))
        if lo <= hi:
            remember_coverage(symbol, lo, hi)
    rows = db.session.scalars(select(PriceBar).where(PriceBar.symbol == symbol, PriceBar.day >= start,
                                                     PriceBar.day <= end).order_by(PriceBar.day)).all()
    if rows:
        source = rows[-1].source
    return {"bars": [{"date": r.day.isoformat(), "open": float(r.open), "high": float(r.high),
                      "low": float(r.low), "close": float(r.close), "volume": r.volume} for r in rows],
            "source": source}


def missing_ranges(covered: tuple[date, date] | None, start: date, end: date) -> list[tuple[date, date]]:
    """Return the parts of start..end outside the covered range (which stays contiguous)."""
    if start > end:
        return []
    if covered is None:
        return [(start, end)]
    lo, hi = covered
    gaps = []
    if start < lo:
        gaps.append((start, min(end, lo - timedelta(days=1))))
    if end > hi:
        gaps.append((max(start, hi + timedelta(days=1)), end))
    # Keep the coverage contiguous: a request beyond it also fetches the space in between.
    if start > hi:
        gaps = [(hi + timedelta(days=1), end)]
    if end < lo:
        gaps = [(start, lo - timedelta(days=1))]
    return gaps


def forget(symbol: str) -> int:
    """Drop the symbol's stored bars and cached histories (after a new split: they were as traded).

    The providers serve split-adjusted history; bars stored before the split are in the old
    shares, so they are fetched again on the next read. Returns the bars deleted.
    """
    deleted = db.session.execute(PriceBar.__table__.delete().where(PriceBar.symbol == symbol)).rowcount
    db.session.commit()
    cache = market_cache()
    cache.delete(f"bars-coverage:{symbol}")
    for kind in ("history", "closes"):
        cache.invalidate(f"{kind}:{symbol}:*")
    return int(deleted or 0)


def remember_coverage(symbol: str, lo: date, hi: date) -> None:
    """Record that every closed day of lo..hi has been fetched for `symbol`."""
    market_cache().set(f"bars-coverage:{symbol}", [lo.isoformat(), hi.isoformat()], _COVERAGE_TTL_S)


def cached_coverages(symbols: list[str]) -> dict[str, tuple[date, date]]:
    """Return the recorded fetched range of each symbol that has one in the cache.

    A record is believed only when the database holds bars near both of its ends: a fresh or
    restored database next to an older Redis must fetch again, not trust a range it lacks.
    """
    hits = market_cache().get_many(f"bars-coverage:{s}" for s in symbols)
    claimed = {key.split(":", 1)[1]: (date.fromisoformat(hit.value[0]), date.fromisoformat(hit.value[1]))
               for key, hit in hits.items()}
    if not claimed:
        return {}
    held: dict[str, tuple[date, date]] = {}
    names = list(claimed)
    for i in range(0, len(names), 500):
        rows = db.session.execute(select(PriceBar.symbol, func.min(PriceBar.day), func.max(PriceBar.day))
                                  .where(PriceBar.symbol.in_(names[i:i + 500])).group_by(PriceBar.symbol))
        held.update({symbol: (lo, hi) for symbol, lo, hi in rows})
    slack = timedelta(days=_COVERAGE_SLACK_DAYS)
    return {s: (lo, hi) for s, (lo, hi) in claimed.items()
            if s in held and held[s][0] <= lo + slack and held[s][1] >= hi - slack}


def _coverage(symbol: str) -> tuple[date, date] | None:
    hit = cached_coverages([symbol]).get(symbol)
    if hit is not None:
        return hit
    first = db.session.scalar(select(PriceBar.day).where(PriceBar.symbol == symbol).order_by(PriceBar.day).limit(1))
    if first is None:
        return None
    last = db.session.scalar(select(PriceBar.day).where(PriceBar.symbol == symbol)
                             .order_by(PriceBar.day.desc()).limit(1))
    return first, last


async def _fetch_gaps(names: tuple[str, ...], settings: Mapping[str, Any], symbol: str,
                      gaps: list[tuple[date, date]]) -> list[list[Bar]]:
    client = client_on_loop(names, settings)
    return list(await asyncio.gather(*(client.fetch_history(symbol, a, b) for a, b in gaps)))


def persist(symbol: str, bars: list[Bar], source: str, commit: bool = True) -> None:
    """Store the closed days among `bars` (days already stored are kept as they are)."""
    today = utc_today()
    rows = [{"symbol": symbol, "day": b.date, "open": Decimal(str(b.open)), "high": Decimal(str(b.high)),
             "low": Decimal(str(b.low)), "close": Decimal(str(b.close)), "volume": b.volume, "source": source}
            for b in bars if b.date < today]  # only closed days are immutable
    if not rows:
        return
    insert = pg_insert if db.engine.dialect.name == "postgresql" else sqlite_insert
    # One compiled statement run as an executemany: far cheaper than a fresh multi-row VALUES per chunk.
    statement = insert(PriceBar.__table__).on_conflict_do_nothing(index_elements=["symbol", "day"])
    db.session.connection().execute(statement, rows)
    if commit:
        db.session.commit()

