"""Request and response schemas of the stocks API."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates

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

    range = fields.String(load_default="1y")
    interval = fields.String(load_default="1d")

    @validates("range")
    def _range(self, value: str, **_: object) -> None:
        if value not in RANGES:
            raise ValidationError(f"Must be one of: {', '.join(RANGES)}.")

    @validates("interval")
    def _interval(self, value: str, **_: object) -> None:
        if value not in INTERVALS:
            raise ValidationError(f"Must be one of: {', '.join(INTERVALS)}.")


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
    bars = fields.List(fields.Nested(BarSchema))
