"""The async market-data client: fan-out in batches, limits, retries, circuit breakers, fallback.

One `MarketClient` lives on the bridge's event loop (`app.aio`). Every call walks the
provider chain (`MARKET_PROVIDERS`): each provider is driven under its own rate limiter
(aiolimiter) and concurrency cap, and its requests under the budget that every process shares
(app.market.budget; a call refused there fails over without counting against the provider's
circuit), each request is retried with exponential backoff and
jitter on 429 / 5xx / timeouts (honouring Retry-After) inside the call's total time
budget, a provider that keeps failing is cut off by its circuit breaker, and what one
provider could not answer goes to the next. Identical in-flight requests are coalesced.
"""
from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar

import structlog
from aiolimiter import AsyncLimiter

from app.market import budget
from app.market.providers import base as caps
from app.market.providers.base import Provider
from app.market.types import (BatchResult, Bar, BudgetExhaustedError, FxRate, MarketError, NewsItem, Profile,
                              DividendEvent, ProviderError, ProviderUnavailableError, Quote, RateLimitedError, SplitEvent,
                              SymbolNotFoundError)
from app.ops.breaker import CLOSED, OPEN, CircuitBreaker

log = structlog.get_logger(__name__)
T = TypeVar("T")


@dataclass
class ClientSettings:
    """Knobs of the client (from config: MARKET_BUDGET_S, MARKET_RETRIES, ...)."""

    budget_s: float = 8.0  # total time one call may take, retries and fallbacks included
    max_attempts: int = 3  # per provider and request
    backoff_base_s: float = 0.2
    backoff_cap_s: float = 2.0
    breaker_threshold: int = 5
    breaker_reset_s: float = 30.0


@dataclass
class _Lane:
    """One provider with its limiter, concurrency cap and breaker."""

    provider: Provider
    limiter: AsyncLimiter | None  # None: the provider declares no rate limit
    slots: asyncio.Semaphore
    breaker: CircuitBreaker
    calls: int = 0
    failures: int = 0
    latency_s: list[float] = field(default_factory=list)


class MarketClient:
    """Fetches quotes, history, profiles, news and FX through a chain of providers."""

    def __init__(self, providers: Sequence[Provider], settings: ClientSettings | None = None,
                 on_call: Callable[[str, str, str, float], None] | None = None) -> None:
        if not providers:
            raise ValueError("the provider chain is empty")
        self.settings = settings or ClientSettings()
        self._lanes = [self._lane(p) for p in providers]
        self._inflight: dict[tuple[Any, ...], asyncio.Future[Any]] = {}
        self._on_call = on_call  # metrics hook: (provider, operation, outcome, seconds)

    # -- public coroutines -------------------------------------------------------------

    async def fetch_quotes(self, symbols: Sequence[str]) -> BatchResult:
        """Return quotes for many symbols; symbols no provider could answer carry their error."""
        wanted = list(dict.fromkeys(symbols))
        mine: list[str] = []
        waits: dict[str, asyncio.Future[Any]] = {}
        for symbol in wanted:
            future = self._inflight.get(("quote", symbol))
            if future is None:
                mine.append(symbol)
                self._inflight[("quote", symbol)] = asyncio.get_running_loop().create_future()
            else:
                waits[symbol] = future
        result = BatchResult()
        try:
            if mine:
                fetched = await self._quotes_through_chain(mine)
                result.quotes.update(fetched.quotes)
                result.errors.update(fetched.errors)
        except BaseException as exc:
            for symbol in mine:
                self._settle(("quote", symbol), error=exc)
            raise
        for symbol in mine:
            self._settle(("quote", symbol), value=result.quotes.get(symbol) or result.errors.get(symbol))
        for symbol, future in waits.items():
            value = await asyncio.shield(future)
            (result.quotes if isinstance(value, Quote) else result.errors)[symbol] = value
        return result

    async def fetch_history(self, symbol: str, start: date, end: date) -> list[Bar]:
        """Return daily bars from start to end inclusive, oldest first."""
        return await self._coalesced(("history", symbol, start, end),
                                     lambda p: p.history(symbol, start, end), caps.HISTORY, symbol)

    async def fetch_splits(self, symbol: str, start: date, end: date) -> list[SplitEvent]:
        """Return the symbol's split events from `start` to `end`, oldest first."""
        return await self._coalesced(("splits", symbol, start, end),
                                     lambda p: p.splits(symbol, start, end), caps.SPLITS, symbol)

    async def fetch_dividends(self, symbol: str, start: date, end: date) -> list[DividendEvent]:
        """Return the symbol's cash dividends from `start` to `end`, oldest first."""
        return await self._coalesced(("dividends", symbol, start, end),
                                     lambda p: p.dividends(symbol, start, end), caps.DIVIDENDS, symbol)

    async def fetch_profile(self, symbol: str) -> Profile:
        """Return the company's fundamentals."""
        return await self._coalesced(("profile", symbol), lambda p: p.profile(symbol), caps.PROFILE, symbol)

    async def fetch_news(self, symbol: str, limit: int = 20) -> list[NewsItem]:
        """Return recent headlines about the symbol, newest first."""
        return await self._coalesced(("news", symbol, limit), lambda p: p.news(symbol, limit), caps.NEWS, symbol)

    async def fetch_fx(self, base: str, quote: str, on: date | None = None) -> FxRate:
        """Return the exchange rate base→quote."""
        return await self._coalesced(("fx", base, quote, on), lambda p: p.fx_rate(base, quote, on), caps.FX, None)

    async def fetch_fx_history(self, base: str, quote: str, start: date, end: date) -> dict[date, float]:
        """Return the daily rate base→quote from start to end."""
        return await self._coalesced(("fx-history", base, quote, start, end),
                                     lambda p: p.fx_history(base, quote, start, end), caps.FX, None)

    def circuit_states(self) -> dict[str, str]:
        """Return each provider's circuit state."""
        return {lane.provider.name: lane.breaker.state for lane in self._lanes}

    async def aclose(self) -> None:
        """Close every provider."""
        for lane in self._lanes:
            await lane.provider.aclose()

    # -- the chain ---------------------------------------------------------------------

    async def _quotes_through_chain(self, symbols: list[str]) -> BatchResult:
        deadline = time.monotonic() + self.settings.budget_s
        result = BatchResult()
        remaining = list(symbols)
        for lane in self._capable(caps.QUOTES):
            if not remaining:
                break
            if not lane.breaker.allow():
                for symbol in remaining:
                    result.errors.setdefault(symbol, ProviderUnavailableError(
                        f"{lane.provider.name} is cut off after repeated failures", provider=lane.provider.name))
                continue
            size = max(1, lane.provider.limits.batch_size)
            batches = [remaining[i:i + size] for i in range(0, len(remaining), size)]
            answers = await asyncio.gather(*(self._attempt(lane, "quotes", lambda p, b=b: p.quotes(b), deadline,
                                                           breaker_checked=True) for b in batches),
                                           return_exceptions=True)
            still: list[str] = []
            for batch, answer in zip(batches, answers):
                if isinstance(answer, BaseException) and not isinstance(answer, Exception):
                    raise answer  # cancellation and the like
                for symbol in batch:
                    value = answer.get(symbol) if isinstance(answer, dict) else answer
                    if isinstance(value, Quote):
                        result.quotes[symbol] = value
                        result.errors.pop(symbol, None)
                    else:
                        error = value if isinstance(value, Exception) else ProviderError(
                            f"{lane.provider.name} returned nothing for {symbol}", provider=lane.provider.name)
                        # "Not found" from an earlier provider is the better message than a later outage.
                        if not isinstance(result.errors.get(symbol), SymbolNotFoundError):
                            result.errors[symbol] = error
                        still.append(symbol)
            remaining = still
        for symbol in remaining:
            result.errors.setdefault(symbol, ProviderUnavailableError("no market-data provider can answer"))
        return result

    async def _coalesced(self, key: tuple[Any, ...], call: Callable[[Provider], Awaitable[T]],
                         capability: str, symbol: str | None) -> T:
        future = self._inflight.get(key)
        if future is not None:
            value = await asyncio.shield(future)
            if isinstance(value, BaseException):
                raise value
            return value
        self._inflight[key] = asyncio.get_running_loop().create_future()
        try:
            value = await self._first_answer(call, capability, symbol)
        except BaseException as exc:
            self._settle(key, error=exc)
            raise
        self._settle(key, value=value)
        return value

    async def _first_answer(self, call: Callable[[Provider], Awaitable[T]], capability: str,
                            symbol: str | None) -> T:
        deadline = time.monotonic() + self.settings.budget_s
        errors: list[MarketError] = []
        for lane in self._capable(capability):
            try:
                return await self._attempt(lane, capability, call, deadline)
            except SymbolNotFoundError as exc:
                errors.insert(0, exc)  # keep trying: another provider may know the symbol
            except MarketError as exc:
                errors.append(exc)
        if errors and isinstance(errors[0], SymbolNotFoundError):
            raise errors[0]
        detail = "; ".join(f"{e.provider or '?'}: {e.message}" for e in errors) or f"no provider offers {capability}"
        raise ProviderUnavailableError(f"every market-data provider failed ({detail})", symbol=symbol)

    async def _attempt(self, lane: _Lane, operation: str, call: Callable[[Provider], Awaitable[T]],
                       deadline: float, breaker_checked: bool = False) -> T:
        """Call one provider with retries, backoff and jitter, inside `deadline`."""
        name = lane.provider.name
        if not breaker_checked and not lane.breaker.allow():
            raise ProviderUnavailableError(f"{name} is cut off after repeated failures", provider=name)
        last: MarketError | None = None
        for attempt in range(1, self.settings.max_attempts + 1):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            started = time.monotonic()
            cut_off = False
            try:
                async with lane.slots:
                    if lane.limiter is not None:
                        await asyncio.wait_for(lane.limiter.acquire(), timeout=left)
                    # Other calls' failures may have opened the circuit while this one waited for its
                    # turn (a slot, the rate limiter): then it does not go out at all.
                    cut_off = lane.breaker.state == OPEN
                    if not cut_off:
                        left = deadline - time.monotonic()
                        token = budget.deadline.set(deadline)  # the provider's budget waits only this long
                        try:
                            value = await asyncio.wait_for(call(lane.provider), timeout=max(left, 0.001))
                        finally:
                            budget.deadline.reset(token)
            except SymbolNotFoundError:
                lane.breaker.success()  # the provider works; it just does not know the symbol
                self._record(lane, operation, "not_found", started)
                raise
            except BudgetExhaustedError as exc:
                # Refused by our own shared budget before any request: the provider is fine, and
                # the budget already waited as long as the deadline allowed.
                lane.breaker.release()
                self._record(lane, operation, "budget_exhausted", started)
                last = exc
                break
            except (RateLimitedError, ProviderError, TimeoutError) as exc:
                error = exc if isinstance(exc, MarketError) else ProviderError(
                    f"{name} did not answer within the time budget", provider=name)
                if error.provider is None:
                    error.provider = name
                last = error
                lane.breaker.failure()
                self._record(lane, operation, type(error).__name__, started)
                if isinstance(error, ProviderUnavailableError) or lane.breaker.state != CLOSED:
                    break
                pause = self._backoff(attempt, getattr(error, "retry_after_s", None))
                if time.monotonic() + pause >= deadline:
                    break
                await asyncio.sleep(pause)
                continue
            except asyncio.CancelledError:
                lane.breaker.release()
                raise
            if cut_off:
                raise last or ProviderUnavailableError(f"{name} is cut off after repeated failures", provider=name)
            lane.breaker.success()
            self._record(lane, operation, "ok", started)
            return value
        raise last or ProviderUnavailableError(f"{name}: the time budget ran out", provider=name)

    # -- helpers -----------------------------------------------------------------------

    def _backoff(self, attempt: int, retry_after_s: float | None) -> float:
        if retry_after_s is not None:
            return max(0.0, retry_after_s)
        ceiling = min(self.settings.backoff_cap_s, self.settings.backoff_base_s * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)  # "equal jitter"

    def _capable(self, capability: str) -> list[_Lane]:
        return [lane for lane in self._lanes if capability in lane.provider.capabilities]

    def _lane(self, provider: Provider) -> _Lane:
        limits = provider.limits
        rate = limits.rate_per_s
        # aiolimiter is a leaky bucket of `max_rate` per `time_period`; allow bursts of one second's worth.
        limiter = AsyncLimiter(max(1.0, rate), time_period=max(1.0, rate) / rate) if rate > 0 else None
        return _Lane(provider, limiter, asyncio.Semaphore(max(1, limits.concurrency)),
                     CircuitBreaker(self.settings.breaker_threshold, self.settings.breaker_reset_s))

    def _record(self, lane: _Lane, operation: str, outcome: str, started: float) -> None:
        elapsed = time.monotonic() - started
        lane.calls += 1
        if outcome not in ("ok", "not_found", "budget_exhausted"):
            lane.failures += 1
        if self._on_call is not None:
            self._on_call(lane.provider.name, operation, outcome, elapsed)

    def _settle(self, key: tuple[Any, ...], value: Any = None, error: BaseException | None = None) -> None:
        future = self._inflight.pop(key, None)
        if future is not None and not future.done():
            future.set_result(error if error is not None else value)
