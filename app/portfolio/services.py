"""Portfolio services: transactions (validated, replayed), holdings valued now, performance, allocation.

Every query is scoped to the owner. Writes to one portfolio are serialised by locking the
owner's row (PostgreSQL `SELECT ... FOR UPDATE`; on SQLite a no-op write that takes the
database's writer lock), so two parallel sells cannot both pass the "enough shares held" check.
"""
from __future__ import annotations

import hashlib
import time
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from flask import current_app
from flask_babel import gettext, ngettext
from prometheus_client import Counter
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app import computed
from app.analysis import portfolio as pm
from app.analysis import returns as rm
from app.analysis import risk
from app.analysis.periods import FIRST_DAY, range_start
from app.extensions import db
from app.market.research import closes_for, fx_history_for
from app.market.service import quotes_for, utc_today
from app.market.types import MarketError
from app.models import DividendDecision, Stock, Transaction, User
from app.ops.errors import APIError, validation_error
from app.ops.i18n import day as day_text
from app.portfolio import amounts
from app.market import corporate
from app.stocks.search import stock_row
from app.stocks.services import canonical

KINDS = ("buy", "sell", "dividend", "fee")
PERFORMANCE_TASK = "jobs.compute.performance"
PERFORMANCE_COMPUTATIONS = Counter("tickerdesk_performance_computations_total",
                                   "Portfolio performance computations run in this process")
PERFORMANCE_DAYS_VALUED = Counter("tickerdesk_performance_days_valued_total",
                                  "Days of portfolio value series valued (not reused from the last computation)")
SERIES_MEMO_SIZE = 64  # portfolios whose last value series a worker keeps, to recompute from an edit onward
PERFORMANCE_CLAIM_S = 120.0  # a queued computation that no worker took is asked for again after this
MAX_TRANSACTIONS = 50_000  # bench/portfolio.py times 20,000; a lifetime of active trading fits
# No stock history we value reaches further back; before it, a date is a typo (1950, 0001), and
# its monthly grid and value series would run for decades of empty rows.
EARLIEST_DAY = date(1970, 1, 1)
BENCHMARKS = {"EUR": "DAX", "USD": "S&P 500", "GBP": "FTSE 100", "JPY": "NIKKEI 225", "CHF": "Switzerland 20",
              "SEK": "OMX Stockholm 30"}


MONEY_LIMITS = amounts.LIMITS
fits_money = amounts.fits  # NUMERIC(28, 10) holds 18 integer digits and 10 decimals; we allow 15


@dataclass(frozen=True)
class TransactionIn:
    """A transaction as the user entered it (already type-checked by a schema)."""

    symbol: str
    kind: str
    quantity: Decimal
    price: Decimal
    day: date
    fee: Decimal = Decimal(0)
    currency: str | None = None
    note: str | None = None


def set_benchmark(user: User, index_name: str) -> None:
    """Set the index the portfolio is compared with."""
    from app.universe import INDEX_NAMES
    if index_name not in INDEX_NAMES:
        raise validation_error({"benchmark": [gettext("Must be one of: %(choices)s.", choices=", ".join(INDEX_NAMES))]})
    user.benchmark = index_name
    db.session.commit()


def cost_basis_method(user: User) -> str:
    """How the account costs a sale: "fifo" (oldest lots first, the default) or "average"."""
    return user.cost_basis_method if user.cost_basis_method in pm.COST_BASIS_METHODS else "fifo"


def base_currency(user: User) -> str:
    """Return the user's base currency (the account setting, else BASE_CURRENCY)."""
    return user.base_currency or current_app.config["BASE_CURRENCY"]


def transactions(user_id: int) -> list[Transaction]:
    """Return the user's transactions, oldest first."""
    return list(db.session.scalars(select(Transaction).where(Transaction.user_id == user_id)
                                   .order_by(Transaction.day, Transaction.id)))


class LedgerRow(NamedTuple):
    """One transaction as the valuation reads it."""

    id: int
    symbol: str
    kind: str
    quantity: Decimal
    price: Decimal
    fee: Decimal | None
    currency: str
    day: date
    note: str | None


def ledger(user_id: int, as_stored: bool = False) -> list[LedgerRow]:
    """Return the user's transactions as light read-only rows (same attribute names), oldest first.

    A day outside [EARLIEST_DAY, today] (stored before the dates were checked, or by hand) is
    valued as that bound, so no read of the portfolio does date arithmetic near date.min or
    date.max; the transaction itself keeps its date, shown as stored so it can be corrected.
    `as_stored` skips that (for comparing content with what is stored, as the CSV import does).
    """
    columns = [Transaction.id, Transaction.symbol, Transaction.kind, Transaction.quantity, Transaction.price,
               Transaction.fee, Transaction.currency, Transaction.day, Transaction.note]
    today = utc_today()
    session = db.session()
    if session.autoflush:
        session.flush()  # as session.execute would; the Core read below streams rows (20,000 ORM rows are buffered)
    rows = [LedgerRow(*r) for r in session.connection().execute(
        select(*columns).where(Transaction.user_id == user_id).order_by(Transaction.day, Transaction.id))]
    if as_stored:
        return rows
    return [r if EARLIEST_DAY <= r.day <= today else r._replace(day=min(max(r.day, EARLIEST_DAY), today))
            for r in rows]


def get_transaction(user_id: int, transaction_id: int) -> Transaction:
    """Return one of the user's transactions, or a 404 (also for another user's id)."""
    found = db.session.scalar(select(Transaction).where(Transaction.id == transaction_id,
                                                        Transaction.user_id == user_id))
    if found is None:
        raise APIError(404, gettext("No such transaction."), code="not_found")
    return found


def add_transactions(user_id: int, entries: list[TransactionIn], import_keys: list[str | None] | None = None
                     ) -> list[Transaction]:
    """Validate and store transactions all together: nothing is written if one is invalid."""
    with _ledger_write(user_id):
        existing = ledger(user_id)  # light rows: at 50,000 transactions ORM objects would cost seconds
        if len(existing) + len(entries) > MAX_TRANSACTIONS:
            raise APIError(409, gettext("At most %(count)s transactions per portfolio.", count=MAX_TRANSACTIONS),
                           code="limit_reached")
        rows = [_row(user_id, entry, (import_keys or [None] * len(entries))[i]) for i, entry in enumerate(entries)]
        _check_replay(user_id, existing + rows)
        db.session.add_all(rows)
    check_splits({r.symbol for r in rows})
    return rows


def restore_transaction(user_id: int, entry: TransactionIn, undo_token: str) -> Transaction:
    """Store a deleted transaction again, once per undo token (409 when that token restored one already).

    The token's digest is kept as the restored row's import key and checked under the ledger's
    write lock, so a replayed session cookie or two clicks at once cannot restore it twice.
    """
    key = "undo:" + hashlib.sha256(undo_token.encode()).hexdigest()[:59]
    with _ledger_write(user_id):
        if db.session.scalar(select(Transaction.id).where(Transaction.user_id == user_id,
                                                          Transaction.import_key == key)) is not None:
            raise APIError(409, gettext("That delete was undone already."), code="already_restored")
        if len(ledger(user_id)) >= MAX_TRANSACTIONS:
            raise APIError(409, gettext("At most %(count)s transactions per portfolio.", count=MAX_TRANSACTIONS),
                           code="limit_reached")
        row = _row(user_id, entry, key)
        _check_replay(user_id, ledger(user_id) + [row])
        db.session.add(row)
    check_splits({row.symbol})
    return row


SPLITS_TASK = "jobs.data.splits_of"  # app.jobs.data.splits_of, enqueued by name (jobs sit above this package)


def check_splits(symbols: set[str]) -> None:
    """Ask a worker to look up the splits of symbols not looked up within the hour (the web never fetches).

    So a buy from before a split is valued in post-split shares soon after it is entered, not
    only after the next JOBS_SPLITS_S run. A broker that is away only delays it to that run.
    """
    from app.market.service import market_cache  # noqa: PLC0415

    hits = market_cache().get_many(f"splits:{s}" for s in symbols)
    unknown = sorted(s for s in symbols if f"splits:{s}" not in hits)
    for start in range(0, len(unknown), 50):
        chunk = unknown[start:start + 50]
        key = "splits-of:" + hashlib.sha256(",".join(chunk).encode()).hexdigest()[:16]
        try:
            computed.request(SPLITS_TASK, [chunk], key, ttl_s=600.0)
        except Exception as exc:  # noqa: BLE001 - kombu raises many kinds; the scheduled run catches up
            current_app.logger.warning("splits check not enqueued: %s", type(exc).__name__)


def import_transactions(user_id: int, parsed: list[tuple[int, TransactionIn, str]],
                        errors: dict[int, dict[str, list[str]]]) -> dict[str, int]:
    """Store a parsed CSV all or nothing; rows imported before (same content) are skipped."""
    errors = dict(errors)
    valid: list[tuple[int, Transaction]] = []
    for line, entry, _key in parsed:
        try:
            valid.append((line, _row(user_id, entry, None)))
        except APIError as exc:
            errors[line] = exc.details.get("fields", {"row": [exc.message]})
    if errors:
        # A sell of more than is held is a bad row too: named now, with the others, not after they are fixed.
        try:
            _check_replay(user_id, ledger(user_id) + [row for _, row in valid])
        except APIError as exc:
            details = exc.details
            line = next((n for n, row in reversed(valid) if row.kind == "sell" and row.symbol == details["symbol"]
                         and row.day.isoformat() == details["date"]), None)
            if line is not None:
                errors[line] = {"quantity": [gettext("Sells %(requested)s but %(held)s are held then.",
                                                     requested=details["requested"], held=details["held"])]}
    if errors:
        raise APIError(400, ngettext("%(num)d row is invalid; nothing was imported.",
                                     "%(num)d rows are invalid; nothing was imported.", len(errors)),
                       code="validation_error",
                       details={"rows": {str(line): fields for line, fields in sorted(errors.items())}})
    if not parsed:
        raise validation_error({"file": [gettext("The file holds no transactions.")]})
    # A row is "already imported" when a stored transaction has the same content (and, for
    # identical rows, the same occurrence): so an exported file re-imported adds nothing either.
    known = set(content_keys(ledger(user_id, as_stored=True)))
    fresh = [(entry, key) for _, entry, key in parsed if key not in known]
    if fresh:
        add_transactions(user_id, [entry for entry, _ in fresh], [key for _, key in fresh])
    return {"imported": len(fresh), "skipped": len(parsed) - len(fresh)}


def content_keys(rows: list[Any]) -> list[str]:
    """Return each stored transaction's content key, as the CSV import computes it for a row."""
    seen: dict[str, int] = {}
    keys = []
    for r in rows:
        content = amounts.content_key(r.day, r.symbol, r.kind, r.quantity, r.price, r.fee or 0, r.currency, r.note)
        seen[content] = seen.get(content, 0) + 1
        keys.append(f"{content}#{seen[content]}")
    return keys


def update_transaction(user_id: int, transaction_id: int, entry: TransactionIn) -> Transaction:
    """Replace a transaction's fields; everything after it is recomputed (and must stay valid)."""
    with _ledger_write(user_id):
        row = get_transaction(user_id, transaction_id)
        replacement = _row(user_id, entry, None)
        for name in ("symbol", "kind", "quantity", "price", "fee", "currency", "day", "note"):
            setattr(row, name, getattr(replacement, name))
        row.import_key = None
        _check_replay(user_id, ledger(user_id))  # light rows; the session flushes the edit first
    return row


def delete_transaction(user_id: int, transaction_id: int) -> None:
    """Delete a transaction unless a later sell would then sell more than is held."""
    with _ledger_write(user_id):
        row = get_transaction(user_id, transaction_id)
        _check_replay(user_id, [t for t in ledger(user_id) if t.id != row.id],
                      because=gettext("Deleting it would leave a later sell without the shares it sold"))
        db.session.delete(row)


def splits(user_id: int, symbol: str | None = None) -> dict[str, Any]:
    """The splits the user's portfolio reads: of the stocks in the ledger (or of `symbol`) and their own."""
    symbols = [canonical(symbol)] if symbol else sorted({r.symbol for r in ledger(user_id)})
    items = corporate.listed(user_id, symbols)
    return {"items": [i for i in items if not symbol or i["symbol"] == symbols[0]]}


def add_split(user_id: int, symbol: str, ex_date: date, ratio_from: int, ratio_to: int) -> dict[str, Any]:
    """Enter a split the providers do not know; the ledger must stay valid with it (else 422, nothing stored)."""
    symbol = canonical(symbol)
    with _ledger_write(user_id):
        row = corporate.add_user_split(user_id, symbol, ex_date, ratio_from, ratio_to)
        _check_replay(user_id, ledger(user_id), because=gettext("With that split"))
    return corporate.as_dict(row)


def delete_split(user_id: int, split_id: int) -> None:
    """Delete a split the user entered, unless a later sell needs it (422)."""
    with _ledger_write(user_id):
        corporate.delete_user_split(user_id, split_id)
        _check_replay(user_id, ledger(user_id), because=gettext("Without that split"))


BOOKED_WINDOW_DAYS = 31  # a dividend row of the stock from the ex-date to this long after the pay date books it
DIVIDEND_INBOX_MAX = 200  # proposals listed at once (the total is given); older ones follow as these are decided
RECEIVED_SHOWN_DAYS = 730


def dividend_proposals(user_id: int) -> list[dict[str, Any]]:
    """The dividends the user was paid and has not booked: one per stock held on an ex-date, newest first.

    For each stored dividend event (app.market.corporate) of a stock in the ledger whose pay date
    has come, with shares held at the start of its ex-date (splits applied, in that day's shares),
    unless the user decided on it (accepted or dismissed: it never comes back) or already booked a
    dividend of that stock from the ex-date to BOOKED_WINDOW_DAYS after the pay date. The amount is
    the quantity x the amount per share, in the stock's currency; a dividend paid in another
    currency than the stock trades in is not proposed (book it by hand).
    """
    rows = ledger(user_id)
    if not rows:
        return []
    today = utc_today()
    symbols = {r.symbol for r in rows}
    events = [e for e in corporate.dividends_for(symbols, start=rows[0].day, end=today)
              if (e.pay_date or e.ex_date) <= today]
    if not events:
        return []
    decided = set(db.session.execute(select(DividendDecision.symbol, DividendDecision.ex_date)
                                     .where(DividendDecision.user_id == user_id)).all())
    txns = _txns(rows, {})
    splits = corporate.splits_for(user_id, symbols)
    # A reverse split's fraction was paid out in cash: only the whole shares get the dividend.
    txns += pm.cash_in_lieu(txns, splits, lambda _symbol, _day: Decimal(1))
    currency = {r.symbol: r.currency for r in rows}
    booked: dict[str, list[date]] = {}
    for r in rows:
        if r.kind == "dividend":
            booked.setdefault(r.symbol, []).append(r.day)
    by_symbol: dict[str, list[Any]] = {}
    for e in events:
        if (e.symbol, e.ex_date) not in decided and e.currency == currency[e.symbol]:
            by_symbol.setdefault(e.symbol, []).append(e)
    out = []
    for symbol, mine in by_symbol.items():
        held = pm.held_before_each([t for t in txns if t.symbol == symbol], splits, symbol, [e.ex_date for e in mine])
        for e in mine:
            pay = e.pay_date or e.ex_date
            if held[e.ex_date] <= 0 or any(e.ex_date <= d <= pay + timedelta(days=BOOKED_WINDOW_DAYS)
                                           for d in booked.get(symbol, ())):
                continue
            amount, quantity = Decimal(e.amount), _plain(held[e.ex_date])
            out.append({"symbol": symbol, "ex_date": e.ex_date, "pay_date": pay, "quantity": quantity,
                        "amount_per_share": _plain(amount), "amount": quantity * amount, "currency": e.currency,
                        "source": e.source})
    return sorted(out, key=lambda p: (p["pay_date"], p["symbol"]), reverse=True)


def _plain(number: Decimal) -> Decimal:
    """2.0 -> 2, 0.820000 -> 0.82: what a statement shows (the value is unchanged)."""
    if number == number.to_integral_value():
        return number.quantize(Decimal(1))
    return number.normalize()


def dividends(user: User) -> dict[str, Any]:
    """The dividend inbox (proposals to accept, edit or dismiss) and the calendar with yield on cost."""
    proposals = dividend_proposals(user.id)
    return {"base_currency": base_currency(user), "inbox": proposals[:DIVIDEND_INBOX_MAX],
            "inbox_total": len(proposals), **dividend_calendar(user)}


def accept_dividend(user: User, symbol: str, ex_date: date, quantity: Decimal | None = None,
                    amount_per_share: Decimal | None = None, day: date | None = None,
                    fee: Decimal = Decimal(0)) -> Transaction:
    """Book a proposed dividend as a transaction (as proposed, or with the user's quantity, amount, date, fee)."""
    proposal = _proposal(user.id, canonical(symbol), ex_date)
    entry = TransactionIn(symbol=proposal["symbol"], kind="dividend", quantity=quantity or proposal["quantity"],
                          price=amount_per_share or proposal["amount_per_share"], day=day or proposal["pay_date"],
                          fee=fee, currency=proposal["currency"], note=f"Dividend, ex-date {ex_date.isoformat()}")
    with _ledger_write(user.id):
        if len(ledger(user.id)) >= MAX_TRANSACTIONS:
            raise APIError(409, gettext("At most %(count)s transactions per portfolio.", count=MAX_TRANSACTIONS),
                           code="limit_reached")
        row = _row(user.id, entry, None)
        db.session.add(row)
        db.session.flush()
        db.session.add(DividendDecision(user_id=user.id, symbol=proposal["symbol"], ex_date=ex_date,
                                        status="accepted", transaction_id=row.id))
    return row


def dismiss_dividend(user: User, symbol: str, ex_date: date) -> None:
    """Dismiss a proposed dividend for good (it is not proposed again)."""
    proposal = _proposal(user.id, canonical(symbol), ex_date)
    db.session.add(DividendDecision(user_id=user.id, symbol=proposal["symbol"], ex_date=ex_date, status="dismissed"))
    try:
        db.session.commit()
    except IntegrityError:  # decided at the same moment in another request
        db.session.rollback()


def _proposal(user_id: int, symbol: str, ex_date: date) -> dict[str, Any]:
    found = next((p for p in dividend_proposals(user_id) if p["symbol"] == symbol and p["ex_date"] == ex_date), None)
    if found is None:
        raise APIError(404, gettext("No open dividend proposal for %(symbol)s with ex-date %(date)s: it was "
                                    "decided already, is not paid yet, or no shares were held on that day.",
                                    symbol=symbol, date=day_text(ex_date)), code="not_found")
    return found


def dividend_calendar(user: User) -> dict[str, Any]:
    """Dividends received (the last two years) and upcoming (announced, of stocks held), with yield on cost.

    Yield on cost is the dividends received in the last 365 days over what the shares held now
    cost (local for a stock, base for the total). An upcoming dividend's expected amount is its
    amount per share x the shares held now (before its ex-date) or at its ex-date (after it).
    """
    base = base_currency(user)
    today = utc_today()
    rows = ledger(user.id)
    positions, _fees, fx = _replayed(user.id, base, cost_basis_method(user))
    rates = _rates_on(fx, {(r.currency, r.day) for r in rows if r.kind == "dividend"})
    received = [{"date": r.day, "symbol": r.symbol, "amount": Decimal(r.quantity) * Decimal(r.price),
                 "currency": r.currency,
                 "amount_base": Decimal(r.quantity) * Decimal(r.price) * rates.get((r.currency, r.day), Decimal(1))}
                for r in rows if r.kind == "dividend" and r.day > today - timedelta(days=RECEIVED_SHOWN_DAYS)]
    held = {s: p for s, p in positions.items() if p.quantity > 0}
    splits = corporate.splits_for(user.id, held)
    txns = _txns([r for r in rows if r.symbol in held], {})
    upcoming = []
    for e in corporate.dividends_for(held, start=today - timedelta(days=BOOKED_WINDOW_DAYS)):
        pay = e.pay_date or e.ex_date
        if pay <= today:
            continue
        quantity = (held[e.symbol].quantity if e.ex_date > today else
                    pm.held_before_each(txns, splits, e.symbol, [e.ex_date])[e.ex_date])
        upcoming.append({"symbol": e.symbol, "ex_date": e.ex_date, "pay_date": pay, "quantity": quantity,
                         "amount_per_share": Decimal(e.amount), "amount": quantity * Decimal(e.amount),
                         "currency": e.currency})
    year_ago = today - timedelta(days=365)
    trailing: dict[str, Decimal] = {}
    trailing_base = Decimal(0)
    for item in received:
        if item["date"] > year_ago and item["symbol"] in held:
            trailing[item["symbol"]] = trailing.get(item["symbol"], Decimal(0)) + item["amount"]
            trailing_base += item["amount_base"]
    yields = [{"symbol": s, "currency": p.currency, "trailing_12m": trailing.get(s, Decimal(0)),
               "cost_basis": p.cost_basis_local,
               "yield_on_cost": float(trailing.get(s, 0) / p.cost_basis_local) if p.cost_basis_local else None}
              for s, p in sorted(held.items())]
    cost_base = sum((p.cost_basis_base for p in held.values()), Decimal(0))
    return {"received": sorted(received, key=lambda i: (i["date"], i["symbol"]), reverse=True),
            "upcoming": sorted(upcoming, key=lambda i: (i["pay_date"], i["symbol"])),
            "yield_on_cost": yields,
            "total": {"trailing_12m_base": trailing_base, "cost_basis_base": cost_base,
                      "yield_on_cost": float(trailing_base / cost_base) if cost_base else None}}


def portfolio(user: User) -> dict[str, Any]:
    """Return holdings valued now (one batch quote call) and the portfolio's totals, in the base currency."""
    base = base_currency(user)
    positions, standalone_fees, fx = _replayed(user.id, base, cost_basis_method(user))
    held = [p for p in positions.values() if p.quantity > 0]
    batch = quotes_for([p.symbol for p in held]) if held else {"quotes": {}, "errors": {}}
    rates = {currency: rate for (currency, _), rate in
             _rates_on(fx, {(p.currency, utc_today()) for p in positions.values()}).items()}
    holdings, totals = [], _zero_totals()
    for position in positions.values():
        quote = batch["quotes"].get(position.symbol)
        rate = rates[position.currency]
        totals["realised"] += position.realised_base
        totals["dividends"] += position.dividends_base
        totals["fees"] += position.fees_base
        price = Decimal(str(quote["price"])) if quote and position.quantity else None
        valued = pm.value_holding(position, price, rate) if price is not None else None
        breakdown = pm.return_breakdown(position, valued)
        for part, amount in breakdown.items():
            if amount is not None:
                totals["breakdown"][part] += amount
        if position.quantity == 0:
            continue
        change = Decimal(str(quote["change"])) * position.quantity * rate if quote else Decimal(0)
        row = stock_row(position.symbol)
        holdings.append({"symbol": position.symbol, "name": row.name if row else position.symbol,
                         "currency": position.currency, "quantity": position.quantity,
                         "avg_cost": position.avg_cost, "cost_basis": position.cost_basis_local,
                         "cost_basis_base": position.cost_basis_base, "price": price, "fx_rate": rate,
                         "change_pct": quote["change_pct"] if quote else None,
                         "stale": bool(quote and quote.get("stale")), "source": quote["source"] if quote else None,
                         "day_change_base": change, "realised_base": position.realised_base,
                         "dividends_base": position.dividends_base, "fees_base": position.fees_base,
                         "error": None if quote else batch["errors"].get(position.symbol, {}).get("message"),
                         "return_breakdown": breakdown, **(_valued(valued) if valued else {})})
        totals["cost_basis"] += position.cost_basis_base
        if valued:
            totals["value"] += valued["market_value_base"]
            totals["unrealised"] += valued["unrealised_base"]
            totals["day_change"] += change
    for holding in holdings:
        value = holding.get("market_value_base")
        holding["weight"] = float(value / totals["value"]) if value is not None and totals["value"] else None
    holdings.sort(key=lambda h: -(h.get("market_value_base") or 0))
    totals["total_pl"] = totals["unrealised"] + totals["realised"] + totals["dividends"] - standalone_fees
    totals["breakdown"]["fees"] = -standalone_fees  # fee rows and dividend-row charges: the rest of total_pl
    previous = totals["value"] - totals["day_change"]
    totals["day_change_pct"] = float(totals["day_change"] / previous * 100) if previous else None
    return {"base_currency": base, "holdings": holdings, "totals": totals,
            "complete": all(h.get("market_value_base") is not None for h in holdings)}


def realised(user: User, year: int | None = None) -> dict[str, Any]:
    """Return realised gains by calendar year and each sale (of `year`, or all), by the account's cost method."""
    base, method = base_currency(user), cost_basis_method(user)
    positions, _fees, _fx = _replayed(user.id, base, method)
    years = pm.realised_by_year(positions.values())
    sales = sorted(({"date": sale.day.isoformat(), "symbol": pos.symbol, "quantity": sale.quantity,
                     "currency": pos.currency, "proceeds": sale.proceeds_local, "cost": sale.cost_local,
                     "gain": sale.gain_local, "proceeds_base": sale.proceeds_base, "cost_base": sale.cost_base,
                     "gain_base": sale.gain_base, "cash_in_lieu": sale.cash_in_lieu}
                    for pos in positions.values() for sale in pos.sales
                    if year is None or sale.day.year == year), key=lambda s: (s["date"], s["symbol"]))
    return {"base_currency": base, "method": method, "year": year,
            "years": [{"year": y, **sums} for y, sums in years.items()], "sales": sales}


def performance(user: User, range_name: str) -> dict[str, Any]:
    """Return the daily value series, TWR and MWR per period, the benchmark and the monthly grid.

    Computed by a worker, never here (README "Background jobs"): this returns the last result
    stored for the portfolio and range, with `status` "ready" when it was computed from the
    current transactions, base currency, benchmark and day, "stale" while a new one is being
    computed (it was queued here), or "computing" with empty series before the first.
    """
    # The digest comes from the ledger's version, not the ledger: a poll of a 2,000-transaction
    # portfolio must not load and hash every row in the web process (bench/pipeline.py: 30 ms of CPU).
    base, benchmark = _performance_settings(user)
    if not db.session.scalar(select(Transaction.id).where(Transaction.user_id == user.id).limit(1)):
        return _with_sharpe({**_performance([], base, benchmark, range_name), "status": "ready",
                             "computed_at": None}, user)
    digest = _performance_digest(user, base, benchmark, range_name)
    found = computed.get_or_request(performance_key(user.id, range_name), PERFORMANCE_TASK, [user.id, range_name],
                                    fresh=lambda result: result.digest == digest, ttl_s=PERFORMANCE_CLAIM_S)
    if found is None:
        return _with_sharpe({**_performance([], base, benchmark, range_name), "status": "computing",
                             "computed_at": None}, user)
    return _with_sharpe({**found.payload, "status": "ready" if found.digest == digest else "stale",
                         "computed_at": found.computed_at.isoformat()}, user)


def refresh_performance(user_id: int, range_name: str, rounds: int = 3) -> int:
    """Compute and store the performance of a portfolio for a range (workers only); return how many times.

    Recomputes while the inputs changed during a computation (a transaction added meanwhile),
    at most `rounds` times; nothing when the stored result is current.
    """
    key, done = performance_key(user_id, range_name), 0
    for _ in range(rounds):
        user = db.session.get(User, user_id)
        if user is None:
            return done  # erased meanwhile
        base, benchmark = _performance_settings(user)
        found = computed.read(key)
        if found is not None and found.digest == _performance_digest(user, base, benchmark, range_name):
            return done  # current: the ledger is not read
        inputs = _performance_inputs(user, range_name)
        started = time.perf_counter()
        PERFORMANCE_COMPUTATIONS.inc()
        payload = _performance(inputs.rows, inputs.base, inputs.benchmark, range_name, inputs.splits,
                               series_key=(user_id, inputs.base, corporate.version(user_id)))
        computed.store(key, inputs.digest, payload, round(time.perf_counter() - started, 3))
        done += 1
        db.session.expire_all()  # read the ledger afresh for the check
    return done


def performance_key(user_id: int, range_name: str) -> str:
    """Return the key of a portfolio's stored performance for a range."""
    return f"performance:{user_id}:{range_name}"


class _PerformanceInputs(NamedTuple):
    base: str
    benchmark: str
    rows: list[Transaction]
    digest: str
    splits: list[pm.Split]


def benchmark_index(user: User) -> str:
    """Return the index the user compares against: their choice, else their base currency's home index."""
    return user.benchmark or BENCHMARKS.get(base_currency(user), "S&P 500")


def _performance_settings(user: User) -> tuple[str, str]:
    return base_currency(user), benchmark_index(user)


def _performance_digest(user: User, base: str, benchmark: str, range_name: str) -> str:
    # Everything the result depends on: the ledger (its version moves with every write, in the
    # same transaction), the base currency, the benchmark, the range and the day.
    version = db.session.scalar(select(User.ledger_version).where(User.id == user.id))
    return hashlib.sha256(repr((user.id, version, corporate.version(user.id), base, benchmark, range_name,
                                utc_today().isoformat()))
                          .encode()).hexdigest()


def _performance_inputs(user: User, range_name: str) -> _PerformanceInputs:
    """What the worker computes from: the ledger read in the same transaction as the digest of its version."""
    base, benchmark = _performance_settings(user)
    digest = _performance_digest(user, base, benchmark, range_name)
    rows = ledger(user.id)
    return _PerformanceInputs(base, benchmark, rows, digest, corporate.splits_for(user.id, {r.symbol for r in rows}))


def forget_series(user_id: int) -> None:
    """Drop the value series this process keeps for the user (the next computation values every day)."""
    memo = current_app.extensions.get("tickerdesk_series", {})
    for key in [k for k in memo if k[0] == user_id]:
        memo.pop(key, None)


def _value_series(txns: list[pm.Txn], closes: dict[str, rm.Series], fx: dict[str, dict[date, Decimal]],
                  first: date, today: date, base: str, series_key: tuple | None) -> list[rm.DayValue]:
    """The daily value series, valuing only the days from the earliest changed one on when it can.

    The last series of a portfolio (per user, base currency, splits and day) is kept in process
    memory with a digest of each day's transactions. The next computation compares the digests:
    days before the first day whose transactions differ are taken from the kept series, since
    their holdings, prices and rates are the same; so editing a transaction of March 2020
    values March 2020 to today, not the years before. Anything else (another day, a split,
    a new first transaction) values every day.
    """
    digests: dict[date, str] = {}
    for txn in sorted(txns, key=lambda t: (t.day, t.id)):
        digests[txn.day] = hashlib.blake2b(f"{digests.get(txn.day, '')}|{txn!r}".encode(), digest_size=16).hexdigest()
    memo = current_app.extensions.setdefault("tickerdesk_series", {})
    key = (*series_key, today) if series_key else None
    kept = memo.get(key) if key else None
    # Prices or rates that arrived since (a history fetched late, a corrected series) change old days too.
    market = hashlib.blake2b(repr([(name, sorted((k, _extent(v)) for k, v in data.items()))
                                   for name, data in (("closes", closes), ("fx", fx))]).encode(),
                             digest_size=16).hexdigest()
    reuse_before = None
    if kept is not None and kept[2] == first and kept[3] == market:
        changed = [d for d in set(digests) | set(kept[0]) if digests.get(d) != kept[0].get(d)]
        reuse_before = min(changed) if changed else today + timedelta(days=1)
    reuse = {p.day: p for p in kept[1]} if reuse_before is not None else None
    series = rm.daily_value_series(txns, closes, fx, first, today, base, reuse, reuse_before)
    PERFORMANCE_DAYS_VALUED.inc(sum(1 for p in series if reuse_before is None or p.day >= reuse_before))
    if key:
        for stale in [k for k in memo if k[0] == key[0]]:
            memo.pop(stale, None)
        if len(memo) >= SERIES_MEMO_SIZE:
            memo.pop(next(iter(memo)), None)
        memo[key] = (digests, series, first, market)
    return series


def _extent(series: rm.Series | dict[date, Any]) -> tuple[int, Any]:
    # How many values a series has and its last day: what a late fetch or a longer history changes.
    if isinstance(series, rm.Series):
        return len(series.ordinals), series.ordinals[-1] if series.ordinals else None
    return len(series), max(series, default=None)


def _performance(rows: list[Transaction], base: str, benchmark: str, range_name: str,
                 splits: list[pm.Split] | None = None, series_key: tuple | None = None) -> dict[str, Any]:
    today = utc_today()
    if not rows:
        return {"base_currency": base, "range": range_name, "series": [], "returns": {}, "monthly": {},
                "twr_index": [], "risk": _stored_risk(risk.risk([])),
                "benchmark": {"name": benchmark, "series": [], "return": None}}
    first = rows[0].day
    symbols = sorted({r.symbol for r in rows})
    # Floats: the value series converts a close when it reads it (the days it takes from a kept series, never).
    closes = {s: rm.Series(v["d"], v["c"]) for s, v in closes_for(symbols, first - timedelta(days=10), today).items()}
    fx = _fx_series({r.currency for r in rows}, base, first - timedelta(days=10), today)
    txns = _txns(rows, _rates_on(fx, {(r.currency, r.day) for r in rows}))
    if splits:
        # Valued in today's shares against the split-adjusted closes (and a reverse split's cash in lieu).
        txns = pm.restate(txns + _cash_in_lieu(txns, splits, fx), splits)
    series = _value_series(txns, closes, fx, first, today, base, series_key)
    start = _range_start(range_name, today, first)
    shown = [p for p in series if p.day >= start]
    # Index histories are fetched from FIRST_DAY at most: a 1970 buy must not load 50 years of every member.
    bench = _benchmark(benchmark, max(start, FIRST_DAY), today)
    index = rm.twr_index(series, rm.period_start(range_name, today), today)
    return {"base_currency": base, "range": range_name,
            "series": [{"date": p.day.isoformat(), "value": str(p.value), "flow": str(p.flow)} for p in shown],
            "returns": rm.period_returns(series, today),
            "monthly": {str(y): {str(m): v for m, v in months.items()} for y, months in
                        rm.monthly_returns(series).items()},
            "twr_index": [{"date": day.isoformat(), "value": round(level, 4)} for day, level in index],
            "risk": _stored_risk(risk.risk(index)),
            "benchmark": bench}


def _stored_risk(figures: dict[str, Any]) -> dict[str, Any]:
    # Stored without the Sharpe ratio: that depends on the user's risk-free rate, applied on read
    # (so changing the rate needs no recomputation).
    drawdown = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in figures["max_drawdown"].items()}
    return {**figures, "max_drawdown": drawdown}


def risk_free_rate(user: User) -> float:
    """The user's risk-free rate for the Sharpe ratio (a fraction a year; 0 unless set)."""
    return float(user.risk_free_rate or 0)


def _with_sharpe(payload: dict[str, Any], user: User) -> dict[str, Any]:
    figures = payload.get("risk")
    if not figures:  # a result stored before risk figures existed: recomputed with the next change
        return payload
    rate = risk_free_rate(user)
    return {**payload, "risk": {**figures, "sharpe": risk.sharpe(figures, rate), "risk_free_rate": rate}}


def allocation(user: User, data: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return the value split by holding, sector, country and currency (of `portfolio()`'s result if given)."""
    data = data or portfolio(user)
    symbols = [h["symbol"] for h in data["holdings"]]
    sectors = dict(db.session.execute(select(Stock.symbol, Stock.sector).where(Stock.symbol.in_(symbols))).all())
    rows = []
    for h in data["holdings"]:
        stock = stock_row(h["symbol"])
        rows.append({"symbol": h["symbol"], "sector": sectors.get(h["symbol"]),
                     "country": stock.country if stock else None,
                     "currency": h["currency"], "value_base": h.get("market_value_base") or Decimal(0)})
    return {"base_currency": data["base_currency"], **pm.allocation(rows)}


# -- helpers ---------------------------------------------------------------------------

_WRITING = "tickerdesk_ledger_write"


@contextmanager
def _ledger_write(user_id: int) -> Iterator[None]:
    """Run one write to the user's transactions in one database transaction: commit it, or roll it all back.

    The first statement bumps the ledger version, which locks the user's row (PostgreSQL) or takes
    SQLite's single writer lock now, before the reads that validate the new rows, so a second
    writer waits until this one commits. The bump commits with the rows or not at all: a refused
    write is rolled back here, before anything else in the request (a re-rendered page, another
    service's commit) could read the uncommitted version or commit it half done. While the write
    is open the session is marked, so `_replayed` neither serves nor stores a memo from inside it.
    """
    session = db.session()
    try:
        session.execute(update(User).where(User.id == user_id).values(ledger_version=User.ledger_version + 1))
        session.info[_WRITING] = session.get_transaction()
        yield
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.info.pop(_WRITING, None)


def _inside_ledger_write() -> bool:
    session = db.session()
    marked = session.info.get(_WRITING)
    return marked is not None and marked is session.get_transaction()


def _row(user_id: int, entry: TransactionIn, import_key: str | None) -> Transaction:
    fields: dict[str, list[str]] = {}
    symbol = entry.symbol.strip().upper()
    stock = stock_row(symbol) if len(symbol) <= 24 else None
    if stock is None:
        fields["symbol"] = [gettext("%(symbol)s is not in the stock universe.", symbol=repr(symbol[:24]))]
    if entry.kind not in KINDS:
        fields["kind"] = [gettext("Must be one of: %(choices)s.", choices=", ".join(KINDS))]
    if entry.quantity <= 0:
        fields["quantity"] = [gettext("Must be greater than 0.")]
    if entry.price <= 0:
        fields["price"] = [gettext("Must be greater than 0.")]
    if entry.fee < 0:
        fields["fee"] = [gettext("Must not be negative.")]
    for name in ("quantity", "price", "fee"):
        if name not in fields and not fits_money(getattr(entry, name)):
            fields[name] = [str(MONEY_LIMITS)]  # lazy: in the page's language, English for the API
    if entry.day > utc_today():
        fields["date"] = [gettext("Must not be in the future.")]
    elif entry.day < EARLIEST_DAY:
        fields["date"] = [gettext("Must be on or after %(date)s.", date=day_text(EARLIEST_DAY))]
    currency = (entry.currency or (stock.currency if stock else "")).upper()
    if stock is not None and currency != stock.currency:
        fields["currency"] = [gettext("%(symbol)s trades in %(currency)s; record it in %(currency)s.", symbol=symbol,
                                       currency=stock.currency)]
    if fields:
        raise validation_error(fields)
    return Transaction(user_id=user_id, symbol=symbol, kind=entry.kind, quantity=entry.quantity,
                       price=entry.price, fee=entry.fee, currency=currency, day=entry.day,
                       note=(entry.note or "").strip() or None, import_key=import_key)


def _check_replay(user_id: int, rows: list[Transaction], because: str | None = None) -> None:
    # Splits in between count: 10 bought before a 4:1 split can be sold as 40 after it.
    splits = corporate.splits_for(user_id, {r.symbol for r in rows})
    try:
        pm.replay(_txns(rows, {}), splits)
    except pm.OversellError as exc:
        what = {"requested": pm._fmt(exc.requested), "symbol": exc.symbol, "date": day_text(exc.day),
                "held": pm._fmt(exc.held)}
        message = (gettext("%(because)s: cannot sell %(requested)s %(symbol)s on %(date)s: only %(held)s held.",
                           because=because, **what) if because
                   else gettext("Cannot sell %(requested)s %(symbol)s on %(date)s: only %(held)s held.", **what))
        raise APIError(422, message, code="oversell",
                       details={"symbol": exc.symbol, "date": exc.day.isoformat(), "held": str(exc.held),
                                "requested": str(exc.requested)}) from None


def _txns(rows: list[Transaction], rates: dict[tuple[str, date], Decimal]) -> list[pm.Txn]:
    # Rows not yet flushed have no id: order them after the stored ones, in input order.
    return [pm.Txn(id=r.id if r.id is not None else 10**12 + i, symbol=r.symbol, kind=r.kind, day=r.day,
                   quantity=Decimal(r.quantity), price=Decimal(r.price), fee=Decimal(r.fee or 0),
                   currency=r.currency, fx=rates.get((r.currency, r.day), Decimal(1)))
            for i, r in enumerate(rows)]


def _fx_series(currencies: set[str], base: str, start: date, end: date) -> dict[str, dict[date, Decimal]]:
    try:
        raw = fx_history_for(currencies, base, start, end)
    except MarketError as exc:
        raise APIError(503, gettext("Exchange rates to %(base)s are unavailable right now, so values in %(base)s "
                                    "cannot be computed. Try again shortly.", base=base), code="provider_unavailable",
                       details={"reason": exc.message}) from None
    return {cur: {d: Decimal(str(r)) for d, r in series.items()} for cur, series in raw.items()}


def _rates_on(fx: dict[str, dict[date, Decimal]], wanted: Iterable[tuple[str, date]]
              ) -> dict[tuple[str, date], Decimal]:
    """Return the rate of each (currency, day): the last known on or before it (else the first; 1 if none)."""
    days = {currency: sorted(series) for currency, series in fx.items() if series}  # sorted once per call
    out: dict[tuple[str, date], Decimal] = {}
    for currency, day in wanted:
        known = days.get(currency)
        if not known:
            out[(currency, day)] = Decimal(1)
            continue
        i = bisect_right(known, day)
        out[(currency, day)] = fx[currency][known[i - 1] if i else known[0]]
    return out


def _valued(valued: dict[str, Any]) -> dict[str, Any]:
    return {k: valued[k] for k in ("market_value_local", "market_value_base", "unrealised_local",
                                   "unrealised_base", "unrealised_pct", "price_effect_base", "fx_effect_base")}


def _zero_totals() -> dict[str, Any]:
    return {**{k: Decimal(0) for k in ("value", "cost_basis", "unrealised", "realised", "dividends", "fees",
                                       "day_change")},
            "breakdown": {"price": Decimal(0), "dividends": Decimal(0), "fx": Decimal(0)}}


REPLAY_MEMO_SIZE = 256


def _replayed(user_id: int, base: str, method: str = "fifo"
              ) -> tuple[dict[str, pm.Position], Decimal, dict[str, dict[date, Decimal]]]:
    """Return the user's replayed positions (sales costed by `method`), standalone fees and FX series, in `base`.

    The replay of a whole ledger is the bulk of a portfolio read, so it is kept in process
    memory under the user's committed ledger version (bumped in the same database transaction
    as every write to the transactions, see `_ledger_write`), the account's creation time (an id
    a database hands out again is another account), the base currency and the day. A replay is
    stored only when the version read before and after the ledger is the same committed one:
    never from inside an open ledger write, whose version may yet be rolled back and then be
    committed again by a different ledger. The positions are only read afterwards, never changed.
    """
    today = utc_today()
    version_query = select(User.ledger_version, User.created_at).where(User.id == user_id)
    version = tuple(db.session.execute(version_query).one_or_none() or ())
    key = (user_id, version, corporate.version(user_id), base, method, today)
    memo = current_app.extensions.setdefault("tickerdesk_replays", {})
    cacheable = not _inside_ledger_write()
    found = memo.get(key) if cacheable else None
    if found is not None:
        positions, fees, start = found
        return positions, fees, _fx_series({p.currency for p in positions.values() if p.currency != base},
                                           base, start, today)
    rows = ledger(user_id)
    # On PostgreSQL each statement sees the latest commit: a write between the version and the
    # ledger read would file this newer ledger under the older version.
    cacheable = cacheable and tuple(db.session.execute(version_query).one_or_none() or ()) == version
    start = (rows[0].day if rows else today) - timedelta(days=10)
    fx = _fx_series({r.currency for r in rows if r.currency != base}, base, start, today)
    on_days = _rates_on(fx, {(r.currency, r.day) for r in rows if r.currency != base})
    txns = _txns(rows, on_days)
    splits = corporate.splits_for(user_id, {r.symbol for r in rows})
    positions = pm.replay(txns + _cash_in_lieu(txns, splits, fx), splits, method)
    fees = _standalone_fees(rows, on_days)
    if cacheable:
        if len(memo) >= REPLAY_MEMO_SIZE:
            memo.pop(next(iter(memo)), None)
        memo[key] = (positions, fees, start)
    return positions, fees, fx


def _cash_in_lieu(txns: list[pm.Txn], splits: list[pm.Split],
                  fx: dict[str, dict[date, Decimal]]) -> list[pm.Txn]:
    """The sells reverse splits book for the fractions they leave, at the ex-date's close as traded."""
    if not any(sp.ratio < 1 for sp in splits):
        return []

    def price_on(symbol: str, day: date) -> Decimal | None:
        series = closes_for([symbol], day - timedelta(days=10), day).get(symbol) or {"d": [], "c": []}
        known = [(d, c) for d, c in zip(series["d"], series["c"]) if d <= day.toordinal()]
        if not known:
            return None
        # The history is split-adjusted (today's shares): as traded that day it was F times as much.
        return Decimal(str(known[-1][1])) * pm.factor_after(splits, symbol, day)

    booked = pm.cash_in_lieu(txns, splits, price_on)
    rates = _rates_on(fx, {(t.currency, t.day) for t in booked})
    return [replace(t, fx=rates[(t.currency, t.day)]) for t in booked]


def _standalone_fees(rows: list[Any], rates: dict[tuple[str, date], Decimal]) -> Decimal:
    # Buy/sell commissions are already inside cost basis and realised P/L; fee rows (amount
    # and commission) and the commission on a dividend row are not.
    total = Decimal(0)
    for r in rows:
        if r.kind == "fee":
            total += (Decimal(r.quantity) * Decimal(r.price) + Decimal(r.fee or 0)) * rates.get((r.currency, r.day), Decimal(1))
        elif r.kind == "dividend":
            total += Decimal(r.fee or 0) * rates.get((r.currency, r.day), Decimal(1))
    return total


def _range_start(range_name: str, today: date, first: date) -> date:
    # "max" is everything since the first transaction, as the index and the returns measure it.
    return first if range_name == "max" else max(range_start(range_name, today), first)


def _benchmark(name: str, start: date, end: date) -> dict[str, Any]:
    # No index levels come with the universe: the benchmark is its constituents, equally weighted.
    from app.research.services import Universe, members
    symbols = [r["symbol"] for r in members(Universe("index", name))]
    data = closes_for(symbols, start - timedelta(days=10), end)
    if not data:
        return {"name": name, "method": "equal-weighted constituents", "series": [], "return": None}
    days = sorted({d for v in data.values() for d in v["d"] if d >= start.toordinal()})
    level_by_day: dict[int, list[float]] = {}
    for series in data.values():
        known = dict(zip(series["d"], series["c"]))
        first = next((known[d] for d in days if d in known), None)
        last = first
        for d in days:
            last = known.get(d, last)
            if first:
                level_by_day.setdefault(d, []).append(last / first)
    points = [{"date": date.fromordinal(d).isoformat(), "value": round(100 * sum(v) / len(v), 4)}
              for d, v in sorted(level_by_day.items()) if v]
    change = points[-1]["value"] / 100 - 1 if points else None
    return {"name": name, "method": "equal-weighted constituents", "series": points, "return": change}
