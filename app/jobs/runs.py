"""The record of pipeline task runs in `job_runs`, kept from Celery's signals, for the admin page.

A run is a row from `task_prerun` (state "running") to `task_postrun`: success, failure, retry,
or skipped (the task returned `{"skipped": True}`, or delivery's "skipped" / "busy": nothing to
do). It keeps the seconds it took, a JSON summary of the return value (at most SUMMARY_CHARS)
and the exception of a failure or retry (type and message, at most ERROR_CHARS), both with
secrets masked: passwords in URLs, key=value secrets, bearer tokens, and the configured secret
values (SMTP password, API keys, ...) wherever they appear.

Writing goes through its own connection (`db.engine`), never the task's session, and a failed
write is logged and forgotten: recording never breaks a task. While the database is away the
recorder waits DOWN_BACKOFF_S before trying again, so tasks do not each pay a failed connect.
Each process prunes a task's old rows on every JOBS_RUNS_PRUNE_EVERY-th run it records, down
to the newest JOBS_RUNS_KEEP.

`jobs.heartbeat` is not recorded: it runs every JOBS_HEARTBEAT_S (15 s, 5,760 runs a day),
which would be two writes to the shared database per beat and would push every other task
out of the recent runs; its own record is the scheduler heartbeat that /ready reports, and
its counts are in the task metrics.

The same code serves the threads pool (runs keyed by thread as well as task id, as a retry
may start on another thread before this one's postrun), prefork (each child records its own
runs; the parent's hard-time-limit failure closes the row by task id) and eager runs.
"""
from __future__ import annotations

import json
import re
import threading
import time
from datetime import timedelta
from typing import Any

import structlog
from celery.signals import task_failure, task_postrun, task_prerun, task_retry, worker_process_init
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db
from app.models.jobs import JobRun
from app.models.types import utcnow
from app.ops.logging import redact_text

log = structlog.get_logger(__name__)
SUMMARY_CHARS, ERROR_CHARS = 1000, 500
NOT_RECORDED = frozenset({"jobs.heartbeat"})
DOWN_BACKOFF_S = 10.0
SECRET_SETTINGS = ("SMTP_PASSWORD", "SECRET_KEY", "JWT_SECRET_KEY", "FINNHUB_API_KEY", "ALPHAVANTAGE_API_KEY",
                   "METRICS_TOKEN")
_STATES = {"SUCCESS": "success", "FAILURE": "failure", "RETRY": "retry", "IGNORED": "skipped",
           "REJECTED": "failure"}
_SKIPPED_RESULTS = ("skipped", "busy")
# user:password@ in any URL (database, broker, SMTP, webhook URLs quoted in an error).
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/\s@:]*(?::[^/\s@]*)?@")
_open: dict[tuple[str, int], list[dict[str, Any]]] = {}  # (task id, thread) -> its runs in progress
_recorded: dict[str, int] = {}  # runs recorded per task by this process, for pruning
_down_until = [0.0]


def redact(text: str, cfg: Any = None) -> str:
    """Return `text` without credentials: URL passwords, key=value secrets, tokens, configured secrets."""
    text = _URL_CREDENTIALS.sub(r"\1***@", text)
    for name in SECRET_SETTINGS if cfg is not None else ():
        value = cfg.get(name)
        if isinstance(value, str) and len(value) >= 4:
            text = text.replace(value, "***")
    return redact_text(text)


def summarize(result: Any, cfg: Any = None, limit: int = SUMMARY_CHARS) -> str | None:
    """Return the task's return value as JSON text of at most `limit` characters (None for None)."""
    if result is None:
        return None
    text = redact(json.dumps(result, default=str, ensure_ascii=False), cfg)
    if len(text) <= limit:
        return text
    head = text[:limit - 40]
    while True:  # escaping may lengthen the head: shorten until the wrapper fits
        wrapped = json.dumps({"truncated": True, "head": head}, ensure_ascii=False)
        if len(wrapped) <= limit:
            return wrapped
        head = head[:len(head) - (len(wrapped) - limit) - 1]


def describe_error(exc: BaseException | None, cfg: Any = None) -> str | None:
    """Return "Type: message" of an exception, redacted, at most ERROR_CHARS characters."""
    if exc is None:
        return None
    message = str(exc)
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return redact(text, cfg)[:ERROR_CHARS]


def state_of(celery_state: str | None, result: Any) -> str:
    """Return the job_runs state for Celery's end state and the task's return value."""
    state = _STATES.get(celery_state or "", "failure")
    if state == "success" and (result in _SKIPPED_RESULTS
                               or (isinstance(result, dict) and result.get("skipped") is True)):
        return "skipped"
    return state


@task_prerun.connect
def _started(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    name = getattr(task, "name", None)
    if not task_id or not name or name in NOT_RECORDED:
        return
    run = {"task": name, "started": time.perf_counter(), "row": None, "error": None}
    _open.setdefault((task_id, threading.get_ident()), []).append(run)
    run["row"] = _write(lambda conn: conn.execute(insert(JobRun).values(
        task=name[:100], task_id=task_id[:64], state="running", started_at=utcnow())).inserted_primary_key[0])


@task_failure.connect
def _failed(task_id: str | None = None, exception: BaseException | None = None, sender: Any = None,
            **_: Any) -> None:
    run = _current(task_id)
    if run is not None:
        run["error"] = exception
    elif task_id and getattr(sender, "name", None) not in NOT_RECORDED:
        _close_orphan(task_id, exception)  # prefork's parent: a child killed at the hard time limit


@task_retry.connect
def _retried(request: Any = None, reason: Any = None, **_: Any) -> None:
    run = _current(getattr(request, "id", None))
    cause = getattr(reason, "exc", None)  # celery.exceptions.Retry carries what made the task retry
    error = cause if isinstance(cause, BaseException) else reason
    if run is not None and isinstance(error, BaseException):
        run["error"] = error


@task_postrun.connect
def _finished(task_id: str | None = None, retval: Any = None, state: str | None = None, **_: Any) -> None:
    key = (task_id or "", threading.get_ident())
    runs = _open.get(key)
    if not runs:
        return
    run = runs.pop()
    if not runs:
        _open.pop(key, None)
    if run["row"] is None:
        return  # the database was away when it started
    cfg = _config()
    final = state_of(state, retval)
    values = {"state": final, "finished_at": utcnow(), "seconds": round(time.perf_counter() - run["started"], 6),
              "summary": summarize(retval, cfg) if final in ("success", "skipped") else None,
              "error": describe_error(run["error"], cfg) if final in ("failure", "retry") else None}
    if final == "failure" and values["error"] is None and isinstance(retval, BaseException):
        values["error"] = describe_error(retval, cfg)
    _write(lambda conn: conn.execute(update(JobRun).where(JobRun.id == run["row"]).values(**values)))
    _maybe_prune(run["task"], cfg)


@worker_process_init.connect
def _forked(**_: Any) -> None:
    # A prefork child must not share the parent's pooled connections (SQLAlchemy's advice for fork).
    app = _flask_app()
    if app is not None:
        with app.app_context():
            db.engine.dispose(close=False)


def _current(task_id: str | None) -> dict[str, Any] | None:
    runs = _open.get((task_id or "", threading.get_ident()))
    return runs[-1] if runs else None


def _close_orphan(task_id: str, exc: BaseException | None) -> None:
    cfg = _config()

    def close(conn: Any) -> None:
        for row_id, started_at in conn.execute(select(JobRun.id, JobRun.started_at).where(
                JobRun.task_id == task_id, JobRun.state == "running")).all():
            now = utcnow()
            conn.execute(update(JobRun).where(JobRun.id == row_id).values(
                state="failure", finished_at=now, seconds=(now - started_at) / timedelta(seconds=1),
                error=describe_error(exc, cfg)))

    _write(close)


def _maybe_prune(task: str, cfg: Any) -> None:
    count = _recorded[task] = _recorded.get(task, 0) + 1
    every = max(1, int(cfg.get("JOBS_RUNS_PRUNE_EVERY", 20))) if cfg is not None else 20
    if count % every:
        return
    keep = max(1, int(cfg.get("JOBS_RUNS_KEEP", 200))) if cfg is not None else 200
    # The newest `keep` rows of the task by id (ids grow with time); everything older goes.
    oldest_kept = (select(JobRun.id).where(JobRun.task == task).order_by(JobRun.id.desc())
                   .offset(keep - 1).limit(1).scalar_subquery())
    _write(lambda conn: conn.execute(delete(JobRun).where(JobRun.task == task, JobRun.id < oldest_kept)))


def _write(work: Any) -> Any:
    """Run `work(connection)` in its own transaction; on a database error log it and return None."""
    app = _flask_app()
    if app is None or time.monotonic() < _down_until[0]:
        return None
    try:
        with app.app_context(), db.engine.begin() as conn:
            return work(conn)
    except SQLAlchemyError as exc:
        _down_until[0] = time.monotonic() + DOWN_BACKOFF_S
        log.warning("job_run_not_recorded", error=describe_error(exc, app.config), retry_in_s=DOWN_BACKOFF_S)
        return None


def _flask_app() -> Any:
    from celery import current_app as celery_app  # noqa: PLC0415 - app.jobs's, without importing the package

    return getattr(celery_app, "flask_app", None)


def _config() -> Any:
    app = _flask_app()
    return app.config if app is not None else None
