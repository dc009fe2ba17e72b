"""Request and response schemas of the score, rankings and screener APIs."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app.research.services import SCREEN_SORTS
from app.universe import INDEX_NAMES, SECTORS

SORTS = SCREEN_SORTS + tuple(f"-{s}" for s in SCREEN_SORTS)


class UniverseArgs(Schema):
    """Which universe to compare in: an index or a country (neither: every stock)."""

    index = fields.String(validate=validate.Length(min=1, max=40), metadata={
        "enum": list(INDEX_NAMES),
        "description": "An index (any letter case). Give an index or a country, not both; neither: every stock."})
    country = fields.String(validate=validate.Length(min=1, max=60), metadata={
        "description": "A country of the stock universe, e.g. Germany (any letter case). "
                       "Give an index or a country, not both."})

    @validates_schema
    def _one(self, data: dict, **_: object) -> None:
        if data.get("index") and data.get("country"):
            raise ValidationError("Give an index or a country, not both.", "index")


class RankingArgs(UniverseArgs):
    """A universe and how many to return."""

    limit = fields.Integer(load_default=10, validate=validate.Range(min=1, max=500))


class FactorSchema(Schema):
    """One factor: its 0-100 percentile, its weight, how many inputs were known, and the inputs."""

    score = fields.Float()
    weight = fields.Float()
    confidence = fields.Float(metadata={"description": "share of the factor's inputs that were known, 0..1"})
    inputs = fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True))


class FactorsSchema(Schema):
    """The five factors."""

    performance = fields.Nested(FactorSchema)
    fundamental = fields.Nested(FactorSchema)
    sentiment = fields.Nested(FactorSchema)
    sector = fields.Nested(FactorSchema)
    momentum = fields.Nested(FactorSchema)


class ScoredSchema(Schema):
    """A stock's growth score with the factors that make it."""

    symbol = fields.String()
    name = fields.String()
    score = fields.Float(metadata={"description": "0-100"})
    confidence = fields.Float()
    rank = fields.Integer()
    factors = fields.Nested(FactorsSchema)


class ScoreSchema(ScoredSchema):
    """One stock's score within a universe."""

    universe = fields.String()
    of = fields.Integer(metadata={"description": "number of stocks in the universe"})
    weights = fields.Dict(keys=fields.String(), values=fields.Float())
    as_of = fields.String(metadata={"format": "date-time"})
    simulated = fields.Boolean()


class RankingsSchema(Schema):
    """The best-scored stocks of a universe."""

    universe = fields.String()
    weights = fields.Dict(keys=fields.String(), values=fields.Float())
    as_of = fields.String(metadata={"format": "date-time"})
    simulated = fields.Boolean()
    count = fields.Integer()
    items = fields.List(fields.Nested(ScoredSchema))


class ScreenerArgs(UniverseArgs):
    """Screener filters; all optional."""

    sector = fields.String(validate=validate.OneOf(SECTORS))
    pe_max = fields.Float(validate=validate.Range(min=0, min_inclusive=False), allow_nan=False,
                          metadata={"exclusiveMinimum": True, "description": "greater than 0"})
    market_cap_min = fields.Float(validate=validate.Range(min=0), allow_nan=False,
                                  metadata={"description": "in US dollars"})
    dividend_yield_min = fields.Float(validate=validate.Range(min=0, max=1), allow_nan=False,
                                      metadata={"description": "fraction, 0.03 = 3 %"})
    score_min = fields.Float(validate=validate.Range(min=0, max=100), allow_nan=False)
    sort = fields.String(load_default="-score", validate=validate.OneOf(SORTS))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class ScreenedSchema(Schema):
    """One stock that passed the filters."""

    symbol = fields.String()
    name = fields.String()
    sector = fields.String(allow_none=True)
    country = fields.String(allow_none=True)
    currency = fields.String()
    score = fields.Float()
    confidence = fields.Float()
    pe_ratio = fields.Float(allow_none=True)
    market_cap = fields.Float(allow_none=True)
    market_cap_usd = fields.Float(allow_none=True)
    dividend_yield = fields.Float(allow_none=True)


class ScreenerSchema(Schema):
    """Screener results."""

    universe = fields.String()
    as_of = fields.String(metadata={"format": "date-time"})
    simulated = fields.Boolean()
    count = fields.Integer()
    sort = fields.String()
    items = fields.List(fields.Nested(ScreenedSchema))
