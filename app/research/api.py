"""The rankings and screener JSON API."""
from __future__ import annotations

from flask_jwt_extended import jwt_required
from app.ops.apidoc import Blueprint

from app.research import backtests, schemas, services

bp = Blueprint("research_api", __name__, url_prefix="/api/v1", description="Growth-score rankings and the screener")


@bp.get("/rankings/growth")
@jwt_required()
@bp.arguments(schemas.RankingArgs, location="query")
@bp.response(200, schemas.RankingsSchema)
def growth_rankings(args):
    """Return the top stocks of an index or a country (or of every stock) by growth score."""
    return services.rankings(args.get("index"), args.get("country"), args["limit"])


@bp.get("/screener")
@jwt_required()
@bp.arguments(schemas.ScreenerArgs, location="query")
@bp.response(200, schemas.ScreenerSchema)
def screener(args):
    """Return the stocks that pass every filter, sorted stably (ties by symbol)."""
    return services.screen(args)


@bp.get("/research/backtest")
@jwt_required()
@bp.arguments(schemas.BacktestArgs, location="query")
@bp.response(200, schemas.BacktestSchema)
def backtest(args):
    """Backtest the growth score: the top N of an index, rebalanced monthly at point-in-time scores, against the
    equal-weighted index, after costs; with the Deflated Sharpe Ratio. 503 `backtest_running` while computed."""
    return backtests.backtest({**args, "from": args.pop("from_", None)})
