"""Portfolio value series, time- and money-weighted returns, period returns and the monthly grid.

Pure: numbers in, numbers out; no Flask, no database, no I/O. Values and flows are
Decimal (they are money); rates are floats.

Conventions used throughout:
- A series is a list of DayValue, oldest first. `value` is the market value at the end of
  the day; `flow` is the net external cash put into the portfolio that day (positive in,
  negative out), in the base currency; `inflow` and `outflow` are its two sides (buys and
  fees paid in; sale proceeds and dividends paid out), each >= 0, flow = inflow - outflow.
- Money comes in at the start of the day and goes out at its end, as in Portfolio
  Performance's true time-weighted rate of return (and Modified Dietz with weight 1 for
  inflows). Day i's return is

      r_i = (V_i + Out_i) / (V_{i-1} + In_i) - 1

  so a buy earns (or loses) the move from its price to that day's close, its commission
  included, and a sale earns the move from the previous close to its price. V, Out >= 0 for
  a long-only portfolio, so r_i >= -100 % on every day, and so is every product of them (the
  TWR of any period, any month, and the index). A day with V_{i-1} + In_i = 0 earns nothing.
- A dividend or fee booked on a day without trades while nothing is held, from the start
  to the end of the day (after a full exit), is income or cost of the last holding: it is
  linked as if booked on the last day that earned a return, i.e. it joins that day's
  numerator N = V_k + Out_k or denominator B = V_{k-1} + In_k, and the day contributes the
  change of that ratio, ((N + Out_i) / (B + In_i)) / (N / B) (N and B are running totals
  when several such bookings follow). Without an earlier holding there is nothing to link
  it to, and the day is skipped.
- The first point of a series handed to twr() is its anchor (the starting value): its own
  flow is already inside its value and earns no return. Periods, months and the index are
  measured from the same anchors (see _window), with the same day returns, so the index
  ends at 100 x (1 + TWR) and the months of a span chain to the span's TWR.
"""
from __future__ import annotations

import calendar
import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from itertools import dropwhile

import numpy as np

from app.analysis.portfolio import Txn

ZERO = Decimal(0)
ONE = Decimal(1)
DAYS_PER_YEAR = 365.0  # XIRR's (and Excel's) Actual/365 year
PERIOD_MONTHS = {"1m": 1, "3m": 3, "6m": 6, "1y": 12, "2y": 24, "5y": 60}
NEVER_ANNUALISED = {"ytd", "1m", "3m", "6m", "1y"}
MAX_NEWTON_STEPS = 50
MAX_BISECT_STEPS = 200
RATE_CEILING = 1e6  # XIRR gives up above 100,000,000 % a year
PeriodResult = dict[str, float | bool | None]  # {"twr": float | None, "mwr": float | None, "annualised": bool}


@dataclass(frozen=True)
class DayValue:
    """The portfolio at the end of one day: market value and external flows, all in base currency.

    `inflow`/`outflow` default to the positive/negative part of `flow`; `traded` says whether
    shares were bought or sold that day (a day without trades can hold only cash bookings).
    """

    day: date
    value: Decimal
    flow: Decimal
    inflow: Decimal | None = field(default=None, compare=False)
    outflow: Decimal | None = field(default=None, compare=False)
    traded: bool = field(default=True, compare=False)

    def __post_init__(self) -> None:
        if self.inflow is None:
            object.__setattr__(self, "inflow", max(self.flow, ZERO))
        if self.outflow is None:
            object.__setattr__(self, "outflow", max(-self.flow, ZERO))


def daily_value_series(txns: Iterable[Txn], closes: Mapping[str, Mapping[date, Decimal | float] | Series],
                       fx: Mapping[str, Mapping[date, Decimal | float] | Series], start: date, end: date, base: str,
                       reuse: dict[date, DayValue] | None = None, reuse_before: date | None = None) -> list[DayValue]:
    """Value the portfolio on every business day (Mon-Fri) in [start, end] plus any day with a transaction.

    Weekend/holiday days carry no new information, so only Mon-Fri are listed; a transaction
    dated on a weekend adds its own day so its flow and its shares land on the same point.
    Holidays stay in (valued at the previous close): a flat day does not change returns.

    value = sum over symbols of quantity held at end of day * close * fx, where close and fx
    are the latest known on or before the day: the series in `closes`/`fx`, or the price/rate of
    a more recent transaction (so a stock bought before its first stored close is still valued);
    a stored value wins a tie. fx[currency][day] is base units per currency unit; the base
    currency is always 1. A series is a mapping of day to value or a `Series`; float values are
    taken at their shortest repr (Decimal(str(x))).

    flow (base, at the transaction's own fx): buy +(qty*price + fee), sell -(qty*price - fee),
    dividend -(amount - fee) (cash paid out to the investor leaves the portfolio), fee
    +(amount + fee) (cash paid in to cover it). Transactions before `start` are not flows:
    they are inside the first point's value. Transactions are assumed valid (see replay()).

    `reuse` holds the points of an earlier run; the days before `reuse_before` are taken from it
    instead of being valued again (the caller vouches that nothing before that day changed).

    How: the transactions are replayed once into each symbol's holding steps (the quantity from
    a day on) and the day's flows; each symbol's and currency's value on every day is found for
    all days at once (numpy's searchsorted over the days); then each holding is valued symbol by
    symbol over the days it is held. Values are exact Decimals, summed per day in the order the
    symbols were first traded, so the result is the same as valuing day by day.
    """
    ordered = sorted(txns, key=lambda t: (t.day, t.id))
    days = sorted(set(_business_days(start, end)) | {t.day for t in ordered if start <= t.day <= end})
    n = len(days)
    day_ords = np.fromiter((d.toordinal() for d in days), dtype=np.int64, count=n)
    inflows, outflows, traded = [ZERO] * n, [ZERO] * n, [False] * n
    held: dict[str, Decimal] = {}
    steps: dict[str, list[tuple[int, Decimal, str]]] = {}  # symbol: (first day index, quantity from it, currency)
    trades: dict[str, tuple[list[int], list[Decimal]]] = {}  # buy/sell prices seen, per symbol
    seen_rates: dict[str, tuple[list[int], list[Decimal]]] = {}  # every transaction's rate, per currency
    for txn in ordered:
        k = bisect_left(days, txn.day)  # the day the transaction lands on (0 for one before `start`)
        if k >= n:
            break
        quantity = held[txn.symbol] = held.get(txn.symbol, ZERO) + _share_change(txn)
        symbol_steps = steps.setdefault(txn.symbol, [])
        if symbol_steps and symbol_steps[-1][0] == k:
            symbol_steps[-1] = (k, quantity, txn.currency)
        else:
            symbol_steps.append((k, quantity, txn.currency))
        if txn.kind in ("buy", "sell"):
            _append(trades, txn.symbol, txn.day.toordinal(), txn.price)
        _append(seen_rates, txn.currency, txn.day.toordinal(), txn.fx)
        if txn.day >= start:
            flow = _flow(txn)
            inflows[k] += max(flow, ZERO)
            outflows[k] += max(-flow, ZERO)
            traded[k] = traded[k] or txn.kind in ("buy", "sell")

    def reused(k: int) -> bool:
        return reuse_before is not None and days[k] < reuse_before and reuse is not None and days[k] in reuse

    first = next((k for k in range(n) if not reused(k)), n)  # the days from it on are valued
    totals = np.full(n, ZERO, dtype=object)
    rates: dict[str, tuple[int, np.ndarray]] = {base: (0, np.full(n, ONE, dtype=object))}
    for symbol, symbol_steps in steps.items():
        prices: tuple[np.ndarray, np.ndarray] | None = None
        for j, (k0, quantity, currency) in enumerate(symbol_steps):
            k1 = symbol_steps[j + 1][0] if j + 1 < len(symbol_steps) else n
            k0 = max(k0, first)
            if not quantity or k0 >= k1:
                continue
            if prices is None:
                prices = _decimals_on_each_day(closes.get(symbol), trades.get(symbol), day_ords, first)
            at, values = prices
            if at[k0] < 0:  # known from a day on, so known on every later one
                raise ValueError(f"no value for {symbol} on or before {days[k0].isoformat()}")
            if currency not in rates:
                rate_at, rate_values = _decimals_on_each_day(fx.get(currency), seen_rates.get(currency), day_ords, first)
                rates[currency] = (int(np.argmax(rate_at >= 0)) if (rate_at >= 0).any() else n,
                                   rate_values[rate_at])
            known_from, rate_of = rates[currency]
            if k0 < known_from:
                raise ValueError(f"no value for {currency} on or before {days[k0].isoformat()}")
            # Elementwise over the held days: quantity * close * rate, then added to each day's total.
            totals[k0:k1] += values[at[k0:k1]] * quantity * rate_of[k0:k1]
    return [reuse[days[k]] if k < first or reused(k) else  # type: ignore[index]
            DayValue(days[k], totals[k], inflows[k] - outflows[k], inflows[k], outflows[k], traded[k])
            for k in range(n)]


@dataclass(frozen=True)
class Series:
    """One key's values on its known days, oldest first (days as ordinals): a mapping of day to value, pre-sorted."""

    ordinals: Sequence[int]
    values: Sequence[Decimal | float]


def _append(seen: dict[str, tuple[list[int], list[Decimal]]], key: str, ordinal: int, value: Decimal) -> None:
    ordinals, values = seen.setdefault(key, ([], []))
    ordinals.append(ordinal)
    values.append(value)


def _decimals_on_each_day(stored: Mapping[date, Decimal | float] | Series | None,
                          seen: tuple[list[int], list[Decimal]] | None, day_ords: np.ndarray,
                          first: int) -> tuple[np.ndarray, np.ndarray]:
    """Per day: the index of the latest value on or before it in the returned Decimals (stored ones, then the seen), -1 for none.

    A stored value wins over one seen (a transaction's) only if it is at least as recent: a
    close is a better end-of-day value than a trade price. Only the values read from day
    index `first` on are converted to Decimal (at their shortest repr); the others stay 0.
    """
    if stored is None:
        stored = Series((), ())
    elif not isinstance(stored, Series):
        items = sorted(stored.items())
        stored = Series([d.toordinal() for d, _ in items], [v for _, v in items])
    stored_ords = np.asarray(stored.ordinals, dtype=np.int64)
    seen_ords = np.asarray(seen[0] if seen else (), dtype=np.int64)
    si = np.searchsorted(stored_ords, day_ords, side="right") - 1
    ti = np.searchsorted(seen_ords, day_ords, side="right") - 1
    stored_day = stored_ords[np.maximum(si, 0)] if len(stored_ords) else np.zeros_like(day_ords)
    seen_day = seen_ords[np.maximum(ti, 0)] if len(seen_ords) else np.zeros_like(day_ords)
    use_stored = (si >= 0) & ((ti < 0) | (stored_day >= seen_day))
    at = np.where(use_stored, si, np.where(ti >= 0, len(stored_ords) + ti, -1))
    values = np.full(len(stored_ords) + len(seen_ords), ZERO, dtype=object)
    used = at[first:]
    used = used[used >= 0]
    if len(used):
        lo, hi = int(used.min()), int(used.max()) + 1
        ns = len(stored_ords)
        kept = stored.values[lo:hi]
        if all(v.__class__ is float for v in kept):
            kept = list(map(Decimal, map(repr, kept)))  # the shortest repr, as Decimal(str(x))
        else:
            kept = [v if isinstance(v, Decimal) else Decimal(str(v)) for v in kept]
        values[lo:hi] = list(kept) + (seen[1][max(lo - ns, 0):hi - ns] if seen and hi > ns else [])
    return at, values


def twr(series: Sequence[DayValue]) -> float | None:
    """Time-weighted return of a series (first point = anchor), linking the day returns of the module's convention.

    Each later day i contributes r_i = (V_i + Out_i) / (V_{i-1} + In_i) - 1 (several flows on
    one day are summed per side); a day with nothing invested at its start and nothing coming
    in earns nothing and is skipped, unless it is a cash booking after a full exit (linked to
    the last holding, see the module docstring). None when no day could be linked.
    """
    if not series:
        return None
    return _linked(_factors(series)[1:])


def twr_index(series: Sequence[DayValue], start: date | None, end: date,
              base: float = 100.0) -> list[tuple[date, float]]:
    """Growth of `base` over the period after `start` (None = from the first flow) up to `end`, flows taken out.

    The index is `base` at the period's anchor (the value just before its first day; for a
    portfolio started inside the period, the nothing before its first flow) and moves by every
    day's return, so it ends at base x (1 + the period's TWR). The anchor is a point of its own
    when it is an earlier day; the first day's return (commission, buy price to close) is
    already in the first point.
    """
    window = _window(series, start, end)
    if window is None:
        return []
    anchor, first, last = window
    factors = _factors(series)
    out = [(anchor.day, base)] if anchor.day < series[first].day else []
    level = base
    for i in range(first, last + 1):
        if factors[i] is not None:
            level *= factors[i]
        out.append((series[i].day, level))
    return out


def xirr(cashflows: list[tuple[date, float]]) -> float | None:
    """Money-weighted annual return (Actual/365) of dated cash flows from the investor's side: in < 0, out > 0.

    Newton's method from 10 %, falling back to bisection on (-100 %, RATE_CEILING] when Newton
    leaves the domain or does not settle. None without both signs, when all flows share one
    date, or when no root is found within the bounded iterations.
    """
    flows = sorted((d, float(a)) for d, a in cashflows if a)
    if not any(a < 0 for _, a in flows) or not any(a > 0 for _, a in flows):
        return None
    first = flows[0][0]
    times = [(d - first).days / DAYS_PER_YEAR for d, _ in flows]
    amounts = [a for _, a in flows]
    if times[-1] == 0:
        return None
    # A root must make NPV small relative to the money involved, not just in absolute terms.
    tolerance = 1e-9 * sum(abs(a) for a in amounts)
    rate = _newton(times, amounts, tolerance)
    return rate if rate is not None else _bisect(times, amounts, tolerance)


def annualise(total_return: float, days: int) -> float:
    """Turn a return over `days` calendar days into an annual rate: (1 + r) ** (365 / days) - 1."""
    if days <= 0:
        raise ValueError("days must be positive")
    if total_return <= -1.0:
        return -1.0  # everything lost stays everything lost (and avoids a complex power)
    return (1.0 + total_return) ** (DAYS_PER_YEAR / days) - 1.0


def period_returns(series: Sequence[DayValue], today: date,
                   periods: Sequence[str] = ("1m", "3m", "ytd", "1y", "max")) -> dict[str, PeriodResult]:
    """TWR and MWR for named periods ending today: {period: {"twr", "mwr", "annualised"}}.

    Periods: 1m 3m 6m 1y 2y 5y (calendar months back from today), ytd (from 31 Dec) and max.
    A period is measured from its anchor, the last point on or before its start date, to the
    last point on or before today. If nothing was invested at the anchor (or the series starts
    later), the period starts on the first day with activity, so "1y" on a six-month-old
    portfolio is its return since inception.

    1m..1y are never annualised. 2y, 5y and max are annualised only when the span actually
    measured is longer than one year (a young portfolio's "max" stays a plain return).
    mwr is xirr() over the period with the anchor value as money in and the final value as money
    out; xirr is an annual rate, so for non-annualised periods it is converted back to the
    period's own return, (1 + annual) ** (span_days / 365) - 1, which for a single in and out
    equals the plain return.
    """
    out: dict[str, PeriodResult] = {}
    factors = _factors(series)
    for name in periods:
        start = period_start(name, today)
        window = _window(series, start, today)
        if window is None:
            out[name] = {"twr": None, "mwr": None, "annualised": False}
            continue
        anchor, first, last = window
        points = list(series[first:last + 1])
        span = (points[-1].day - anchor.day).days
        annualised = name not in NEVER_ANNUALISED and anchor.day < _months_back(points[-1].day, 12)
        time_weighted = _linked(factors[first:last + 1])
        if time_weighted is not None and annualised:
            time_weighted = annualise(time_weighted, span)
        money_weighted = xirr(_cashflows(anchor, points))
        if money_weighted is not None and not annualised:
            # The first cash flow is on the anchor day, so xirr's own span is `span`.
            money_weighted = (1.0 + money_weighted) ** (span / DAYS_PER_YEAR) - 1.0
        out[name] = {"twr": time_weighted, "mwr": money_weighted, "annualised": annualised}
    return out


def monthly_returns(series: Sequence[DayValue]) -> dict[int, dict[int, float | None]]:
    """Year -> month (1..12) -> TWR within the month, anchored on the previous month's last point; None without data."""
    if not series:
        return {}
    grid: dict[int, dict[int, float | None]] = {
        year: {month: None for month in range(1, 13)}
        for year in range(series[0].day.year, series[-1].day.year + 1)}
    factors = _factors(series)
    for year, month in sorted({(p.day.year, p.day.month) for p in series}):
        first_day = date(year, month, 1)
        last_day = date(year, month, calendar.monthrange(year, month)[1])
        window = _window(series, first_day - timedelta(days=1), last_day)
        if window is not None:
            _anchor, first, last = window
            grid[year][month] = _linked(factors[first:last + 1])
    return grid


def benchmark_returns(closes: dict[date, Decimal], start: date, end: date) -> float | None:
    """Simple price return from the last close on or before `start` to the last close on or before `end`.

    If there is no close on or before `start`, the first close after it is used. None when
    either price is missing, the start price is zero, or the start is not before the end.
    """
    days = sorted(closes)
    i = bisect_right(days, start)
    start_day = days[i - 1] if i else (days[0] if days else None)
    j = bisect_right(days, end)
    end_day = days[j - 1] if j else None
    if start_day is None or end_day is None or start_day >= end_day or not closes[start_day]:
        return None
    return float(closes[end_day] / closes[start_day]) - 1.0


def normalise(series: Sequence[tuple[date, Decimal | float]], base: float = 100) -> list[tuple[date, float]]:
    """Rebase (day, value) points so the first non-zero value equals `base`; earlier points are dropped.

    Meant for price series (a benchmark, a stock). A portfolio's value series also moves with
    deposits and withdrawals, so chart a portfolio by its linked TWR instead.
    """
    points = list(dropwhile(lambda p: not p[1], series))
    if not points:
        return []
    first = float(points[0][1])
    return [(day, float(value) / first * base) for day, value in points]


# --- helpers --------------------------------------------------------------------------------


def _business_days(start: date, end: date) -> Iterable[date]:
    day = start
    while day <= end:
        if day.weekday() < 5:
            yield day
        day += timedelta(days=1)


def _share_change(txn: Txn) -> Decimal:
    return {"buy": txn.quantity, "sell": -txn.quantity}.get(txn.kind, ZERO)


def _flow(txn: Txn) -> Decimal:
    local = {
        "buy": txn.amount + txn.fee,
        "sell": -(txn.amount - txn.fee),
        "dividend": -(txn.amount - txn.fee),
        "fee": txn.amount + txn.fee,
    }[txn.kind]
    return local * txn.fx


def _factors(series: Sequence[DayValue]) -> list[float | None]:
    """Each point's growth factor 1 + r_i over the point before it (the first over nothing); None = not linked.

    See the module docstring: money in at the start of the day, out at its end; a cash booking
    after a full exit joins the last linked day's ratio and contributes the change of that ratio.
    """
    out: list[float | None] = []
    previous = ZERO
    last: tuple[Decimal, Decimal] | None = None  # (numerator, denominator) of the last linked day
    for point in series:
        numerator = point.value + point.outflow
        denominator = previous + point.inflow
        after_exit = previous == 0 and point.value == 0 and not point.traded and (point.inflow or point.outflow)
        if after_exit and last is not None and last[0] > 0:
            grown = (last[0] + point.outflow, last[1] + point.inflow)
            out.append(float(grown[0] / grown[1]) / float(last[0] / last[1]))
            last = grown
        elif after_exit or denominator <= 0:
            out.append(None)
        else:
            out.append(float(numerator / denominator))
            last = (numerator, denominator)
        previous = point.value
    return out


def _linked(factors: Sequence[float | None]) -> float | None:
    growth, linked = 1.0, False
    for factor in factors:
        if factor is not None:
            growth *= factor
            linked = True
    return growth - 1.0 if linked else None


def _window(series: Sequence[DayValue], start: date | None, end: date) -> tuple[DayValue, int, int] | None:
    """Return (anchor, first, last) for a period starting after `start` (None = from the beginning) up to `end`.

    The period's points are series[first:last + 1]. The anchor is the last point on or before
    `start`. When nothing was invested at the anchor, idle leading days are dropped and the
    anchor becomes a zero point on the first active day, so spans (and annualisation) count
    from real activity. A series that starts already holding something, with no anchor before
    it, uses its first point as the anchor.
    """
    days = [p.day for p in series]
    stop = bisect_right(days, end)  # the points up to `end` are series[:stop]
    first = min(bisect_right(days, start), stop) if start is not None else 0
    anchor = series[first - 1] if first else None
    if anchor is None or anchor.value == 0:
        while first < stop and not (series[first].value or series[first].inflow or series[first].outflow):
            first += 1
        if first >= stop:
            return None
        if anchor is None and series[first].flow <= 0 and series[first].value > 0:
            anchor, first = series[first], first + 1
        else:
            anchor = DayValue(series[first].day, ZERO, ZERO)
    return (anchor, first, stop - 1) if first < stop else None


def _cashflows(anchor: DayValue, points: list[DayValue]) -> list[tuple[date, float]]:
    """The period from the investor's side: anchor value in, each flow, final value out."""
    flows = [(anchor.day, -float(anchor.value))]
    flows += [(p.day, -float(p.flow)) for p in points]
    flows.append((points[-1].day, float(points[-1].value)))
    return flows


def period_start(name: str, today: date) -> date | None:
    """Return the day a named period is measured after (its anchor is the last point on or before it); None = max."""
    if name == "max":
        return None
    if name == "ytd":
        return date(today.year - 1, 12, 31)
    if name not in PERIOD_MONTHS:
        raise ValueError(f"unknown period {name!r}")
    return _months_back(today, PERIOD_MONTHS[name])


def _months_back(day: date, months: int) -> date:
    """The same day `months` calendar months earlier, clamped to the month's end (31 Mar -> 29 Feb)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _npv(rate: float, times: list[float], amounts: list[float]) -> float:
    return sum(a * (1.0 + rate) ** -t for t, a in zip(times, amounts))


def _newton(times: list[float], amounts: list[float], tolerance: float) -> float | None:
    rate = 0.1
    try:
        for _ in range(MAX_NEWTON_STEPS):
            value = _npv(rate, times, amounts)
            if abs(value) <= tolerance:
                return rate
            slope = sum(-t * a * (1.0 + rate) ** (-t - 1.0) for t, a in zip(times, amounts))
            if slope == 0:
                return None
            rate -= value / slope
            if rate <= -1.0 or not math.isfinite(rate):
                return None  # stepped out of the domain: let bisection bracket the root
    except (OverflowError, ZeroDivisionError):
        return None
    return None


def _bisect(times: list[float], amounts: list[float], tolerance: float) -> float | None:
    def npv(rate: float) -> float:
        return _npv(rate, times, amounts)

    low, high = -0.999999, 1.0
    try:
        f_low, f_high = npv(low), npv(high)
        # NPV at the low end is dominated by the last flows and at the high end by the first, so
        # for ordinary investments one doubling of `high` after another finds a sign change.
        while f_low * f_high > 0:
            if high >= RATE_CEILING:
                return None
            high *= 2.0
            f_high = npv(high)
        for _ in range(MAX_BISECT_STEPS):
            mid = (low + high) / 2.0
            f_mid = npv(mid)
            if abs(f_mid) <= tolerance or high - low < 1e-12:
                return mid
            if f_low * f_mid < 0:
                high = mid
            else:
                low, f_low = mid, f_mid
    except OverflowError:
        return None
    return None
