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


class QuantilesSchema(Schema):
    """The 10th, 50th and 90th percentile."""

    p10 = fields.Float()
    p50 = fields.Float()
    p90 = fields.Float()


class RecordSchema(Schema):
    """The out-of-sample record of the walk-forward evaluation (rolling origin)."""

    rows = fields.Integer(metadata={"description": "out-of-sample forecasts (stock x origin)"})
    origins = fields.Integer(metadata={"description": "forecast origins (weekly)"})
    pinball_loss = fields.Float(metadata={"description": "mean pinball loss over the 10/50/90 quantiles"})
    naive_pinball_loss = fields.Float(metadata={"description": "the same for the naive forecast"})
    skill = fields.Float(allow_none=True, metadata={"description": "1 - loss / naive loss: above 0 is better"})
    coverage_80 = fields.Float(metadata={"description": "share of outcomes inside the 10-90 % band (aim: 0.8)"})
    naive_coverage_80 = fields.Float()
    hit_rate = fields.Float(allow_none=True, metadata={"description": "share of medians with the outcome's sign"})
    up_share = fields.Float(metadata={"description": "share of outcomes that were rises (the hit rate's base)"})
    t_stat = fields.Float(allow_none=True, metadata={"description": "Newey-West t of the loss advantage"})
    beats_naive = fields.Boolean(metadata={"description": "lower loss, significant at 5 % (one-sided)"})
    from_ = fields.String(data_key="from", attribute="from", metadata={"format": "date"})
    to = fields.String(metadata={"format": "date"})
    folds = fields.Integer()


class ModelCardSchema(Schema):
    """What the forecast's models are and what they were trained on."""

    algorithm = fields.String()
    features = fields.List(fields.String())
    not_used = fields.List(fields.String())
    configurations_tried = fields.Integer()
    configuration = fields.Dict(keys=fields.String(), values=fields.Raw())
    rows = fields.Integer()
    training_window = fields.Dict(keys=fields.String(), values=fields.String())
    sentiment_share = fields.Float(metadata={"description": "share of training rows with known news sentiment"})
    version = fields.String()
    trained_at = fields.String(metadata={"format": "date-time"})
    universe = fields.String()


class FanPointSchema(Schema):
    """One trading day ahead on the fan chart."""

    step = fields.Integer()
    p10 = fields.Float()
    p50 = fields.Float()
    p90 = fields.Float()


class ForecastSchema(Schema):
    """A stock's 20-trading-day return distribution beside the naive forecast, with its evidence."""

    symbol = fields.String()
    universe = fields.String()
    as_of = fields.String(metadata={"format": "date", "description": "the close the forecast starts from"})
    horizon_days = fields.Integer()
    price = fields.Float()
    quantiles = fields.Nested(QuantilesSchema, metadata={"description": "simple returns over the horizon"})
    band = fields.Nested(QuantilesSchema, metadata={"description": "the implied prices"})
    naive = fields.Nested(QuantilesSchema, metadata={"description": "zero drift, historical volatility"})
    naive_band = fields.Nested(QuantilesSchema)
    fan = fields.List(fields.Nested(FanPointSchema))
    record = fields.Nested(RecordSchema, metadata={"description": "the index's pooled out-of-sample record"})
    symbol_record = fields.Nested(RecordSchema, allow_none=True)
    beats_naive = fields.Boolean()
    verdict = fields.String(metadata={"enum": ["skill", "no_skill"]})
    simulated = fields.Boolean()
    model = fields.Nested(ModelCardSchema)
    disclaimer = fields.String()


class BacktestArgs(Schema):
    """Which backtest: an index, how many stocks, the costs and the period."""

    index = fields.String(required=True, validate=validate.Length(min=1, max=40),
                          metadata={"enum": list(INDEX_NAMES), "description": "An index (any letter case)."})
    top = fields.Integer(load_default=10, validate=validate.Range(min=1, max=100),
                         metadata={"description": "stocks held: the best N by growth score"})
    cost_bps = fields.Float(load_default=10.0, allow_nan=False, validate=validate.Range(min=0, max=1000),
                            metadata={"description": "transaction costs in basis points of the value traded"})
    from_ = fields.Date(data_key="from", metadata={"description": "default: ten years before `to`"})
    to = fields.Date(metadata={"description": "default (and at most): today"})
    trials = fields.Integer(validate=validate.Range(min=1, max=100_000), metadata={
        "description": "variants you have tried in all, for the Deflated Sharpe Ratio (default: the test's own)"})


class FiguresSchema(Schema):
    """A backtest's performance figures."""

    cagr = fields.Float(allow_none=True)
    volatility = fields.Float(allow_none=True)
    max_drawdown = fields.Float(allow_none=True)
    sharpe = fields.Float(allow_none=True)
    total_return = fields.Float(allow_none=True)
    turnover = fields.Float(allow_none=True, metadata={"description": "mean one-way turnover per rebalance"})


class EquitySchema(Schema):
    """Daily equity curves, both starting at 1."""

    dates = fields.List(fields.String(metadata={"format": "date"}))
    strategy = fields.List(fields.Float())
    benchmark = fields.List(fields.Float())


class MonthSchema(Schema):
    """One month's returns."""

    month = fields.String()
    strategy = fields.Float()
    benchmark = fields.Float()
    beat = fields.Boolean()


class HoldingsSchema(Schema):
    """The stocks bought at one rebalance."""

    date = fields.String(metadata={"format": "date"})
    symbols = fields.List(fields.String())


class VariantSchema(Schema):
    """One top-N variant the Deflated Sharpe Ratio counts."""

    top = fields.Integer()
    sharpe = fields.Float(allow_none=True)


class DeflatedSharpeSchema(Schema):
    """The Deflated Sharpe Ratio (Bailey & Lopez de Prado, 2014) on monthly returns."""

    value = fields.Float(allow_none=True, metadata={"description": "probability that the true Sharpe exceeds the "
                                                                   "best of `trials` unskilled variants"})
    sharpe = fields.Float(allow_none=True, metadata={"description": "monthly, not annualised"})
    trials = fields.Integer()
    sharpe_variance = fields.Float(allow_none=True)
    threshold = fields.Float(allow_none=True)
    variants = fields.List(fields.Nested(VariantSchema))


class BacktestSchema(Schema):
    """Top N of an index by growth score, rebalanced monthly, against the equal-weighted index."""

    index = fields.String()
    simulated = fields.Boolean()
    stocks = fields.Integer()
    from_ = fields.String(data_key="from", attribute="from", metadata={"format": "date"})
    to = fields.String(metadata={"format": "date"})
    top = fields.Integer()
    cost_bps = fields.Float()
    rebalances = fields.Integer()
    months = fields.Integer()
    equity = fields.Nested(EquitySchema)
    strategy = fields.Nested(FiguresSchema)
    benchmark = fields.Nested(FiguresSchema)
    hit_rate = fields.Float(allow_none=True, metadata={"description": "share of months the strategy beat the index"})
    monthly = fields.List(fields.Nested(MonthSchema))
    holdings = fields.List(fields.Nested(HoldingsSchema))
    deflated_sharpe = fields.Nested(DeflatedSharpeSchema)
    assumptions = fields.List(fields.String())
