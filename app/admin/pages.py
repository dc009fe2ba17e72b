"""The admin page: the pipeline's recent runs and per-task summary, failed deliveries with a retry button."""
from __future__ import annotations

from functools import wraps
from typing import Any, Callable

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.admin import services
from app.models.jobs import JOB_RUN_STATES
from app.ops.errors import APIError, wants_json

bp = Blueprint("admin", __name__, url_prefix="/admin")
RUN_ROWS, DELIVERY_ROWS = 50, 50


def admin_page(view: Callable[..., Any]) -> Callable[..., Any]:
    """A logged-in administrator; others are sent to log in (no session) or refused with a 403 page."""

    @wraps(view)
    @login_required
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_admin:
            # The page in its language; a JSON answer in English, as the API's.
            raise APIError(403, "Administrators only." if wants_json() else _("Administrators only."), code="forbidden")
        return view(*args, **kwargs)

    return wrapper


@bp.get("")
@admin_page
def index():
    """Show the recent job runs (optionally of one task or state), each task's summary and failed deliveries."""
    task = (request.args.get("task") or "").strip()[:100] or None
    state = request.args.get("state") if request.args.get("state") in JOB_RUN_STATES else None
    return render_template("admin/index.html", tasks=services.task_summaries(),
                           runs=services.job_runs(task, state, RUN_ROWS)["items"],
                           failed=services.deliveries("failed", DELIVERY_ROWS)["items"],
                           task_filter=task, state_filter=state, states=JOB_RUN_STATES)


@bp.post("/deliveries/<int:delivery_id>/retry")
@admin_page
def retry_delivery(delivery_id: int):
    """Send a user's failed delivery again."""
    try:
        services.retry_delivery(current_user.id, delivery_id)
        flash(_("Delivery %(id)s is being sent again.", id=delivery_id), "success")
    except APIError as exc:
        if exc.status not in (404, 409):
            raise
        flash(exc.message, "error")
    return redirect(url_for("admin.index"))
