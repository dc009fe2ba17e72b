"""The portfolio page: totals, holdings, allocation, performance against the benchmark, transactions."""
from __future__ import annotations

import json
import secrets
import time
from datetime import date
from decimal import Decimal

from babel.numbers import get_decimal_symbol
from flask import Blueprint, Response, flash, jsonify, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user, login_required
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

from app.alerts.pages import flash_fired_alerts
from app.analysis.periods import RANGES
from app.ops import i18n
from app.ops.errors import APIError, error_response, validation_error
from app.portfolio import charts, csvio, services
from app.portfolio.amounts import AmountError, parse_form_amount
from app.universe import INDEX_NAMES

bp = Blueprint("portfolio", __name__, url_prefix="/portfolio")
bp.add_app_template_filter(charts.doughnut, "doughnut")
COST_BASIS_NAMES = {"fifo": _l("FIFO (oldest shares first)"), "average": _l("moving average cost")}
# A transaction's kind in messages (the kind itself, "buy", is what the forms, the API and the CSV files take).
KIND_NAMES = {"buy": _l("buy"), "sell": _l("sell"), "dividend": _l("dividend"), "fee": _l("fee")}


@bp.get("")
@login_required
def index(form: dict | None = None, form_errors: dict | None = None, status: int = 200,
          import_errors: dict | None = None):
    """Show the portfolio; re-shown with the add form's values and errors when they were invalid."""
    range_name, status = request.args.get("range", "1y"), status
    if range_name not in RANGES:
        flash(_("Unknown range “%(range)s”: showing 1Y. Choose one of %(ranges)s.", range=range_name[:20],
                ranges=", ".join(r.upper() for r in RANGES)), "error")
        range_name, status = "1y", 400
    flash_fired_alerts(current_user.id)
    data, performance, allocation, error = None, None, None, None
    dividends, realised = None, None
    try:
        data = services.portfolio(current_user)
        allocation = services.allocation(current_user, data)
        performance = services.performance(current_user, range_name)
    except APIError as exc:
        error = exc.message
    try:  # quotes do not matter here: these still show when prices are unavailable
        dividends = services.dividends(current_user)
        realised = services.realised(current_user)
    except APIError as exc:
        error = error or exc.message
    return render_template("portfolio/index.html", data=data, performance=performance, allocation=allocation,
                           dividends=dividends, realised=realised, cost_basis_names=COST_BASIS_NAMES,
                           error=error, range_name=range_name, ranges=RANGES, indices=INDEX_NAMES,
                           transactions=services.transactions(current_user.id)[::-1],
                           splits=services.splits(current_user.id)["items"],
                           form=form or {"date": date.today().isoformat(), "kind": "buy"},
                           form_errors=form_errors or {}, kinds=services.KINDS, import_errors=import_errors,
                           benchmark=services.benchmark_index(current_user)), status


@bp.get("/performance-status")
@login_required
def performance_status():
    """Return whether the page's performance is ready (the page polls this while a worker computes it)."""
    range_name = request.args.get("range", "1y")
    if range_name not in RANGES:
        return error_response(400, f"Unknown range. Allowed: {', '.join(RANGES)}.", code="validation_error")
    result = services.performance(current_user, range_name)
    return jsonify(status=result["status"], computed_at=result["computed_at"])


TRANSACTION_FIELDS = ("date", "symbol", "kind", "quantity", "price", "fee", "currency", "note")
NOTE_MAX_CHARS = 500  # the column's length
UNDO_SESSION_KEY = "portfolio_undo"
UNDO_KEEP = 3  # deletes that can still be undone (the newest), per browser session
UNDO_MAX_BYTES = 2000  # the session is a cookie: older undos are dropped before it outgrows a browser's limit


def _typed() -> dict[str, str]:
    """The transaction form's fields as typed (stripped), to parse and to show again."""
    return {k: request.form.get(k, "").strip() for k in TRANSACTION_FIELDS}


def _parsed(form: dict[str, str]) -> tuple[services.TransactionIn | None, dict[str, str]]:
    """Return the form as a TransactionIn, or None and each field's message (the service checks the rest)."""
    errors: dict[str, str] = {}
    values = {}
    for name in ("quantity", "price", "fee"):
        try:
            values[name] = parse_form_amount(form[name] or ("0" if name == "fee" else ""))
        except AmountError as exc:
            errors[name] = str(exc)
    try:
        values["day"] = date.fromisoformat(form["date"])
    except ValueError:
        errors["date"] = _("Enter a date as YYYY-MM-DD.")
    if len(form["note"]) > NOTE_MAX_CHARS:
        errors["note"] = _("At most %(num)s characters.", num=NOTE_MAX_CHARS)
    if errors:
        return None, errors
    return services.TransactionIn(symbol=form["symbol"], kind=form["kind"], currency=form["currency"] or None,
                                  note=form["note"] or None, **values), {}


def _service_errors(exc: APIError) -> dict[str, str]:
    """A refused write's messages by form field ("_" for the whole form: an oversell, a missing transaction)."""
    fields = exc.details.get("fields") or {}
    return {("date" if k == "day" else k): " ".join(v) for k, v in fields.items()} or {"_": exc.message}


def _kind_name(kind: str) -> str:
    return str(KIND_NAMES.get(kind, kind))


def _amount_text(value) -> str:
    """A stored amount as its digits ("2.5"), with the page's decimal sign (German "2,5")."""
    return str(value).replace(".", get_decimal_symbol(i18n.locale()))


def _described(t) -> str:
    """One transaction in words, for messages: "buy of 10 SAP.DE on 2025-03-03"."""
    return _("%(kind)s of %(quantity)s %(symbol)s on %(day)s", kind=_kind_name(t.kind),
             quantity=_amount_text(t.quantity), symbol=t.symbol, day=i18n.day(t.day))


@bp.get("/transactions")
@login_required
def transactions_page():
    """Where a refused add form's URL points (a reload, a bookmark): the form on the portfolio page."""
    return redirect(url_for("portfolio.index", _anchor="add-transaction"))


@bp.post("/transactions")
@login_required
def add():
    """Record a transaction from the form."""
    form = _typed()
    entry, errors = _parsed(form)
    if entry is None:
        return index(form, errors, 400)
    try:
        services.add_transactions(current_user.id, [entry])
    except APIError as exc:
        return index(form, _service_errors(exc), exc.status)
    flash(_("%(kind)s of %(symbol)s recorded.", kind=_kind_name(form["kind"].lower()).capitalize(),
            symbol=form["symbol"].upper()), "success")
    # "#main": a redirect without a fragment keeps the form's (#add-transaction), and the message at the
    # top would be out of view.
    return redirect(url_for("portfolio.index", _anchor="main"))


def _edit_page(transaction_id: int, form: dict[str, str] | None, form_errors: dict[str, str], status: int):
    return render_template("portfolio/edit_transaction.html", transaction_id=transaction_id, form=form,
                           form_errors=form_errors, kinds=services.KINDS), status


@bp.get("/transactions/<int:transaction_id>/edit")
@login_required
def edit(transaction_id: int):
    """The edit form, filled with the stored transaction."""
    try:
        t = services.get_transaction(current_user.id, transaction_id)
    except APIError as exc:
        return _edit_page(transaction_id, None, {"_": exc.message}, exc.status)
    form = {"date": t.day.isoformat(), "symbol": t.symbol, "kind": t.kind, "quantity": str(t.quantity),
            "price": str(t.price), "fee": str(t.fee or 0), "currency": t.currency or "", "note": t.note or ""}
    return _edit_page(transaction_id, form, {}, 200)


@bp.post("/transactions/<int:transaction_id>/edit")
@login_required
def update(transaction_id: int):
    """Save the edit form (everything after the transaction is recomputed and must stay valid)."""
    form = _typed()
    entry, errors = _parsed(form)
    if entry is None:
        return _edit_page(transaction_id, form, errors, 400)
    try:
        saved = services.update_transaction(current_user.id, transaction_id, entry)
    except APIError as exc:
        return _edit_page(transaction_id, form, _service_errors(exc), exc.status)
    flash(_("Transaction updated: %(transaction)s.", transaction=_described(saved)), "success")
    return redirect(url_for("portfolio.index"))


@bp.get("/transactions/<int:transaction_id>/delete")
@login_required
def confirm_delete(transaction_id: int):
    """Ask before deleting (the page works without JavaScript; with it, a confirm() dialog asks instead)."""
    try:
        t = services.get_transaction(current_user.id, transaction_id)
    except APIError as exc:
        return render_template("portfolio/confirm_delete.html", t=None, error=exc.message), exc.status
    return render_template("portfolio/confirm_delete.html", t=t, error=None)


@bp.post("/transactions/<int:transaction_id>/delete")
@login_required
def delete(transaction_id: int):
    """Delete a transaction; the flash message offers to undo it."""
    try:
        t = services.get_transaction(current_user.id, transaction_id)
        kept = {"user_id": current_user.id, "at": time.time(), "day": t.day.isoformat(), "symbol": t.symbol,
                "kind": t.kind, "quantity": str(t.quantity), "price": str(t.price), "fee": str(t.fee or 0),
                "currency": t.currency, "note": t.note, "import_key": t.import_key}
        text = _("Transaction deleted. (%(transaction)s)", transaction=_described(t))
        services.delete_transaction(current_user.id, transaction_id)
    except APIError as exc:
        flash(exc.message, "error")
        return redirect(url_for("portfolio.index"))
    flash(_with_undo(text, _remember_undo(kept)), "success")
    return redirect(url_for("portfolio.index"))


def _remember_undo(kept: dict) -> str:
    """Keep a deleted transaction's fields in the session under a new random token; return the token."""
    token = secrets.token_urlsafe(16)
    pending = {k: v for k, v in (session.get(UNDO_SESSION_KEY) or {}).items()
               if isinstance(v, dict) and v.get("user_id") == current_user.id}
    pending[token] = kept
    newest = sorted(pending, key=lambda k: pending[k].get("at", 0), reverse=True)[:UNDO_KEEP]
    while len(newest) > 1 and len(json.dumps({k: pending[k] for k in newest})) > UNDO_MAX_BYTES:
        newest.pop()
    session[UNDO_SESSION_KEY] = {k: pending[k] for k in newest}
    return token


def _with_undo(text: str, token: str) -> Markup:
    """A flash message with an Undo button (a POST form with its CSRF token)."""
    return Markup('{} <form method="post" action="{}" class="inline" data-undo-form>'
                  '<input type="hidden" name="csrf_token" value="{}"><input type="hidden" name="token" value="{}">'
                  '<button type="submit" class="secondary outline small" data-testid="undo-delete">{}</button>'
                  '</form>').format(text, url_for("portfolio.undo_delete"), generate_csrf(), token, _("Undo"))


@bp.post("/transactions/undo")
@login_required
def undo_delete():
    """Restore a deleted transaction with all its fields; each undo token works once, for its own user."""
    token = request.form.get("token", "")
    pending = dict(session.get(UNDO_SESSION_KEY) or {})
    kept = pending.pop(token, None)
    if not isinstance(kept, dict) or kept.get("user_id") != current_user.id:
        flash(_("That delete can no longer be undone."), "error")
        return redirect(url_for("portfolio.index"))
    session[UNDO_SESSION_KEY] = pending  # spent before the write: a second undo with the token fails
    try:
        entry = services.TransactionIn(symbol=kept["symbol"], kind=kept["kind"], quantity=Decimal(kept["quantity"]),
                                       price=Decimal(kept["price"]), fee=Decimal(kept["fee"]),
                                       day=date.fromisoformat(kept["day"]), currency=kept["currency"],
                                       note=kept["note"])
    except (KeyError, TypeError, ValueError, ArithmeticError):
        flash(_("That delete can no longer be undone."), "error")
        return redirect(url_for("portfolio.index"))
    try:
        restored = services.restore_transaction(current_user.id, entry, token)
    except APIError as exc:
        if exc.code == "already_restored":
            flash(_("That delete was undone already."), "error")
            return redirect(url_for("portfolio.index"))
        pending[token] = kept  # not restored: it can be tried again (after restoring what it depends on)
        session[UNDO_SESSION_KEY] = pending
        flash(_with_undo(_("The transaction could not be restored: %(reason)s", reason=exc.message), token), "error")
        return redirect(url_for("portfolio.index"))
    flash(_("Transaction restored: %(transaction)s.", transaction=_described(restored)), "success")
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
            raise APIError(400, _("Enter the ex-date as YYYY-MM-DD and the ratio as two whole numbers of shares "
                                  "(from 1 to 4 for a 4-for-1 split)."), code="validation_error") from None
        services.add_split(current_user.id, form["symbol"], day, ratio_from, ratio_to)
    except APIError as exc:
        fields = exc.details.get("fields") or {}
        flash(" ".join(m for v in fields.values() for m in v) or exc.message, "error")
    else:
        flash(_("Split of %(symbol)s recorded: %(new)s for %(old)s from %(day)s.", symbol=form["symbol"].upper(),
                new=ratio_to, old=ratio_from, day=i18n.day(day)), "success")
    return redirect(url_for("portfolio.index") + "#splits")


@bp.post("/splits/<int:split_id>/delete")
@login_required
def delete_split(split_id: int):
    """Delete a split the user entered."""
    try:
        services.delete_split(current_user.id, split_id)
        flash(_("Split deleted."), "success")
    except APIError as exc:
        flash(exc.message, "error")
    return redirect(url_for("portfolio.index") + "#splits")


DIVIDEND_FIELDS = {"quantity": _l("Shares"), "amount_per_share": _l("Per share"), "date": _l("Date"),
                   "fee": _l("Fee")}


def _dividend_choice() -> tuple[str, date]:
    """The proposal a dividend form names (its hidden symbol and ex-date fields)."""
    symbol = request.form.get("symbol", "").strip()
    try:
        ex_date = date.fromisoformat(request.form.get("ex_date", "").strip())
    except ValueError:
        ex_date = None
    if not symbol or len(symbol) > 24 or ex_date is None:
        raise APIError(400, _("That is not a dividend proposal of the inbox (a symbol and an ex-date as YYYY-MM-DD)."),
                       code="validation_error")
    return symbol.upper(), ex_date


def _dividend_edits() -> tuple[dict, dict[str, str]]:
    """The accept form's optional changes (empty: as proposed), parsed; and each field's message."""
    typed = {k: request.form.get(k, "").strip() for k in DIVIDEND_FIELDS}
    values: dict = {"quantity": None, "amount_per_share": None, "day": None, "fee": Decimal(0)}
    errors: dict[str, str] = {}
    for name in ("quantity", "amount_per_share", "fee"):
        if not typed[name]:
            continue
        try:
            value = parse_form_amount(typed[name])
        except AmountError as exc:
            errors[name] = str(exc)
            continue
        if name == "fee" and value < 0:
            errors[name] = _("Must not be negative.")
        elif name != "fee" and value <= 0:  # the service would read 0 as "as proposed"
            errors[name] = _("Must be greater than 0.")
        else:
            values[name] = value
    if typed["date"]:
        try:
            values["day"] = date.fromisoformat(typed["date"])
        except ValueError:
            errors["date"] = _("Enter a date as YYYY-MM-DD.")
    return values, errors


def _dividend_messages(errors: dict[str, str]) -> str:
    return " ".join(f"{DIVIDEND_FIELDS.get(k, k.capitalize())}: {v}" for k, v in errors.items())


@bp.post("/dividends/accept")
@login_required
def accept_dividend():
    """Book a proposed dividend as proposed, or with the shares, amount per share, date and fee typed."""
    back = redirect(url_for("portfolio.index") + "#dividends")
    try:
        symbol, ex_date = _dividend_choice()
    except APIError as exc:
        flash(exc.message, "error")
        return back
    values, errors = _dividend_edits()
    refused = _("The dividend of %(symbol)s (ex-date %(day)s) was not booked.", symbol=symbol, day=i18n.day(ex_date))
    if errors:
        flash(f"{refused} {_dividend_messages(errors)}", "error")
        return back
    try:
        row = services.accept_dividend(current_user, symbol, ex_date, values["quantity"],
                                       values["amount_per_share"], values["day"], values["fee"])
    except APIError as exc:
        fields = exc.details.get("fields") or {}
        detail = _dividend_messages({("date" if k == "day" else "amount_per_share" if k == "price" else k):
                                     " ".join(v) for k, v in fields.items()}) or exc.message
        flash(f"{refused} {detail}", "error")
        return back
    fee = _(", fee %(fee)s", fee=_amount_text(f"{row.fee:f}")) if row.fee else ""
    flash(_("Dividend of %(symbol)s booked: %(quantity)s shares × %(price)s %(currency)s on %(day)s%(fee)s.",
            symbol=row.symbol, quantity=_amount_text(f"{row.quantity:f}"), price=_amount_text(f"{row.price:f}"),
            currency=row.currency, day=i18n.day(row.day), fee=fee), "success")
    return back


@bp.post("/dividends/dismiss")
@login_required
def dismiss_dividend():
    """Dismiss a proposed dividend for good."""
    try:
        symbol, ex_date = _dividend_choice()
        services.dismiss_dividend(current_user, symbol, ex_date)
    except APIError as exc:
        flash(exc.message, "error")
    else:
        flash(_("The dividend of %(symbol)s (ex-date %(day)s) was dismissed; it is not proposed again.",
                symbol=symbol, day=i18n.day(ex_date)), "success")
    return redirect(url_for("portfolio.index") + "#dividends")


@bp.get("/realised.csv")
@login_required
def realised_csv():
    """Download the realised gains (of ?year=YYYY, or of all years) as CSV, one row a sale."""
    raw = request.args.get("year", "").strip()
    year = None
    if raw:
        if not (raw.isascii() and raw.isdigit() and 1970 <= int(raw) <= 9999):
            flash(_("Realised gains: %(year)s is not a year; choose one from 1970 to 9999.", year=repr(raw[:12])),
                  "error")
            return index(status=400)
        year = int(raw)
    try:
        data = services.realised(current_user, year)
    except APIError as exc:
        flash(exc.message, "error")
        return index(status=exc.status)
    name = f"realised-{year}.csv" if year else "realised.csv"
    return Response(csvio.realised_csv(data), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.post("/import")
@login_required
def import_csv():
    """Import a CSV file of transactions (all or nothing); a refused file is listed line by line at the form."""
    upload = request.files.get("file")
    try:
        if upload is None or not upload.filename:
            raise validation_error({"file": [_("Choose a CSV file to import.")]})
        result = services.import_transactions(current_user.id, *csvio.parse_csv(csvio.read_upload()))
    except APIError as exc:
        return index(import_errors=_import_errors(exc), status=exc.status)
    flash(ngettext("Imported %(num)d transaction; %(skipped)d already there.",
                   "Imported %(num)d transactions; %(skipped)d already there.", result["imported"],
                   skipped=result["skipped"]), "success")
    return redirect(url_for("portfolio.index", _anchor="main"))  # the message in view (see add())


IMPORT_LABELS = {"date": _l("Date"), "symbol": _l("Symbol"), "kind": _l("Kind"), "quantity": _l("Quantity"),
                 "price": _l("Price"), "fee": _l("Fee"), "currency": _l("Currency"), "note": _l("Note"),
                 "header": _l("Header"), "file": _l("File"), "row": _l("Row")}


def _import_errors(exc: APIError) -> dict:
    """The refusal as the form shows it: the summary, then one entry per line, each problem named by its column."""
    rows = exc.details.get("rows") or {}
    fields = exc.details.get("fields") or {}
    if fields and not rows:  # the upload itself: no file, not UTF-8, no rows
        return {"message": " ".join(m for msgs in fields.values() for m in msgs), "lines": []}
    lines = [{"line": line, "problems": [f"{IMPORT_LABELS.get(name, name)}: {' '.join(msgs)}"
                                         for name, msgs in problems.items()]}
             for line, problems in rows.items()]
    return {"message": exc.message, "lines": lines}


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
    shown = request.form.get("range", "")  # the range the chart showed stays
    return redirect(url_for("portfolio.index", range=shown) if shown in RANGES else url_for("portfolio.index"))
