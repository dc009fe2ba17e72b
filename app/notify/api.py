"""The notifications JSON API: settings, per-alert channels, the alert history, retries, the outbox."""
from __future__ import annotations

from flask_jwt_extended import current_user, jwt_required

from app.notify import schemas, services, settings
from app.ops.apidoc import Blueprint

bp = Blueprint("notify_api", __name__, url_prefix="/api/v1", description="Alert delivery and history")


@bp.get("/me/notifications")
@jwt_required()
@bp.response(200, schemas.NotificationSettingsSchema)
def get_settings():
    """Return where fired alerts go by default: live, email, webhooks (secrets never shown again)."""
    return settings.describe(current_user.id)


@bp.put("/me/notifications")
@jwt_required()
@bp.arguments(schemas.NotificationSettingsSchema)
@bp.response(200, schemas.NotificationSettingsSchema)
def put_settings(body):
    """Replace the settings and webhooks; a new or regenerated webhook's secret is in this answer only."""
    return settings.replace(current_user.id, body)


@bp.get("/alerts/<int:alert_id>/channels")
@jwt_required()
@bp.response(200, schemas.AlertChannelsSchema)
def get_alert_channels(alert_id: int):
    """Return one alert's channel override (null: the account's default)."""
    return settings.alert_channels(current_user.id, alert_id)


@bp.put("/alerts/<int:alert_id>/channels")
@jwt_required()
@bp.arguments(schemas.AlertChannelsSchema)
@bp.response(200, schemas.AlertChannelsSchema)
def put_alert_channels(body, alert_id: int):
    """Override the account's channels for one alert (both null: follow the default again)."""
    return settings.set_alert_channels(current_user.id, alert_id, body.get("email"), body.get("webhook"))


@bp.get("/alerts/history")
@jwt_required()
@bp.arguments(schemas.PageQuerySchema, location="query")
@bp.response(200, schemas.AlertHistorySchema)
def history(query):
    """Return the user's fired alerts, newest first, with each delivery's status."""
    return services.history(current_user.id, query["limit"], query.get("before"))


@bp.get("/alerts/outbox")
@jwt_required()
@bp.arguments(schemas.PageQuerySchema, location="query")
@bp.response(200, schemas.OutboxSchema)
def outbox(query):
    """Return the emails kept in the outbox (no SMTP configured), newest first."""
    return services.outbox(current_user.id, query["limit"], query.get("before"))


@bp.post("/alerts/deliveries/<int:delivery_id>/retry")
@jwt_required()
@bp.response(202, schemas.DeliverySchema)
def retry_delivery(delivery_id: int):
    """Send a failed delivery again (409 unless it failed)."""
    return services.retry(current_user.id, delivery_id)
