"""Liveness and readiness."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db, limiter
from app.ops.redis import redis_client

bp = Blueprint("ops", __name__)


@bp.get("/health")
@limiter.exempt
def health():
    """Answer 200 while the process is up."""
    return jsonify(status="ok")


@bp.get("/ready")
@limiter.exempt
def ready():
    """Check each component; 503 names the one that is down."""
    components: dict[str, dict[str, str]] = {}
    try:
        db.session.execute(text("SELECT 1"))
        components["database"] = {"status": "ok"}
    except SQLAlchemyError as exc:
        db.session.rollback()
        components["database"] = {"status": "down", "error": type(exc).__name__}
    client = redis_client(current_app)
    if client is not None:
        try:
            client.ping()
            components["redis"] = {"status": "ok"}
        except Exception as exc:  # noqa: BLE001 - any Redis failure means "not ready"
            components["redis"] = {"status": "down", "error": type(exc).__name__}
    failing = [name for name, state in components.items() if state["status"] != "ok"]
    body = {"status": "ok" if not failing else "unavailable", "components": components}
    if failing:
        body["failing"] = failing
    return jsonify(body), (503 if failing else 200)
