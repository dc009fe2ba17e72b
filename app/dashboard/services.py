"""The signed-in home page: the portfolio now, movers, a watchlist, alerts, top scores, markets and news.

Everything here reads what the pipeline keeps warm (quotes, scores, news in the cache) in one
batch call per kind; a part that cannot be had right now says why and the rest still shows.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import structlog
from flask import current_app
from flask_babel import gettext

from app.alerts import services as alert_services
from app.market import research
from app.market.hours import CALENDARS, exchange_status
from app.market.service import quotes_for
from app.models import User
from app.ops.errors import APIError
from app.portfolio import services as portfolio_services
from app.research import services as research_services
from app.stocks.search import stock_row
from app.watchlist import services as watchlist_services

log = structlog.get_logger(__name__)

MOVERS, WATCH_ROWS, ALERT_ROWS, TOP_ROWS, NEWS_ROWS, NEWS_HOLDINGS = 6, 8, 5, 5, 6, 5
MAX_SYMBOLS = 100  # holdings and watchlist items priced for the movers, at most
# Shown even when nothing the user follows trades there: the home exchanges of the original users.
HOME_EXCHANGES = ("XETR", "XNYS")
EXCHANGE_NAMES = {code: name for name, code in CALENDARS.items()}


@dataclass
class Part:
    """One card's data, or the reason it is missing."""

    data: Any = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def home(user: User) -> dict[str, Any]:
    """Return every card of the dashboard for `user`; `first_run` when there is nothing of theirs yet."""
    portfolio = _portfolio(user)
    held = [h["symbol"] for h in (portfolio.data or {}).get("holdings", [])]
    lists = watchlist_services.watchlists(user.id)
    watched = list(dict.fromkeys(item.symbol for w in lists for item in w.items))
    symbols = list(dict.fromkeys(held + watched))[:MAX_SYMBOLS]
    batch = quotes_for(symbols) if symbols else {"quotes": {}, "errors": {}}
    alerts = alert_services.alerts(user.id)
    return {
        "first_run": not held and not watched and not portfolio_services.transactions(user.id),
        "portfolio": portfolio,
        "movers": _movers(symbols, set(held), batch["quotes"]),
        # The first list that has stocks on it (every account starts with an empty one).
        "watchlist": _watchlist(next((w for w in lists if w.items), lists[0] if lists else None), batch),
        "alerts": {"fired": sorted((a for a in alerts if a.triggered_at), key=lambda a: a.triggered_at,
                                   reverse=True)[:ALERT_ROWS],
                   "active": [a for a in alerts if a.active][:ALERT_ROWS], "count": len(alerts)},
        "top": _top(portfolio_services.benchmark_index(user)),
        "markets": market_hours(symbols),
        "news": _news(held[:NEWS_HOLDINGS]),
    }


def _portfolio(user: User) -> Part:
    try:
        return Part(portfolio_services.portfolio(user))
    except APIError as exc:  # FX or prices unavailable: the other cards still show
        return Part(error=exc.message)


def _movers(symbols: list[str], held: set[str], quotes: dict[str, Any]) -> list[dict[str, Any]]:
    """Holdings and watched stocks that moved most today, by the size of their move."""
    rows = [{"symbol": s, "name": _name(s), "held": s in held, **_quote_fields(quotes[s])}
            for s in symbols if s in quotes and quotes[s].get("change_pct") is not None]
    rows.sort(key=lambda r: (-abs(r["change_pct"]), r["symbol"]))
    return rows[:MOVERS]


def _watchlist(watchlist: Any, batch: dict[str, Any]) -> dict[str, Any] | None:
    if watchlist is None:
        return None
    items = [item.symbol for item in watchlist.items]
    rows = [{"symbol": s, "name": _name(s), **(_quote_fields(batch["quotes"][s]) if s in batch["quotes"] else
                                               {"error": batch["errors"].get(s, {}).get("message")})}
            for s in items[:WATCH_ROWS]]
    return {"id": watchlist.id, "name": watchlist.name, "rows": rows, "more": max(0, len(items) - WATCH_ROWS)}


def _quote_fields(quote: dict[str, Any]) -> dict[str, Any]:
    return {k: quote.get(k) for k in ("price", "change", "change_pct", "currency", "day_high", "day_low",
                                      "stale", "source")}


def _top(index: str) -> Part:
    """The best growth scores of the user's benchmark index, as the pipeline last computed them."""
    try:
        table = research_services.rankings(index, None, TOP_ROWS)
    except APIError as exc:  # not scored yet (first minutes of an install): the job is on it
        return Part(error=exc.message, extra={"index": index})
    return Part(table, extra={"index": index})


def market_hours(symbols: list[str]) -> dict[str, Any]:
    """Whether each exchange the user follows (and the home ones) trades now, and when that changes."""
    codes = dict.fromkeys(HOME_EXCHANGES)
    for symbol in symbols:
        row = stock_row(symbol)
        if row is not None and row.exchange in CALENDARS:
            codes[CALENDARS[row.exchange]] = None
    now = datetime.now(timezone.utc)
    rows = []
    for code in codes:
        try:
            status = exchange_status(code, now)
        except Exception as exc:  # noqa: BLE001 - a calendar past its range must not take the page down
            log.warning("dashboard_calendar_failed", exchange=code, error=type(exc).__name__)
            continue
        rows.append({**status, "name": EXCHANGE_NAMES.get(code, code),
                     "next_change": datetime.fromisoformat(status["next_change"])})
    cfg = current_app.config
    simulated = bool(cfg.get("DEMO_ALWAYS_OPEN")) and list(cfg.get("MARKET_PROVIDERS") or [])[:1] == ["demo"]
    return {"exchanges": rows, "simulated": simulated}


def _news(symbols: list[str]) -> Part:
    """The latest headlines on the largest holdings, newest first, each headline once."""
    if not symbols:
        return Part([])
    found = research.news_of(symbols)
    seen: set[str] = set()
    items = []
    for symbol, payload in found.items():
        for item in payload["items"]:
            key = research.headline_key(item["headline"])
            if key not in seen:
                seen.add(key)
                items.append({**item, "symbol": symbol})
    items.sort(key=lambda i: i["published_at"], reverse=True)
    missing = [s for s in symbols if s not in found]
    return Part(items[:NEWS_ROWS], error=gettext("No news could be read for %(symbols)s right now.",
                                                 symbols=", ".join(missing)) if missing and not items else None)


def _name(symbol: str) -> str:
    row = stock_row(symbol)
    return row.name if row is not None else symbol
