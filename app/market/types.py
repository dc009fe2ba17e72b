"""Value types and typed errors of the market-data core.

Prices are floats here: they are quotes from the wire, not stored money. Anything
that is persisted (PriceBar, transactions) is converted to Decimal at that edge.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Quote:
    """The latest price of one symbol."""

    symbol: str
    price: float
    change: float
    change_pct: float
    currency: str
    volume: int | None
    ts: datetime  # timezone-aware UTC
    source: str
    previous_close: float | None = None
    open: float | None = None
    day_high: float | None = None
    day_low: float | None = None
    market_state: str | None = None  # "open" | "closed" when the provider knows

    def to_dict(self) -> dict[str, Any]:
        """Return the API payload form (DESIGN.md field names)."""
        out = asdict(self)
        out["ts"] = self.ts.isoformat()
        out["stale"] = False
        return out


@dataclass(frozen=True, slots=True)
class Bar:
    """One daily OHLCV bar."""

    date: date
    open: float
    high: float
    low: float
    close: float
    volume: int | None


@dataclass(frozen=True, slots=True)
class SplitEvent:
    """A split as a provider reports it: from `ex_date` on, every `ratio_from` shares are `ratio_to`."""

    symbol: str
    ex_date: date
    ratio_from: int
    ratio_to: int
    source: str


@dataclass(frozen=True, slots=True)
class DividendEvent:
    """A cash dividend as a provider reports it: `amount` per share to holders at the start of `ex_date`.

    `adjusted` says the amount is restated in today's shares (Yahoo's chart events, the demo
    market): divided by the ratios of the splits after the ex-date. Stored as traded then.
    """

    symbol: str
    ex_date: date
    amount: float
    currency: str | None
    source: str
    pay_date: date | None = None
    adjusted: bool = False


@dataclass(frozen=True, slots=True)
class Profile:
    """Fundamentals of one company; any figure may be unknown (None)."""

    symbol: str
    source: str
    as_of: datetime
    name: str | None = None
    currency: str | None = None
    sector: str | None = None
    industry: str | None = None
    country: str | None = None
    market_cap: float | None = None  # in the stock's currency, absolute (not millions)
    pe_ratio: float | None = None
    pb_ratio: float | None = None
    debt_to_equity: float | None = None
    roe: float | None = None  # fraction, 0.25 = 25 %
    dividend_yield: float | None = None  # fraction
    revenue_growth: float | None = None  # fraction, year over year
    description: str | None = None


@dataclass(frozen=True, slots=True)
class NewsItem:
    """One headline about a symbol."""

    symbol: str
    headline: str
    url: str | None
    published_at: datetime
    source: str  # the provider that served it
    publisher: str | None = None
    summary: str | None = None


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One result of a provider's symbol search."""

    symbol: str
    name: str
    exchange: str | None
    kind: str | None  # e.g. "EQUITY"
    source: str


@dataclass(frozen=True, slots=True)
class FxRate:
    """How many units of `quote` one unit of `base` buys on `on`."""

    base: str
    quote: str
    rate: float
    on: date
    source: str


@dataclass(frozen=True, slots=True)
class BatchResult:
    """Quotes for a batch of symbols, with a typed error per symbol that failed."""

    quotes: dict[str, Quote] = field(default_factory=dict)
    errors: dict[str, "MarketError"] = field(default_factory=dict)


class MarketError(Exception):
    """Base of every market-data error; `code` is the API error code."""

    code = "market_error"

    def __init__(self, message: str, *, provider: str | None = None, symbol: str | None = None):
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.symbol = symbol


class SymbolNotFoundError(MarketError):
    """The provider does not know the symbol; not a provider failure."""

    code = "symbol_not_found"


class ProviderError(MarketError):
    """The provider answered with something unusable (bad body, 5xx, unexpected shape)."""

    code = "provider_error"


class RateLimitedError(ProviderError):
    """The provider said we are over its limit; `retry_after_s` when it told us."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: float | None = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.retry_after_s = retry_after_s


class BudgetExhaustedError(RateLimitedError):
    """Our shared request budget for the provider (app.market.budget) has no room before the deadline.

    Refused before any request went out: the provider is not failing, so no circuit counts it.
    """


class ProviderUnavailableError(ProviderError):
    """No provider in the chain could answer (all down, circuits open, or time budget spent)."""

    code = "provider_unavailable"
