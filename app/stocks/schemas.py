"""Request and response schemas of the stocks API."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.analysis.periods import INTERVALS, RANGES

MAX_BATCH = 50


class SearchArgs(Schema):
    """`q` and `limit` of a search."""

    q = fields.String(required=True, validate=validate.Length(min=1, max=100))
    limit = fields.Integer(load_default=10, validate=validate.Range(min=1, max=50))


class SearchHitSchema(Schema):
    """One search result."""

    symbol = fields.String()
    name = fields.String()
    exchange = fields.String()
    currency = fields.String()
    country = fields.String()
    isin = fields.String(allow_none=True)


class SearchResultSchema(Schema):
    """Search results, best first."""

    query = fields.String()
    results = fields.List(fields.Nested(SearchHitSchema))


class QuoteSchema(Schema):
    """A quote (DESIGN.md field names)."""

    symbol = fields.String(required=True)
    price = fields.Float(required=True)
    change = fields.Float()
    change_pct = fields.Float(metadata={"description": "percent, 1.5 = 1.5 %"})
    currency = fields.String()
    volume = fields.Integer(allow_none=True)
    ts = fields.String(metadata={"format": "date-time"})
    source = fields.String()
    stale = fields.Boolean()
    previous_close = fields.Float(allow_none=True)
    open = fields.Float(allow_none=True)
    day_high = fields.Float(allow_none=True)
    day_low = fields.Float(allow_none=True)
    market_state = fields.String(allow_none=True)


class SymbolErrorSchema(Schema):
    """Why one symbol of a batch failed."""

    code = fields.String()
    message = fields.String()


class BatchQuerySchema(Schema):
    """`symbols=A,B,C` in the query string."""

    symbols = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class BatchBodySchema(Schema):
    """`{"symbols": [...]}` in the body."""

    symbols = fields.List(fields.String(validate=validate.Length(min=1, max=24)), required=True,
                          validate=validate.Length(min=1))


class BatchSchema(Schema):
    """Quotes for many symbols, with per-symbol errors."""

    quotes = fields.Dict(keys=fields.String(), values=fields.Nested(QuoteSchema))
    errors = fields.Dict(keys=fields.String(), values=fields.Nested(SymbolErrorSchema))


class HistoryArgs(Schema):
    """`range` and `interval` of a history request."""

    range = fields.String(load_default="1y", validate=validate.OneOf(RANGES))
    interval = fields.String(load_default="1d", validate=validate.OneOf(INTERVALS),
                             metadata={"description": "1d: daily bars, 1wk: weekly bars"})


class BarSchema(Schema):
    """One OHLCV bar."""

    date = fields.String()
    open = fields.Float()
    high = fields.Float()
    low = fields.Float()
    close = fields.Float()
    volume = fields.Integer(allow_none=True)


class HistorySchema(Schema):
    """Daily or weekly bars, oldest first."""

    symbol = fields.String()
    currency = fields.String()
    range = fields.String()
    interval = fields.String()
    source = fields.String(allow_none=True)
    stale = fields.Boolean()
    prices = fields.String(metadata={"description": "split_adjusted: every bar in today's shares"})
    splits = fields.List(fields.Dict(), metadata={"description": "the stock's splits: [{ex_date, ratio}], "
                                                                "ratio new:old (4:1, or 1:10 reverse)"})
    bars = fields.List(fields.Nested(BarSchema))


class RangeArgs(Schema):
    """`range` of an indicators request."""

    range = fields.String(load_default="1y", validate=validate.OneOf(RANGES))


_Series = fields.List(fields.Float(allow_none=True))


class IndicatorsSchema(Schema):
    """Indicator series aligned with `dates`; null during warm-up."""

    symbol = fields.String()
    range = fields.String()
    source = fields.String(allow_none=True)
    stale = fields.Boolean()
    warmup_from = fields.String(allow_none=True, metadata={"description": "first day the series were computed from"})
    dates = fields.List(fields.String())
    sma20 = _Series
    sma50 = _Series
    sma200 = _Series
    ema20 = _Series
    rsi14 = _Series
    macd = _Series
    macd_signal = _Series
    macd_hist = _Series
    bb_upper = _Series
    bb_middle = _Series
    bb_lower = _Series


class ProfileSchema(Schema):
    """Fundamentals; any figure may be unknown (null). Ratios are fractions (0.25 = 25 %)."""

    symbol = fields.String()
    source = fields.String()
    as_of = fields.String(metadata={"format": "date-time"})
    stale = fields.Boolean()
    name = fields.String(allow_none=True)
    currency = fields.String(allow_none=True)
    sector = fields.String(allow_none=True)
    industry = fields.String(allow_none=True)
    country = fields.String(allow_none=True)
    market_cap = fields.Float(allow_none=True, metadata={"description": "in the stock's currency"})
    pe_ratio = fields.Float(allow_none=True)
    pb_ratio = fields.Float(allow_none=True)
    debt_to_equity = fields.Float(allow_none=True)
    roe = fields.Float(allow_none=True)
    dividend_yield = fields.Float(allow_none=True)
    revenue_growth = fields.Float(allow_none=True)
    description = fields.String(allow_none=True)


class NewsItemSchema(Schema):
    """One headline with its VADER compound score (-1..1)."""

    headline = fields.String()
    url = fields.String(allow_none=True)
    published_at = fields.String(metadata={"format": "date-time"})
    publisher = fields.String(allow_none=True)
    summary = fields.String(allow_none=True)
    sentiment = fields.Float()
    label = fields.String(metadata={"description": "positive | negative | neutral"})


class SentimentSchema(Schema):
    """The recency-weighted mean of the headlines' scores."""

    score = fields.Float(allow_none=True)
    label = fields.String()
    count = fields.Integer()
    positive = fields.Integer()
    negative = fields.Integer()
    neutral = fields.Integer()


class NewsSchema(Schema):
    """Recent headlines, newest first, and their aggregate sentiment."""

    symbol = fields.String()
    source = fields.String(allow_none=True)
    stale = fields.Boolean()
    sentiment = fields.Nested(SentimentSchema)
    items = fields.List(fields.Nested(NewsItemSchema))
