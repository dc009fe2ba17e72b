"""The watchlist page and its forms (create, rename, delete, add, remove, move)."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

from app.ops.errors import APIError
from app.watchlist import services

bp = Blueprint("watchlist", __name__, url_prefix="/watchlist")


@bp.get("")
@login_required
def index():
    """Show one watchlist (the first by default) with live-ready prices, day range and growth score."""
    lists = services.watchlists(current_user.id)
    wanted = request.args.get("id")
    if wanted is not None and not any(str(w.id) == wanted for w in lists):
        # Not one of this user's lists (deleted, mistyped, someone else's): say so, never show another list.
        return render_template("watchlist/index.html", lists=lists, selected=None, data=None, error=None, names={},
                               missing=wanted[:20]), 404
    selected = next((w for w in lists if str(w.id) == wanted), lists[0] if lists else None)
    data, error = None, None
    if selected is not None:
        try:
            data = services.watchlist_quotes(current_user.id, selected.id)
        except APIError as exc:
            error = exc.message
    symbols = [item.symbol for item in selected.items] if selected else []
    return render_template("watchlist/index.html", lists=lists, selected=selected, data=data, error=error,
                           names=services.names_of(symbols))


@bp.post("")
@login_required
def create():
    """Create a watchlist from the form."""
    return _act(lambda: services.create_watchlist(current_user.id, request.form.get("name", "")),
                _("Watchlist created."), select_new=True)


@bp.post("/<int:watchlist_id>/rename")
@login_required
def rename(watchlist_id: int):
    """Rename a watchlist."""
    return _act(lambda: services.update_watchlist(current_user.id, watchlist_id, name=request.form.get("name", "")),
                _("Watchlist renamed."), watchlist_id)


@bp.post("/<int:watchlist_id>/delete")
@login_required
def delete(watchlist_id: int):
    """Delete a watchlist."""
    return _act(lambda: services.delete_watchlist(current_user.id, watchlist_id), _("Watchlist deleted."))


@bp.post("/<int:watchlist_id>/items")
@login_required
def add(watchlist_id: int):
    """Add a symbol; returns to the page the form was on when it says so."""
    symbol = request.form.get("symbol", "")
    return _act(lambda: services.add_item(current_user.id, watchlist_id, symbol),
                _("%(symbol)s added to the watchlist.", symbol=symbol.strip().upper()[:24]), watchlist_id,
                back=request.form.get("back") == "stock")


@bp.post("/add")
@login_required
def add_selected():
    """Add a symbol to the watchlist picked in the form (the stock page's control)."""
    try:
        watchlist_id = int(request.form.get("watchlist", ""))
    except ValueError:
        flash(_("Pick a watchlist."), "error")
        return redirect(url_for("watchlist.index"))
    return add(watchlist_id)


@bp.post("/<int:watchlist_id>/items/<string:symbol>/remove")
@login_required
def remove(watchlist_id: int, symbol: str):
    """Remove a symbol; the message offers to put it back where it was."""
    def run() -> None:
        order = [item.symbol for item in services.get_watchlist(current_user.id, watchlist_id).items]
        services.remove_item(current_user.id, watchlist_id, symbol)
        position = order.index(symbol.strip().upper()) if symbol.strip().upper() in order else len(order)
        # The texts are translated as plain text, escaped into the message's form like the symbol.
        flash(Markup('{} <form method="post" action="{}" class="inline" data-undo-form>'
                     '<input type="hidden" name="csrf_token" value="{}"><input type="hidden" name="position" value="{}">'
                     '<button type="submit" class="secondary outline small" data-testid="undo-remove">{}</button>'
                     '</form>').format(_("%(symbol)s removed.", symbol=symbol[:24].upper()),
                                       url_for("watchlist.restore", watchlist_id=watchlist_id, symbol=symbol[:24].upper()),
                                       generate_csrf(), position, _("Undo")), "success")
    return _act(run, None, watchlist_id, back=request.form.get("back") == "stock", back_symbol=symbol)


@bp.post("/<int:watchlist_id>/items/<string:symbol>/restore")
@login_required
def restore(watchlist_id: int, symbol: str):
    """Undo a remove: the symbol back on the list at the place it had."""
    def run() -> None:
        services.add_item(current_user.id, watchlist_id, symbol)
        order = [item.symbol for item in services.get_watchlist(current_user.id, watchlist_id).items]
        moved = order.pop()  # added at the end
        try:
            position = min(max(int(request.form.get("position", "")), 0), len(order))
        except ValueError:
            position = len(order)
        order.insert(position, moved)
        services.update_watchlist(current_user.id, watchlist_id, order=order)
    return _act(run, _("%(symbol)s is back on the watchlist.", symbol=symbol[:24].upper()), watchlist_id)


@bp.post("/<int:watchlist_id>/items/<string:symbol>/move")
@login_required
def move(watchlist_id: int, symbol: str):
    """Move a symbol one place up or down."""
    def run() -> None:
        order = [item.symbol for item in services.get_watchlist(current_user.id, watchlist_id).items]
        if symbol in order:
            i = order.index(symbol)
            j = i - 1 if request.form.get("direction") == "up" else i + 1
            if 0 <= j < len(order):
                order[i], order[j] = order[j], order[i]
        services.update_watchlist(current_user.id, watchlist_id, order=order)
    return _act(run, None, watchlist_id)


def _act(action, message: str | None, watchlist_id: int | None = None, *, select_new: bool = False,
         back: bool = False, back_symbol: str | None = None):
    try:
        result = action()
    except APIError as exc:
        flash(exc.message if not exc.details.get("fields") else
              " ".join(m for msgs in exc.details["fields"].values() for m in msgs), "error")
        if exc.status == 404:
            watchlist_id = None  # not the user's list: back to their own lists, with the message
    else:
        if message:
            flash(message, "success")
        if select_new:
            watchlist_id = result.id
    symbol = back_symbol or request.form.get("symbol")
    if back and symbol:
        return redirect(url_for("stocks.detail", symbol=symbol.strip().upper()[:24]))
    return redirect(url_for("watchlist.index", id=watchlist_id) if watchlist_id else url_for("watchlist.index"))
