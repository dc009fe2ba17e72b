"""Portfolio value series, time- and money-weighted returns, period returns and the monthly grid.

Pure: numbers in, numbers out; no Flask, no database, no I/O. Values and flows are
Decimal (they are money); rates are floats.

Conventions used throughout:
- A series is a list of DayValue, oldest first. `value` is the market value at the end of
  the day; `flow` is the net external cash put into the portfolio that day (positive in,
  negative out), in the base currency.
- Flows happen at the end of the day: the day's return is (V_i - F_i) / V_{i-1} - 1.
- The first point of a series handed to twr() is its anchor (the starting value): its own
  flow is already inside its value and earns no return.
"""
from __future__ import annotations

import calendar
import math
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from itertools import dropwhile

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
    """The portfolio at the end of one day: market value and net external flow, both in base currency."""

    day: date
    value: Decimal
    flow: Decimal


def daily_value_series(txns: Iterable[Txn], closes: dict[str, dict[date, Decimal]],
                       fx: dict[str, dict[date, Decimal]], start: date, end: date, base: str) -> list[DayValue]:
    """Value the portfolio on every business day (Mon-Fri) in [start, end] plus any day with a transaction.

    Weekend/holiday days carry no new information, so only Mon-Fri are listed; a transaction
    dated on a weekend adds its own day so its flow and its shares land on the same point.
    Holidays stay in (valued at the previous close): a flat day does not change returns.

    value = sum over symbols of quantity held at end of day * close * fx, where close and fx
    are the latest known on or before the day: the series in `closes`/`fx`, or the price/rate of
    a more recent transaction (so a stock bought before its first stored close is still valued).
    fx[currency][day] is base units per currency unit; the base currency is always 1.

    flow (base, at the transaction's own fx): buy +(qty*price + fee), sell -(qty*price - fee),
    dividend -(amount - fee) (cash paid out to the investor leaves the portfolio), fee
    +(amount + fee) (cash paid in to cover it). Transactions before `start` are not flows:
    they are inside the first point's value. Transactions are assumed valid (see replay()).
    """
    ordered = sorted(txns, key=lambda t: (t.day, t.id))
    days = sorted(set(_business_days(start, end)) | {t.day for t in ordered if start <= t.day <= end})
    prices = _Latest(closes)
    rates = _Latest(fx)
    held: dict[str, Decimal] = defaultdict(lambda: ZERO)
    currency_of: dict[str, str] = {}
    out: list[DayValue] = []
    i = 0
    for day in days:
        flow = ZERO
        while i < len(ordered) and ordered[i].day <= day:
            txn = ordered[i]
            i += 1
            currency_of[txn.symbol] = txn.currency
            held[txn.symbol] += _share_change(txn)
            if txn.kind in ("buy", "sell"):
                prices.observe(txn.symbol, txn.day, txn.price)
            rates.observe(txn.currency, txn.day, txn.fx)
            if txn.day >= start:
                flow += _flow(txn)
        value = ZERO
        for symbol, quantity in held.items():
            if quantity:
                currency = currency_of[symbol]
                rate = ONE if currency == base else rates.on(currency, day)
                value += quantity * prices.on(symbol, day) * rate
        out.append(DayValue(day, value, flow))
    return out


def twr(series: Sequence[DayValue]) -> float | None:
    """Time-weighted return of a series (first point = anchor), linking daily returns with end-of-day flows.

    Each later day i contributes r_i = (V_i - F_i) / V_{i-1} - 1; several flows on one day are
    simply their sum. When V_{i-1} is 0 (nothing invested yet, or after a full exit) that
    formula is undefined, so: if money comes in that day and something is held at its end,
    the day's flow is the opening capital and r_i = V_i / F_i - 1 (this links a re-buy after a
    full exit and counts the gain from the buy price to the close); otherwise the day is
    skipped. None when no day could be linked.
    """
    growth = 1.0
    linked = False
    for prev, cur in zip(series, series[1:]):
        r = _day_return(prev.value, cur.value, cur.flow)
        if r is not None:
            growth *= 1.0 + r
            linked = True
    return growth - 1.0 if linked else None


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
    for name in periods:
        start = _period_start(name, today)
        window = _window(series, start, today)
        if window is None:
            out[name] = {"twr": None, "mwr": None, "annualised": False}
            continue
        anchor, points = window
        span = (points[-1].day - anchor.day).days
        annualised = name not in NEVER_ANNUALISED and anchor.day < _months_back(points[-1].day, 12)
        time_weighted = twr([anchor, *points])
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
    grid = {year: {month: None for month in range(1, 13)}
            for year in range(series[0].day.year, series[-1].day.year + 1)}
    for year, month in sorted({(p.day.year, p.day.month) for p in series}):
        first = date(year, month, 1)
        last = date(year, month, calendar.monthrange(year, month)[1])
        window = _window(series, first - timedelta(days=1), last)
        if window is not None:
            anchor, points = window
            grid[year][month] = twr([anchor, *points])
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


class _Latest:
    """The latest value on or before a day, from a stored series or from observed transactions."""

    def __init__(self, series: dict[str, dict[date, Decimal]]) -> None:
        self._series = series
        self._days = {key: sorted(values) for key, values in series.items()}
        self._observed: dict[str, tuple[date, Decimal]] = {}

    def observe(self, key: str, day: date, value: Decimal) -> None:
        self._observed[key] = (day, value)

    def on(self, key: str, day: date) -> Decimal:
        days = self._days.get(key, [])
        i = bisect_right(days, day)
        stored = (days[i - 1], self._series[key][days[i - 1]]) if i else None
        seen = self._observed.get(key)
        # A stored value wins ties: a close is a better end-of-day value than a trade price.
        if stored and (seen is None or stored[0] >= seen[0]):
            return stored[1]
        if seen:
            return seen[1]
        raise ValueError(f"no value for {key} on or before {day.isoformat()}")


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


def _day_return(prev_value: Decimal, value: Decimal, flow: Decimal) -> float | None:
    if prev_value > 0:
        return float((value - flow) / prev_value) - 1.0
    if flow > 0 and value > 0:
        return float(value / flow) - 1.0
    return None


def _window(series: Sequence[DayValue], start: date | None, end: date) -> tuple[DayValue, list[DayValue]] | None:
    """Return (anchor, points after it up to `end`) for a period starting after `start` (None = from the beginning).

    When nothing was invested at the anchor, idle leading days are dropped and the anchor becomes
    a zero point on the first active day, so spans (and annualisation) count from real activity.
    A series that starts already holding something, with no anchor before it, uses its first
    point as the anchor.
    """
    points = [p for p in series if p.day <= end]
    before = [p for p in points if start is not None and p.day <= start]
    inside = [p for p in points if start is None or p.day > start]
    anchor = before[-1] if before else None
    if anchor is None or anchor.value == 0:
        inside = list(dropwhile(lambda p: p.value == 0 and p.flow == 0, inside))
        if not inside:
            return None
        if anchor is None and inside[0].flow <= 0:
            anchor, inside = inside[0], inside[1:]
        else:
            anchor = DayValue(inside[0].day, ZERO, ZERO)
    return (anchor, inside) if inside else None


def _cashflows(anchor: DayValue, points: list[DayValue]) -> list[tuple[date, float]]:
    """The period from the investor's side: anchor value in, each flow, final value out."""
    flows = [(anchor.day, -float(anchor.value))]
    flows += [(p.day, -float(p.flow)) for p in points]
    flows.append((points[-1].day, float(points[-1].value)))
    return flows


def _period_start(name: str, today: date) -> date | None:
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
