"""Yahoo Finance, keyless: batched quotes from v7, daily history from the v8 chart API, search from v1.

Quotes come in batches of up to `YAHOO_BATCH_SIZE` (50) symbols per request from
`/v7/finance/quote?symbols=A,B,...&crumb=...`, which needs a cookie and a crumb: the cookie from
`GET https://fc.yahoo.com` (`YAHOO_COOKIE_URL`), the crumb from `GET /v1/test/getcrumb` sent with
it; both are kept per provider instance and fetched again once when Yahoo answers 401/403
("Invalid Crumb"). When the crumb cannot be had, or with `YAHOO_QUOTE_API=chart`, quotes come
from `/v8/finance/chart/{symbol}?interval=1d&range=1d`, one request per symbol, and v7 is tried
again after `V7_RETRY_S`. A quote round of 2,000 symbols is then 40 requests, not 2,000. Exchange
rates are the charts of Yahoo's currency pairs (`EURUSD=X`: US dollars per euro), minor units such as
London's pence (GBX) scaled from their currency. There is no profile or news capability.

History prices are Yahoo's `indicators.quote` OHLC: split-adjusted (Yahoo rescales bars before
a split, e.g. AAPL's 4:1 on 2020-08-31) but not dividend-adjusted; `adjclose` is ignored.
Splits come from the chart's `events.splits` (`events=split`), dated by the exchange's clock. Bar dates are exchange-local dates
(`meta.exchangeTimezoneName`, falling back to `meta.gmtoffset`).
"""
from __future__ import annotations

import asyncio
import math
import logging
import time
import weakref
from datetime import date, datetime, timedelta, timezone, tzinfo
from http.cookies import CookieError, SimpleCookie
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.market.providers.base import DIVIDENDS, FX, HISTORY, QUOTES, SEARCH, SPLITS, Limits, register
from app.market.providers.http import (HttpProvider, as_int, epoch, make_quote, num, path_symbol, split_ratio,
                                      utc_from_ts)
from app.market.types import (Bar, DividendEvent, FxRate, ProviderError, Quote, RateLimitedError, SearchHit, SplitEvent,
                              SymbolNotFoundError)

log = logging.getLogger(__name__)

V7_RETRY_S = 600.0  # after the crumb could not be had, quotes use the chart API this long
_BROWSER_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"
)


def _exchange_tz(meta: dict[str, Any]) -> tzinfo:
    """Return the exchange's time zone from chart meta (IANA name, else the fixed gmtoffset, else UTC)."""
    name = meta.get("exchangeTimezoneName")
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass  # fall through to the fixed offset below
    offset = num(meta.get("gmtoffset"))
    return timezone(timedelta(seconds=offset)) if offset is not None else timezone.utc


def _column(quote: dict[str, Any], key: str, i: int) -> float | None:
    """Return quote[key][i] as a float, or None when the column or value is missing/null."""
    values = quote.get(key) or []
    return num(values[i]) if i < len(values) else None


def _market_state(meta: dict[str, Any], now: float) -> str | None:
    """Return "open"/"closed" from currentTradingPeriod.regular, or None when absent."""
    regular = (meta.get("currentTradingPeriod") or {}).get("regular") or {}
    start, end = num(regular.get("start")), num(regular.get("end"))
    if start is None or end is None:
        return None
    return "open" if start <= now < end else "closed"


def parse_chart_quote(result: dict[str, Any], symbol: str) -> Quote:
    """Build a Quote from one v8 chart result (range=1d)."""
    meta = result["meta"]
    price = num(meta["regularMarketPrice"])
    if price is None:
        raise ValueError("regularMarketPrice is null")
    previous = num(meta.get("previousClose")) or num(meta.get("chartPreviousClose"))
    quote = ((result.get("indicators") or {}).get("quote") or [{}])[0] or {}
    opens = [v for v in (quote.get("open") or []) if v is not None]
    ts = meta.get("regularMarketTime")
    return make_quote(
        symbol, "yahoo",
        price=price,
        previous_close=previous,
        currency=meta.get("currency") or "USD",
        ts=utc_from_ts(ts) if ts else datetime.now(timezone.utc),
        volume=as_int(meta.get("regularMarketVolume")),
        open=num(opens[-1]) if opens else None,
        day_high=num(meta.get("regularMarketDayHigh")),
        day_low=num(meta.get("regularMarketDayLow")),
        market_state=_market_state(meta, time.time()),
    )


def parse_v7_quote(item: dict[str, Any], symbol: str) -> Quote:
    """Build a Quote from one entry of a v7 quote body (quoteResponse.result[i])."""
    price = num(item["regularMarketPrice"])
    if price is None:
        raise ValueError("regularMarketPrice is null")
    ts = item.get("regularMarketTime")
    state = str(item.get("marketState") or "").upper()
    return make_quote(
        symbol, "yahoo",
        price=price,
        previous_close=num(item.get("regularMarketPreviousClose")),
        currency=item.get("currency") or "USD",
        ts=utc_from_ts(ts) if ts else datetime.now(timezone.utc),
        change=num(item.get("regularMarketChange")),
        change_pct=num(item.get("regularMarketChangePercent")),
        volume=as_int(item.get("regularMarketVolume")),
        open=num(item.get("regularMarketOpen")),
        day_high=num(item.get("regularMarketDayHigh")),
        day_low=num(item.get("regularMarketDayLow")),
        market_state=("open" if state == "REGULAR" else "closed") if state else None,
    )


def cookie_header(set_cookies: list[str]) -> str:
    """The Cookie header that sends back every name=value of the Set-Cookie headers given."""
    jar: SimpleCookie = SimpleCookie()
    for header in set_cookies:
        try:
            jar.load(header)
        except CookieError:
            continue  # one malformed cookie does not spoil the others
    return "; ".join(f"{name}={morsel.value}" for name, morsel in jar.items())


class _NoCrumb(Exception):
    """Yahoo handed out no usable cookie and crumb (or refused them): quote through the chart API."""


def parse_chart_bars(result: dict[str, Any], start: date, end: date) -> list[Bar]:
    """Build daily bars (exchange-local dates in [start, end], oldest first) from one v8 chart result."""
    tz = _exchange_tz(result.get("meta") or {})
    stamps = result.get("timestamp") or []  # absent when the range holds no trading day
    quote = ((result.get("indicators") or {}).get("quote") or [{}])[0] or {}
    by_date: dict[date, Bar] = {}
    for i, ts in enumerate(stamps):
        o, h, l, c = (_column(quote, k, i) for k in ("open", "high", "low", "close"))
        if ts is None or None in (o, h, l, c):
            continue  # Yahoo pads halted/partial days with nulls
        day = datetime.fromtimestamp(ts, tz).date()
        if start <= day <= end:
            vol = _column(quote, "volume", i)
            # a later row for the same date (Yahoo's live row for today) replaces the earlier one
            by_date[day] = Bar(day, o, h, l, c, int(vol) if vol is not None else None)
    return [by_date[d] for d in sorted(by_date)]


def parse_chart_splits(result: dict[str, Any], symbol: str, start: date, end: date) -> list[SplitEvent]:
    """Split events of one chart result (`events.splits`: {ts: {date, numerator, denominator}}) in [start, end]."""
    tz = _exchange_tz(result.get("meta") or {})
    out = []
    for item in ((result.get("events") or {}).get("splits") or {}).values():
        day = datetime.fromtimestamp(int(item["date"]), tz).date()
        ratio = split_ratio(item.get("denominator"), item.get("numerator"))
        if ratio is not None and start <= day <= end:
            out.append(SplitEvent(symbol, day, ratio[0], ratio[1], "yahoo"))
    return sorted(out, key=lambda e: e.ex_date)


def parse_chart_dividends(result: dict[str, Any], symbol: str, start: date, end: date) -> list[DividendEvent]:
    """Dividend events of one chart result (`events.dividends`: {ts: {amount, date}}) in [start, end].

    Yahoo restates the amounts of dividends before a split in today's shares (adjusted=True);
    the currency is the chart's (meta.currency).
    """
    meta = result.get("meta") or {}
    tz = _exchange_tz(meta)
    out = []
    for item in ((result.get("events") or {}).get("dividends") or {}).values():
        day = datetime.fromtimestamp(int(item["date"]), tz).date()
        amount = item.get("amount")
        if isinstance(amount, (int, float)) and amount > 0 and math.isfinite(amount) and start <= day <= end:
            out.append(DividendEvent(symbol, day, float(amount), meta.get("currency"), "yahoo", adjusted=True))
    return sorted(out, key=lambda e: e.ex_date)


def parse_search(data: dict[str, Any], limit: int) -> list[SearchHit]:
    """Build search hits from a v1 search body, skipping entries that are not tickers."""
    hits: list[SearchHit] = []
    for item in data.get("quotes") or []:
        symbol = item.get("symbol")
        if not symbol:
            continue  # e.g. Crunchbase entries ("AAPlasma") carry no symbol
        name = item.get("longname") or item.get("shortname") or symbol
        hits.append(SearchHit(
            symbol=symbol, name=name, exchange=item.get("exchDisp") or item.get("exchange"),
            kind=item.get("quoteType"), source="yahoo",
        ))
        if len(hits) >= limit:
            break
    return hits


# Currencies quoted in a minor unit (London in pence): (the ISO currency, minor units per unit).
SUBUNITS: dict[str, tuple[str, float]] = {"GBX": ("GBP", 100.0), "GBp": ("GBP", 100.0),
                                          "ILA": ("ILS", 100.0), "ZAC": ("ZAR", 100.0)}
FX_LOOKBACK_DAYS = 10  # a dated rate is the last close on or before the day (weekends, holidays)


def fx_leg(code: str) -> tuple[str, float]:
    """(ISO currency, units of `code` per unit of it): ("GBP", 100.0) for pence, (code, 1.0) otherwise."""
    return SUBUNITS.get(code, SUBUNITS.get(code.upper(), (code.upper(), 1.0)))


def _code(currency: str) -> str:
    """The currency code as given for minor units (GBp), upper-cased otherwise."""
    return currency if currency in SUBUNITS else currency.upper()


def fx_pair(base: str, quote: str) -> tuple[str | None, float]:
    """Yahoo's pair symbol for base→quote (``EURUSD=X``) and the factor its closes are multiplied by.

    The symbol is None when both are units of one currency (GBX→GBP: the factor is the rate).
    """
    (b, per_b), (q, per_q) = fx_leg(base), fx_leg(quote)
    return (None if b == q else f"{b}{q}=X"), per_q / per_b


@register
class YahooProvider(HttpProvider):
    """Yahoo Finance v8 chart (quotes, history, exchange rates as ``EURUSD=X``) and v1 search; no API key."""

    name = "yahoo"
    capabilities = frozenset({QUOTES, HISTORY, FX, SEARCH, SPLITS, DIVIDENDS})
    limits = Limits(batch_size=50, rate_per_s=5.0, concurrency=5, timeout_s=5.0, budget="5/second")
    settings_prefix = "YAHOO"
    default_base_url = "https://query2.finance.yahoo.com"
    default_cookie_url = "https://fc.yahoo.com"
    default_headers = {"User-Agent": _BROWSER_UA, "Accept": "application/json"}

    def __init__(self, settings: Any = None, session: Any = None) -> None:
        super().__init__(settings, session)
        self.cookie_url = str(self.settings.get("YAHOO_COOKIE_URL") or self.default_cookie_url)
        self.batched = str(self.settings.get("YAHOO_QUOTE_API") or "v7").strip().lower() != "chart"
        self._auth: tuple[str, str] | None = None  # (Cookie header, crumb)
        self._v7_off_until = 0.0
        self._auth_locks: weakref.WeakKeyDictionary[Any, asyncio.Lock] = weakref.WeakKeyDictionary()

    async def _credentials(self, stale: tuple[str, str] | None = None) -> tuple[str, str]:
        """Return (Cookie header, crumb), fetching them once for all concurrent batches.

        `stale` is the pair Yahoo just refused: it is replaced unless another batch already did.
        """
        lock = self._auth_locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())
        async with lock:
            if self._auth is not None and self._auth != stale:
                return self._auth
            self._auth = None
            try:
                _, headers, _ = await self._get(self.cookie_url)  # fc.yahoo.com answers 404 and sets the cookie
            except RateLimitedError:
                raise  # throttled: the client backs off and tries again
            except ProviderError as exc:  # e.g. fc.yahoo.com blocked by a DNS filter while query2 answers
                raise _NoCrumb(f"no cookie ({exc.message})") from None
            cookie = cookie_header(headers.getall("Set-Cookie", []))
            if not cookie:
                raise _NoCrumb("no cookie from " + self.cookie_url)
            status, _, body = await self._get("/v1/test/getcrumb", headers={"Cookie": cookie})
            crumb = body.decode("utf-8", "replace").strip()
            if status != 200 or not crumb or len(crumb) > 64 or crumb[0] in "{<" or any(c.isspace() for c in crumb):
                raise _NoCrumb(f"getcrumb answered HTTP {status}")
            self._auth = (cookie, crumb)
            return self._auth

    async def _v7_quotes(self, symbols: list[str]) -> dict[str, Quote | Exception]:
        """One v7 request for all `symbols` (a fresh crumb once if Yahoo refuses the one kept)."""
        auth = await self._credentials()
        for attempt in (1, 2):
            status, data = await self._get_json("/v7/finance/quote", {"symbols": ",".join(symbols), "crumb": auth[1]},
                                                ok=(200, 401, 403), headers={"Cookie": auth[0]})
            if status == 200:
                break
            if attempt == 2:
                raise _NoCrumb(f"v7 quote answered HTTP {status} with a fresh crumb")
            auth = await self._credentials(stale=auth)
        with self._shape("quote"):
            response = data["quoteResponse"]
            if response.get("error"):
                raise ProviderError(f"yahoo: quote error: {self._scrub(str(response['error']))[:160]}",
                                    provider=self.name)
            items = {str(item["symbol"]).upper(): item for item in response.get("result") or []}
        out: dict[str, Quote | Exception] = {}
        for symbol in symbols:
            item = items.get(symbol.upper())
            if item is None or item.get("regularMarketPrice") is None:
                out[symbol] = SymbolNotFoundError(f"yahoo: unknown symbol {symbol!r}", provider=self.name, symbol=symbol)
                continue
            try:
                out[symbol] = parse_v7_quote(item, symbol)
            except (KeyError, TypeError, ValueError):
                out[symbol] = ProviderError(f"yahoo: unexpected quote shape for {symbol!r}", provider=self.name,
                                            symbol=symbol)
        return out

    async def _chart(self, symbol: str, params: dict[str, Any]) -> dict[str, Any]:
        """GET the v8 chart of `symbol`; return its single result or raise SymbolNotFoundError."""
        path = f"/v8/finance/chart/{path_symbol(symbol)}"
        status, data = await self._get_json(path, params, ok=(200, 400, 404), symbol=symbol)
        with self._shape("chart", symbol):
            chart = data["chart"]
            error = chart.get("error") or {}
            results = chart.get("result") or []
        if status == 404 or error.get("code") == "Not Found" or (status == 200 and not error and not results):
            detail = error.get("description") or "no data"
            raise SymbolNotFoundError(f"yahoo: unknown symbol {symbol!r} ({detail})", provider=self.name, symbol=symbol)
        if status != 200 or error:
            detail = self._scrub(str(error.get("description") or error.get("code") or f"HTTP {status}"))
            raise ProviderError(f"yahoo: chart error for {symbol!r}: {detail}", provider=self.name, symbol=symbol)
        result = results[0]
        if not isinstance(result, dict):
            raise ProviderError("yahoo: unexpected chart response shape", provider=self.name, symbol=symbol)
        return result

    async def _quote_one(self, symbol: str) -> Quote:
        """Fetch and parse one symbol's quote."""
        result = await self._chart(symbol, {"interval": "1d", "range": "1d"})
        with self._shape("chart", symbol):
            return parse_chart_quote(result, symbol)

    async def quotes(self, symbols: list[str]) -> dict[str, Quote | Exception]:
        """Return a quote or a per-symbol error for each symbol: one v7 request, else one chart request each."""
        unique = list(dict.fromkeys(symbols))
        if self.batched and unique and time.monotonic() >= self._v7_off_until:
            try:
                return await self._v7_quotes(unique)
            except _NoCrumb as exc:
                self._v7_off_until = time.monotonic() + V7_RETRY_S
                log.warning("yahoo: batched quotes unavailable (%s); charts for %.0f s", exc, V7_RETRY_S)
        return await self._fan_out(unique, self._quote_one)

    async def history(self, symbol: str, start: date, end: date) -> list[Bar]:
        """Return daily bars from start to end inclusive (exchange-local dates), oldest first."""
        if end < start:
            return []
        # pad by a day each side: bars are stamped at the local open, which can be the previous UTC day
        params = {
            "interval": "1d",
            "period1": epoch(start - timedelta(days=1)),
            "period2": epoch(end + timedelta(days=2)),
            "includePrePost": "false",
        }
        result = await self._chart(symbol, params)
        with self._shape("chart", symbol):
            return parse_chart_bars(result, start, end)

    async def splits(self, symbol: str, start: date, end: date) -> list[SplitEvent]:
        """Return the splits with an ex-date in [start, end] from the chart's events."""
        if end < start:
            return []
        params = {"interval": "1d", "period1": epoch(start - timedelta(days=1)), "period2": epoch(end + timedelta(days=2)),
                  "events": "split"}
        result = await self._chart(symbol, params)
        with self._shape("chart", symbol):
            return parse_chart_splits(result, symbol, start, end)

    async def dividends(self, symbol: str, start: date, end: date) -> list[DividendEvent]:
        """Return the cash dividends with an ex-date in [start, end] from the chart's events (split-adjusted)."""
        if end < start:
            return []
        params = {"interval": "1d", "period1": epoch(start - timedelta(days=1)), "period2": epoch(end + timedelta(days=2)),
                  "events": "div"}
        result = await self._chart(symbol, params)
        with self._shape("chart", symbol):
            return parse_chart_dividends(result, symbol, start, end)

    async def fx_history(self, base: str, quote: str, start: date, end: date) -> dict[date, float]:
        """Return the daily closing rate base→quote on the days Yahoo has (trading days of the pair)."""
        symbol, factor = fx_pair(base, quote)
        if end < start:
            return {}
        if symbol is None:
            return {start + timedelta(days=i): factor for i in range((end - start).days + 1)}
        rates = {bar.date: bar.close * factor for bar in await self.history(symbol, start, end)}
        if not rates:  # never a silent gap: the chain tries the next provider, else the caller gets a 503
            raise SymbolNotFoundError(f"yahoo: no {symbol} close from {start} to {end}",
                                      provider=self.name, symbol=symbol)
        return rates

    async def fx_rate(self, base: str, quote: str, on: date | None = None) -> FxRate:
        """Return the rate base→quote: the pair's latest price, or its last close on or before `on`."""
        symbol, factor = fx_pair(base, quote)
        pair = (_code(base), _code(quote))
        if symbol is None:
            return FxRate(*pair, rate=factor, on=on or datetime.now(timezone.utc).date(), source=self.name)
        if on is None:
            latest = await self._quote_one(symbol)
            return FxRate(*pair, rate=latest.price * factor, on=latest.ts.date(), source=self.name)
        rates = await self.fx_history(base, quote, on - timedelta(days=FX_LOOKBACK_DAYS), on)  # raises if empty
        day = max(rates)
        return FxRate(*pair, rate=rates[day], on=day, source=self.name)

    async def search(self, query: str, limit: int = 10) -> list[SearchHit]:
        """Return tickers matching `query` from Yahoo's v1 search."""
        query = query.strip()
        if not query or limit <= 0:
            return []
        params = {"q": query, "quotesCount": limit, "newsCount": 0, "listsCount": 0, "enableFuzzyQuery": "false"}
        _, data = await self._get_json("/v1/finance/search", params)
        with self._shape("search"):
            return parse_search(data, limit)
