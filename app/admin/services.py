"""Admin services: the pipeline's recent runs and per-task summary, every user's deliveries, retries."""
from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import case, func, select

from app.auth import services as auth_services
from app.extensions import db
from app.jobs.runs import redact
from app.models.jobs import JobRun
from app.models.notify import Delivery
from app.models.types import utcnow
from app.notify import services as notify_services
from app.ops.errors import APIError

MAX_TASKS = 100  # distinct task names in the summary (the pipeline has a handful)
FAILURE_WINDOW = timedelta(hours=24)


def job_runs(task: str | None = None, state: str | None = None, limit: int = 50,
             before: int | None = None) -> dict[str, Any]:
    """Return a page of recorded task runs, newest first, optionally of one task and state."""
    query = select(JobRun)
    if task:
        query = query.where(JobRun.task == task)
    if state:
        query = query.where(JobRun.state == state)
    if before is not None:
        query = query.where(JobRun.id < before)
    rows = list(db.session.scalars(query.order_by(JobRun.id.desc()).limit(limit + 1)))
    return _page(rows, limit)


def task_summaries() -> list[dict[str, Any]]:
    """Return per task: its last run (when, state), its last success, and its runs and failures in 24 h."""
    since = utcnow() - FAILURE_WINDOW
    recent = JobRun.started_at >= since
    totals = (select(JobRun.task, func.max(JobRun.id).label("last_id"),
                     func.max(case((JobRun.state == "success", JobRun.finished_at))).label("last_success_at"),
                     func.sum(case((recent, 1), else_=0)).label("runs_24h"),
                     func.sum(case((recent & (JobRun.state == "failure"), 1), else_=0)).label("failures_24h"))
              .group_by(JobRun.task).order_by(JobRun.task).limit(MAX_TASKS).subquery())
    rows = db.session.execute(select(totals, JobRun).join(JobRun, JobRun.id == totals.c.last_id)
                              .order_by(totals.c.task)).all()
    return [{"task": row.task, "last_run": row.JobRun, "last_success_at": row.last_success_at,
             "runs_24h": int(row.runs_24h or 0), "failures_24h": int(row.failures_24h or 0)} for row in rows]


def deliveries(status: str = "failed", limit: int = 50, before: int | None = None) -> dict[str, Any]:
    """Return a page of every user's deliveries in one status, newest first, webhook targets redacted."""
    query = select(Delivery).where(Delivery.status == status)
    if before is not None:
        query = query.where(Delivery.id < before)
    rows = list(db.session.scalars(query.order_by(Delivery.id.desc()).limit(limit + 1)))
    page = _page(rows, limit)
    page["items"] = [delivery_view(d) for d in page["items"]]
    return page


def retry_delivery(admin_id: int, delivery_id: int) -> dict[str, Any]:
    """Send any user's failed delivery again, as that user's own retry does (404 unknown, 409 unless failed)."""
    user_id = db.session.scalar(select(Delivery.user_id).where(Delivery.id == delivery_id))
    if user_id is None:
        raise APIError(404, "No such delivery.", code="not_found")
    delivery = notify_services.retry(user_id, delivery_id)
    auth_services.audit("delivery_retried", admin_id, delivery_id=delivery_id, owner_id=user_id)
    db.session.commit()
    return delivery_view(delivery)


def delivery_view(delivery: Delivery) -> dict[str, Any]:
    """Return what an admin sees of a delivery: everything but the webhook URL's path and query."""
    target = redact_target(delivery.channel, delivery.target)
    error = delivery.last_error
    if error:  # the senders never quote the URL; should one ever, it is masked like the target
        error = redact(error.replace(delivery.target, target))
    return {"id": delivery.id, "user_id": delivery.user_id, "fire_id": delivery.fire_id, "channel": delivery.channel,
            "target": target, "status": delivery.status, "via": delivery.via, "attempts": delivery.attempts,
            "last_error": error,
            "created_at": delivery.created_at, "sent_at": delivery.sent_at}


def redact_target(channel: str, target: str) -> str:
    """Return a delivery's target safe to show: an email as is; of a webhook URL only scheme, host and port.

    A webhook's path and query are often its secret (Slack, Discord and ntfy URLs are the
    credential themselves), so they are replaced by an ellipsis.
    """
    if channel != "webhook":
        return target
    try:
        parts = urlsplit(target)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "(unreadable URL)"
    if ":" in host:
        host = f"[{host}]"  # IPv6
    shown = f"{parts.scheme}://{host}{f':{port}' if port else ''}"
    return shown + ("/…" if parts.path.strip("/") or parts.query else "")


def parse_summary(text: str | None) -> Any:
    """Return a run's stored JSON summary as a value (the text itself if it is not JSON)."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _page(rows: list[Any], limit: int) -> dict[str, Any]:
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": rows, "next_before": rows[-1].id if more and rows else None}
