"""The stocks JSON API: search, quotes, batches, history, indicators, fundamentals, news and score."""
from __future__ import annotations

from flask import current_app
from flask_jwt_extended import jwt_required
from app.ops.apidoc import Blueprint

from app.extensions import limiter
from app.research import forecasts as research_forecasts
from app.research import schemas as research_schemas
from app.research import services as research_services
from app.stocks import schemas, services

# One budget for both forms of the batch call (GET and POST are two routes).
batch_limit = limiter.shared_limit(lambda: current_app.config["RATELIMIT_BATCH"], scope="batch")
bp = Blueprint("stocks_api", __name__, url_prefix="/api/v1/stocks", description="Stocks and market data")


@bp.get("/search")
@jwt_required()
@bp.arguments(schemas.SearchArgs, location="query")
@bp.response(200, schemas.SearchResultSchema)
def search(args):
    """Search the universe by symbol, name or ISIN."""
    return {"query": args["q"], "results": services.search(args["q"], args["limit"])}


@bp.get("/<string:symbol>/quote")
@jwt_required()
@bp.response(200, schemas.QuoteSchema)
def quote(symbol: str):
    """Return the latest quote of one symbol."""
    return services.quote(symbol)


@bp.get("/batch")
@jwt_required()
@batch_limit
@bp.arguments(schemas.BatchQuerySchema, location="query")
@bp.response(200, schemas.BatchSchema)
def batch_get(args):
    """Return quotes for up to 50 comma-separated symbols."""
    return services.batch([s for s in args["symbols"].split(",") if s.strip()])


@bp.post("/batch")
@jwt_required()
@batch_limit
@bp.arguments(schemas.BatchBodySchema)
@bp.response(200, schemas.BatchSchema)
def batch_post(body):
    """Return quotes for up to 50 symbols given as a JSON list."""
    return services.batch(body["symbols"])


@bp.get("/<string:symbol>/history")
@jwt_required()
@bp.arguments(schemas.HistoryArgs, location="query")
@bp.response(200, schemas.HistorySchema)
def history(args, symbol: str):
    """Return daily or weekly bars for a named range."""
    return services.history(symbol, args["range"], args["interval"])



@bp.get("/<string:symbol>/indicators")
@jwt_required()
@bp.arguments(schemas.RangeArgs, location="query")
@bp.response(200, schemas.IndicatorsSchema)
def indicators(args, symbol: str):
    """Return RSI(14), MACD(12, 26, 9), SMA 20/50/200, EMA 20 and Bollinger(20, 2) for a range."""
    return services.indicators(symbol, args["range"])


@bp.get("/<string:symbol>/profile")
@jwt_required()
@bp.response(200, schemas.ProfileSchema)
def profile(symbol: str):
    """Return the company's fundamentals with their source and as-of time."""
    return services.profile(symbol)


@bp.get("/<string:symbol>/news")
@jwt_required()
@bp.response(200, schemas.NewsSchema)
def news(symbol: str):
    """Return recent headlines with a VADER sentiment score each, and the aggregate."""
    return services.news(symbol)


@bp.get("/<string:symbol>/score")
@jwt_required()
@bp.arguments(research_schemas.UniverseArgs, location="query")
@bp.response(200, research_schemas.ScoreSchema)
def score(args, symbol: str):
    """Return the stock's growth score within its home index (or the index or country asked for)."""
    return research_services.stock_score(symbol, args.get("index"), args.get("country"))


@bp.get("/<string:symbol>/forecast")
@jwt_required()
@bp.response(200, research_schemas.ForecastSchema)
def forecast(symbol: str):
    """Return the stock's 20-trading-day return quantiles beside the naive forecast, with the out-of-sample
    record and the model card (503 `not_yet_trained` while its index is first trained)."""
    return research_forecasts.stock_forecast(symbol)
