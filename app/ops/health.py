"""Liveness and readiness."""
from __future__ import annotations

import structlog
from flask import Blueprint, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from app.extensions import db, limiter
from app.jobs import heartbeat as jobs_heartbeat
from app.ops.redis import redis_client

log = structlog.get_logger(__name__)
bp = Blueprint("ops", __name__)


def close_session_safely(_exc: BaseException | None = None) -> None:
    """End the app context's database session even when the database dropped its connection.

    Flask-SQLAlchemy closes the session when the app context ends, which rolls back the open
    transaction. If PostgreSQL terminated the connection meanwhile (restart, failover), that
    rollback raises *after* the response was built and gunicorn answers a bare 500 instead.
    This runs just before Flask-SQLAlchemy's own teardown (teardown functions run in reverse
    order of registration): SQLAlchemy has invalidated the dead connection by the time the
    rollback raises, so a second close succeeds and leaves an empty session behind.
    """
    try:
        db.session.remove()
    except DBAPIError as exc:
        log.warning("database_connection_lost_at_teardown",
                    error_type=type(exc.orig).__name__ if exc.orig is not None else type(exc).__name__)
        try:
            db.session.remove()
        except DBAPIError:  # pragma: no cover - the connection is invalidated after the first failure
            pass


# Registered on the app when this blueprint is (after the extensions, hence run before them).
bp.record_once(lambda state: state.app.teardown_appcontext(close_session_safely))


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
    # The pipeline's worker and scheduler (heartbeats): reported, but a web process serves without
    # them, so they never make it unready -- "starting" before the first beat, "down" when stale.
    pipeline = jobs_heartbeat.components(current_app)
    components.update(pipeline)
    body = {"status": "ok" if not failing else "unavailable", "components": components}
    if failing:
        body["failing"] = failing
    degraded = [name for name, state in pipeline.items() if state["status"] not in ("ok", "starting")]
    if degraded:
        body["degraded"] = degraded
    return jsonify(body), (503 if failing else 200)
