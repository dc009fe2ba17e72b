"""Search over the whole universe by symbol, name or ISIN; case- and accent-insensitive,
prefix matches before fuzzy ones. The universe (~1,800 rows) is held in memory per process."""
from __future__ import annotations

import difflib
import threading
from dataclasses import dataclass

from sqlalchemy import select

from app.extensions import db
from app.models import Stock
from app.universe import search_key

_lock = threading.Lock()
_index: dict[str, list[_Row]] = {}  # database URL -> rows


@dataclass(frozen=True, slots=True)
class _Row:
    symbol: str
    name: str
    exchange: str
    currency: str
    country: str
    isin: str | None
    key_symbol: str
    key_name: str
    words: tuple[str, ...]


def search_stocks(query: str, limit: int = 10) -> list[dict[str, str | None]]:
    """Return up to `limit` stocks matching `query`, best first."""
    q = search_key(query)
    if not q:
        return []
    ranked: list[tuple[tuple[int, int, str], _Row]] = []
    for row in _rows():
        rank = _rank(row, q)
        if rank is not None:
            ranked.append(((rank, len(row.name), row.symbol), row))
    if len(ranked) < limit and len(q) >= 3:  # fuzzy: close spellings of a name word
        seen = {r.symbol for _, r in ranked}
        for row in _rows():
            if row.symbol in seen:
                continue
            close = difflib.get_close_matches(q, row.words, n=1, cutoff=0.75)
            if close:
                ratio = difflib.SequenceMatcher(None, q, close[0]).ratio()
                ranked.append(((9, int((1 - ratio) * 100), row.symbol), row))
    ranked.sort(key=lambda item: item[0])
    return [{"symbol": r.symbol, "name": r.name, "exchange": r.exchange, "currency": r.currency,
             "country": r.country, "isin": r.isin} for _, r in ranked[:limit]]


def reset_index() -> None:
    """Forget the in-memory universe (after seeding)."""
    with _lock:
        _index.clear()
        _by_symbol.clear()


def _rank(row: _Row, q: str) -> int | None:
    if row.key_symbol == q or (row.isin and row.isin.lower() == q):
        return 0
    if row.key_symbol.split(".")[0] == q:
        return 1
    if row.key_symbol.startswith(q):
        return 2
    if row.key_name.startswith(q):
        return 3
    if any(word.startswith(q) for word in row.words):
        return 4
    if q in row.key_name:
        return 5
    return None


def _rows() -> list[_Row]:
    url = str(db.engine.url)
    rows = _index.get(url)
    if rows is None:
        with _lock:
            rows = _index.get(url)
            if rows is None:
                stocks = db.session.execute(select(Stock.symbol, Stock.name, Stock.exchange, Stock.currency,
                                                   Stock.country, Stock.isin)).all()
                rows = [_Row(s, n, e, c, co, i, search_key(s), search_key(n), tuple(search_key(n).split()))
                        for s, n, e, c, co, i in stocks]
                _index[url] = rows
    return rows


def stock_row(symbol: str) -> _Row | None:
    """Return the universe row of a canonical symbol, or None."""
    rows = _by_symbol.get(str(db.engine.url))
    if rows is None:
        rows = {r.symbol: r for r in _rows()}
        _by_symbol[str(db.engine.url)] = rows
    return rows.get(symbol)


_by_symbol: dict[str, dict[str, _Row]] = {}
