"""The stocks JSON API: search, quotes, batches and history."""
from __future__ import annotations

from flask import current_app
from flask_jwt_extended import jwt_required
from flask_smorest import Blueprint

from app.extensions import limiter
from app.ops.errors import APIError
from app.stocks import schemas, services

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
@limiter.limit(lambda: current_app.config["RATELIMIT_BATCH"])
@bp.arguments(schemas.BatchQuerySchema, location="query")
@bp.response(200, schemas.BatchSchema)
def batch_get(args):
    """Return quotes for up to 50 comma-separated symbols."""
    return services.batch([s for s in args["symbols"].split(",") if s.strip()])


@bp.post("/batch")
@jwt_required()
@limiter.limit(lambda: current_app.config["RATELIMIT_BATCH"])
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


