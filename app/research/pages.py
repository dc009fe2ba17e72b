"""The rankings and screener pages."""
from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_login import login_required
from marshmallow import ValidationError

from app.ops.errors import APIError
from app.research import schemas, services
from app.universe import INDEX_NAMES, SECTORS

bp = Blueprint("research", __name__)


@bp.get("/rankings")
@login_required
def rankings():
    """Show the top stocks by growth score of an index (DAX by default) or a country."""
    form = {k: v for k, v in request.args.items() if v}
    if not form.get("index") and not form.get("country"):
        form["index"] = "DAX"
    data, errors, status = _run(schemas.RankingArgs(), form,
                                lambda a: services.rankings(a.get("index"), a.get("country"), a["limit"]))
    return render_template("research/rankings.html", form=form, data=data, errors=errors,
                           indices=INDEX_NAMES, countries=services.countries()), status


@bp.get("/screener")
@login_required
def screener():
    """Show the screener form and its results; the query lives in the URL."""
    form = {k: v for k, v in request.args.items() if v}
    if not form.get("index") and not form.get("country"):
        form["index"] = "DAX"  # scoring every stock on a page load would take too long
    data, errors, status = _run(schemas.ScreenerArgs(), form, services.screen)
    return render_template("research/screener.html", form=form, data=data, errors=errors, indices=INDEX_NAMES,
                           countries=services.countries(), sectors=SECTORS, sorts=services.SCREEN_SORTS), status


def _run(schema, form, action):
    try:
        return action(schema.load(form)), {}, 200
    except ValidationError as exc:
        return None, {k: " ".join(v) if isinstance(v, list) else str(v) for k, v in exc.messages.items()}, 400
    except APIError as exc:
        fields = exc.details.get("fields") or {"_": [exc.message]}
        return None, {k: " ".join(v) for k, v in fields.items()}, exc.status
