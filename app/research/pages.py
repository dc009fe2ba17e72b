"""The rankings and screener pages."""
from __future__ import annotations

from decimal import Decimal

from flask import Blueprint, render_template, request
from flask_babel import gettext, lazy_gettext as _l
from flask_login import login_required
from marshmallow import ValidationError

from app.ops.errors import APIError
from app.portfolio.amounts import AmountError, parse_form_amount
from app.research import backtests, labels, schemas, services
from app.universe import INDEX_NAMES, SECTORS

bp = Blueprint("research", __name__)
bp.add_app_template_filter(labels.input_label, "score_input_label")
bp.add_app_template_filter(labels.input_value, "score_input")
bp.add_app_template_global(labels.FACTOR_LABELS, "FACTOR_LABELS")


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
    query, unit_errors = _in_api_units(form)
    data, errors, status = _run(schemas.ScreenerArgs(), query, services.screen)
    for page, (api, _) in PAGE_UNITS.items():  # said in the form's names and units
        if page in form and api in errors:
            errors.pop(api)
            errors[page] = str(PAGE_RANGES[page])
    if scope_error or unit_errors:
        data, errors, status = None, {**errors, **unit_errors, **({"scope": scope_error} if scope_error else {})}, 400
    return render_template("research/screener.html", form=form, data=data, errors=errors, indices=INDEX_NAMES,
                           countries=services.countries(), sectors=SECTORS, sorts=services.SCREEN_SORTS), status


@bp.get("/research/backtest")
@login_required
def backtest():
    """Show the growth score's backtest: the top N of an index against the index, with the form that sets it."""
    form = {k: v.strip()[:40] for k, v in request.args.items() if v.strip()}
    form.setdefault("index", "DAX")
    query, errors = dict(form), {}
    if "cost_bps" in query:
        try:  # a decimal comma on German pages
            query["cost_bps"] = str(parse_form_amount(query["cost_bps"]))
        except AmountError as exc:
            errors["cost_bps"] = str(exc)
    data, run_errors, status = _run(schemas.BacktestArgs(), query,
                                    lambda a: backtests.backtest({**a, "from": a.pop("from_", None)}))
    errors = {**run_errors, **errors}
    running = status == 503
    chart = backtests.equity_chart(data) if data else None
    return render_template("research/backtest.html", form=form, data=data, errors=errors, running=running,
                           chart=chart, indices=INDEX_NAMES), 200 if running else status


# The screener form's own units (the API's are a fraction and US dollars): page field -> (API field, scale).
PAGE_UNITS = {"dividend_yield_pct": ("dividend_yield_min", Decimal("0.01")),
              "market_cap_bn": ("market_cap_min", Decimal(10) ** 9)}
PAGE_RANGES = {"dividend_yield_pct": _l("Must be between 0 and 100 (%)."), "market_cap_bn": _l("Must be 0 or more.")}


def _in_api_units(form: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """The form's query with its percent and billions turned into the API's fields; and each unit field's error."""
    query, errors = dict(form), {}
    for page, (api, scale) in PAGE_UNITS.items():
        if page not in query:
            continue
        text = query.pop(page).strip()[:40]
        try:  # a decimal comma on German pages; an English page reads "0,5" as a mistake, not as 5
            value = parse_form_amount(text)
        except AmountError as exc:
            errors[page] = str(exc)
            continue
        query[api] = str(value * scale)
    return query, errors


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
            return form, gettext("Choose an index or a country from the list.")
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
