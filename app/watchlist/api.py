"""The watchlists JSON API."""
from __future__ import annotations

from flask_jwt_extended import current_user, jwt_required
from app.ops.apidoc import Blueprint

from app.watchlist import schemas, services

bp = Blueprint("watchlist_api", __name__, url_prefix="/api/v1/watchlists", description="Watchlists")


@bp.get("")
@jwt_required()
@bp.response(200, schemas.WatchlistSchema(many=True))
def list_watchlists():
    """Return the user's watchlists in order."""
    return services.watchlists(current_user.id)


@bp.post("")
@jwt_required()
@bp.arguments(schemas.WatchlistCreateSchema)
@bp.response(201, schemas.WatchlistSchema)
def create_watchlist(body):
    """Create a watchlist."""
    return services.create_watchlist(current_user.id, body["name"])


@bp.get("/<int:watchlist_id>")
@jwt_required()
@bp.response(200, schemas.WatchlistSchema)
def get_watchlist(watchlist_id: int):
    """Return one watchlist."""
    return services.get_watchlist(current_user.id, watchlist_id)


@bp.patch("/<int:watchlist_id>")
@jwt_required()
@bp.arguments(schemas.WatchlistUpdateSchema)
@bp.response(200, schemas.WatchlistSchema)
def update_watchlist(body, watchlist_id: int):
    """Rename a watchlist, move it, or reorder its items."""
    return services.update_watchlist(current_user.id, watchlist_id, **body)


@bp.delete("/<int:watchlist_id>")
@jwt_required()
@bp.response(204)
def delete_watchlist(watchlist_id: int):
    """Delete a watchlist and its items."""
    services.delete_watchlist(current_user.id, watchlist_id)


@bp.post("/<int:watchlist_id>/items")
@jwt_required()
@bp.arguments(schemas.ItemCreateSchema)
@bp.response(201, schemas.WatchlistSchema)
def add_item(body, watchlist_id: int):
    """Add a symbol; 404 for a symbol outside the universe, 409 if it is already there."""
    services.add_item(current_user.id, watchlist_id, body["symbol"])
    return services.get_watchlist(current_user.id, watchlist_id)


@bp.delete("/<int:watchlist_id>/items/<string:symbol>")
@jwt_required()
@bp.response(204)
def remove_item(watchlist_id: int, symbol: str):
    """Remove a symbol."""
    services.remove_item(current_user.id, watchlist_id, symbol)


@bp.get("/<int:watchlist_id>/quotes")
@jwt_required()
@bp.response(200, schemas.WatchlistQuotesSchema)
def watchlist_quotes(watchlist_id: int):
    """Price every item in one batch call to the market core."""
    return services.watchlist_quotes(current_user.id, watchlist_id)
