"""The alerts JSON API."""
from __future__ import annotations

from flask_jwt_extended import current_user, jwt_required
from app.ops.apidoc import Blueprint

from app.alerts import schemas, services
from app.notify import on_fired

bp = Blueprint("alerts_api", __name__, url_prefix="/api/v1/alerts", description="Price alerts")


@bp.get("")
@jwt_required()
@bp.response(200, schemas.AlertSchema(many=True))
def list_alerts():
    """Return the user's alerts, newest first (checked against current prices first)."""
    on_fired(services.check_user_alerts(current_user.id))
    return services.alerts(current_user.id)


@bp.post("")
@jwt_required()
@bp.arguments(schemas.AlertSchema)
@bp.response(201, schemas.AlertSchema)
def create_alert(body):
    """Create an alert at a price, or a stop-loss / take-profit at a % from the holding's cost."""
    return services.create_alert(current_user.id, body["symbol"], body["kind"], body.get("threshold"),
                                 body.get("threshold_pct"))


@bp.delete("/<int:alert_id>")
@jwt_required()
@bp.response(204)
def delete_alert(alert_id: int):
    """Delete an alert."""
    services.delete_alert(current_user.id, alert_id)


@bp.post("/<int:alert_id>/rearm")
@jwt_required()
@bp.response(200, schemas.AlertSchema)
def rearm_alert(alert_id: int):
    """Make a fired alert active again."""
    return services.rearm_alert(current_user.id, alert_id)
