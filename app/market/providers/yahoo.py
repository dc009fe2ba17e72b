"""Yahoo Finance, keyless: quotes and daily history from the v8 chart API, symbol search from v1.

`v7/finance/quote` and `v10/finance/quoteSummary` need a cookie and a crumb, so quotes come from
`/v8/finance/chart/{symbol}?interval=1d&range=1d` (one request per symbol). Exchange rates are
the charts of Yahoo's currency pairs (`EURUSD=X`: US dollars per euro), minor units such as
London's pence (GBX) scaled from their currency. There is no profile or news capability.

History prices are Yahoo's `indicators.quote` OHLC: split-adjusted (Yahoo rescales bars before
a split, e.g. AAPL's 4:1 on 2020-08-31) but not dividend-adjusted; `adjclose` and the
`events` (splits, dividends) are ignored. Bar dates are exchange-local dates
(`meta.exchangeTimezoneName`, falling back to `meta.gmtoffset`).
"""
from __future__ import annotations

import time
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.market.providers.base import FX, HISTORY, QUOTES, SEARCH, Limits, register
from app.market.providers.http import HttpProvider, as_int, epoch, make_quote, num, path_symbol, utc_from_ts
from app.market.types import Bar, FxRate, ProviderError, Quote, SearchHit, SymbolNotFoundError

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
    capabilities = frozenset({QUOTES, HISTORY, FX, SEARCH})
    limits = Limits(batch_size=10, rate_per_s=5.0, concurrency=5, timeout_s=5.0, budget="5/second")
    settings_prefix = "YAHOO"
    default_base_url = "https://query2.finance.yahoo.com"
    default_headers = {"User-Agent": _BROWSER_UA, "Accept": "application/json"}

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
        """Return a quote or a per-symbol error for each symbol (one chart request each, concurrently)."""
        return await self._fan_out(symbols, self._quote_one)

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
