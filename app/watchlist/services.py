"""Watchlist services: every query is scoped to the owner; another user's id is a 404."""
from __future__ import annotations

from typing import Any

from flask_babel import gettext
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.market.service import quotes_for
from app.models import Watchlist, WatchlistItem
from app.ops.errors import APIError, validation_error
from app.research import services as research
from app.stocks.search import stock_row
from app.stocks.services import canonical

MAX_WATCHLISTS = 20
MAX_ITEMS = 100


def watchlists(user_id: int) -> list[Watchlist]:
    """Return the user's watchlists in their order."""
    return list(db.session.scalars(select(Watchlist).where(Watchlist.user_id == user_id)
                                   .order_by(Watchlist.position, Watchlist.id)))


def get_watchlist(user_id: int, watchlist_id: int) -> Watchlist:
    """Return one of the user's watchlists, or a 404 (also for another user's id)."""
    found = db.session.scalar(select(Watchlist).where(Watchlist.id == watchlist_id, Watchlist.user_id == user_id))
    if found is None:
        raise APIError(404, gettext("No such watchlist."), code="not_found")
    return found


def create_watchlist(user_id: int, name: str) -> Watchlist:
    """Create a watchlist at the end of the user's list; 409 if the name is taken."""
    name = _clean_name(name)
    count = db.session.scalar(select(func.count(Watchlist.id)).where(Watchlist.user_id == user_id)) or 0
    if count >= MAX_WATCHLISTS:
        raise APIError(409, gettext("At most %(count)s watchlists per account.", count=MAX_WATCHLISTS),
                       code="limit_reached")
    watchlist = Watchlist(user_id=user_id, name=name, position=count)
    db.session.add(watchlist)
    _commit_unique(_taken(name))
    return watchlist


def update_watchlist(user_id: int, watchlist_id: int, name: str | None = None, position: int | None = None,
                     order: list[str] | None = None) -> Watchlist:
    """Rename a watchlist, move it among the user's lists, or reorder its items; 409 if the name is taken."""
    watchlist = get_watchlist(user_id, watchlist_id)
    if name is not None:
        name = _clean_name(name)
        taken = db.session.scalar(select(Watchlist.id).where(
            Watchlist.user_id == user_id, Watchlist.name == name, Watchlist.id != watchlist.id))
        if taken is not None:
            raise APIError(409, _taken(name), code="already_exists")
    # No flush before the commit: the queries below would otherwise write the new name early,
    # and a name taken meanwhile would fail there, outside the commit that answers it with a 409.
    with db.session.no_autoflush:
        if name is not None:
            watchlist.name = name
        if position is not None:
            lists = [w for w in watchlists(user_id) if w.id != watchlist.id]
            lists.insert(max(0, min(position, len(lists))), watchlist)
            for index, item in enumerate(lists):
                item.position = index
        if order is not None:
            have = {item.symbol: item for item in watchlist.items}
            wanted = [s.strip().upper() for s in order]
            if sorted(wanted) != sorted(have):
                db.session.rollback()
                raise validation_error({"order": [gettext("List every symbol of the watchlist exactly once.")]})
            for index, symbol in enumerate(wanted):
                have[symbol].position = index
    _commit_unique(_taken(name))
    db.session.refresh(watchlist)
    return watchlist


def delete_watchlist(user_id: int, watchlist_id: int) -> None:
    """Delete a watchlist and its items."""
    db.session.delete(get_watchlist(user_id, watchlist_id))
    db.session.commit()


def add_item(user_id: int, watchlist_id: int, symbol: str) -> WatchlistItem:
    """Add a universe symbol at the end of a watchlist; 409 if it is already there."""
    watchlist = get_watchlist(user_id, watchlist_id)
    symbol = canonical(symbol)
    if any(item.symbol == symbol for item in watchlist.items):
        raise APIError(409, _already_on(symbol, watchlist.name), code="already_exists")
    if len(watchlist.items) >= MAX_ITEMS:
        raise APIError(409, gettext("At most %(count)s symbols per watchlist.", count=MAX_ITEMS), code="limit_reached")
    item = WatchlistItem(symbol=symbol, position=len(watchlist.items))
    watchlist.items.append(item)
    _commit_unique(_already_on(symbol, watchlist.name))
    return item


def remove_item(user_id: int, watchlist_id: int, symbol: str) -> None:
    """Remove a symbol from a watchlist; 404 if it is not on it."""
    watchlist = get_watchlist(user_id, watchlist_id)
    symbol = symbol.strip().upper()
    item = next((i for i in watchlist.items if i.symbol == symbol), None)
    if item is None:
        raise APIError(404, gettext("%(symbol)s is not on %(name)s.", symbol=symbol[:24], name=repr(watchlist.name)),
                       code="not_found")
    watchlist.items.remove(item)
    for index, rest in enumerate(watchlist.items):
        rest.position = index
    db.session.commit()


def watchlist_quotes(user_id: int, watchlist_id: int) -> dict[str, Any]:
    """Price every item of a watchlist in one batch call; add each one's growth score when known."""
    watchlist = get_watchlist(user_id, watchlist_id)
    symbols = [item.symbol for item in watchlist.items]
    batch = quotes_for(symbols) if symbols else {"quotes": {}, "errors": {}}
    return {"id": watchlist.id, "name": watchlist.name, "quotes": batch["quotes"], "errors": batch["errors"],
            "scores": scores_for(symbols)}


def scores_for(symbols: list[str]) -> dict[str, float]:
    """Return each symbol's growth score in its home index (scores are cached per index)."""
    by_universe: dict[Any, list[str]] = {}
    for symbol in symbols:
        by_universe.setdefault(research.home_universe(symbol), []).append(symbol)
    out: dict[str, float] = {}
    for universe, members in by_universe.items():
        if universe.kind == "all":
            continue  # scoring every stock for one symbol is not worth a page load
        try:
            items = research.score_table(universe)["items"]
        except APIError as exc:
            if exc.code != "not_yet_scored":
                raise
            continue  # the pipeline is scoring it; the column shows "–" until then
        table = {item["symbol"]: item["score"] for item in items}
        out.update({s: table[s] for s in members if s in table})
    return out


def names_of(symbols: list[str]) -> dict[str, str]:
    """Return the company name of each symbol."""
    return {s: row.name for s in symbols if (row := stock_row(s)) is not None}


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not 1 <= len(name) <= 80:
        raise validation_error({"name": [gettext("Give a name of 1 to 80 characters.")]})
    return name


def _taken(name: str | None) -> str:
    return gettext("You already have a watchlist called %(name)s.", name=repr(name))


def _already_on(symbol: str, name: str) -> str:
    return gettext("%(symbol)s is already on %(name)s.", symbol=symbol, name=repr(name))


def _commit_unique(message: str) -> None:
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise APIError(409, message, code="already_exists") from None
