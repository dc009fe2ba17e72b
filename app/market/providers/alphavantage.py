"""Alpha Vantage (`/query?function=...&apikey=...`): GLOBAL_QUOTE, TIME_SERIES_DAILY (compact),
OVERVIEW and NEWS_SENTIMENT.

Alpha Vantage reports errors and rate limits as HTTP 200 bodies whose only key is `Note`,
`Information` or `Error Message`; `_query` turns those into typed errors. The key can only go in
the query string, and the daily-cap message may echo it, so every message is scrubbed.

Defaults: one symbol per call, 5 requests/min (`ALPHAVANTAGE_RATE_PER_MIN`, or the generic
`ALPHAVANTAGE_RATE_PER_S`), one in flight. The free tier's 5/minute and 25/day are the shared
budget (`ALPHAVANTAGE_BUDGET`; ALPHAVANTAGE_RATE_PER_MIN moves its minute part too), kept across
processes; should Alpha Vantage still refuse (another user of the key), the daily-cap message
becomes a RateLimitedError whose retry_after_s runs to the next UTC midnight.

Units: all values arrive as strings; "None", "-" and "" become None. OVERVIEW ratios
(ReturnOnEquityTTM, DividendYield, QuarterlyRevenueGrowthYOY) are already fractions and
MarketCapitalization is absolute. GLOBAL_QUOTE has no currency (USD assumed) and only a trading
day, stamped here at 16:00 New York; `10. change percent` ("-0.5852%") is kept in percent.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp

from app.market.providers.base import HISTORY, NEWS, PROFILE, QUOTES, Limits, register
from app.market.providers.http import HttpProvider, as_int, make_quote, num
from app.market.types import (
    Bar,
    NewsItem,
    Profile,
    ProviderError,
    Quote,
    RateLimitedError,
    SymbolNotFoundError,
)

DEFAULT_CURRENCY = "USD"
_NEW_YORK = ZoneInfo("America/New_York")
_MESSAGE_KEYS = ("Note", "Information", "Error Message")
_RATE_WORDS = ("rate limit", "call frequency", "requests per day", "calls per day", "per minute", "calls per")


def _text(value: Any) -> str | None:
    """Return a string field, with Alpha Vantage's "None" / "-" / "" placeholders as None."""
    if value is None:
        return None
    text = str(value).strip()
    return None if text.lower() in ("", "none", "-", "null", "n/a") else text


def _seconds_to_utc_midnight(now: datetime | None = None) -> float:
    """Seconds until the next 00:00 UTC (an estimate of when a daily cap resets)."""
    now = now or datetime.now(timezone.utc)
    tomorrow = datetime.combine(now.date() + timedelta(days=1), time(0), tzinfo=timezone.utc)
    return (tomorrow - now).total_seconds()


def parse_global_quote(data: dict[str, Any], symbol: str) -> Quote:
    """Build a Quote from a GLOBAL_QUOTE body; an empty "Global Quote" means unknown symbol."""
    gq = data.get("Global Quote") or {}
    price = num(gq.get("05. price"))
    if not gq or price is None:
        raise SymbolNotFoundError(f"alphavantage: unknown symbol {symbol!r}", provider="alphavantage", symbol=symbol)
    day = date.fromisoformat(gq["07. latest trading day"])
    close_ny = datetime.combine(day, time(16, 0), tzinfo=_NEW_YORK)
    return make_quote(
        symbol, "alphavantage",
        price=price,
        previous_close=num(gq.get("08. previous close")),
        change=num(gq.get("09. change")),
        change_pct=num(gq.get("10. change percent")),
        currency=DEFAULT_CURRENCY,
        ts=close_ny.astimezone(timezone.utc),
        volume=as_int(gq.get("06. volume")),
        open=num(gq.get("02. open")),
        day_high=num(gq.get("03. high")),
        day_low=num(gq.get("04. low")),
    )


def parse_daily(data: dict[str, Any], start: date, end: date) -> list[Bar]:
    """Build bars (oldest first, dates in [start, end]) from a TIME_SERIES_DAILY body."""
    bars = []
    for day_text, row in data["Time Series (Daily)"].items():
        day = date.fromisoformat(day_text)
        if not start <= day <= end:
            continue
        o, h, l, c = (num(row.get(k)) for k in ("1. open", "2. high", "3. low", "4. close"))
        if None in (o, h, l, c):
            continue
        bars.append(Bar(day, o, h, l, c, as_int(row.get("5. volume"))))
    bars.sort(key=lambda b: b.date)
    return bars


def parse_overview(data: dict[str, Any], symbol: str) -> Profile:
    """Build a Profile from an OVERVIEW body (ratios are fractions already)."""
    return Profile(
        symbol=symbol,
        source="alphavantage",
        as_of=datetime.now(timezone.utc),
        name=_text(data.get("Name")),
        currency=_text(data.get("Currency")),
        sector=_text(data.get("Sector")),
        industry=_text(data.get("Industry")),
        country=_text(data.get("Country")),
        market_cap=num(data.get("MarketCapitalization")),
        pe_ratio=num(data.get("PERatio")),
        pb_ratio=num(data.get("PriceToBookRatio")),
        debt_to_equity=None,  # OVERVIEW carries no debt figure
        roe=num(data.get("ReturnOnEquityTTM")),
        dividend_yield=num(data.get("DividendYield")),
        revenue_growth=num(data.get("QuarterlyRevenueGrowthYOY")),
        description=_text(data.get("Description")),
    )


def parse_news(data: dict[str, Any], symbol: str, limit: int) -> list[NewsItem]:
    """Build NewsItems (newest first) from a NEWS_SENTIMENT body; time_published is read as UTC."""
    out = []
    for item in data["feed"]:
        title, published = item.get("title"), item.get("time_published")
        if not title or not published:
            continue
        out.append(NewsItem(
            symbol=symbol,
            headline=title,
            url=item.get("url") or None,
            published_at=datetime.strptime(published, "%Y%m%dT%H%M%S").replace(tzinfo=timezone.utc),
            source="alphavantage",
            publisher=item.get("source") or None,
            summary=item.get("summary") or None,
        ))
    out.sort(key=lambda n: n.published_at, reverse=True)
    return out[:limit]


@register
class AlphaVantageProvider(HttpProvider):
    """Alpha Vantage REST API; needs ALPHAVANTAGE_API_KEY."""

    name = "alphavantage"
    capabilities = frozenset({QUOTES, HISTORY, PROFILE, NEWS})
    limits = Limits(batch_size=1, rate_per_s=5 / 60, concurrency=1, timeout_s=10.0, budget="5/minute;25/day")
    settings_prefix = "ALPHAVANTAGE"
    default_base_url = "https://www.alphavantage.co"
    api_key_setting = "ALPHAVANTAGE_API_KEY"

    def __init__(self, settings: Mapping[str, Any] | None = None, session: aiohttp.ClientSession | None = None) -> None:
        """Read the key and limits; ALPHAVANTAGE_RATE_PER_MIN applies unless ALPHAVANTAGE_RATE_PER_S is set."""
        super().__init__(settings, session)
        per_min = self.settings.get("ALPHAVANTAGE_RATE_PER_MIN")
        if per_min not in (None, "") and self.settings.get("ALPHAVANTAGE_RATE_PER_S") in (None, ""):
            self.limits = replace(self.limits, rate_per_s=float(per_min) / 60.0)
            if self.settings.get("ALPHAVANTAGE_BUDGET") in (None, ""):  # the minute follows; the day cap stays
                self.limits = replace(self.limits, budget=f"{int(float(per_min))}/minute;25/day")
        self.outputsize = str(self.settings.get("ALPHAVANTAGE_OUTPUTSIZE") or "compact")

    def _raise_for_message(self, data: dict[str, Any], function: str, symbol: str) -> None:
        """Raise the typed error that a Note / Information / Error Message / {} body stands for."""
        err = {"provider": self.name, "symbol": symbol}
        if not data:
            raise SymbolNotFoundError(f"alphavantage: no {function} data for {symbol!r}", **err)
        key = next((k for k in _MESSAGE_KEYS if k in data), None)
        if key is None:
            raise ProviderError(f"alphavantage: unexpected {function} response shape", **err)
        text = self._scrub(str(data[key]))
        low = text.lower()
        if any(word in low for word in _RATE_WORDS):
            retry = _seconds_to_utc_midnight() if "per day" in low and "minute" not in low else 60.0
            raise RateLimitedError(f"alphavantage: rate limited: {text[:200]}", retry_after_s=retry, **err)
        if "apikey" in low or "api key" in low or "premium" in low:
            raise ProviderError(f"alphavantage: {text[:200]}", **err)
        if key == "Error Message" or "invalid inputs" in low:
            raise SymbolNotFoundError(f"alphavantage: {function} found no data for {symbol!r}", **err)
        raise ProviderError(f"alphavantage: {text[:200]}", **err)

    async def _query(self, function: str, expect: str, symbol: str, params: dict[str, Any]) -> dict[str, Any]:
        """GET /query for `function`; return the body when it has the `expect` key, else raise."""
        key = self._require_key()
        _, data = await self._get_json(
            "/query", {"function": function, **params, "apikey": key}, symbol=symbol
        )
        if not isinstance(data, dict):
            raise ProviderError(f"alphavantage: unexpected {function} response shape", provider=self.name, symbol=symbol)
        if expect not in data:
            self._raise_for_message(data, function, symbol)
        return data

    async def _quote_one(self, symbol: str) -> Quote:
        """Fetch and parse one GLOBAL_QUOTE."""
        data = await self._query("GLOBAL_QUOTE", "Global Quote", symbol, {"symbol": symbol})
        with self._shape("GLOBAL_QUOTE", symbol):
            return parse_global_quote(data, symbol)

    async def quotes(self, symbols: list[str]) -> dict[str, Quote | Exception]:
        """Return a quote or a per-symbol error for each symbol (one GLOBAL_QUOTE each)."""
        self._require_key()
        return await self._fan_out(symbols, self._quote_one)

    async def history(self, symbol: str, start: date, end: date) -> list[Bar]:
        """Return daily bars from TIME_SERIES_DAILY (compact = last 100 trading days), oldest first."""
        if end < start:
            return []
        data = await self._query(
            "TIME_SERIES_DAILY", "Time Series (Daily)", symbol, {"symbol": symbol, "outputsize": self.outputsize}
        )
        with self._shape("TIME_SERIES_DAILY", symbol):
            return parse_daily(data, start, end)

    async def profile(self, symbol: str) -> Profile:
        """Return OVERVIEW as a Profile."""
        data = await self._query("OVERVIEW", "Symbol", symbol, {"symbol": symbol})
        with self._shape("OVERVIEW", symbol):
            return parse_overview(data, symbol)

    async def news(self, symbol: str, limit: int = 20) -> list[NewsItem]:
        """Return NEWS_SENTIMENT headlines for the ticker, newest first."""
        data = await self._query(
            "NEWS_SENTIMENT", "feed", symbol, {"tickers": symbol, "sort": "LATEST", "limit": max(50, limit)}
        )
        with self._shape("NEWS_SENTIMENT", symbol):
            return parse_news(data, symbol, limit)
