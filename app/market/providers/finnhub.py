"""Finnhub (https://finnhub.io/api/v1): quotes, profile + basic financials, company news and,
on a paid plan only, daily candles.

The key goes in the `X-Finnhub-Token` header, never the query string. Finnhub caps every plan
at 30 calls/s and the free tier at 60 calls/min, hence 1 request/s by default
(`FINNHUB_RATE_PER_S` to change it) and a shared budget of both limits (`FINNHUB_BUDGET`). `/stock/candle` answers 403 on a free key, so HISTORY is
only declared when `FINNHUB_PREMIUM` is truthy.

Units: `/quote` has no currency and no volume (currency defaults to USD: the free tier covers US
listings); `marketCapitalization` is in millions (×1e6 here); `/stock/metric` ratios in percent
(roeTTM 25.3 = 25.3 %) become fractions (÷100), while P/E, P/B and debt/equity stay plain ratios.
"""
from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Any

import aiohttp

from app.market.providers.base import HISTORY, NEWS, PROFILE, QUOTES, SPLITS, Limits, register
from app.market.providers.http import HttpProvider, as_int, epoch, make_quote, num, split_ratio, utc_from_ts
from app.market.types import Bar, NewsItem, Profile, ProviderError, Quote, SplitEvent, SymbolNotFoundError

DEFAULT_CURRENCY = "USD"
# /stock/metric keys, first present wins. Percent-valued keys are divided by 100.
PE_KEYS = ("peTTM", "peBasicExclExtraTTM", "peExclExtraTTM", "peAnnual", "peBasicExclExtraAnnual")
PB_KEYS = ("pbQuarterly", "pbAnnual", "pb")
DEBT_EQUITY_KEYS = ("totalDebt/totalEquityQuarterly", "totalDebt/totalEquityAnnual")  # ratio, not percent
ROE_KEYS = ("roeTTM", "roeRfy", "roe5Y")  # percent
DIVIDEND_YIELD_KEYS = ("dividendYieldIndicatedAnnual", "currentDividendYieldTTM")  # percent
REVENUE_GROWTH_KEYS = ("revenueGrowthTTMYoy", "revenueGrowthQuarterlyYoy")  # percent


def _first(metric: dict[str, Any], keys: tuple[str, ...]) -> float | None:
    """Return the first numeric value among `keys` in the metric dict."""
    for key in keys:
        value = num(metric.get(key))
        if value is not None:
            return value
    return None


def _percent(metric: dict[str, Any], keys: tuple[str, ...]) -> float | None:
    """Return the first value among `keys` converted from percent to a fraction."""
    value = _first(metric, keys)
    return value / 100.0 if value is not None else None


def parse_quote(data: dict[str, Any], symbol: str) -> Quote:
    """Build a Quote from a /quote body (with or without d/dp); all zeros means unknown symbol."""
    price, prev = num(data.get("c")), num(data.get("pc"))
    if not price and not num(data.get("o")) and not prev:
        raise SymbolNotFoundError(f"finnhub: unknown symbol {symbol!r}", provider="finnhub", symbol=symbol)
    if price is None:
        raise ValueError("c is null")
    ts = num(data.get("t"))
    return make_quote(
        symbol, "finnhub",
        price=price,
        previous_close=prev,
        change=num(data.get("d")),
        change_pct=num(data.get("dp")),
        currency=DEFAULT_CURRENCY,
        ts=utc_from_ts(ts) if ts else datetime.now(timezone.utc),
        volume=None,
        open=num(data.get("o")),
        day_high=num(data.get("h")),
        day_low=num(data.get("l")),
    )


def parse_profile(profile2: dict[str, Any], metric_body: dict[str, Any], symbol: str) -> Profile:
    """Merge /stock/profile2 and /stock/metric?metric=all into one Profile."""
    metric = metric_body.get("metric") or {} if isinstance(metric_body, dict) else {}
    cap_millions = num(profile2.get("marketCapitalization"))
    return Profile(
        symbol=symbol,
        source="finnhub",
        as_of=datetime.now(timezone.utc),
        name=profile2.get("name") or None,
        currency=profile2.get("currency") or None,
        sector=None,  # Finnhub has one classification, finnhubIndustry, mapped to industry
        industry=profile2.get("finnhubIndustry") or None,
        country=profile2.get("country") or None,
        market_cap=cap_millions * 1e6 if cap_millions is not None else None,
        pe_ratio=_first(metric, PE_KEYS),
        pb_ratio=_first(metric, PB_KEYS),
        debt_to_equity=_first(metric, DEBT_EQUITY_KEYS),
        roe=_percent(metric, ROE_KEYS),
        dividend_yield=_percent(metric, DIVIDEND_YIELD_KEYS),
        revenue_growth=_percent(metric, REVENUE_GROWTH_KEYS),
        description=None,
    )


def parse_news(items: list[dict[str, Any]], symbol: str, limit: int) -> list[NewsItem]:
    """Build NewsItems (newest first, at most `limit`) from a /company-news body."""
    out = [
        NewsItem(
            symbol=symbol,
            headline=item["headline"],
            url=item.get("url") or None,
            published_at=utc_from_ts(item["datetime"]),
            source="finnhub",
            publisher=item.get("source") or None,
            summary=item.get("summary") or None,
        )
        for item in items
        if item.get("headline") and item.get("datetime")
    ]
    out.sort(key=lambda n: n.published_at, reverse=True)
    return out[:limit]


def parse_candles(data: dict[str, Any], start: date, end: date) -> list[Bar]:
    """Build daily bars from a /stock/candle body; dates are the UTC dates of the stamps."""
    if data.get("s") == "no_data":
        return []
    if data.get("s") != "ok":
        raise ValueError(f"candle status {data.get('s')!r}")
    bars: dict[date, Bar] = {}
    for t, o, h, l, c, v in zip(data["t"], data["o"], data["h"], data["l"], data["c"], data["v"]):
        day = utc_from_ts(t).date()  # US daily stamps are 00:00 New York = 04:00/05:00 UTC
        if start <= day <= end and None not in (o, h, l, c):
            bars[day] = Bar(day, float(o), float(h), float(l), float(c), as_int(v))
    return [bars[d] for d in sorted(bars)]


@register
class FinnhubProvider(HttpProvider):
    """Finnhub REST API; needs FINNHUB_API_KEY."""

    name = "finnhub"
    capabilities = frozenset({QUOTES, PROFILE, NEWS, SPLITS})
    limits = Limits(batch_size=1, rate_per_s=1.0, concurrency=4, timeout_s=5.0, budget="60/minute;30/second")
    settings_prefix = "FINNHUB"
    default_base_url = "https://finnhub.io/api/v1"
    api_key_setting = "FINNHUB_API_KEY"

    def __init__(self, settings: Mapping[str, Any] | None = None, session: aiohttp.ClientSession | None = None) -> None:
        """Read the key, limits and FINNHUB_PREMIUM / FINNHUB_NEWS_LOOKBACK_DAYS from settings."""
        super().__init__(settings, session)
        if str(self.settings.get("FINNHUB_PREMIUM", "")).lower() in ("1", "true", "yes", "on"):
            self.capabilities = type(self).capabilities | {HISTORY}  # instance override of the ClassVar
        self.news_lookback_days = int(self.settings.get("FINNHUB_NEWS_LOOKBACK_DAYS") or 14)

    async def _call(
        self, path: str, params: dict[str, Any], *, symbol: str | None, ok: tuple[int, ...] = (200,)
    ) -> tuple[int, Any]:
        """GET a Finnhub endpoint with the token header; map 401/403 and `{"error": ...}` bodies."""
        key = self._require_key()
        status, data = await self._get_json(
            path, params, ok=(*ok, 401, 403), headers={"X-Finnhub-Token": key}, symbol=symbol
        )
        message = data.get("error") if isinstance(data, dict) else None
        if status == 401:
            raise ProviderError("finnhub: API key rejected (HTTP 401)", provider=self.name, symbol=symbol)
        if status == 403:
            hint = "; this endpoint needs a paid Finnhub plan" if path == "/stock/candle" else ""
            detail = self._scrub(str(message or "forbidden"))
            raise ProviderError(f"finnhub: HTTP 403 on {path} ({detail}){hint}", provider=self.name, symbol=symbol)
        if message:
            raise ProviderError(f"finnhub: {self._scrub(str(message))[:200]}", provider=self.name, symbol=symbol)
        return status, data

    async def _quote_one(self, symbol: str) -> Quote:
        """Fetch and parse one /quote."""
        _, data = await self._call("/quote", {"symbol": symbol}, symbol=symbol)
        with self._shape("quote", symbol):
            return parse_quote(data, symbol)

    async def quotes(self, symbols: list[str]) -> dict[str, Quote | Exception]:
        """Return a quote or a per-symbol error for each symbol (one /quote request each)."""
        self._require_key()
        return await self._fan_out(symbols, self._quote_one)

    async def splits(self, symbol: str, start: date, end: date) -> list[SplitEvent]:
        """Return /stock/split ([{symbol, date, fromFactor, toFactor}], Finnhub's documented shape) in [start, end]."""
        _, data = await self._call("/stock/split", {"symbol": symbol, "from": start.isoformat(), "to": end.isoformat()},
                                   symbol=symbol)
        out = []
        with self._shape("split", symbol):
            for item in data or []:
                day = date.fromisoformat(str(item["date"])[:10])
                ratio = split_ratio(item.get("fromFactor"), item.get("toFactor"))
                if ratio is not None and start <= day <= end:
                    out.append(SplitEvent(symbol, day, ratio[0], ratio[1], self.name))
        return sorted(out, key=lambda e: e.ex_date)

    async def profile(self, symbol: str) -> Profile:
        """Return profile2 merged with basic financials (metric=all)."""
        self._require_key()
        prof_res, metric_res = await asyncio.gather(
            self._call("/stock/profile2", {"symbol": symbol}, symbol=symbol),
            self._call("/stock/metric", {"symbol": symbol, "metric": "all"}, symbol=symbol),
            return_exceptions=True,
        )
        for res in (prof_res, metric_res):  # profile2's error wins: it decides "unknown symbol"
            if isinstance(res, BaseException):
                raise res
        profile2, metric_body = prof_res[1], metric_res[1]
        if not profile2:
            raise SymbolNotFoundError(f"finnhub: unknown symbol {symbol!r}", provider=self.name, symbol=symbol)
        with self._shape("profile", symbol):
            return parse_profile(profile2, metric_body, symbol)

    async def news(self, symbol: str, limit: int = 20) -> list[NewsItem]:
        """Return company news of the last FINNHUB_NEWS_LOOKBACK_DAYS days (unknown symbol → [])."""
        today = datetime.now(timezone.utc).date()
        params = {
            "symbol": symbol,
            "from": (today - timedelta(days=self.news_lookback_days)).isoformat(),
            "to": today.isoformat(),
        }
        _, data = await self._call("/company-news", params, symbol=symbol)
        with self._shape("company-news", symbol):
            return parse_news(list(data), symbol, limit)

    async def history(self, symbol: str, start: date, end: date) -> list[Bar]:
        """Return daily candles (paid plan only; a free key gets a ProviderError from the 403)."""
        if end < start:
            return []
        params = {
            "symbol": symbol, "resolution": "D",
            "from": epoch(start - timedelta(days=1)), "to": epoch(end + timedelta(days=2)),
        }
        _, data = await self._call("/stock/candle", params, symbol=symbol)
        with self._shape("candle", symbol):
            return parse_candles(data, start, end)
