"""Lots, holdings, realised P/L and the price/FX split of unrealised P/L.

Pure: transactions in, dataclasses and dicts out; no Flask, no database, no I/O.
Money and quantities are Decimal throughout and are never rounded here (round for
display only), so sums such as price effect + FX effect reconcile exactly.
Ratios (percentages, weights) are floats.

"Local" means the stock's own currency; "base" means the investor's currency.

Splits are applied on read, never by rewriting transactions. `replay` takes them as events in
the ledger's own units: at a split's ex-date every open lot's quantity is multiplied by the
ratio (costs unchanged), so a sell entered after a 4:1 split in post-split shares meets lots in
post-split shares, and the positions end in today's units. `restate` turns transactions into
today's units for valuing against split-adjusted price history (quantity x F, price / F, the
cash amount unchanged, F = the product of the ratios of the splits after the trade).
`cash_in_lieu` books the fraction a reverse split leaves of a whole-share holding as a sell.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any

KINDS = ("buy", "sell", "dividend", "fee")
COST_BASIS_METHODS = ("fifo", "average")  # a sale takes the oldest lots first, or the moving average cost
ZERO = Decimal(0)
UNKNOWN = "Unknown"


@dataclass(frozen=True)
class Txn:
    """One transaction; for dividend/fee rows the cash amount is quantity * price (usually 1 * amount)."""

    id: int
    symbol: str
    kind: str          # "buy" | "sell" | "dividend" | "fee"
    day: date
    quantity: Decimal  # shares for buy/sell; 1 for dividend/fee
    price: Decimal     # per share, in the stock's currency
    fee: Decimal       # commission in the stock's currency, >= 0
    currency: str
    fx: Decimal = Decimal(1)  # base-currency units per 1 unit of `currency` on `day`
    gross: Decimal | None = None  # the cash amount when quantity and price were restated (see restate)
    cash_in_lieu: bool = False  # a sell booked by a reverse split, not by the user

    @property
    def amount(self) -> Decimal:
        """Gross cash amount in the stock's currency (quantity * price as entered)."""
        return self.gross if self.gross is not None else self.quantity * self.price


@dataclass(frozen=True)
class Split:
    """From `day` (the ex-date) on, each share of `symbol` is `ratio` shares (4 for 4:1, 0.1 for 1:10)."""

    symbol: str
    day: date
    ratio: Decimal


@dataclass(frozen=True)
class Lot:
    """Shares bought together; costs include the buy commission."""

    day: date
    quantity: Decimal
    cost_local: Decimal
    cost_base: Decimal


@dataclass(frozen=True)
class Sale:
    """One sell's realised result: what it fetched and what the shares it sold had cost."""

    day: date
    quantity: Decimal
    proceeds_local: Decimal  # net of the sell commission
    cost_local: Decimal
    proceeds_base: Decimal
    cost_base: Decimal
    cash_in_lieu: bool = False

    @property
    def gain_local(self) -> Decimal:
        return self.proceeds_local - self.cost_local

    @property
    def gain_base(self) -> Decimal:
        return self.proceeds_base - self.cost_base


@dataclass
class Position:
    """Everything known about one symbol after replaying its transactions."""

    symbol: str
    currency: str
    quantity: Decimal = ZERO
    lots: list[Lot] = field(default_factory=list)
    cost_basis_local: Decimal = ZERO
    cost_basis_base: Decimal = ZERO
    avg_cost: Decimal | None = None  # local per share; None when nothing is held
    realised_local: Decimal = ZERO
    realised_base: Decimal = ZERO
    dividends_local: Decimal = ZERO
    dividends_base: Decimal = ZERO
    fees_local: Decimal = ZERO
    fees_base: Decimal = ZERO
    sales: list[Sale] = field(default_factory=list)
    method: str = "fifo"


class OversellError(ValueError):
    """A sell asks for more shares than are held at that point in time."""

    def __init__(self, symbol: str, day: date, held: Decimal, requested: Decimal) -> None:
        self.symbol, self.day, self.held, self.requested = symbol, day, held, requested
        super().__init__(f"cannot sell {_fmt(requested)} {symbol} on {day.isoformat()}: only {_fmt(held)} held")


def replay(txns: Iterable[Txn], splits: Iterable[Split] = (), method: str = "fifo") -> dict[str, Position]:
    """Replay transactions in (day, id) order into positions keyed by symbol.

    `method` is how a sale's cost is taken: "fifo" from the oldest lots first, "average" at the
    moving average cost (a pro-rata share of every open lot, so the average cost per share of
    what stays is unchanged by a sale, as in Germany's and Canada's average-cost rules).

    A split applies at the start of its ex-date, before that day's trades: a trade on the
    ex-date is in post-split shares, as brokers book it.
    """
    if method not in COST_BASIS_METHODS:
        raise ValueError(f"unknown cost basis method {method!r}")
    positions: dict[str, Position] = {}
    events: list[tuple[date, int, int, Txn | Split]] = [(t.day, 1, t.id, t) for t in txns]
    events += [(sp.day, 0, 0, sp) for sp in splits]
    for _, _, _, txn in sorted(events, key=lambda e: e[:3]):
        if isinstance(txn, Split):
            if txn.symbol in positions:
                _split(positions[txn.symbol], txn.ratio)
            continue
        _validate(txn)
        pos = positions.get(txn.symbol)
        if pos is None:
            pos = positions[txn.symbol] = Position(txn.symbol, txn.currency, method=method)
        elif pos.currency != txn.currency:
            # Local sums would silently mix currencies; this is a data error, not something to guess about.
            raise ValueError(f"{txn.symbol} has transactions in both {pos.currency} and {txn.currency}")
        _APPLY[txn.kind](pos, txn)
    for pos in positions.values():
        _refresh(pos)  # once at the end: sums over the open lots
    return positions


def factor_after(splits: Iterable[Split], symbol: str, day: date) -> Decimal:
    """The product of the ratios of `symbol`'s splits after `day`: shares of `day` -> shares of today."""
    factor = Decimal(1)
    for sp in splits:
        if sp.symbol == symbol and sp.day > day:
            factor *= sp.ratio
    return factor


def restate(txns: Iterable[Txn], splits: Iterable[Split]) -> list[Txn]:
    """Return the transactions in today's shares: buy/sell quantity x F and price / F, the amount kept.

    For valuing against split-adjusted history (a 500 buy of 10 before a 4:1 split is 40 at 125).
    Cash rows (dividends, fees) are amounts, not shares, and stay as they are.
    """
    by_symbol: dict[str, list[Split]] = {}
    for sp in splits:
        by_symbol.setdefault(sp.symbol, []).append(sp)
    out: list[Txn] = []
    for txn in txns:
        mine = by_symbol.get(txn.symbol)
        factor = factor_after(mine, txn.symbol, txn.day) if mine and txn.kind in ("buy", "sell") else Decimal(1)
        if factor == 1:
            out.append(txn)
        else:
            out.append(replace(txn, quantity=txn.quantity * factor, price=txn.price / factor, gross=txn.amount))
    return out


def cash_in_lieu(txns: Iterable[Txn], splits: Iterable[Split],
                 price_on: Callable[[str, date], Decimal | None]) -> list[Txn]:
    """Return the sells that reverse splits book for the fraction they leave of a whole-share holding.

    A holding of 25 shares through a 1:10 split is 2.5 shares: 2 stay, 0.5 is paid out at
    `price_on(symbol, ex_date)` (the post-split price of that day, as traded). A holding that
    was fractional already (a fractional-share broker) keeps its fraction. Without a price the
    fraction stays held. Each sell's id is negative, so it sorts before that day's own trades.
    """
    ordered = sorted(txns, key=lambda t: (t.day, t.id))
    currency = {t.symbol: t.currency for t in ordered}
    booked: list[Txn] = []
    for n, sp in enumerate(sorted((sp for sp in splits if sp.ratio < 1 and sp.symbol in currency),
                                  key=lambda sp: sp.day)):
        held = _held_before(ordered + booked, [s for s in splits if s.symbol == sp.symbol], sp.symbol, sp.day)
        if held <= 0 or held != held.to_integral_value():
            continue
        after = held * sp.ratio
        fraction = after - after.to_integral_value(rounding="ROUND_FLOOR")
        price = price_on(sp.symbol, sp.day) if fraction else None
        if fraction and price is not None:
            booked.append(Txn(id=-(n + 1), symbol=sp.symbol, kind="sell", day=sp.day, quantity=fraction,
                              price=price, fee=ZERO, currency=currency[sp.symbol], cash_in_lieu=True))
    return booked


def _held_before(txns: list[Txn], splits: list[Split], symbol: str, day: date) -> Decimal:
    """The quantity of `symbol` held just before `day`'s split, in the shares of the day before."""
    return held_before_each(txns, [sp for sp in splits if sp.day < day], symbol, [day])[day]


def held_before_each(txns: Iterable[Txn], splits: Iterable[Split], symbol: str,
                     days: Iterable[date]) -> dict[date, Decimal]:
    """The quantity of `symbol` held at the start of each of `days` (before its trades, after its splits).

    In the shares of that day: what a dividend with that ex-date is paid on. One pass.
    """
    wanted = sorted(set(days))
    events: list[tuple[date, int, int, Txn | Split]] = [(t.day, 1, t.id, t) for t in txns if t.symbol == symbol]
    events += [(sp.day, 0, 0, sp) for sp in splits if sp.symbol == symbol]
    events.sort(key=lambda e: e[:3])
    held, out, i = ZERO, {}, 0
    for day in wanted:
        while i < len(events) and (events[i][0] < day or (events[i][0] == day and events[i][1] == 0)):
            item = events[i][3]
            if isinstance(item, Split):
                held *= item.ratio
            elif item.kind == "buy":
                held += item.quantity
            elif item.kind == "sell":
                held -= item.quantity
            i += 1
        out[day] = held
    return out


def held_on(txns: Iterable[Txn], symbol: str, day: date) -> Decimal:
    """Return the quantity of `symbol` held at the end of `day` (all of that day's trades included)."""
    held = ZERO
    for txn in txns:
        if txn.symbol == symbol and txn.day <= day:
            if txn.kind == "buy":
                held += txn.quantity
            elif txn.kind == "sell":
                held -= txn.quantity
    return held


def value_holding(position: Position, price: Decimal, fx_now: Decimal,
                  total_value_base: Decimal | None = None) -> dict[str, Any]:
    """Value a position at `price` (local) and `fx_now` (base per local), splitting unrealised P/L into price and FX.

    For each open lot with quantity q, local cost C and base cost B, lot_fx = B / C (the rate
    the lot was bought at):
      price effect = (price*q - C) * lot_fx   -- the local gain, converted at the buy-date rate
      fx effect    = price*q * (fx_now - lot_fx) -- today's local value re-priced by the rate move
    These add up to price*q*fx_now - B, the lot's unrealised base P/L. The FX effect is computed
    as the remainder (unrealised_base - price effect) so the two sum to unrealised_base exactly
    even when B / C is not a terminating decimal. A lot with zero local cost has no buy-date
    rate; it is treated as bought at fx_now (its whole gain is price effect).

    Returns Decimal market_value_local/base, unrealised_local/base, price_effect_base,
    fx_effect_base; float unrealised_pct (base P/L over base cost, None without cost) and
    weight (market_value_base / total_value_base, None without a positive total).
    """
    mv_local = position.quantity * price
    mv_base = mv_local * fx_now
    unrealised_local = mv_local - position.cost_basis_local
    unrealised_base = mv_base - position.cost_basis_base
    price_effect = sum((_lot_price_effect(lot, price, fx_now) for lot in position.lots), ZERO)
    return {
        "market_value_local": mv_local,
        "market_value_base": mv_base,
        "unrealised_local": unrealised_local,
        "unrealised_base": unrealised_base,
        "unrealised_pct": float(unrealised_base / position.cost_basis_base) if position.cost_basis_base else None,
        "price_effect_base": price_effect,
        "fx_effect_base": unrealised_base - price_effect,
        "weight": float(mv_base / total_value_base) if total_value_base else None,
    }


def return_breakdown(position: Position, valued: dict[str, Any] | None) -> dict[str, Decimal | None]:
    """Split a position's return in the base currency into price, dividends and FX (Decimal, exact).

    price + fx = realised_base + unrealised_base; dividends = dividends_base. A sale's price part
    is its local gain at the rate its shares were bought at (cost_base / cost_local) and its FX
    part the rest, as for the open lots in value_holding. Without a valuation (no quote) the
    unrealised part is unknown, and price and fx are None.
    """
    price = fx = ZERO
    for sale in position.sales:
        lot_fx = sale.cost_base / sale.cost_local if sale.cost_local else (
            sale.proceeds_base / sale.proceeds_local if sale.proceeds_local else Decimal(1))
        part = sale.gain_local * lot_fx
        price += part
        fx += sale.gain_base - part
    if position.quantity and valued is None:
        return {"price": None, "dividends": position.dividends_base, "fx": None}
    if valued is not None:
        price += valued["price_effect_base"]
        fx += valued["fx_effect_base"]
    return {"price": price, "dividends": position.dividends_base, "fx": fx}


def allocation(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Group {symbol, sector, country, currency, value_base} rows by holding, sector, country and currency.

    Each group is a list of {key, value (Decimal), weight (float)} sorted by value descending
    (ties by key); weights sum to 1. Missing sector/country/currency are grouped as "Unknown".
    Every list is empty when the total value is zero.
    """
    dimensions = {"holding": "symbol", "sector": "sector", "country": "country", "currency": "currency"}
    total = sum((row["value_base"] for row in rows), ZERO)
    if not total:
        return {name: [] for name in dimensions}
    return {name: _group(rows, column, total) for name, column in dimensions.items()}


# --- replay steps -------------------------------------------------------------------------


def _buy(pos: Position, txn: Txn) -> None:
    # The commission is part of what the shares cost, so it goes into the lot (and into fees paid).
    cost_local = txn.amount + txn.fee
    pos.lots.append(Lot(txn.day, txn.quantity, cost_local, cost_local * txn.fx))
    pos.quantity += txn.quantity  # kept current for the oversell check; the rest is summed at the end
    _add_fee(pos, txn)


def _sell(pos: Position, txn: Txn) -> None:
    if txn.quantity > pos.quantity:
        raise OversellError(txn.symbol, txn.day, pos.quantity, txn.quantity)
    consume = _consume_average if pos.method == "average" else _consume_fifo
    cost_local, cost_base = consume(pos, txn.quantity)
    pos.quantity -= txn.quantity
    proceeds_local = txn.amount - txn.fee
    pos.realised_local += proceeds_local - cost_local
    # Proceeds are converted at the sell-date rate and the lots at their buy-date rates, so
    # realised_base includes the currency gain or loss over the holding period.
    pos.realised_base += proceeds_local * txn.fx - cost_base
    pos.sales.append(Sale(txn.day, txn.quantity, proceeds_local, cost_local, proceeds_local * txn.fx, cost_base,
                          txn.cash_in_lieu))
    _add_fee(pos, txn)


def _dividend(pos: Position, txn: Txn) -> None:
    pos.dividends_local += txn.amount
    pos.dividends_base += txn.amount * txn.fx
    _add_fee(pos, txn)  # e.g. a handling charge booked on the dividend row


def _fee(pos: Position, txn: Txn) -> None:
    pos.fees_local += txn.amount
    pos.fees_base += txn.amount * txn.fx
    _add_fee(pos, txn)


_APPLY = {"buy": _buy, "sell": _sell, "dividend": _dividend, "fee": _fee}


def _split(pos: Position, ratio: Decimal) -> None:
    # Each lot becomes ratio times as many shares at the same cost: no gain, no loss, no cash.
    pos.lots = [replace(lot, quantity=lot.quantity * ratio) for lot in pos.lots]
    pos.quantity *= ratio


def _add_fee(pos: Position, txn: Txn) -> None:
    pos.fees_local += txn.fee
    pos.fees_base += txn.fee * txn.fx


def _consume_fifo(pos: Position, quantity: Decimal) -> tuple[Decimal, Decimal]:
    """Remove `quantity` shares from the oldest lots; return the (local, base) cost removed."""
    cost_local = cost_base = ZERO
    remaining = quantity
    while remaining > 0:
        lot = pos.lots[0]
        if lot.quantity <= remaining:
            pos.lots.pop(0)
            remaining -= lot.quantity
            cost_local += lot.cost_local
            cost_base += lot.cost_base
            continue
        # Partial lot: take a pro-rata share of its cost and keep the rest by subtraction,
        # so the lot's total cost is conserved exactly however the division rounds.
        part_local = lot.cost_local * remaining / lot.quantity
        part_base = lot.cost_base * remaining / lot.quantity
        pos.lots[0] = replace(lot, quantity=lot.quantity - remaining,
                              cost_local=lot.cost_local - part_local, cost_base=lot.cost_base - part_base)
        cost_local += part_local
        cost_base += part_base
        remaining = ZERO
    return cost_local, cost_base


def _consume_average(pos: Position, quantity: Decimal) -> tuple[Decimal, Decimal]:
    """Remove `quantity` shares at the average cost: the same fraction of every open lot."""
    held = pos.quantity
    if quantity == held:
        cost = (sum((lot.cost_local for lot in pos.lots), ZERO), sum((lot.cost_base for lot in pos.lots), ZERO))
        pos.lots = []
        return cost
    cost_local = cost_base = ZERO
    kept = []
    for lot in pos.lots:
        part_local = lot.cost_local * quantity / held
        part_base = lot.cost_base * quantity / held
        kept.append(replace(lot, quantity=lot.quantity - lot.quantity * quantity / held,
                            cost_local=lot.cost_local - part_local, cost_base=lot.cost_base - part_base))
        cost_local += part_local
        cost_base += part_base
    # The last lot keeps the remainder, so the lots add up to exactly what is left however the
    # divisions rounded (1 of 3 shares sold leaves 2, not 1.9999...).
    others = sum((lot.quantity for lot in kept[:-1]), ZERO)
    kept[-1] = replace(kept[-1], quantity=held - quantity - others)
    pos.lots = kept
    return cost_local, cost_base


def realised_by_year(positions: Iterable[Position]) -> dict[int, dict[str, Decimal]]:
    """Calendar year -> {proceeds, cost, gain} of the sales in it, in the base currency (years with sales only)."""
    years: dict[int, dict[str, Decimal]] = {}
    for pos in positions:
        for sale in pos.sales:
            year = years.setdefault(sale.day.year, {"proceeds": ZERO, "cost": ZERO, "gain": ZERO})
            year["proceeds"] += sale.proceeds_base
            year["cost"] += sale.cost_base
            year["gain"] += sale.gain_base
    return dict(sorted(years.items()))


def _refresh(pos: Position) -> None:
    """Recompute the derived totals from the open lots (cheap: a position has few lots)."""
    pos.quantity = sum((lot.quantity for lot in pos.lots), ZERO)
    pos.cost_basis_local = sum((lot.cost_local for lot in pos.lots), ZERO)
    pos.cost_basis_base = sum((lot.cost_base for lot in pos.lots), ZERO)
    pos.avg_cost = pos.cost_basis_local / pos.quantity if pos.quantity else None


def _validate(txn: Txn) -> None:
    if txn.kind not in KINDS:
        raise ValueError(f"unknown transaction kind {txn.kind!r} (id {txn.id})")
    if txn.kind in ("buy", "sell") and txn.quantity <= 0:
        raise ValueError(f"{txn.kind} quantity must be positive (id {txn.id})")
    if txn.fee < 0:
        raise ValueError(f"fee must not be negative (id {txn.id})")
    if txn.fx <= 0:
        raise ValueError(f"fx rate must be positive (id {txn.id})")


# --- valuation and allocation helpers ----------------------------------------------------------


def _lot_price_effect(lot: Lot, price: Decimal, fx_now: Decimal) -> Decimal:
    lot_fx = lot.cost_base / lot.cost_local if lot.cost_local else fx_now
    return (price * lot.quantity - lot.cost_local) * lot_fx


def _group(rows: list[dict[str, Any]], column: str, total: Decimal) -> list[dict[str, Any]]:
    sums: dict[str, Decimal] = {}
    for row in rows:
        key = row.get(column) or UNKNOWN
        sums[key] = sums.get(key, ZERO) + row["value_base"]
    ordered = sorted(sums.items(), key=lambda item: (-item[1], item[0]))
    return [{"key": key, "value": value, "weight": float(value / total)} for key, value in ordered]


def _fmt(quantity: Decimal) -> str:
    """Show a quantity without trailing zeros or exponent: 10.000 -> "10", 2.50 -> "2.5"."""
    text = format(quantity, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text
