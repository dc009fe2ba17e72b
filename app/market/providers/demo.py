"""The demo provider: a deterministic simulated market over the real universe, no network.

Daily log close = level + smooth multi-year trend + beta-weighted market and sector
factors (mean-reverting, calm/turbulent volatility regimes, generated once per process
and shared) + an idiosyncratic Brownian bridge pinned every BLOCK days + earnings jumps,
softly bounded to 6..700 (x100 for JPY). The bridge uses counter-based noise (a hash of
key and interval), so any day costs O(log BLOCK) and no path is replayed from 2000.
Intraday, the price is a Brownian bridge in log price through the day's open, high, low
and close, evaluated at the current tick bucket: every process agrees on every instant.
"""
from __future__ import annotations

import asyncio
import hashlib
import math
import random
import struct
import threading
from bisect import bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from app.market.providers import demo_data as data
from app.market.providers.base import (DIVIDENDS, FX, HISTORY, NEWS, PROFILE, QUOTES, SEARCH, SPLITS, Limits,
                                       Provider, register)
from app.market.types import (Bar, DividendEvent, FxRate, NewsItem, Profile, ProviderError, Quote, SearchHit, SplitEvent,
                              SymbolNotFoundError)

SOURCE = data.SOURCE
ORIGIN = date(1999, 11, 1)  # trading-day index 0 (a warm-up before the first served day)
FIRST_DAY = date(2000, 1, 1)
BLOCK = 1024  # trading days between the pinned knots of the idiosyncratic bridge
_T_REF = 3320  # trading-day index of about 2013-01-01, the pivot of the long-term trend
_TWO_PI = 2.0 * math.pi
_LOG_MID, _LOG_HALF, _LOG_SOFT = math.log(math.sqrt(6 * 700)), math.log(700 / math.sqrt(6 * 700)), 1.8
_REGIME_VOL = (0.8, 1.9)  # calm, turbulent multipliers of the systematic volatility
_CRISES = ((date(2008, 9, 15), date(2009, 3, 31)), (date(2020, 2, 24), date(2020, 5, 15)))
# The demo market's corporate actions (simulated, not the companies' real ones): a 4-for-1 split
# and a 1-for-10 reverse split inside the served history. History and quotes are split-adjusted,
# as Yahoo's are: before the ex-date the shares traded at 4 times (a tenth of) the served price.
SPLIT_EVENTS = {"NVDA": ((date(2024, 6, 10), 1, 4),), "HFG.DE": ((date(2023, 6, 12), 10, 1),)}
DIVIDEND_NOTICE_DAYS = 30  # a dividend is announced this long before its ex-date
_LOCK = threading.RLock()
_PACK = struct.Struct(">16sqq").pack
_UNPACK8 = struct.Struct(">8I").unpack
_INV32, _INV64 = 1.0 / 2**32, 1.0 / 2**64


@register
class DemoProvider(Provider):
    """Simulated market: deterministic daily history, live intraday ticks, fundamentals, news, FX."""

    name = "demo"
    capabilities = frozenset({QUOTES, HISTORY, PROFILE, NEWS, FX, SEARCH, SPLITS, DIVIDENDS})
    limits = Limits(batch_size=100, rate_per_s=1000.0, concurrency=100, timeout_s=5.0)

    def __init__(self, settings: Mapping[str, Any] | None = None, *,
                 now: Callable[[], datetime] | datetime | None = None, universe: list[Any] | None = None):
        super().__init__(settings)
        clock = now or self.settings.get("DEMO_NOW")
        if isinstance(clock, datetime):
            clock = (lambda fixed: lambda: fixed)(clock)
        self._clock: Callable[[], datetime] = clock or (lambda: datetime.now(timezone.utc))
        self._fail_rng = random.Random(int(self.settings.get("DEMO_SEED") or 0))
        self._records = {r.symbol: r for r in universe} if universe is not None else None
        self._search_rows: list[tuple[str, str, Any]] | None = None

    def now(self) -> datetime:
        """Return the provider's clock as aware UTC (naive clock values are taken as UTC)."""
        now = self._clock()
        return now.replace(tzinfo=timezone.utc) if now.tzinfo is None else now.astimezone(timezone.utc)

    async def quotes(self, symbols: list[str]) -> dict[str, Quote | Exception]:
        """Return the simulated live quote, or SymbolNotFoundError, for each symbol."""
        await self._simulate_call()
        now, tick_s = self.now(), max(0.01, float(self.settings.get("DEMO_TICK_S") or 1.0))
        always_open = bool(self.settings.get("DEMO_ALWAYS_OPEN"))
        out: dict[str, Quote | Exception] = {}
        for symbol in symbols:
            try:
                out[symbol] = _quote(_params(self._record(symbol)), now, tick_s, always_open)
            except SymbolNotFoundError as exc:
                out[symbol] = exc
        return out

    async def history(self, symbol: str, start: date, end: date) -> list[Bar]:
        """Return the closed daily bars from `start` to `end` inclusive (never the running day)."""
        await self._simulate_call()
        p = _params(self._record(symbol))
        start, end = max(start, FIRST_DAY), min(end, _last_closed_day(p, self.now()))
        lo, hi = _day_index(start - timedelta(days=1)) + 1, _day_index(end)
        return [_bar(p, n, *row) for n, row in enumerate(_ohlcv_range(p, lo, hi), lo)]

    async def splits(self, symbol: str, start: date, end: date) -> list[SplitEvent]:
        """Return the simulated splits (SPLIT_EVENTS) with an ex-date in [start, end] that have happened."""
        await self._simulate_call()
        rec = self._record(symbol)
        today = self.now().date()
        return [SplitEvent(rec.symbol, day, old, new, SOURCE) for day, old, new in SPLIT_EVENTS.get(rec.symbol, ())
                if start <= day <= min(end, today)]

    async def dividends(self, symbol: str, start: date, end: date) -> list[DividendEvent]:
        """Return the simulated cash dividends with an ex-date in [start, end], the next one announced ahead.

        Seven in ten stocks pay (a pure function of the symbol): US-listed quarterly (February,
        May, August, November), the others once a year in May, a yield of 1 to 4 % of the close
        before the ex-date. Amounts are in today's shares (split-adjusted), as Yahoo's are.
        """
        await self._simulate_call()
        rec = self._record(symbol)
        p = _params(rec)
        today = self.now().date()
        end = min(end, today + timedelta(days=DIVIDEND_NOTICE_DAYS))
        out = []
        for ex_date, pay_date, share in _dividend_days(p, max(start, FIRST_DAY), end):
            n = _day_index(min(ex_date, today) - timedelta(days=1))
            close = math.exp(_log_closes(p, n, n)[0]) * p.scale
            out.append(DividendEvent(rec.symbol, ex_date, round(close * share, 4), rec.currency, SOURCE,
                                     pay_date=pay_date, adjusted=True))
        return out

    async def profile(self, symbol: str) -> Profile:
        """Return deterministic sector-typical fundamentals; market cap and ratios follow the price."""
        await self._simulate_call()
        p, now = _params(self._record(symbol)), self.now()
        n = _day_index(_last_closed_day(p, now))
        price_ratio = math.exp(_log_closes(p, n, n)[0] - p.level)  # valuation multiples follow the price
        market_cap = p.shares * math.exp(p.level) * p.scale * price_ratio
        return data.build_profile(p.rec, p.key, price_ratio, market_cap, now)

    async def news(self, symbol: str, limit: int = 20) -> list[NewsItem]:
        """Return the last week's simulated headlines, newest first."""
        await self._simulate_call()
        p = _params(self._record(symbol))

        def week_return(day: date) -> float:  # log return of the five sessions before `day`
            n = _day_index(day - timedelta(days=1))
            closes = _log_closes(p, n - 5, n)
            return closes[-1] - closes[0]

        return data.build_news(p.rec, p.key, self.now(), week_return)[:max(0, min(limit, 100))]

    async def fx_rate(self, base: str, quote: str, on: date | None = None) -> FxRate:
        """Return the simulated closing rate base→quote on `on` (today when None)."""
        await self._simulate_call()
        today = self.now().date()
        day = max(min(on or today, today), FIRST_DAY)
        rates = fx_series(base, quote, day, day)
        return FxRate(base=base.upper(), quote=quote.upper(), rate=rates[day], on=day, source=SOURCE)

    async def fx_history(self, base: str, quote: str, start: date, end: date) -> dict[date, float]:
        """Return the rate base→quote for every calendar day from `start` to `end` (up to today)."""
        await self._simulate_call()
        return fx_series(base, quote, start, min(end, self.now().date()))

    async def search(self, query: str, limit: int = 10) -> list[SearchHit]:
        """Return universe stocks whose symbol or name (or a word of it) starts with the query."""
        await self._simulate_call()
        if self._search_rows is None:
            self._search_rows = data.search_rows(self._universe().values())
        return data.search_universe(self._search_rows, query, max(1, min(limit, 100)))

    def _universe(self) -> Mapping[str, Any]:
        return self._records if self._records is not None else _universe_map()

    def _record(self, symbol: str) -> Any:
        rec = self._universe().get(symbol.strip().upper())
        if rec is None:
            raise SymbolNotFoundError(f"unknown symbol {symbol!r}", provider=self.name, symbol=symbol)
        return rec

    async def _simulate_call(self) -> None:
        latency_ms = float(self.settings.get("DEMO_LATENCY_MS") or 0)
        if latency_ms > 0:
            await asyncio.sleep(latency_ms / 1000.0)
        rate = float(self.settings.get("DEMO_FAILURE_RATE") or 0)
        if rate > 0 and self._fail_rng.random() < rate:
            raise ProviderError("simulated demo provider failure", provider=self.name)


def fx_series(base: str, quote: str, start: date, end: date) -> dict[date, float]:
    """Return the simulated rate base→quote for each calendar day in [start, end] (weekends: Friday's)."""
    base, quote = base.upper(), quote.upper()
    units = {c: data.currency_units(c) for c in (base, quote)}
    start = max(start, FIRST_DAY)
    if start > end:
        return {}
    lo, hi = _day_index(start), _day_index(end)
    per_eur = {c: _fx_per_eur(units[c][0], lo, hi, units[c][1]) for c in (base, quote)}
    out, day = {}, start
    while day <= end:
        i = _day_index(day) - lo
        out[day] = 1.0 if base == quote else per_eur[quote][i] / per_eur[base][i]
        day += timedelta(days=1)
    return out


# --- per-symbol parameters ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Sym:
    rec: Any
    key: bytes
    tick_key: bytes  # intraday noise, apart from the daily noise
    level: float  # log of the base price (before the currency scale)
    beta_m: float
    beta_s: float
    sig_e: float  # idiosyncratic daily volatility
    drift: float  # long-term trend per year
    amp: float
    period: float  # years of the long cycle
    phase: float
    scale: float
    shares: float
    turnover: float
    zone: ZoneInfo
    opens: time
    closes: time


@lru_cache(maxsize=1)
def _universe_map() -> dict[str, Any]:
    from app.universe import load_universe
    return {rec.symbol: rec for rec in load_universe()}


@lru_cache(maxsize=4096)
def _params(rec: Any) -> _Sym:
    key = hashlib.sha256(rec.symbol.encode()).digest()[:16]
    rng = random.Random(int.from_bytes(key[:8], "big"))
    cap_lo, cap_hi = next(((lo, hi) for names, lo, hi in data.CAP_TIERS if names & set(rec.indices)),
                          data.DEFAULT_CAP)
    level = rng.uniform(math.log(15), math.log(200))
    scale = data.PRICE_SCALE.get(rec.currency, 1.0)
    cap = math.exp(rng.uniform(math.log(cap_lo), math.log(cap_hi))) * data.fx_base(rec.currency)
    suffix = rec.symbol.rpartition(".")[2] if "." in rec.symbol else ""
    zone, opens, closes = (data.SESSIONS_BY_SUFFIX.get(suffix) or data.SESSIONS_BY_EXCHANGE.get(rec.exchange)
                           or data.NEW_YORK)
    tick_key = hashlib.sha256(f"{rec.symbol}|tick".encode()).digest()[:16]
    return _Sym(rec=rec, key=key, tick_key=tick_key, level=level, beta_m=rng.uniform(0.7, 1.3),
                beta_s=rng.uniform(0.7, 1.3), sig_e=rng.uniform(0.009, 0.017), drift=rng.uniform(-0.02, 0.05),
                amp=rng.uniform(0.05, 0.3), period=rng.uniform(3.0, 10.0), phase=rng.uniform(0.0, _TWO_PI),
                scale=scale, shares=cap / (math.exp(level) * scale), turnover=rng.uniform(0.002, 0.008),
                zone=ZoneInfo(zone), opens=opens, closes=closes)


# --- counter-based noise -------------------------------------------------------------------


def _normal(key: bytes, a: int, b: int) -> float:
    """One standard normal, a pure function of (key, a, b)."""
    h = hashlib.blake2b(_PACK(key, a, b), digest_size=16).digest()
    u1, u2 = (int.from_bytes(h[:8], "big") + 1) * _INV64, int.from_bytes(h[8:], "big") * _INV64
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(_TWO_PI * u2)


def _uniforms(key: bytes, a: int, b: int) -> list[float]:
    """Eight uniforms in (0, 1), a pure function of (key, a, b)."""
    return [(x + 0.5) * _INV32 for x in _UNPACK8(hashlib.blake2b(_PACK(key, a, b), digest_size=32).digest())]


def _bridge(key: bytes, lo: int, hi: int, sigma: float, knot_sd: float) -> list[float]:
    """Values at days lo..hi of a Brownian bridge pinned every BLOCK days at N(0, knot_sd) knots."""
    out = [0.0] * (hi - lo + 1)
    for k in range(lo // BLOCK, hi // BLOCK + 1):
        a, b = k * BLOCK, (k + 1) * BLOCK
        va, vb = knot_sd * _normal(key, k, -1), knot_sd * _normal(key, k + 1, -1)
        for n, v in ((a, va), (b, vb)):
            if lo <= n <= hi:
                out[n - lo] = v
        stack = [(a, va, b, vb)]
        while stack:  # Lévy construction, descending only into intervals that touch [lo, hi]
            a, va, b, vb = stack.pop()
            if b - a < 2 or a >= hi or b <= lo:
                continue
            c = (a + b) // 2
            vc = 0.5 * (va + vb) + sigma * math.sqrt((b - a) / 4.0) * _normal(key, a, b)
            if lo <= c <= hi:
                out[c - lo] = vc
            stack += ((a, va, c, vc), (c, vc, b, vb))
    return out


def _bridge_point(key: bytes, day: int, a: int, va: float, b: int, vb: float, k: int, sigma: float) -> float:
    """Value at tick k of a Brownian bridge from (a, va) to (b, vb), unique per (key, day)."""
    while a < k < b:
        c = (a + b) // 2
        vc = (va + (vb - va) * (c - a) / (b - a)
              + sigma * math.sqrt((c - a) * (b - c) / (b - a)) * _normal(key, day, (a << 32) | b))
        if k == c:
            return vc
        a, va, b, vb = (a, va, c, vc) if k < c else (c, vc, b, vb)
    return va if k == a else vb


# --- calendar and shared factors -------------------------------------------------------------

_ORDS: list[int] = []
_SERIES: dict[str, tuple[random.Random, list[float], list[int]]] = {}


def _dividend_days(p: _Sym, start: date, end: date) -> list[tuple[date, date, float]]:
    """(ex-date, pay date, share of the price paid) of the symbol's dividends in [start, end]."""
    if p.key[9] >= 179 and p.rec.symbol not in SPLIT_EVENTS:  # about three in ten pay nothing; splitters pay
        return []
    annual_yield = 0.01 + 0.03 * p.key[10] / 255
    quarterly = p.rec.currency == "USD"
    months, day_of_month = ((2, 5, 8, 11), 8 + p.key[11] % 12) if quarterly else ((5,), 2 + p.key[11] % 20)
    out = []
    for year in range(start.year, end.year + 1):
        for month in months:
            ex_date = date(year, month, day_of_month)
            while ex_date.weekday() >= 5:
                ex_date += timedelta(days=1)
            if start <= ex_date <= end:
                pay = ex_date + timedelta(days=14 if quarterly else 3)
                out.append((ex_date, pay, annual_yield / len(months)))
    return out


def _day_index(day: date) -> int:
    """Index of the last trading day on or before `day` (-1 before ORIGIN)."""
    ordinal = day.toordinal()
    if not _ORDS or _ORDS[-1] < ordinal + 7:
        with _LOCK:
            d = date.fromordinal(_ORDS[-1] + 1) if _ORDS else ORIGIN
            stop = max(date(d.year + 10, 12, 31), day + timedelta(days=400))
            while d <= stop:
                if d.weekday() < 5 and (d.month, d.day) not in data.HOLIDAYS:
                    _ORDS.append(d.toordinal())
                d += timedelta(days=1)
    return bisect_right(_ORDS, ordinal) - 1


def _is_trading(day: date) -> bool:
    n = _day_index(day)
    return n >= 0 and _ORDS[n] == day.toordinal()


def _series(name: str, n: int) -> list[float]:
    """The shared daily series `name` ("regime", "market" or "sector:<name>"), long enough for day n."""
    entry = _SERIES.get(name)
    if entry is None or len(entry[1]) <= n:
        with _LOCK:
            entry = _SERIES.setdefault(name, (random.Random(hashlib.sha256(name.encode()).digest()), [], [0]))
            rng, values, state = entry
            target = n + 260
            if name == "regime":  # two-state Markov chain, forced turbulent in real crises
                crises = [(_day_index(s), _day_index(e)) for s, e in _CRISES]
                while len(values) <= target:
                    state[0] = (rng.random() < 1 / 45) ^ 1 if state[0] else int(rng.random() < 1 / 300)
                    crisis = any(s <= len(values) <= e for s, e in crises)
                    values.append(_REGIME_VOL[1] if crisis or state[0] else _REGIME_VOL[0])
            else:  # mean-reverting factor; the market drifts up when calm and down when turbulent
                regime = _series("regime", target)
                while len(values) <= target:
                    vol, prev = regime[len(values)], values[-1] if values else 0.0
                    mean = (0.0 if name != "market" else -0.0008 if vol > 1 else 0.0002)
                    values.append(prev * (1 - 1 / 500) + mean + vol * 0.008 * rng.gauss(0.0, 1.0))
    return entry[1]


@lru_cache(maxsize=8192)
def _jumps(key: bytes, k: int) -> tuple[tuple[tuple[int, float], ...], float]:
    """Earnings jumps (offset in 1..BLOCK-1, log size) of block k, oldest first, and their sum."""
    rng = random.Random(key + k.to_bytes(8, "big", signed=True))
    count, p = 0, rng.random()
    while p > math.exp(-6.0):  # Poisson(6): about six surprises per four years
        count, p = count + 1, p * rng.random()
    jumps = tuple(sorted((off, rng.gauss(0.004, 0.06)) for off in rng.sample(range(1, BLOCK), count)))
    return jumps, sum(size for _, size in jumps)


def _jump_path(key: bytes, lo: int, hi: int) -> tuple[list[float], list[float]]:
    """Cumulative jumps (compensated to 0 at every block knot) and the jump of each day, lo..hi."""
    cumulative, today, n = [], [], lo
    while n <= hi:
        k = n // BLOCK
        jumps, total = _jumps(key, k)
        i, acc = 0, 0.0
        while i < len(jumps) and jumps[i][0] < n - k * BLOCK:
            acc, i = acc + jumps[i][1], i + 1
        for off in range(n - k * BLOCK, min(hi + 1, (k + 1) * BLOCK) - k * BLOCK):
            size = 0.0
            if i < len(jumps) and jumps[i][0] == off:
                size, i = jumps[i][1], i + 1
                acc += size
            cumulative.append(acc - total * off / BLOCK)
            today.append(size)
        n = (k + 1) * BLOCK
    return cumulative, today


# --- daily bars ------------------------------------------------------------------------------


def _log_closes(p: _Sym, lo: int, hi: int) -> list[float]:
    """Log closes (before the currency scale) for day indices lo..hi."""
    idio = _bridge(p.key, lo, hi, p.sig_e, 0.3)
    jumps = _jump_path(p.key, lo, hi)[0]
    market, sector = _series("market", hi), _series("sector:" + p.rec.sector, hi)
    out = []
    for i, n in enumerate(range(lo, hi + 1)):
        t = (n - _T_REF) / 252.0
        raw = (p.level + p.drift * t + p.amp * math.sin(_TWO_PI * t / p.period + p.phase)
               + p.beta_m * market[n] + p.beta_s * sector[n] + idio[i] + jumps[i])
        d = raw - _LOG_MID
        if abs(d) > _LOG_SOFT:  # soft bound keeps every stock inside the plausible price band
            span = _LOG_HALF - _LOG_SOFT
            raw = _LOG_MID + math.copysign(_LOG_SOFT + span * math.tanh((abs(d) - _LOG_SOFT) / span), d)
        out.append(raw)
    return out


def _ohlcv_range(p: _Sym, lo: int, hi: int) -> list[tuple[float, float, float, float, float]]:
    """Log open, high, low, close and the volume for day indices lo..hi."""
    if hi < lo:
        return []
    closes, jumps, regime = _log_closes(p, lo - 1, hi), _jump_path(p.key, lo, hi)[1], _series("regime", hi)
    base_volume, log, exp, rows = p.shares * p.turnover, math.log, math.exp, []
    for i, n in enumerate(range(lo, hi + 1)):
        u = _uniforms(p.key, n, -2)
        vol, c0, c1, jump = regime[n], closes[i], closes[i + 1], jumps[i]
        overnight = (0.05 + 0.4 * u[1]) * (c1 - c0 - jump) + jump + 0.007 * vol * (u[2] + u[3] - 1.0)
        if u[0] < 0.025:  # an occasional overnight gap that the session then fills
            overnight += 0.07 * (u[6] - 0.5)
        o, width = c0 + overnight, 0.45 * p.sig_e * vol
        h, lw = max(o, c1) - width * log(u[4]), min(o, c1) + width * log(u[5])
        volume = base_volume * exp(1.2 * (u[7] - 0.5)) * (1 + 25 * abs(c1 - c0)) * vol  # busy on big moves
        rows.append((o, h, lw, c1, volume))
    return rows


def _bar(p: _Sym, n: int, o: float, h: float, lw: float, c: float, volume: float) -> Bar:
    s, exp = p.scale, math.exp
    return Bar(date=date.fromordinal(_ORDS[n]), open=round(exp(o) * s, 2), high=round(exp(h) * s, 2),
               low=round(exp(lw) * s, 2), close=round(exp(c) * s, 2), volume=int(volume))


def _session(p: _Sym, day: date) -> tuple[datetime, datetime]:
    return (datetime.combine(day, p.opens, p.zone).astimezone(timezone.utc),
            datetime.combine(day, p.closes, p.zone).astimezone(timezone.utc))


def _last_closed_day(p: _Sym, now: datetime) -> date:
    """The exchange's last trading day whose session has ended at `now`."""
    local = now.astimezone(p.zone).date()
    if _is_trading(local) and now >= _session(p, local)[1]:
        return local
    return date.fromordinal(_ORDS[_day_index(local - timedelta(days=1))])


# --- quotes ----------------------------------------------------------------------------------


def _quote(p: _Sym, now: datetime, tick_s: float, always_open: bool = False) -> Quote:
    """The quote at `now`. With `always_open`, a closed market replays its last session's
    intraday path over and over (tick by tick at wall-clock pace), so a demo moves at any hour."""
    local = now.astimezone(p.zone).date()
    opens, closes = _session(p, local)
    live = _is_trading(local) and opens <= now < closes
    day = local if live else _last_closed_day(p, now)
    n = _day_index(day)
    o, h, lw, c, volume = _ohlcv_range(p, n, n)[0]
    prev = _log_closes(p, n - 1, n - 1)[0]
    ts = _session(p, day)[1]  # a closed market's quote is its last trade, at the close
    replay = always_open and not live
    if replay:
        opens, closes = _session(p, day)
    if live or replay:
        ticks = max(1, math.ceil((closes - opens).total_seconds() / tick_s))
        if replay:
            k = int(now.timestamp() // tick_s) % ticks
        else:
            k = min(ticks - 1, int((now - opens).total_seconds() // tick_s))
        c, h, lw = _intraday(p, n, k, ticks, o, h, lw, c)
        frac = k / ticks
        volume *= frac + 0.6 * math.sin(_TWO_PI * frac) / _TWO_PI  # U-shaped intraday volume
        ts = now if replay else opens + timedelta(seconds=k * tick_s)
    o, h, lw, price, prev_close = (round(math.exp(x) * p.scale, 2) for x in (o, h, lw, c, prev))
    change = round(price - prev_close, 4)
    return Quote(symbol=p.rec.symbol, price=price, change=change,
                 change_pct=round(100 * change / prev_close, 4), currency=p.rec.currency, volume=int(volume),
                 ts=ts, source=SOURCE, previous_close=prev_close, open=o, day_high=h, day_low=lw,
                 market_state="open" if live or replay else "closed")


def _intraday(p: _Sym, n: int, k: int, ticks: int, o: float, h: float, lw: float,
              c: float) -> tuple[float, float, float]:
    """Log price at tick k of day n and the running log high and low: a bridge through O, H, L, C."""
    knots = [(0, o), (ticks, c)]
    if ticks >= 4:  # the day's high and low are reached at two random ticks, in random order
        u = _uniforms(p.tick_key, n, -1)
        t1 = 1 + int(u[0] * (ticks - 2))
        t2 = 1 + int(u[1] * (ticks - 3))
        t2 += t2 >= t1
        knots += [(t1, h), (t2, lw)] if u[2] < 0.5 else [(t1, lw), (t2, h)]
    knots.sort()
    seg = max(i for i in range(len(knots) - 1) if knots[i][0] <= k)
    (a, va), (b, vb) = knots[seg], knots[seg + 1]
    sigma = 1.3 * p.sig_e / math.sqrt(ticks)
    x = _fold(_bridge_point(p.tick_key, n, a, va, b, vb, k, sigma), lw, h)
    seen = [v for t, v in knots if t <= k] + [x]
    return x, max(seen), min(seen)


def _fold(x: float, lo: float, hi: float) -> float:
    """Reflect `x` into [lo, hi]. A path that overshoots the day's high bounces back down;
    clamping it instead held the price flat at the high (or low) for minutes on end."""
    width = hi - lo
    if width <= 0:
        return lo
    y = (x - lo) % (2 * width)
    return lo + (y if y <= width else 2 * width - y)


# --- FX ---------------------------------------------------------------------------------------


def _fx_per_eur(iso: str, lo: int, hi: int, factor: float = 1.0) -> list[float]:
    if iso == "EUR":
        return [factor] * (hi - lo + 1)
    key = hashlib.sha256(f"fx|{iso}".encode()).digest()[:16]
    base = data.FX_PER_EUR[iso] * factor
    return [base * math.exp(x) for x in _bridge(key, lo, hi, 0.0045, 0.05)]

