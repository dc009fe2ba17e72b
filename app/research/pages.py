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
    form, scope_error = _form()
    data, errors, status = _run(schemas.RankingArgs(), form,
                                lambda a: services.rankings(a.get("index"), a.get("country"), a["limit"]))
    if scope_error:
        data, errors, status = None, {**errors, "scope": scope_error}, 400
    return render_template("research/rankings.html", form=form, data=data, errors=errors,
                           indices=INDEX_NAMES, countries=services.countries()), status


@bp.get("/screener")
@login_required
def screener():
    """Show the screener form and its results; the query lives in the URL."""
    form, scope_error = _form()
    data, errors, status = _run(schemas.ScreenerArgs(), form, services.screen)
    if scope_error:
        data, errors, status = None, {**errors, "scope": scope_error}, 400
    return render_template("research/screener.html", form=form, data=data, errors=errors, indices=INDEX_NAMES,
                           countries=services.countries(), sectors=SECTORS, sorts=services.SCREEN_SORTS), status


def _form() -> tuple[dict[str, str], str | None]:
    """The query as the schemas take it: the page's one `scope` choice ("index:DAX", "country:Germany")
    becomes `index` or `country` (links may give those directly); neither means DAX (scoring every
    stock on a page load would take too long). Returns the form and the scope's error, if any."""
    form = {k: v for k, v in request.args.items() if v}
    scope = form.pop("scope", "")
    if scope:
        kind, _, name = scope.partition(":")
        if kind not in ("index", "country") or not name:
            form.setdefault("index", "DAX")
            return form, "Choose an index or a country from the list."
        form.pop("index", None)
        form.pop("country", None)
        form[kind] = name
    if not form.get("index") and not form.get("country"):
        form["index"] = "DAX"
    return form, None


def _run(schema, form, action):
    try:
        return action(schema.load(form)), {}, 200
    except ValidationError as exc:
        return None, {k: " ".join(v) if isinstance(v, list) else str(v) for k, v in exc.messages.items()}, 400
    except APIError as exc:
        fields = exc.details.get("fields") or {"_": [exc.message]}
        return None, {k: " ".join(v) for k, v in fields.items()}, exc.status
