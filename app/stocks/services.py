"""Stock services: seeding the universe, search, quotes, batches and history."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from typing import Any

from flask_babel import gettext
from sqlalchemy import func, select

from app.extensions import db
from app.models import IndexMembership, Stock
from app.analysis import indicators as ta
from app.analysis.periods import FIRST_DAY, range_start, weekly
from app.market import bars as market_bars
from app.market import corporate
from app.market import research
from app.market.service import quotes_for, utc_today
from app.market.types import MarketError
from app.ops.errors import APIError
from app.stocks import search as universe_search
from app.universe import load_universe, search_key

_FIELDS = ("name", "country", "exchange", "currency", "sector", "industry", "isin")


def seed_universe() -> dict[str, int]:
    """Upsert every stock and index membership from pytickersymbols; idempotent. Returns counts."""
    records = load_universe()
    existing = {s.symbol: s for s in db.session.scalars(select(Stock)).all()}
    created = updated = memberships_added = memberships_removed = 0
    for record in records:
        stock = existing.get(record.symbol)
        values = {name: _fit(getattr(record, name), name) for name in _FIELDS}
        values["search_text"] = search_key(" ".join(filter(None, (record.symbol, record.name, record.isin))))
        if stock is None:
            stock = Stock(symbol=record.symbol, **values)
            db.session.add(stock)
            created += 1
        elif any(getattr(stock, key) != value for key, value in values.items()):
            for key, value in values.items():
                setattr(stock, key, value)
            updated += 1
        have = {m.index_name: m for m in stock.memberships}
        for index_name in record.indices:
            if index_name not in have:
                stock.memberships.append(IndexMembership(index_name=index_name))
                memberships_added += 1
        for index_name, membership in have.items():
            if index_name not in record.indices:
                stock.memberships.remove(membership)
                memberships_removed += 1
    db.session.commit()
    universe_search.reset_index()
    return {"stocks": len(records), "created": created, "updated": updated,
            "memberships_added": memberships_added, "memberships_removed": memberships_removed}


def _fit(value: str | None, column: str) -> str | None:
    # pytickersymbols' free-text fields can outgrow the column (PostgreSQL refuses, SQLite doesn't).
    if value is None:
        return None
    return value[: Stock.__table__.c[column].type.length]


def universe_summary() -> dict[str, Any]:
    """Return the number of stocks and the size of each index."""
    total = db.session.scalar(select(func.count(Stock.id))) or 0
    rows = db.session.execute(select(IndexMembership.index_name, func.count(IndexMembership.id))
                              .group_by(IndexMembership.index_name)
                              .order_by(IndexMembership.index_name)).all()
    countries = db.session.scalar(select(func.count(func.distinct(Stock.country)))) or 0
    return {"stocks": total, "countries": countries, "indices": [{"name": n, "count": c} for n, c in rows]}


MAX_BATCH = 50


def search(query: str, limit: int) -> list[dict[str, Any]]:
    """Return the stocks matching `query`, best first."""
    return universe_search.search_stocks(query, limit)


def canonical(symbol: str) -> str:
    """Return the canonical symbol or raise a 404 that names it."""
    clean = symbol.strip().upper()
    if len(clean) > 24 or universe_search.stock_row(clean) is None:
        raise APIError(404, gettext("Unknown symbol %(symbol)s: it is not in the stock universe.",
                                    symbol=repr(symbol[:24])), code="symbol_not_found")
    return clean


def quote(symbol: str) -> dict[str, Any]:
    """Return one quote; 404 for an unknown symbol, 503 when no provider answers and nothing is cached."""
    symbol = canonical(symbol)
    result = quotes_for([symbol])
    if symbol in result["quotes"]:
        return result["quotes"][symbol]
    raise _unavailable(result["errors"].get(symbol, {}))


def batch(symbols: list[str]) -> dict[str, Any]:
    """Return quotes for up to 50 symbols in one call to the core; bad symbols go to `errors`."""
    wanted = list(dict.fromkeys(s.strip().upper() for s in symbols if s.strip()))
    if len(wanted) > MAX_BATCH:
        raise APIError(400, gettext("At most %(count)s symbols per batch; %(given)s were given.", count=MAX_BATCH,
                                    given=len(wanted)), code="validation_error",
                       details={"fields": {"symbols": [gettext("At most %(count)s symbols.", count=MAX_BATCH)]}})
    known = [s for s in wanted if len(s) <= 24 and universe_search.stock_row(s) is not None]
    errors = {s[:24]: {"code": "symbol_not_found", "message": "not in the stock universe"}
              for s in wanted if s not in known}
    result = quotes_for(known) if known else {"quotes": {}, "errors": {}}
    errors.update(result["errors"])
    return {"quotes": result["quotes"], "errors": errors}


def history(symbol: str, range_name: str, interval: str) -> dict[str, Any]:
    """Return bars for a named range (daily, or folded into weeks), oldest first."""
    symbol = canonical(symbol)
    today = utc_today()
    try:
        data = market_bars.history_for(symbol, range_start(range_name, today), today)
    except MarketError as exc:
        raise _unavailable({"code": exc.code, "message": exc.message}) from None
    bars = data["bars"] if interval == "1d" else weekly(data["bars"])
    row = universe_search.stock_row(symbol)
    # The providers' history is split-adjusted (today's shares), the valuation's basis too.
    splits = [{"ex_date": sp.day.isoformat(), "ratio": _ratio_text(sp.ratio)}
              for sp in corporate.splits_for(None, [symbol])]
    return {"symbol": symbol, "currency": row.currency, "range": range_name, "interval": interval,
            "source": data.get("source"), "stale": data["stale"], "prices": "split_adjusted", "splits": splits,
            "bars": bars}


def with_session_bar(history: dict[str, Any], quote: dict[str, Any] | None) -> dict[str, Any]:
    """Return daily history whose last bar is the quote's session, so the chart agrees with the quote.

    A quote of a day after the last stored bar adds that day's bar so far (`partial`); a quote of
    the last bar's day brings that bar up to it. The quote's day is its time's UTC date; a quote
    stamped on a weekend (the demo replaying a session) belongs to the last bar's day.
    """
    bars = history["bars"]
    if not quote or not bars or quote.get("price") is None:
        return history
    stamped = datetime.fromisoformat(quote["ts"]).astimezone(timezone.utc).date()
    last = bars[-1]
    day = stamped.isoformat() if stamped.weekday() < 5 else last["date"]
    if day < last["date"]:
        return history
    price = quote["price"]
    opening = quote.get("open") if day > last["date"] else last["open"]
    opening = price if opening is None else opening
    same = day == last["date"]
    highs = (quote.get("day_high"), price, opening, last["high"] if same else None)
    lows = (quote.get("day_low"), price, opening, last["low"] if same else None)
    bar = {"date": day, "open": opening, "high": max(x for x in highs if x is not None),
           "low": min(x for x in lows if x is not None), "close": price,
           "volume": quote.get("volume") if quote.get("volume") is not None else last.get("volume"), "partial": True}
    return {**history, "bars": bars[:-1] + [bar] if same else bars + [bar]}


def _ratio_text(ratio: Decimal) -> str:
    """4 -> "4:1", 0.1 -> "1:10" (new shares : old shares)."""
    frac = Fraction(ratio).limit_denominator(10_000)
    return f"{frac.numerator}:{frac.denominator}"


# Extra history before a range so that even a 1-month chart has its 200-day average.
WARMUP_DAYS = 300


def indicators(symbol: str, range_name: str) -> dict[str, Any]:
    """Return RSI, MACD, moving averages and Bollinger bands for the range's days.

    They are computed over the range plus up to WARMUP_DAYS before it; a value that
    still lacks enough history is null.
    """
    symbol = canonical(symbol)
    today = utc_today()
    start = range_start(range_name, today)
    warmup_from = max(start - timedelta(days=WARMUP_DAYS), FIRST_DAY)
    try:
        data = market_bars.history_for(symbol, warmup_from, today)
    except MarketError as exc:
        raise _unavailable({"code": exc.code, "message": exc.message}) from None
    bars = data["bars"]
    series = ta.compute_all([b["close"] for b in bars])
    first = next((i for i, b in enumerate(bars) if b["date"] >= start.isoformat()), len(bars))
    return {"symbol": symbol, "range": range_name, "source": data.get("source"), "stale": data["stale"],
            "warmup_from": bars[0]["date"] if bars else None,
            "dates": [b["date"] for b in bars[first:]],
            **{name: values[first:] for name, values in series.items()}}


def profile(symbol: str) -> dict[str, Any]:
    """Return the company's fundamentals with their source and as-of time."""
    symbol = canonical(symbol)
    try:
        return {**research.profile_for(symbol), "symbol": symbol}
    except MarketError as exc:
        raise _unavailable({"code": exc.code, "message": exc.message}) from None


def news(symbol: str) -> dict[str, Any]:
    """Return recent headlines, each with a VADER sentiment score, and their aggregate."""
    symbol = canonical(symbol)
    try:
        return {"symbol": symbol, **research.news_for(symbol)}
    except MarketError as exc:
        raise _unavailable({"code": exc.code, "message": exc.message}) from None


def _unavailable(error: dict[str, str]) -> APIError:
    if error.get("code") == "symbol_not_found":
        return APIError(404, gettext("No provider knows this symbol."), code="symbol_not_found")
    return APIError(503, gettext("Market data is unavailable right now: every provider failed and nothing is "
                                 "cached. Try again shortly."), code="provider_unavailable",
                    details={"reason": error.get("message")}, headers={"Retry-After": "5"})
