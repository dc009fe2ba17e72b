"""The alerts page."""
from __future__ import annotations

from decimal import Decimal

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user, login_required
from marshmallow import ValidationError

from app.alerts import services
from app.analysis import alerts as rules
from app.models.notify import WEBHOOK_FORMATS
from app.notify import on_fired, schemas as notify_schemas, services as notify_services, settings as notify_settings
from app.ops.errors import APIError, validation_error
from app.ops.i18n import price as price_text
from app.portfolio.amounts import AmountError, parse_form_amount
from app.stocks import services as stock_services

bp = Blueprint("alerts", __name__, url_prefix="/alerts")
HISTORY_ROWS, OUTBOX_ROWS = 20, 10
# The kinds as the page names them (the API's are the keys); the same words as the live toasts'.
KIND_LABELS = {"above": _l("above"), "below": _l("below"), "stop_loss": _l("stop loss"),
               "take_profit": _l("take profit")}


@bp.get("")
@login_required
def index():
    """List the user's alerts (checked against current prices first) with a form to add one."""
    flash_fired_alerts(current_user.id)
    return _render()


def _render(status: int = 200, form_errors: list[str] | None = None, new_secrets: dict[int, str] | None = None,
            confirm: dict | None = None):
    user_id = current_user.id
    return render_template(
        "alerts/index.html", alerts=services.alerts(user_id), kinds=services.KINDS, kind_labels=KIND_LABELS,
        history=notify_services.history(user_id, HISTORY_ROWS)["items"],
        outbox=notify_services.outbox(user_id, OUTBOX_ROWS)["items"],
        notifications=notify_settings.describe(user_id, new_secrets), formats=WEBHOOK_FORMATS,
        max_webhooks=notify_schemas.MAX_WEBHOOKS_DOCUMENTED, form_errors=form_errors or [], confirm=confirm), status


def flash_fired_alerts(user_id: int) -> None:
    """Check the user's alerts against current prices; tell the user of each one that fires now.

    The page being loaded shows it as a toast (the "alert" flash category, see base.html). The
    fire goes to delivery (email, webhooks) like the quotes job's, and the live streamer sends
    the user's other pages the `alert` event for it, as for every fire since its last tick.
    """
    fired = services.check_user_alerts(user_id)
    for alert in fired:
        flash(_("Alert: %(symbol)s %(kind)s %(threshold)s fired at %(price)s.", symbol=alert["symbol"],
                kind=KIND_LABELS.get(alert["kind"], alert["kind"].replace("_", " ")),
                threshold=price_text(alert["threshold"]), price=price_text(alert["triggered_price"])), "alert")
    if fired:
        on_fired(fired)


@bp.post("")
@login_required
def create():
    """Create an alert from the form: a price, or a % from cost for stop-loss / take-profit."""
    form = request.form
    kind = form.get("kind", "")
    try:
        threshold = _decimal(form.get("threshold"), "threshold")
        pct = _decimal(form.get("threshold_pct"), "threshold_pct")
        if pct is not None and pct < 0 and kind == "stop_loss":
            pct = -pct  # "-10 %": ten percent below cost, which is what a stop-loss is
        if form.get("confirm") != "1":
            symbol, price = services.alert_threshold(current_user.id, form.get("symbol", ""), kind, threshold, pct)
            crossed = _already_crossed(symbol, kind, price)
            if crossed:  # it would fire at once: ask first, with the form as typed
                return _render(confirm={"message": crossed, "form": {k: form.get(k, "") for k in ALERT_FIELDS}})
        services.create_alert(current_user.id, form.get("symbol", ""), kind, threshold, pct)
        flash(_("Alert set."), "success")
    except APIError as exc:
        fields = exc.details.get("fields", {})
        flash(" ".join(f"{FIELD_LABELS.get(k, k)}: {' '.join(str(PAGE_MESSAGES.get(m, m)) for m in v)}"
                       for k, v in fields.items()) or exc.message, "error")
    return redirect(url_for("alerts.index"))


ALERT_FIELDS = ("symbol", "kind", "threshold", "threshold_pct")
# "%" is a value of these texts, not in them: a msgid with "% f" would read as a format placeholder to pybabel.
FIELD_LABELS = {"symbol": _l("Symbol"), "kind": _l("Kind"), "threshold": _l("Price"),
                "threshold_pct": _l("%(percent)s from cost", percent="%")}
PAGE_MESSAGES = {  # the API's wording names its fields; the form's names its labels
    "Give a price threshold or a threshold_pct (not both).":
        _l("Give a price or a %(percent)s from cost, not both.", percent="%"),
    "A % from cost only applies to stop_loss and take_profit.":
        _l("A %(percent)s from cost only applies to a stop-loss or a take-profit.", percent="%"),
}
# "It would fire at once", by kind: below and stop-loss fall to their threshold, above and take-profit rise to it.
CROSSED = {
    "below": _l("%(symbol)s is at %(price)s, already at or below this alert of %(threshold)s: it would fire at once."),
    "stop_loss": _l("%(symbol)s is at %(price)s, already at or below this stop-loss of %(threshold)s: "
                    "it would fire at once."),
    "above": _l("%(symbol)s is at %(price)s, already at or above this alert of %(threshold)s: it would fire at once."),
    "take_profit": _l("%(symbol)s is at %(price)s, already at or above this take-profit of %(threshold)s: "
                      "it would fire at once."),
}


def _already_crossed(symbol: str, kind: str, threshold: Decimal) -> str | None:
    """Say so when the current price already meets the alert (it would fire at once); None otherwise or without a price."""
    try:
        price = Decimal(str(stock_services.quote(symbol)["price"]))
    except (APIError, KeyError, TypeError, ValueError):
        return None
    if not rules.is_triggered(kind, threshold, price):
        return None
    message = CROSSED.get(kind) or CROSSED["below" if kind in rules.FALLING else "above"]
    return str(message) % {"symbol": symbol, "price": price_text(price), "threshold": price_text(threshold)}


@bp.post("/<int:alert_id>/delete")
@login_required
def delete(alert_id: int):
    """Delete an alert."""
    try:
        services.delete_alert(current_user.id, alert_id)
        flash(_("Alert deleted."), "success")
    except APIError as exc:
        flash(exc.message, "error")
    return redirect(url_for("alerts.index"))


@bp.post("/<int:alert_id>/rearm")
@login_required
def rearm(alert_id: int):
    """Re-arm a fired alert."""
    try:
        services.rearm_alert(current_user.id, alert_id)
        flash(_("Alert re-armed."), "success")
    except APIError as exc:
        flash(exc.message, "error")
    return redirect(url_for("alerts.index"))


@bp.post("/notifications")
@login_required
def save_notifications():
    """Save where fired alerts go; a new webhook secret is shown on this answer only (never stored in a cookie)."""
    form = request.form
    hooks = []
    for index in range(notify_schemas.MAX_WEBHOOKS_DOCUMENTED):
        url = (form.get(f"webhook_url_{index}") or "").strip()
        if url:
            hooks.append({"url": url, "format": form.get(f"webhook_format_{index}") or "json",
                          "regenerate_secret": bool(form.get(f"webhook_regenerate_{index}"))}
                         | ({"id": form.get(f"webhook_id_{index}")} if form.get(f"webhook_id_{index}") else {}))
    body = {"channels": ["live"] + [name for name in ("email", "webhook") if form.get(f"channel_{name}")],
            "email_address": (form.get("email_address") or "").strip() or None, "webhooks": hooks}
    try:
        result = notify_settings.replace(current_user.id, notify_schemas.NotificationSettingsSchema().load(body))
    except ValidationError as exc:
        return _render(400, _messages(exc.messages))
    except APIError as exc:
        return _render(400, _messages(exc.details.get("fields", {})) or [exc.message])
    new_secrets = {hook["id"]: hook["secret"] for hook in result["webhooks"] if hook["secret"]}
    if new_secrets:
        return _render(200, new_secrets=new_secrets)
    flash(_("Notification settings saved."), "success")
    return redirect(url_for("alerts.index"))


@bp.post("/deliveries/<int:delivery_id>/retry")
@login_required
def retry_delivery(delivery_id: int):
    """Send a failed delivery again."""
    try:
        notify_services.retry(current_user.id, delivery_id)
        flash(_("Sending again."), "success")
    except APIError as exc:
        flash(exc.message, "error")
    return redirect(url_for("alerts.index"))


# The notification form's fields as its labels say (the schema's keys are the API's).
NOTIFICATION_LABELS = {"email_address": _l("Email address"), "channels": _l("Channels"), "url": _l("URL"),
                       "format": _l("Format"), "id": _l("Webhook"), "_schema": _l("Webhooks")}


def _messages(errors: dict, prefix: str = "") -> list[str]:
    """Flatten marshmallow's nested error dict into readable lines ("Webhook 1, URL: Must be ...")."""
    lines: list[str] = []
    for key, value in errors.items():
        if str(key).isdigit():
            name = _("Webhook %(number)s", number=int(key) + 1)
        else:
            name = str(NOTIFICATION_LABELS.get(key, str(key).replace("_", " ")))
        if key == "webhooks" and isinstance(value, dict):
            lines.extend(_messages(value, prefix))
        elif isinstance(value, dict):
            lines.extend(_messages(value, f"{prefix}{name}, "))
        else:
            lines.append(f"{prefix}{name}: {' '.join(str(v) for v in value)}")
    return lines[:20]


def _decimal(value: str | None, name: str) -> Decimal | None:
    if not value or not value.strip():
        return None
    try:
        return parse_form_amount(value)
    except AmountError as exc:
        raise validation_error({name: [str(exc)]}) from None
