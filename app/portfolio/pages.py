"""The portfolio page: totals, holdings, allocation, performance against the benchmark, transactions."""
from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app.alerts.pages import flash_fired_alerts
from app.analysis.periods import RANGES
from app.ops.errors import APIError, error_response
from app.portfolio import csvio, services
from app.portfolio.amounts import AmountError, parse_amount
from app.universe import INDEX_NAMES

bp = Blueprint("portfolio", __name__, url_prefix="/portfolio")


@bp.get("")
@login_required
def index(form: dict | None = None, form_errors: dict | None = None, status: int = 200):
    """Show the portfolio; re-shown with the add form's values and errors when they were invalid."""
    range_name = request.args.get("range", "1y")
    if range_name not in RANGES:
        range_name = "1y"
    flash_fired_alerts(current_user.id)
    data, performance, allocation, error = None, None, None, None
    try:
        data = services.portfolio(current_user)
        allocation = services.allocation(current_user, data)
        performance = services.performance(current_user, range_name)
    except APIError as exc:
        error = exc.message
    return render_template("portfolio/index.html", data=data, performance=performance, allocation=allocation,
                           error=error, range_name=range_name, ranges=RANGES, indices=INDEX_NAMES,
                           transactions=services.transactions(current_user.id)[::-1],
                           splits=services.splits(current_user.id)["items"],
                           form=form or {"date": date.today().isoformat(), "kind": "buy"},
                           form_errors=form_errors or {}, kinds=services.KINDS,
                           benchmark=current_user.benchmark or services.BENCHMARKS.get(
                               services.base_currency(current_user), "S&P 500")), status


@bp.get("/performance-status")
@login_required
def performance_status():
    """Return whether the page's performance is ready (the page polls this while a worker computes it)."""
    range_name = request.args.get("range", "1y")
    if range_name not in RANGES:
        return error_response(400, f"Unknown range. Allowed: {', '.join(RANGES)}.", code="validation_error")
    result = services.performance(current_user, range_name)
    return jsonify(status=result["status"], computed_at=result["computed_at"])


@bp.post("/transactions")
@login_required
def add():
    """Record a transaction from the form."""
    form = {k: request.form.get(k, "").strip() for k in ("date", "symbol", "kind", "quantity", "price", "fee", "note")}
    errors: dict[str, str] = {}
    values = {}
    for name in ("quantity", "price", "fee"):
        try:
            values[name] = parse_amount(form[name] or ("0" if name == "fee" else ""))
        except AmountError as exc:
            errors[name] = str(exc)
    try:
        values["day"] = date.fromisoformat(form["date"])
    except ValueError:
        errors["date"] = "Enter a date as YYYY-MM-DD."
    if not errors:
        try:
            services.add_transactions(current_user.id, [services.TransactionIn(
                symbol=form["symbol"], kind=form["kind"], note=form["note"] or None, **values)])
        except APIError as exc:
            fields = exc.details.get("fields") or {}
            errors = {("date" if k == "day" else k): " ".join(v) for k, v in fields.items()} or {"_": exc.message}
            return index(form, errors, exc.status)
        flash(f"{form['kind'].capitalize()} of {form['symbol'].upper()} recorded.", "success")
        return redirect(url_for("portfolio.index"))
    return index(form, errors, 400)


@bp.post("/transactions/<int:transaction_id>/delete")
@login_required
def delete(transaction_id: int):
    """Delete a transaction."""
    try:
        services.delete_transaction(current_user.id, transaction_id)
        flash("Transaction deleted.", "success")
    except APIError as exc:
        flash(exc.message, "error")
    return redirect(url_for("portfolio.index"))


@bp.post("/splits")
@login_required
def add_split():
    """Enter a split the providers do not know, from the form (errors shown at the top)."""
    form = {k: request.form.get(k, "").strip() for k in ("symbol", "ex_date", "ratio_from", "ratio_to")}
    try:
        try:
            day = date.fromisoformat(form["ex_date"])
            ratio_from, ratio_to = int(form["ratio_from"]), int(form["ratio_to"])
        except ValueError:
            raise APIError(400, "Enter the ex-date as YYYY-MM-DD and the ratio as two whole numbers of shares "
                                "(from 1 to 4 for a 4-for-1 split).", code="validation_error") from None
        services.add_split(current_user.id, form["symbol"], day, ratio_from, ratio_to)
    except APIError as exc:
        fields = exc.details.get("fields") or {}
        flash(" ".join(m for v in fields.values() for m in v) or exc.message, "error")
    else:
        flash(f"Split of {form['symbol'].upper()} recorded: {ratio_to} for {ratio_from} from {day}.", "success")
    return redirect(url_for("portfolio.index") + "#splits")


@bp.post("/splits/<int:split_id>/delete")
@login_required
def delete_split(split_id: int):
    """Delete a split the user entered."""
    try:
        services.delete_split(current_user.id, split_id)
        flash("Split deleted.", "success")
    except APIError as exc:
        flash(exc.message, "error")
    return redirect(url_for("portfolio.index") + "#splits")


@bp.post("/import")
@login_required
def import_csv():
    """Import a CSV file of transactions (all or nothing)."""
    upload = request.files.get("file")
    try:
        text = upload.read().decode("utf-8") if upload else ""
        if not text:
            raise APIError(400, "Choose a CSV file to import.", code="validation_error")
        result = services.import_transactions(current_user.id, *csvio.parse_csv(text))
    except UnicodeDecodeError:
        flash("The file must be UTF-8 text.", "error")
    except APIError as exc:
        rows = exc.details.get("rows") or {}
        detail = "; ".join(f"line {line}: " + ", ".join(f"{k} {' '.join(v)}" for k, v in fields.items())
                           for line, fields in list(rows.items())[:10])
        flash(f"{exc.message} {detail}".strip(), "error")
    else:
        flash(f"Imported {result['imported']} transaction(s); {result['skipped']} already there.", "success")
    return redirect(url_for("portfolio.index"))


@bp.get("/export.csv")
@login_required
def export_csv():
    """Download every transaction as CSV."""
    return Response(csvio.export_csv(services.transactions(current_user.id)), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="transactions.csv"'})


@bp.post("/benchmark")
@login_required
def benchmark():
    """Choose the index the performance chart compares with."""
    try:
        services.set_benchmark(current_user, request.form.get("benchmark", ""))
    except APIError as exc:
        flash(" ".join(m for v in exc.details.get("fields", {}).values() for m in v) or exc.message, "error")
    return redirect(url_for("portfolio.index"))
