"""Corporate actions as portfolios and alerts read them: splits (the providers' and the ones a user
entered) and cash dividends (the providers').

Splits are applied on read (app.analysis.portfolio): a user's transactions stay as entered.
A provider split (`owner` 0) applies to everyone; a split a user entered applies to that
user only, and on the same ex-date it takes the place of the provider's (the user corrects
what the provider got wrong; it never applies twice).
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from app.analysis import portfolio as pm
from app.extensions import db
from app.models import DividendEvent, StockSplit, utcnow
from app.ops.errors import APIError, validation_error

MAX_RATIO = 10_000  # 1 -> 10,000 shares (or back) is already beyond any split on record
MAX_USER_SPLITS = 200


def splits_for(user_id: int | None, symbols: Iterable[str]) -> list[pm.Split]:
    """The splits that apply to `user_id`'s reads of `symbols`, oldest first (the user's own win ties)."""
    wanted = sorted(set(symbols))
    if not wanted:
        return []
    owners = [0] if user_id is None else [0, user_id]
    rows = db.session.execute(select(StockSplit.symbol, StockSplit.ex_date, StockSplit.ratio_from,
                                     StockSplit.ratio_to, StockSplit.owner)
                              .where(StockSplit.symbol.in_(wanted), StockSplit.owner.in_(owners))).all()
    chosen: dict[tuple[str, date], Any] = {}
    for row in rows:
        key = (row.symbol, row.ex_date)
        if key not in chosen or row.owner != 0:
            chosen[key] = row
    return [pm.Split(r.symbol, r.ex_date, Decimal(r.ratio_to) / Decimal(r.ratio_from))
            for _, r in sorted(chosen.items())]


def threshold_factors(symbols: list[str]) -> Any:
    """None when none of `symbols` ever split; else factor(symbol, user_id, created_at): the product of
    the ratios of the splits after that day that apply to that user (to divide a threshold by)."""
    rows = db.session.execute(select(StockSplit.symbol, StockSplit.ex_date, StockSplit.ratio_from,
                                     StockSplit.ratio_to, StockSplit.owner)
                              .where(StockSplit.symbol.in_(symbols))).all() if symbols else []
    if not rows:
        return None
    by_symbol: dict[str, list[Any]] = {}
    for row in rows:
        by_symbol.setdefault(row.symbol, []).append(row)

    def factor(symbol: str, user_id: int, created_at: Any) -> Decimal:
        day = created_at.date() if hasattr(created_at, "date") else created_at
        chosen: dict[date, Any] = {}
        for row in by_symbol.get(symbol, ()):
            if row.owner in (0, user_id) and (row.ex_date not in chosen or row.owner != 0):
                chosen[row.ex_date] = row
        out = Decimal(1)
        for ex_date, row in chosen.items():
            if ex_date > day:
                out *= Decimal(row.ratio_to) / Decimal(row.ratio_from)
        return out

    return factor


def version(user_id: int | None) -> tuple[int, int]:
    """A cheap fingerprint of the splits a user's reads depend on: (how many, the newest id)."""
    owners = [0] if user_id is None else [0, user_id]
    count, newest = db.session.execute(select(func.count(StockSplit.id), func.max(StockSplit.id))
                                       .where(StockSplit.owner.in_(owners))).one()
    return int(count or 0), int(newest or 0)


def store_events(events: Iterable[tuple[str, date, int, int, str]]) -> list[str]:
    """Store provider split events (symbol, ex_date, from, to, source) once each; return the symbols with a new one."""
    fresh: list[str] = []
    for symbol, ex_date, ratio_from, ratio_to, source in events:
        if not _valid_ratio(ratio_from, ratio_to):
            continue
        exists = db.session.scalar(select(StockSplit.id).where(StockSplit.symbol == symbol,
                                                               StockSplit.ex_date == ex_date, StockSplit.owner == 0))
        if exists is not None:
            continue
        try:
            with db.session.begin_nested():
                db.session.add(StockSplit(symbol=symbol, ex_date=ex_date, ratio_from=ratio_from, ratio_to=ratio_to,
                                          source=source, owner=0))
        except IntegrityError:
            continue  # another worker stored it first
        fresh.append(symbol)
    db.session.commit()
    return fresh


MAX_DIVIDEND = Decimal(1_000_000)  # per share: beyond it a provider's figure is garbage


def store_dividends(events: Iterable[Any]) -> int:
    """Store provider dividend events (market.types.DividendEvent), one per symbol and ex-date; return how many changed.

    Amounts are stored per share as held on the ex-date: an amount restated in today's shares
    (`adjusted`) is multiplied back by the ratios of the provider splits after the ex-date. An
    event stored before with another amount or pay date (announced, then final) is updated.
    """
    events = [e for e in events if 0 < e.amount and Decimal(str(e.amount)) < MAX_DIVIDEND and e.currency]
    fresh: list[dict[str, Any]] = []
    splits = splits_for(None, {e.symbol for e in events})
    stored = {(r.symbol, r.ex_date): r for r in db.session.scalars(
        select(DividendEvent).where(DividendEvent.symbol.in_({e.symbol for e in events})))} if events else {}
    changed = 0
    for e in events:
        amount = Decimal(str(e.amount))
        if e.adjusted:
            amount *= pm.factor_after(splits, e.symbol, e.ex_date)
        amount = amount.quantize(Decimal("0.000001"))
        row = stored.get((e.symbol, e.ex_date))
        if row is not None:
            if (row.amount, row.pay_date, row.currency) != (amount, e.pay_date or row.pay_date, e.currency.upper()):
                row.amount, row.pay_date, row.currency = amount, e.pay_date or row.pay_date, e.currency.upper()
                changed += 1
            continue
        fresh.append(dict(symbol=e.symbol, ex_date=e.ex_date, pay_date=e.pay_date, amount=amount,
                          currency=e.currency.upper(), source=e.source, created_at=utcnow()))
        stored[(e.symbol, e.ex_date)] = DividendEvent(**fresh[-1])  # a provider reporting one twice
    if fresh:
        # One statement; a row another worker stored meanwhile is left as it is (the next run updates it).
        insert = pg_insert if db.engine.dialect.name == "postgresql" else sqlite_insert
        db.session.execute(insert(DividendEvent.__table__).on_conflict_do_nothing(
            index_elements=["symbol", "ex_date"]), fresh)
        changed += len(fresh)
    db.session.commit()
    return changed


def dividends_for(symbols: Iterable[str], start: date | None = None, end: date | None = None) -> list[DividendEvent]:
    """The stored dividend events of `symbols` (ex-date in [start, end] when given), oldest first."""
    wanted = sorted(set(symbols))
    if not wanted:
        return []
    query = select(DividendEvent).where(DividendEvent.symbol.in_(wanted))
    if start is not None:
        query = query.where(DividendEvent.ex_date >= start)
    if end is not None:
        query = query.where(DividendEvent.ex_date <= end)
    return list(db.session.scalars(query.order_by(DividendEvent.ex_date, DividendEvent.symbol)))


def listed(user_id: int, symbols: Iterable[str]) -> list[dict[str, Any]]:
    """The splits of `symbols` that the user's reads see, plus every split the user entered, oldest first."""
    wanted = sorted(set(symbols))
    query = select(StockSplit).where((StockSplit.owner == user_id) |
                                     ((StockSplit.owner == 0) & StockSplit.symbol.in_(wanted)))
    rows = db.session.scalars(query.order_by(StockSplit.ex_date, StockSplit.symbol, StockSplit.owner))
    return [as_dict(r) for r in rows]


def as_dict(row: StockSplit) -> dict[str, Any]:
    return {"id": row.id, "symbol": row.symbol, "ex_date": row.ex_date.isoformat(), "ratio_from": row.ratio_from,
            "ratio_to": row.ratio_to, "ratio": f"{row.ratio_to}:{row.ratio_from}", "source": row.source,
            "entered_by_you": row.owner != 0}


def add_user_split(user_id: int, symbol: str, ex_date: date, ratio_from: int, ratio_to: int) -> StockSplit:
    """Store a split the user entered (for that user's reads only); 409 if they entered one that day already."""
    errors: dict[str, list[str]] = {}
    if not _valid_ratio(ratio_from, ratio_to):
        errors["ratio"] = [f"Give two different whole numbers of shares from 1 to {MAX_RATIO:,}, "
                           "e.g. from 1 to 4 for a 4-for-1 split, from 10 to 1 for a 1-for-10 reverse split."]
    if ex_date > date.today() + timedelta(days=366):
        errors["ex_date"] = ["The ex-date can be at most a year ahead."]
    if errors:
        raise validation_error(errors)
    count = db.session.scalar(select(func.count(StockSplit.id)).where(StockSplit.owner == user_id))
    if count >= MAX_USER_SPLITS:
        raise APIError(409, f"At most {MAX_USER_SPLITS} splits of your own.", code="limit_reached")
    row = StockSplit(symbol=symbol, ex_date=ex_date, ratio_from=ratio_from, ratio_to=ratio_to, source="user",
                     user_id=user_id, owner=user_id)
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        raise APIError(409, f"You already entered a split of {symbol} on {ex_date.isoformat()}.",
                       code="conflict") from None
    return row


def delete_user_split(user_id: int, split_id: int) -> None:
    """Delete a split the user entered; a provider's split cannot be deleted (404, as for another's)."""
    row = db.session.scalar(select(StockSplit).where(StockSplit.id == split_id, StockSplit.owner == user_id))
    if row is None:
        raise APIError(404, "No such split of yours.", code="not_found")
    db.session.delete(row)


def _valid_ratio(ratio_from: Any, ratio_to: Any) -> bool:
    return (isinstance(ratio_from, int) and isinstance(ratio_to, int) and not isinstance(ratio_from, bool)
            and 1 <= ratio_from <= MAX_RATIO and 1 <= ratio_to <= MAX_RATIO and ratio_from != ratio_to)
