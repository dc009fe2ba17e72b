"""Notification settings: read and replace a user's channels, email address and webhooks."""
from __future__ import annotations

import secrets
from typing import Any

from flask import current_app
from sqlalchemy import delete, select

from app.extensions import db
from app.models import Alert, User
from app.models.notify import AlertChannels, NotificationSettings, Webhook
from app.notify import channels
from app.notify.services import settings_for, webhooks
from app.ops.errors import APIError, validation_error

SECRET_BYTES = 32


def describe(user_id: int, new_secrets: dict[int, str] | None = None) -> dict[str, Any]:
    """Return the user's settings as the API shows them (a secret only when it was just made)."""
    settings = settings_for(user_id)
    new_secrets = new_secrets or {}
    chosen = ["live"] + [name for name, on in (("email", settings.email_enabled),
                                                ("webhook", settings.webhook_enabled)) if on]
    account_email = db.session.scalar(select(User.email).where(User.id == user_id))
    return {"channels": chosen, "email_address": settings.email_address,
            "effective_email": settings.email_address or account_email,
            "webhooks": [{"id": h.id, "url": h.url, "format": h.format, "created_at": h.created_at,
                          "secret": new_secrets.get(h.id)} for h in webhooks(user_id)],
            "smtp_configured": bool(current_app.config["SMTP_HOST"])}


def replace(user_id: int, body: dict[str, Any]) -> dict[str, Any]:
    """Replace the user's settings and webhooks (all checked first: a refused request stores nothing)."""
    cfg = current_app.config
    hooks_in = body.get("webhooks") or []
    if len(hooks_in) > cfg["WEBHOOKS_MAX"]:
        raise validation_error({"webhooks": [f"At most {cfg['WEBHOOKS_MAX']} webhooks."]})
    existing = {h.id: h for h in webhooks(user_id)}
    errors: dict[str, Any] = {}
    seen_urls: set[str] = set()
    for index, hook in enumerate(hooks_in):
        try:
            channels.check_webhook_url(hook["url"], allow_private=cfg["WEBHOOK_ALLOW_PRIVATE"],
                                       require_https=cfg["PRODUCTION"])
        except ValueError as exc:
            errors.setdefault(str(index), {})["url"] = [str(exc)]
        if hook["url"] in seen_urls:
            errors.setdefault(str(index), {})["url"] = ["The same URL twice."]
        seen_urls.add(hook["url"])
        if hook.get("id") is not None and hook["id"] not in existing:
            errors.setdefault(str(index), {})["id"] = ["No such webhook of yours."]
    if errors:
        raise validation_error({"webhooks": errors})
    chosen = set(body["channels"])
    settings = db.session.get(NotificationSettings, user_id) or NotificationSettings(user_id=user_id)
    settings.email_enabled, settings.webhook_enabled = "email" in chosen, "webhook" in chosen
    settings.email_address = body.get("email_address")
    db.session.add(settings)
    new_secrets: dict[int, str] = {}
    kept = {hook["id"] for hook in hooks_in if hook.get("id") is not None}
    for hook_id, hook in existing.items():
        if hook_id not in kept:
            db.session.delete(hook)
    made: list[Webhook] = []
    for hook in hooks_in:
        row = existing.get(hook.get("id")) if hook.get("id") is not None else None
        if row is None:
            row = Webhook(user_id=user_id, secret=secrets.token_hex(SECRET_BYTES))
            db.session.add(row)
            made.append(row)
        elif hook.get("regenerate_secret"):
            row.secret = secrets.token_hex(SECRET_BYTES)
            made.append(row)
        row.url, row.format = hook["url"], hook.get("format") or "json"
    db.session.flush()
    new_secrets = {row.id: row.secret for row in made}
    db.session.commit()
    return describe(user_id, new_secrets)


def alert_channels(user_id: int, alert_id: int) -> dict[str, bool | None]:
    """Return one alert's channel override (null: the account's default)."""
    _own_alert(user_id, alert_id)
    row = db.session.get(AlertChannels, alert_id)
    return {"email": row.email if row else None, "webhook": row.webhook if row else None}


def set_alert_channels(user_id: int, alert_id: int, email: bool | None, webhook: bool | None) -> dict[str, Any]:
    """Set one alert's channel override; both null removes it."""
    _own_alert(user_id, alert_id)
    if email is None and webhook is None:
        db.session.execute(delete(AlertChannels).where(AlertChannels.alert_id == alert_id))
    else:
        row = db.session.get(AlertChannels, alert_id) or AlertChannels(alert_id=alert_id)
        row.email, row.webhook = email, webhook
        db.session.add(row)
    db.session.commit()
    return {"email": email, "webhook": webhook}


def _own_alert(user_id: int, alert_id: int) -> None:
    if db.session.scalar(select(Alert.id).where(Alert.id == alert_id, Alert.user_id == user_id)) is None:
        raise APIError(404, "No such alert.", code="not_found")
