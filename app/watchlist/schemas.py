"""Request and response schemas of the watchlists API."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.stocks.schemas import QuoteSchema, SymbolErrorSchema


class WatchlistItemSchema(Schema):
    """One symbol on a watchlist."""

    symbol = fields.String()
    position = fields.Integer()
    added_at = fields.DateTime()


class WatchlistSchema(Schema):
    """A watchlist with its items in order."""

    id = fields.Integer()
    name = fields.String()
    position = fields.Integer()
    items = fields.List(fields.Nested(WatchlistItemSchema))


class WatchlistCreateSchema(Schema):
    """A new watchlist."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=80))


class WatchlistUpdateSchema(Schema):
    """Rename, move, or reorder the items (give every symbol once, in the new order)."""

    name = fields.String(validate=validate.Length(min=1, max=80))
    position = fields.Integer(validate=validate.Range(min=0, max=100))
    order = fields.List(fields.String(validate=validate.Length(min=1, max=24)), validate=validate.Length(max=100))


class ItemCreateSchema(Schema):
    """A symbol to add."""

    symbol = fields.String(required=True, validate=validate.Length(min=1, max=24))


class WatchlistQuotesSchema(Schema):
    """Quotes of every item (one batch call), per-symbol errors, and growth scores where known."""

    id = fields.Integer()
    name = fields.String()
    quotes = fields.Dict(keys=fields.String(), values=fields.Nested(QuoteSchema))
    errors = fields.Dict(keys=fields.String(), values=fields.Nested(SymbolErrorSchema))
    scores = fields.Dict(keys=fields.String(), values=fields.Float())
