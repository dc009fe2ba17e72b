"""Shared plumbing of the HTTP providers: one GET helper that maps transport and status
failures to the typed errors of `app.market.types` and never leaks an API key.

Limits: every provider instance bounds its own HTTP requests with a semaphore
(`limits.concurrency`) and a token bucket (`limits.rate_per_s`), counted per HTTP request,
not per method call (Yahoo's `quotes()` makes one request per symbol). A client that also
throttles per call at the same rate loses no throughput: two buckets in series run at the
slower one's rate. Those smooth one process's bursts; the authority is the budget shared by
every process (`limits.budget`, app.market.budget), taken per request just before it goes
out. Each limit can be overridden from settings as `<PREFIX>_BATCH_SIZE`, `<PREFIX>_RATE_PER_S`,
`<PREFIX>_CONCURRENCY`, `<PREFIX>_TIMEOUT_S` and `<PREFIX>_BUDGET` (PREFIX = YAHOO, FINNHUB,
ALPHAVANTAGE); a rate of 0 turns the provider-side bucket off, a budget of "off" the shared one.
"""
from __future__ import annotations

import asyncio
import logging
import re
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from datetime import date, datetime, timezone
from email.utils import parsedate_to_datetime
from fractions import Fraction
from typing import Any, ClassVar
from urllib.parse import quote as _urlquote

import aiohttp
import orjson
from aiolimiter import AsyncLimiter

from app.market.budget import ProviderBudget, budget_for
from app.market.providers.base import Limits, Provider
from app.market.types import (
    MarketError,
    ProviderError,
    ProviderUnavailableError,
    Quote,
    RateLimitedError,
)

log = logging.getLogger(__name__)

# Query parameters and headers that carry credentials; their values are never logged or shown.
SECRET_PARAMS = frozenset({"token", "apikey", "api_key", "crumb"})
SECRET_HEADERS = frozenset({"x-finnhub-token", "authorization", "cookie"})
_SECRET_QS = re.compile(r"(?i)\b(token|apikey|api_key|crumb)=[^&\s\"'<>]*")
_SHAPE_ERRORS = (KeyError, TypeError, ValueError, IndexError, AttributeError)
_EMPTY = frozenset({"", "none", "-", "null", "n/a", "nan"})


def redact_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return a copy of query params with credential values replaced by '***'."""
    return {k: ("***" if k.lower() in SECRET_PARAMS else v) for k, v in (params or {}).items()}


def num(value: Any) -> float | None:
    """Parse a provider number (float, int or string such as '1.5', '-0.58%', 'None', '-') or None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if value == value else None  # NaN → None
    text = str(value).strip().rstrip("%").strip()
    if text.lower() in _EMPTY:
        return None
    try:
        out = float(text)
    except ValueError:
        return None
    return out if out == out else None


def as_int(value: Any) -> int | None:
    """Parse a provider count (volume) as int, or None."""
    out = num(value)
    return int(out) if out is not None else None


def utc_from_ts(ts: Any) -> datetime:
    """Turn a unix timestamp (seconds) into an aware UTC datetime."""
    return datetime.fromtimestamp(float(ts), tz=timezone.utc)


def epoch(day: date) -> int:
    """Return the unix timestamp of 00:00 UTC on `day`."""
    return int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp())


def path_symbol(symbol: str) -> str:
    """Percent-encode a symbol for use as one URL path segment."""
    return _urlquote(symbol, safe="")


def split_ratio(old: Any, new: Any) -> tuple[int, int] | None:
    """(from, to) in whole shares, e.g. (2, 3) for 3-for-2 given as 1 -> 1.5; None for nonsense."""
    try:
        ratio = (Fraction(str(new)) / Fraction(str(old))).limit_denominator(10_000)
    except (ValueError, ZeroDivisionError, TypeError):
        return None
    if ratio <= 0 or ratio == 1 or ratio.numerator > 10_000:
        return None
    return ratio.denominator, ratio.numerator


def parse_retry_after(value: str | None) -> float | None:
    """Parse a Retry-After header (delta seconds or HTTP date) into seconds, or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def make_quote(
    symbol: str,
    source: str,
    *,
    price: float,
    previous_close: float | None,
    currency: str,
    ts: datetime,
    change: float | None = None,
    change_pct: float | None = None,
    **extra: Any,
) -> Quote:
    """Build a Quote; change and change_pct (percent units) are derived from previous_close when not given."""
    if change is None:
        change = price - previous_close if previous_close else 0.0
    if change_pct is None:
        change_pct = change / previous_close * 100.0 if previous_close else 0.0
    return Quote(
        symbol=symbol, price=price, change=round(change, 6), change_pct=round(change_pct, 6),
        currency=currency, ts=ts, source=source, previous_close=previous_close, **extra,
    )


def _make_limiter(rate_per_s: float) -> AsyncLimiter | None:
    """Token bucket for `rate_per_s` requests/s (burst = max(1, rate)); None when unlimited."""
    if not rate_per_s or rate_per_s <= 0:
        return None
    if rate_per_s >= 1:
        return AsyncLimiter(rate_per_s, 1.0)
    return AsyncLimiter(1, 1.0 / rate_per_s)


class HttpProvider(Provider):
    """Base of the HTTP providers: settings, session, limits and the `_get` helpers."""

    settings_prefix: ClassVar[str]  # "YAHOO" → YAHOO_BASE_URL, YAHOO_TIMEOUT_S, ...
    default_base_url: ClassVar[str]
    api_key_setting: ClassVar[str | None] = None  # e.g. "FINNHUB_API_KEY"; None = keyless
    default_headers: ClassVar[Mapping[str, str]] = {}

    def __init__(self, settings: Mapping[str, Any] | None = None, session: aiohttp.ClientSession | None = None) -> None:
        super().__init__(settings)
        self._session = session
        prefix = self.settings_prefix
        self.base_url = str(self.settings.get(f"{prefix}_BASE_URL") or self.default_base_url).rstrip("/")
        key = self.settings.get(self.api_key_setting) if self.api_key_setting else None
        self._api_key: str | None = str(key).strip() or None if key else None
        self.limits = self._limits_from_settings(type(self).limits)
        self._budget: ProviderBudget | None = None  # built on first use: subclasses may still adjust limits
        self._budget_built = False
        self._gates_by_loop: weakref.WeakKeyDictionary[Any, tuple[asyncio.Semaphore, AsyncLimiter | None]] = (
            weakref.WeakKeyDictionary()
        )

    def __repr__(self) -> str:
        key = "" if self.api_key_setting is None else f" key={'set' if self._api_key else 'missing'}"
        return f"<{type(self).__name__} {self.base_url}{key}>"

    # -- configuration ------------------------------------------------------------------

    def _limits_from_settings(self, default: Limits) -> Limits:
        """Return `default` with any `<PREFIX>_<LIMIT>` settings applied."""
        changes: dict[str, Any] = {}
        for field, cast in (("batch_size", int), ("rate_per_s", float), ("concurrency", int), ("timeout_s", float),
                            ("budget", str)):
            raw = self.settings.get(f"{self.settings_prefix}_{field.upper()}")
            if raw not in (None, ""):
                changes[field] = cast(raw)
        return replace(default, **changes) if changes else default

    def available(self) -> bool:
        """Return False when the provider needs an API key that is not configured."""
        return self.api_key_setting is None or self._api_key is not None

    def _require_key(self) -> str:
        """Return the API key or raise ProviderUnavailableError naming the missing setting."""
        if self._api_key is None:
            raise ProviderUnavailableError(f"{self.api_key_setting} is not set", provider=self.name)
        return self._api_key

    def _scrub(self, text: str) -> str:
        """Remove the API key and credential query parameters from text bound for a message or log."""
        if self._api_key:
            text = text.replace(self._api_key, "***")
        return _SECRET_QS.sub(lambda m: f"{m.group(1)}=***", text)

    # -- HTTP -------------------------------------------------------------------------------

    def _get_session(self) -> aiohttp.ClientSession:
        """Return the injected session, else the app-wide one from `app.aio`."""
        if self._session is not None:
            return self._session
        from app.aio import get_session  # lazy: app.aio imports the app side, which is optional here

        return get_session()

    def _gates(self) -> tuple[asyncio.Semaphore, AsyncLimiter | None]:
        """Return this instance's semaphore and token bucket for the running event loop."""
        loop = asyncio.get_running_loop()
        gates = self._gates_by_loop.get(loop)
        if gates is None:
            gates = (asyncio.Semaphore(max(1, self.limits.concurrency)), _make_limiter(self.limits.rate_per_s))
            self._gates_by_loop[loop] = gates
        return gates

    @property
    def budget(self) -> ProviderBudget | None:
        """The shared request budget of this provider and key, or None when it has none."""
        if not self._budget_built:
            self._budget = budget_for(self.name, self.limits.budget, self.settings, self._api_key)
            self._budget_built = True
        return self._budget

    async def aclose(self) -> None:
        """Release the shared budget's connections."""
        if self._budget is not None:
            await self._budget.aclose()

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        """Hold a concurrency slot, a local token and one entry of the shared budget for one request."""
        sem, limiter = self._gates()
        budget = self.budget
        while True:
            async with sem:
                if limiter is not None:
                    await limiter.acquire()
                # Taken last, just before the request: the window then records when it really went out.
                refused = None if budget is None else await budget.take()
                if refused is None:
                    yield
                    return
            await budget.wait(*refused)  # outside the slot: a waiting call holds up no other

    async def _get(
        self, path: str, params: Mapping[str, Any] | None = None, *, headers: Mapping[str, str] | None = None,
        symbol: str | None = None,
    ) -> tuple[int, Mapping[str, str], bytes]:
        """GET base_url+path (or an absolute URL); return (status, headers, body) or raise on 429, 5xx, timeout or transport failure."""
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        timeout_s = self.limits.timeout_s
        err = {"provider": self.name, "symbol": symbol}
        async with self._turn():
            started = time.monotonic()
            try:
                async with self._get_session().get(
                    url, params=params, headers={**self.default_headers, **(headers or {})},
                    timeout=aiohttp.ClientTimeout(total=timeout_s), raise_for_status=False,
                ) as resp:
                    body = await resp.read()
                    status, resp_headers = resp.status, resp.headers
            except TimeoutError:  # also aiohttp's ServerTimeoutError / ConnectionTimeoutError
                log.warning("%s GET %s timed out after %.1f s", self.name, path, timeout_s)
                raise ProviderError(f"{self.name}: timeout after {timeout_s:g} s on GET {path}", **err) from None
            except aiohttp.ClientPayloadError as exc:
                log.warning("%s GET %s: incomplete body (%s)", self.name, path, type(exc).__name__)
                raise ProviderError(f"{self.name}: truncated response body on GET {path}", **err) from None
            except aiohttp.ClientError as exc:
                log.warning("%s GET %s: connection error (%s)", self.name, path, type(exc).__name__)
                raise ProviderError(
                    f"{self.name}: connection error on GET {path} ({type(exc).__name__})", **err
                ) from None
        log.debug("%s GET %s -> %s in %.0f ms", self.name, path, status, (time.monotonic() - started) * 1000)
        if status == 429:
            retry = parse_retry_after(resp_headers.get("Retry-After"))
            raise RateLimitedError(f"{self.name}: rate limited (HTTP 429) on GET {path}", retry_after_s=retry, **err)
        if status >= 500:
            raise ProviderError(f"{self.name}: HTTP {status} on GET {path}", **err)
        return status, resp_headers, body

    async def _get_json(
        self, path: str, params: Mapping[str, Any] | None = None, *, ok: tuple[int, ...] = (200,),
        headers: Mapping[str, str] | None = None, symbol: str | None = None,
    ) -> tuple[int, Any]:
        """Like `_get`, then parse JSON; a status outside `ok` or a malformed body raises ProviderError."""
        status, _, body = await self._get(path, params, headers=headers, symbol=symbol)
        if status not in ok:
            raise ProviderError(
                f"{self.name}: unexpected HTTP {status} on GET {path}: {self._snippet(body)}",
                provider=self.name, symbol=symbol,
            )
        try:
            return status, orjson.loads(body)
        except orjson.JSONDecodeError:
            raise ProviderError(
                f"{self.name}: malformed JSON ({len(body)} bytes) from GET {path}", provider=self.name, symbol=symbol
            ) from None

    def _snippet(self, body: bytes, limit: int = 160) -> str:
        """Return the start of a response body, decoded and scrubbed, for an error message."""
        return self._scrub(body[:limit].decode("utf-8", "replace").strip())

    # -- helpers for subclasses -----------------------------------------------------------------

    @contextmanager
    def _shape(self, what: str, symbol: str | None = None) -> Iterator[None]:
        """Turn KeyError/TypeError/... while parsing a response into a ProviderError."""
        try:
            yield
        except _SHAPE_ERRORS as exc:
            raise ProviderError(
                f"{self.name}: unexpected {what} response shape ({type(exc).__name__})", provider=self.name, symbol=symbol
            ) from None

    async def _fan_out(
        self, symbols: list[str], fetch_one: Callable[[str], Awaitable[Quote]]
    ) -> dict[str, Quote | Exception]:
        """Fetch each symbol concurrently (bounded by the gates); per-symbol MarketErrors go in the dict.

        If every symbol failed with a provider-level error (not SymbolNotFoundError), the first such
        error is raised instead (a RateLimitedError first), so the caller can fail over as a whole.
        """
        unique = list(dict.fromkeys(symbols))
        results = await asyncio.gather(*(fetch_one(s) for s in unique), return_exceptions=True)
        out: dict[str, Quote | Exception] = {}
        for sym, res in zip(unique, results):
            if isinstance(res, BaseException) and not isinstance(res, MarketError):
                raise res
            out[sym] = res
        failures = [r for r in out.values() if isinstance(r, ProviderError)]
        if out and len(failures) == len(out):
            raise next((f for f in failures if isinstance(f, RateLimitedError)), failures[0])
        return out
