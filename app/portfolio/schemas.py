"""Request and response schemas of the portfolio API. Money and quantities travel as decimal strings."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.analysis.periods import RANGES
from app.ops.apidoc import DecimalString
from app.portfolio.amounts import Amount
from app.portfolio.services import KINDS

_Money = DecimalString
# Amounts computed through exchange rates carry many digits; they are shown to the cent.
_Cents = lambda **kw: _Money(places=2, **kw)  # noqa: E731


class TransactionSchema(Schema):
    """A buy, sell, dividend or fee (for dividends and fees the amount is quantity x price)."""

    id = fields.Integer(dump_only=True)
    symbol = fields.String(required=True, validate=validate.Length(min=1, max=24))
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    quantity = Amount(required=True, validate=validate.Range(min=0, min_inclusive=False))
    price = Amount(required=True, validate=validate.Range(min=0, min_inclusive=False))
    fee = Amount(load_default=None, validate=validate.Range(min=0))
    currency = fields.String(load_default=None, allow_none=True, validate=validate.Length(equal=3))
    date = fields.Date(required=True, attribute="day")
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))


class BreakdownSchema(Schema):
    """A return split by source, in the base currency: price + dividends + fx (+ fees) = total P/L."""

    price = _Cents(allow_none=True, metadata={"description": "the price moves, realised and unrealised, at the "
                                                            "rates the shares were bought at"})
    dividends = _Cents()
    fx = _Cents(allow_none=True, metadata={"description": "the currency moves against the base currency"})
    fees = _Cents(metadata={"description": "totals only: fee rows and dividend charges (negative)"})


class HoldingSchema(Schema):
    """One position valued now."""

    symbol = fields.String()
    name = fields.String()
    currency = fields.String()
    quantity = _Money()
    avg_cost = _Money(places=4, allow_none=True)
    cost_basis = _Cents()
    cost_basis_base = _Cents()
    price = _Money(allow_none=True)
    fx_rate = _Money(places=6)
    change_pct = fields.Float(allow_none=True)
    day_change_base = _Cents()
    market_value_local = _Cents()
    market_value_base = _Cents()
    unrealised_local = _Cents()
    unrealised_base = _Cents()
    unrealised_pct = fields.Float(allow_none=True)
    price_effect_base = _Cents()
    fx_effect_base = _Cents()
    realised_base = _Cents()
    dividends_base = _Cents()
    fees_base = _Cents()
    return_breakdown = fields.Nested(BreakdownSchema, metadata={"description": "null parts: not priced now"})
    weight = fields.Float(allow_none=True)
    stale = fields.Boolean()
    source = fields.String(allow_none=True)
    error = fields.String(allow_none=True)


class TotalsSchema(Schema):
    """Portfolio totals in the base currency."""

    value = _Cents()
    cost_basis = _Cents()
    unrealised = _Cents()
    realised = _Cents()
    dividends = _Cents()
    fees = _Cents()
    total_pl = _Cents()
    breakdown = fields.Nested(BreakdownSchema, metadata={
        "description": "total_pl by source, closed positions included: price + dividends + fx + fees"})
    day_change = _Cents()
    day_change_pct = fields.Float(allow_none=True)


class PortfolioSchema(Schema):
    """Holdings valued now and the totals."""

    base_currency = fields.String()
    complete = fields.Boolean(metadata={"description": "false when a holding could not be priced"})
    holdings = fields.List(fields.Nested(HoldingSchema))
    totals = fields.Nested(TotalsSchema)


class PerformanceArgs(Schema):
    """`range` of the value series."""

    range = fields.String(load_default="1y", validate=validate.OneOf(RANGES))


class PeriodSchema(Schema):
    """Returns over one period (fractions: 0.05 = 5 %)."""

    twr = fields.Float(allow_none=True)
    mwr = fields.Float(allow_none=True)
    annualised = fields.Boolean()


class PointSchema(Schema):
    """One day of a series."""

    date = fields.String()
    value = fields.Raw()
    flow = _Cents()


class BenchmarkSchema(Schema):
    """The benchmark, rebased to 100 at the range start."""

    name = fields.String()
    method = fields.String()
    series = fields.List(fields.Dict())
    # `return` is a Python keyword, hence data_key.
    total_return = fields.Float(allow_none=True, data_key="return", attribute="return")


class DrawdownSchema(Schema):
    """The largest fall of the TWR index from a peak."""

    depth = fields.Float(metadata={"description": "as a fraction: -0.25 is a quarter lost; 0 without a fall"})
    peak = fields.String(allow_none=True, metadata={"description": "the day of the peak before the fall"})
    trough = fields.String(allow_none=True, metadata={"description": "the day of the lowest point"})
    recovered = fields.String(allow_none=True, metadata={"description": "the first day back at the peak; null: not yet"})
    duration_days = fields.Integer(metadata={"description": "calendar days from the peak to the recovery (or to today)"})


class RiskSchema(Schema):
    """Risk figures over the range, measured on the TWR index (flows taken out)."""

    max_drawdown = fields.Nested(DrawdownSchema)
    volatility = fields.Float(allow_none=True, metadata={"description": "annualised standard deviation of day returns"})
    mean_return = fields.Float(allow_none=True, metadata={"description": "mean day return x weekdays a year"})
    sharpe = fields.Float(allow_none=True, metadata={"description": "(mean_return - risk_free_rate) / volatility"})
    risk_free_rate = fields.Float(metadata={"description": "the account's setting (PATCH /api/v1/me)"})
    days = fields.Integer(metadata={"description": "day returns measured"})


class PerformanceSchema(Schema):
    """The daily value series, TWR/MWR per period, the benchmark and the monthly grid."""

    base_currency = fields.String()
    range = fields.String()
    series = fields.List(fields.Nested(PointSchema))
    twr_index = fields.List(fields.Dict(), metadata={"description": "growth of 100, cash flows removed"})
    returns = fields.Dict(keys=fields.String(), values=fields.Nested(PeriodSchema))
    monthly = fields.Dict(keys=fields.String(), values=fields.Dict(keys=fields.String(),
                                                                    values=fields.Float(allow_none=True)))
    benchmark = fields.Nested(BenchmarkSchema)
    risk = fields.Nested(RiskSchema)
    status = fields.String(metadata={"description": "ready: computed from the current transactions; stale: the "
                                     "last result, a new one is being computed; computing: none yet (empty "
                                     "series), ask again shortly"})
    computed_at = fields.String(allow_none=True, metadata={"description": "when a worker computed it (ISO 8601)"})


class SliceSchema(Schema):
    """One slice of an allocation."""

    key = fields.String()
    value = _Cents()
    weight = fields.Float()


class AllocationSchema(Schema):
    """The value split four ways."""

    base_currency = fields.String()
    holding = fields.List(fields.Nested(SliceSchema))
    sector = fields.List(fields.Nested(SliceSchema))
    country = fields.List(fields.Nested(SliceSchema))
    currency = fields.List(fields.Nested(SliceSchema))


class ImportResultSchema(Schema):
    """What an import did."""

    imported = fields.Integer()
    skipped = fields.Integer(metadata={"description": "rows imported before (same content)"})


class SplitInSchema(Schema):
    """A split the user enters for a stock the providers do not know (for their own reads only)."""

    symbol = fields.String(required=True, validate=validate.Length(min=1, max=24))
    ex_date = fields.Date(required=True)
    ratio_from = fields.Integer(required=True, strict=True, data_key="from",
                                validate=validate.Range(min=1, max=10_000))
    ratio_to = fields.Integer(required=True, strict=True, data_key="to", validate=validate.Range(min=1, max=10_000))


class SplitSchema(Schema):
    """A stock split: from `ex_date` on, every `from` shares are `to` (4:1 is from 1 to 4)."""

    id = fields.Integer()
    symbol = fields.String()
    ex_date = fields.String()
    ratio_from = fields.Integer(data_key="from")
    ratio_to = fields.Integer(data_key="to")
    ratio = fields.String(metadata={"description": "to:from, e.g. 4:1, or 1:10 for a reverse split"})
    source = fields.String(metadata={"description": "yahoo, finnhub, demo, or user"})
    entered_by_you = fields.Boolean()


class SplitQuerySchema(Schema):
    symbol = fields.String(load_default=None, validate=validate.Length(min=1, max=24))


class SplitListSchema(Schema):
    items = fields.List(fields.Nested(SplitSchema))


class RealisedArgs(Schema):
    """`year`: only that calendar year's sales (the yearly totals are always all years)."""

    year = fields.Integer(load_default=None, validate=validate.Range(min=1970, max=9999))


class RealisedYearSchema(Schema):
    """One calendar year's sales, in the base currency."""

    year = fields.Integer()
    proceeds = _Cents()
    cost = _Cents()
    gain = _Cents()


class SaleSchema(Schema):
    """One sale's realised gain (quantity as entered; local = the stock's currency)."""

    date = fields.String()
    symbol = fields.String()
    quantity = _Money()
    currency = fields.String()
    proceeds = _Cents(metadata={"description": "net of the sell commission"})
    cost = _Cents(metadata={"description": "of the shares sold, by the account's cost basis method"})
    gain = _Cents()
    proceeds_base = _Cents()
    cost_base = _Cents()
    gain_base = _Cents()
    cash_in_lieu = fields.Boolean(metadata={"description": "booked by a reverse split, not by you"})


class RealisedSchema(Schema):
    """Realised gains by calendar year and sale."""

    base_currency = fields.String()
    method = fields.String(metadata={"description": "fifo or average (the account's setting)"})
    year = fields.Integer(allow_none=True)
    years = fields.List(fields.Nested(RealisedYearSchema))
    sales = fields.List(fields.Nested(SaleSchema))


class DividendProposalSchema(Schema):
    """A dividend paid on shares held at its ex-date, not booked yet."""

    symbol = fields.String()
    ex_date = fields.Date()
    pay_date = fields.Date()
    quantity = _Money(metadata={"description": "shares held at the start of the ex-date (in that day's shares)"})
    amount_per_share = _Money()
    amount = _Cents(metadata={"description": "quantity x amount_per_share, in `currency`"})
    currency = fields.String()
    source = fields.String()


class UpcomingDividendSchema(Schema):
    """An announced dividend of a stock held now."""

    symbol = fields.String()
    ex_date = fields.Date()
    pay_date = fields.Date()
    quantity = _Money()
    amount_per_share = _Money()
    amount = _Cents(metadata={"description": "expected"})
    currency = fields.String()


class ReceivedDividendSchema(Schema):
    """A dividend booked in the last two years."""

    date = fields.Date()
    symbol = fields.String()
    amount = _Cents()
    currency = fields.String()
    amount_base = _Cents()


class YieldOnCostSchema(Schema):
    """Dividends received in the last 365 days over the cost of the shares held now."""

    symbol = fields.String()
    currency = fields.String()
    trailing_12m = _Cents()
    cost_basis = _Cents()
    yield_on_cost = fields.Float(allow_none=True)


class DividendTotalSchema(Schema):
    """The portfolio's yield on cost, in the base currency."""

    trailing_12m_base = _Cents()
    cost_basis_base = _Cents()
    yield_on_cost = fields.Float(allow_none=True)


class DividendsSchema(Schema):
    """The dividend inbox and calendar."""

    base_currency = fields.String()
    inbox = fields.List(fields.Nested(DividendProposalSchema))
    inbox_total = fields.Integer(metadata={"description": "all open proposals (the inbox lists the newest 200)"})
    received = fields.List(fields.Nested(ReceivedDividendSchema))
    upcoming = fields.List(fields.Nested(UpcomingDividendSchema))
    yield_on_cost = fields.List(fields.Nested(YieldOnCostSchema))
    total = fields.Nested(DividendTotalSchema)


class DividendDecisionSchema(Schema):
    """Which proposal: its stock and ex-date."""

    symbol = fields.String(required=True, validate=validate.Length(min=1, max=24))
    ex_date = fields.Date(required=True)


class DividendAcceptSchema(DividendDecisionSchema):
    """Accept a proposal as it is, or with what your statement says."""

    quantity = Amount(load_default=None, validate=validate.Range(min=0, min_inclusive=False))
    amount_per_share = Amount(load_default=None, validate=validate.Range(min=0, min_inclusive=False))
    date = fields.Date(load_default=None, attribute="day", metadata={"description": "default: the pay date"})
    fee = Amount(load_default=None, validate=validate.Range(min=0), metadata={"description": "e.g. withholding tax"})
