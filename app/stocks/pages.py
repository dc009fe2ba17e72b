"""Stock pages: search results, the stock page, and the JSON its chart and the search box read."""
from __future__ import annotations

from typing import Any, Callable

from flask import Blueprint, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from marshmallow import ValidationError

from app.ops.errors import APIError
from app.research import services as research_services
from app.stocks import schemas, services
from app.stocks.search import stock_row
from app.watchlist import services as watchlist_services

bp = Blueprint("stocks", __name__, url_prefix="/stocks")


@bp.get("")
@login_required
def search():
    """Show the stocks matching `q`; an exact symbol goes straight to its page."""
    query = request.args.get("q", "").strip()[:100]
    results = services.search(query, 50) if query else []
    if query and stock_row(query.upper()) is not None:
        return redirect(url_for("stocks.detail", symbol=query.upper()))
    return render_template("stocks/search.html", query=query, results=results)


@bp.get("/suggest")
@login_required
def suggest():
    """Return up to 8 matches for the navigation's autocomplete."""
    query = request.args.get("q", "").strip()[:100]
    return jsonify(results=services.search(query, 8) if query else [])


@bp.get("/<string:symbol>")
@login_required
def detail(symbol: str):
    """Show a stock: quote, chart, fundamentals, news with sentiment, score, add to a watchlist."""
    try:
        symbol = services.canonical(symbol)
    except APIError:
        # An unknown symbol: say so and offer the search, with what it finds for the text typed.
        typed = symbol.strip()[:24]
        return render_template("stocks/search.html", query=typed, unknown=typed,
                               results=services.search(typed.split(".")[0], 20) if typed else []), 404
    row = stock_row(symbol)
    sections = {name: _section(load) for name, load in (
        ("quote", lambda: services.quote(symbol)),
        ("profile", lambda: services.profile(symbol)),
        ("news", lambda: services.news(symbol)),
        ("score", lambda: research_services.stock_score(symbol)),
    )}
    watchlists = watchlist_services.watchlists(current_user.id)
    return render_template("stocks/detail.html", symbol=symbol, stock=row, watchlists=watchlists, **sections)


@bp.get("/<string:symbol>/chart.json")
@login_required
def chart_data(symbol: str):
    """Return the bars and indicators the stock page's chart draws, for one range."""
    try:
        args = schemas.RangeArgs().load({"range": request.args.get("range", "1y")})
        history = services.history(symbol, args["range"], "1d")
        try:
            quote = services.quote(symbol)
        except APIError:
            quote = None  # the stored bars alone, then
        return jsonify(history=services.with_session_bar(history, quote), quote=quote,
                       indicators=services.indicators(symbol, args["range"]))
    except ValidationError as exc:
        raise APIError(400, "Invalid range.", code="validation_error", details={"fields": exc.messages}) from None


def _section(load: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    # One failing part (say, news while its provider is down) must not take the whole page down.
    try:
        return {"data": load(), "error": None}
    except APIError as exc:
        return {"data": None, "error": exc.message}
