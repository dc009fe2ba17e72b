"""The provider interface and the registry that `MARKET_PROVIDERS` picks from."""
from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar

from app.market.types import Bar, DividendEvent, FxRate, NewsItem, Profile, Quote, SearchHit, SplitEvent

# What a provider can do; the client only asks a provider for what it declares.
QUOTES = "quotes"
HISTORY = "history"
PROFILE = "profile"
NEWS = "news"
FX = "fx"
SEARCH = "search"
SPLITS = "splits"
DIVIDENDS = "dividends"


@dataclass(frozen=True, slots=True)
class Limits:
    """How hard a provider may be driven."""

    batch_size: int = 20  # symbols per quotes() call
    rate_per_s: float = 5.0  # requests per second (token bucket)
    concurrency: int = 10  # requests in flight at once
    timeout_s: float = 5.0  # per HTTP request
    # The provider's documented limits, shared by every process (app.market.budget), in the `limits`
    # package's notation: "60/minute;30/second". "" = none.
    budget: str = ""


class Provider(abc.ABC):
    """An async market-data source. Methods raise the typed errors of `app.market.types`."""

    name: ClassVar[str]
    capabilities: ClassVar[frozenset[str]]
    limits: Limits = Limits()

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        self.settings = dict(settings or {})

    async def quotes(self, symbols: list[str]) -> dict[str, Quote | Exception]:
        """Return a quote or the per-symbol error for each symbol (at most `limits.batch_size`)."""
        raise NotImplementedError

    async def history(self, symbol: str, start: date, end: date) -> list[Bar]:
        """Return daily bars from `start` to `end` inclusive, oldest first."""
        raise NotImplementedError

    async def profile(self, symbol: str) -> Profile:
        """Return the company's fundamentals."""
        raise NotImplementedError

    async def news(self, symbol: str, limit: int = 20) -> list[NewsItem]:
        """Return recent headlines, newest first."""
        raise NotImplementedError

    async def fx_rate(self, base: str, quote: str, on: date | None = None) -> FxRate:
        """Return the exchange rate base→quote (latest when `on` is None)."""
        raise NotImplementedError

    async def fx_history(self, base: str, quote: str, start: date, end: date) -> dict[date, float]:
        """Return the daily rate base→quote from `start` to `end` (days the provider has)."""
        raise NotImplementedError

    async def search(self, query: str, limit: int = 10) -> list[SearchHit]:
        """Return symbols matching the query."""
        raise NotImplementedError

    async def splits(self, symbol: str, start: date, end: date) -> list[SplitEvent]:
        """Return the symbol's splits with an ex-date from `start` to `end`, oldest first."""
        raise NotImplementedError

    async def dividends(self, symbol: str, start: date, end: date) -> list[DividendEvent]:
        """Return the symbol's cash dividends with an ex-date from `start` to `end`, oldest first."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """Release what the provider holds (nothing by default)."""


_REGISTRY: dict[str, type[Provider]] = {}


def register(cls: type[Provider]) -> type[Provider]:
    """Class decorator: make a provider available under its `name`."""
    _REGISTRY[cls.name] = cls
    return cls


def provider_class(name: str) -> type[Provider]:
    """Return the provider class registered as `name` (KeyError names the choices)."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown market provider {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def registered() -> dict[str, type[Provider]]:
    """Return a copy of the registry."""
    return dict(_REGISTRY)


ProviderFactory = Callable[[Mapping[str, Any]], Provider]
