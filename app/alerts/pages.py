"""The alerts page."""
from __future__ import annotations

from decimal import Decimal

import structlog
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app.alerts import services
from app.extensions import socketio
from app.live.streamer import NAMESPACE, user_room
from app.ops.errors import APIError, validation_error
from app.portfolio.amounts import AmountError, parse_amount

log = structlog.get_logger(__name__)
bp = Blueprint("alerts", __name__, url_prefix="/alerts")


@bp.get("")
@login_required
def index():
    """List the user's alerts (checked against current prices first) with a form to add one."""
    flash_fired_alerts(current_user.id)
    return render_template("alerts/index.html", alerts=services.alerts(current_user.id), kinds=services.KINDS)


def flash_fired_alerts(user_id: int) -> None:
    """Check the user's alerts against current prices; tell the user of each one that fires now.

    The page being loaded shows it as a toast (the "alert" flash category, see base.html), and
    the user's other live pages get the same `alert` event the streamer sends for the alerts it
    fires: an alert that a page load fires first is then never one the live pages miss.
    """
    fired = services.check_user_alerts(user_id)
    for alert in fired:
        flash(f"Alert: {alert['symbol']} {alert['kind'].replace('_', ' ')} {alert['threshold']} "
              f"fired at {alert['triggered_price']}.", "alert")
    if fired:
        _push_live(user_id, fired)


def _push_live(user_id: int, fired: list[dict]) -> None:
    try:
        for alert in fired:
            socketio.emit("alert", alert, to=user_room(user_id), namespace=NAMESPACE)
    except Exception as exc:  # noqa: BLE001 - the page has shown the alert; live delivery is a bonus
        log.warning("alert_live_push_failed", user_id=user_id, error=type(exc).__name__)


@bp.post("")
@login_required
def create():
    """Create an alert from the form: a price, or a % from cost for stop-loss / take-profit."""
    form = request.form
    try:
        threshold = _decimal(form.get("threshold"), "threshold")
        pct = _decimal(form.get("threshold_pct"), "threshold_pct")
        services.create_alert(current_user.id, form.get("symbol", ""), form.get("kind", ""), threshold, pct)
        flash("Alert set.", "success")
    except APIError as exc:
        flash(" ".join(f"{k}: {' '.join(v)}" for k, v in exc.details.get("fields", {}).items()) or exc.message,
              "error")
    return redirect(url_for("alerts.index"))


@bp.post("/<int:alert_id>/delete")
@login_required
def delete(alert_id: int):
    """Delete an alert."""
    try:
        services.delete_alert(current_user.id, alert_id)
        flash("Alert deleted.", "success")
    except APIError as exc:
        flash(exc.message, "error")
    return redirect(url_for("alerts.index"))


@bp.post("/<int:alert_id>/rearm")
@login_required
def rearm(alert_id: int):
    """Re-arm a fired alert."""
    try:
        services.rearm_alert(current_user.id, alert_id)
        flash("Alert re-armed.", "success")
    except APIError as exc:
        flash(exc.message, "error")
    return redirect(url_for("alerts.index"))


def _decimal(value: str | None, name: str) -> Decimal | None:
    if not value or not value.strip():
        return None
    try:
        return parse_amount(value)
    except AmountError as exc:
        raise validation_error({name: [str(exc)]}) from None
