"""The load of bench/portfolio.py: a long, valid ledger over EUR and USD stocks, with splits.

`pick_symbols(n)` takes half the symbols from the DAX, MDAX and SDAX (EUR) and half from the
S&P 500 and NASDAQ 100 (USD), always with the demo market's two split stocks (NVDA 4:1 on
2024-06-10, HFG.DE 1:10 on 2023-06-12, app/market/providers/demo.py SPLIT_EVENTS).
`make_ledger(...)` returns chronological transactions (buys, partial sells, dividends, some with
a handling fee, standalone fees) spread evenly over the weekdays of `years` up to today, never in the future,
valid after the splits: holdings are tracked in the shares of each day, so a sell after NVDA's
split sells more than was ever bought before it, and HFG.DE sells only the whole shares its
reverse split left (the fraction is paid out as cash in lieu by the valuation).
`load(...)` stores them through `services.add_transactions` in chunks and runs in-process what
the worker would: `jobs.data.splits_of` for the symbols each call added (the later sells of the
split stocks are only valid with the splits stored), the scheduled splits job after the last
(both store the providers' dividends too, in the current tree).
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

SPLIT_STOCKS = {"NVDA": (date(2024, 6, 10), Decimal(4)), "HFG.DE": (date(2023, 6, 12), Decimal(1) / 10)}
EUR_INDICES = ("DAX", "MDAX", "SDAX")
USD_INDICES = ("NASDAQ 100", "S&P 500")


def pick_symbols(n: int) -> tuple[list[str], list[str]]:
    """Return (EUR symbols, USD symbols), about n/2 each, the split stocks included (app context)."""
    from app.research.services import Universe, members
    from app.stocks.search import stock_row

    def take(indices: tuple[str, ...], currency: str, count: int, must: str) -> list[str]:
        pool = [must] + [r["symbol"] for name in indices for r in members(Universe("index", name))]
        pool = [s for s in dict.fromkeys(pool) if (row := stock_row(s)) is not None and row.currency == currency]
        if len(pool) < count:
            raise SystemExit(f"only {len(pool)} {currency} stocks in {', '.join(indices)}; asked for {count}")
        return pool[:count]

    eur_count = max(1, n // 2)
    return take(EUR_INDICES, "EUR", eur_count, "HFG.DE"), take(USD_INDICES, "USD", max(1, n - eur_count), "NVDA")


def years_back(today: date, years: int) -> date:
    """The same calendar day `years` years before `today` (28 February for a 29th)."""
    try:
        return today.replace(year=today.year - years)
    except ValueError:
        return today.replace(year=today.year - years, day=28)


@dataclass
class LedgerStats:
    """What make_ledger produced, for the report."""

    kinds: dict[str, int]
    split_checks: list[str]
    held: dict[str, Decimal]  # each symbol's shares at the end, in today's shares


def make_ledger(symbols: list[str], today: date, n: int, years: int, seed: int = 11) -> tuple[list[Any], LedgerStats]:
    """Return n valid chronological transactions over `symbols` from `years` ago to today, and stats."""
    from app.portfolio.services import TransactionIn
    from app.stocks.search import stock_row

    rng = random.Random(seed)
    order = list(symbols)
    rng.shuffle(order)
    start = years_back(today, years)
    span = (today - start).days
    days = [start + timedelta(days=int(i * span / n)) for i in range(n)]  # the last is before today
    days = [d - timedelta(days=max(0, d.weekday() - 4)) for d in days]  # weekends: the Friday before
    currency = {s: stock_row(s).currency for s in order}
    held = {s: Decimal(0) for s in order}  # in the shares of the day (splits applied as they pass)
    pending = {s: SPLIT_STOCKS[s] for s in order if s in SPLIT_STOCKS}
    forced_sell: dict[str, Decimal] = {}  # split stock -> ratio: its first transaction after the split sells
    kinds = {"buy": 0, "sell": 0, "dividend": 0, "fee": 0}
    checks: list[str] = []
    out = []
    for i, day in enumerate(days):
        symbol = order[i % len(order)]
        split = pending.get(symbol)
        if split and day >= split[0]:  # the split has passed since this symbol's last transaction
            before = held[symbol]
            held[symbol] = (held[symbol] * split[1]).to_integral_value(rounding="ROUND_FLOOR")
            del pending[symbol]
            forced_sell[symbol] = split[1]
            checks.append(f"{symbol}: {before} held before the {split[0]} split, {held[symbol]} after")
        price = Decimal(rng.randint(2000, 30000)) / 100
        fee = Decimal(0)
        roll = rng.random()
        next_day = days[i + len(order)] if i + len(order) < n else today
        if symbol in forced_sell and held[symbol] >= 1:
            # The first trade after the split: sell what only the split made possible (NVDA: over 2x
            # the shares ever held before it), or every whole share the reverse split left (HFG.DE).
            kind = "sell"
            ratio = forced_sell.pop(symbol)
            quantity = held[symbol] if ratio < 1 else (held[symbol] * Decimal("0.6")).quantize(Decimal(1))
            held[symbol] -= quantity
            fee = Decimal("1.50")
            checks.append(f"{symbol}: sold {quantity} on {day} (held {held[symbol] + quantity})")
        elif symbol in pending and next_day >= pending[symbol][0]:
            # The last trade before the split: a buy, so the split stock is held through it; for the
            # reverse split a holding that is not a multiple of 10 (cash in lieu for the fraction).
            kind = "buy"
            quantity = Decimal(rng.randint(5, 20))
            if pending[symbol][1] < 1 and (held[symbol] + quantity) % 10 == 0:
                quantity += 3
            held[symbol] += quantity
            fee = Decimal("1.50")
        elif roll < 0.14 and held[symbol] >= 2:
            kind, quantity = "sell", (held[symbol] / 2).quantize(Decimal(1))
            held[symbol] -= quantity
            fee = Decimal("1.50")
        elif roll < 0.24 and held[symbol] > 0:
            kind, quantity, price = "dividend", held[symbol], Decimal(rng.randint(10, 300)) / 100
            fee = Decimal("0.50") if rng.random() < 0.2 else Decimal(0)  # a handling charge on some
        elif roll < 0.27:
            kind, quantity, price = "fee", Decimal(1), Decimal(rng.randint(100, 900)) / 100
        else:
            kind, quantity = "buy", Decimal(rng.randint(1, 20))
            held[symbol] += quantity
            fee = Decimal("1.50")
        kinds[kind] += 1
        out.append(TransactionIn(symbol=symbol, kind=kind, quantity=quantity, price=price, day=day, fee=fee,
                                 currency=currency[symbol]))
    for symbol, (ex_date, ratio) in pending.items():  # a split after the last transaction
        if ex_date <= today:
            held[symbol] = (held[symbol] * ratio).to_integral_value(rounding="ROUND_FLOOR")
    return out, LedgerStats(kinds, checks, held)


def run_splits_job() -> dict[str, Any]:
    """Run the scheduled splits job in-process, as the worker does (app context)."""
    from app.jobs.data import refresh_splits

    return refresh_splits()


def run_splits_of(symbols: list[str]) -> dict[str, Any]:
    """Run the task a new symbol's add enqueues (jobs.data.splits_of), in-process as the worker does."""
    from app.jobs.data import SPLITS_OF_MAX, splits_of

    out: dict[str, Any] = {}
    for at in range(0, len(symbols), SPLITS_OF_MAX):
        for key, value in splits_of(symbols[at:at + SPLITS_OF_MAX]).items():
            out[key] = out.get(key, 0) + value
    return out


def load(user_id: int, entries: list[Any], chunk: int) -> tuple[float, float, list[dict[str, Any]]]:
    """Store the entries in chunks through the service layer (app context).

    After each call the worker's `jobs.data.splits_of` runs for the symbols new to the ledger (what
    `services.check_splits` enqueues), and the scheduled splits job once after the last. A call
    ends before the first trade of a split stock after its split, so the split is stored before a
    sell needs it. Returns the seconds in add_transactions, in the split look-ups, and
    what the look-ups reported.
    """
    from app.portfolio import services

    cuts, held_before = set(), set()  # a call ends before each split stock's first trade after its split
    for i, e in enumerate(entries):
        if e.symbol in SPLIT_STOCKS:
            if e.day < SPLIT_STOCKS[e.symbol][0]:
                held_before.add(e.symbol)
            elif e.symbol in held_before:
                cuts.add(i)
                held_before.discard(e.symbol)
    bounds, at = [0], 0
    for cut in sorted(cuts) + [len(entries)]:
        bounds += [*range(at + chunk, cut, chunk), cut]
        at = cut
    bounds = sorted(set(bounds))
    jobs, adding, job_s, seen = [], 0.0, 0.0, set()
    for lo, hi in zip(bounds, bounds[1:]):
        started = time.perf_counter()
        services.add_transactions(user_id, entries[lo:hi])
        adding += time.perf_counter() - started
        new = sorted({e.symbol for e in entries[lo:hi]} - seen)
        seen.update(new)
        if new:
            started = time.perf_counter()
            jobs.append({"splits_of": len(new), **run_splits_of(new)})
            job_s += time.perf_counter() - started
    started = time.perf_counter()
    jobs.append({"splits job": True, **run_splits_job()})
    return adding, job_s + time.perf_counter() - started, jobs


def stored_splits() -> list[tuple[str, str, int, int]]:
    """The provider splits in the database (app context)."""
    from sqlalchemy import select

    from app.extensions import db
    from app.models import StockSplit

    return [(r.symbol, r.ex_date.isoformat(), r.ratio_from, r.ratio_to)
            for r in db.session.scalars(select(StockSplit).where(StockSplit.owner == 0).order_by(StockSplit.symbol))]
