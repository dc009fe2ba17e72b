"""The admin JSON API: cache statistics and invalidation, the pipeline's job runs, every user's failed
deliveries and their retry. Admins only (`flask users create-admin`)."""
from __future__ import annotations

from functools import wraps
from typing import Any, Callable

from flask_jwt_extended import current_user, jwt_required
from marshmallow import Schema, fields, validate

from app.admin import schemas, services
from app.auth import services as auth_services
from app.cache import get_cache
from app.extensions import db
from app.ops.apidoc import Blueprint
from app.ops.errors import APIError

bp = Blueprint("admin_api", __name__, url_prefix="/api/v1/admin", description="Administration (admins only)")


class CacheStatsSchema(Schema):
    """The cache of the answering process: levels, hit rates, sizes, circuit state of Redis."""

    mode = fields.String(metadata={"description": "memory, or tiered (process memory over Redis)"})
    ttl_s = fields.Dict(keys=fields.String(), values=fields.Float())
    stale_grace_s = fields.Float()
    events = fields.Dict()
    memory = fields.Dict(metadata={"description": "without Redis: the in-process cache"})
    l1 = fields.Dict(metadata={"description": "with Redis: the in-process level"})
    l2 = fields.Dict(metadata={"description": "with Redis: the shared level"})


class InvalidateSchema(Schema):
    pattern = fields.String(required=True, validate=validate.Length(min=1, max=200),
                            metadata={"description": "A glob over cache keys, e.g. `quote:SAP*` or `*`",
                                      "example": "quote:*"})


class InvalidateResultSchema(Schema):
    pattern = fields.String()
    l1 = fields.Integer(metadata={"description": "keys removed from this process's memory"})
    l2 = fields.Integer(allow_none=True, metadata={"description": "keys removed from Redis (null without it)"})
    deferred = fields.Boolean(metadata={"description": "Redis was unreachable: done when it is back"})


def admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """A valid access token of an administrator; anyone else gets a 403."""

    @wraps(view)
    @jwt_required()
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_admin:
            raise APIError(403, "Administrators only.", code="forbidden")
        return view(*args, **kwargs)

    return wrapper


@bp.get("/cache/stats")
@admin_required
@bp.response(200, CacheStatsSchema)
def cache_stats():
    """Return the cache's statistics (hits, misses, sizes per level; Redis state)."""
    return get_cache().stats()


@bp.post("/cache/invalidate")
@admin_required
@bp.arguments(InvalidateSchema)
@bp.response(200, InvalidateResultSchema)
def cache_invalidate(body):
    """Remove cache entries whose keys match a glob pattern, in memory and in Redis."""
    result = get_cache().invalidate(body["pattern"])
    auth_services.audit("cache_invalidated", current_user.id, pattern=body["pattern"])
    db.session.commit()
    return {"pattern": body["pattern"], **result}


@bp.get("/jobs")
@admin_required
@bp.arguments(schemas.JobRunsQuerySchema, location="query")
@bp.response(200, schemas.JobRunsSchema)
def job_runs(query):
    """Return the recent pipeline task runs, newest first (filter by task and state), and each task's summary."""
    page = services.job_runs(query["task"], query["state"], query["limit"], query["before"])
    return {**page, "tasks": services.task_summaries()}


@bp.get("/deliveries")
@admin_required
@bp.arguments(schemas.DeliveriesQuerySchema, location="query")
@bp.response(200, schemas.AdminDeliveriesSchema)
def deliveries(query):
    """Return every user's deliveries in one status (default: failed), newest first; webhook paths hidden."""
    return services.deliveries(query["status"], query["limit"], query["before"])


@bp.post("/deliveries/<int:delivery_id>/retry")
@admin_required
@bp.response(202, schemas.AdminDeliverySchema)
def retry_delivery(delivery_id: int):
    """Send any user's failed delivery again (404 unknown id, 409 unless it failed); audited."""
    return services.retry_delivery(current_user.id, delivery_id)
