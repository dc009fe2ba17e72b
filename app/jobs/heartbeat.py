"""Heartbeats: the worker's (a thread in each worker process) and the scheduler's (a periodic task).

The worker marks `worker` every JOBS_HEARTBEAT_S from the moment it is ready; the beat
schedules `jobs.heartbeat` at the same pace and the task marks `scheduler` -- so a scheduler
heartbeat proves that a beat schedules and a worker runs what it schedules. `/ready` reads
both (`components`): never seen yet is "starting", older than JOBS_HEARTBEAT_STALE_S "down".
"""
from __future__ import annotations

import threading
import time
from typing import Any

import structlog
from celery import shared_task
from celery.signals import worker_ready, worker_shutdown
from flask import Flask

from app.jobs import state

log = structlog.get_logger(__name__)
_stop = threading.Event()


@shared_task(name="jobs.heartbeat", soft_time_limit=10, time_limit=15, ignore_result=True)
def beat() -> None:
    """Record that the scheduler's heartbeat ran (idempotent: a timestamp)."""
    state.mark("scheduler")


def components(app: Flask) -> dict[str, dict[str, Any]]:
    """Return the worker's and the scheduler's status from their heartbeats, for /ready."""
    stale_s = float(app.config["JOBS_HEARTBEAT_STALE_S"])
    out: dict[str, dict[str, Any]] = {}
    now = time.time()
    for name in ("worker", "scheduler"):
        try:
            at = state.last(name)
        except Exception as exc:  # noqa: BLE001 - Redis away: /ready reports Redis itself; ask no more
            return {n: {"status": "unknown", "error": type(exc).__name__} for n in ("worker", "scheduler")}
        if at is None:
            out[name] = {"status": "starting"}
        else:
            age = round(now - at, 1)
            out[name] = {"status": "ok" if age <= stale_s else "down", "age_s": age}
    return out


@worker_ready.connect
def _start_worker_heartbeat(sender: Any = None, **_: Any) -> None:
    from celery import current_app as celery_app  # noqa: PLC0415 - app.jobs's, without importing the package

    app = getattr(celery_app, "flask_app", None)
    if app is None:
        return
    every = float(app.config["JOBS_HEARTBEAT_S"])

    def run() -> None:
        while True:
            try:
                with app.app_context():
                    state.mark("worker")
            except Exception:  # noqa: BLE001 - a missed beat shows as stale; keep trying
                log.warning("jobs_worker_heartbeat_failed", exc_info=True)
            if _stop.wait(every):
                return

    threading.Thread(target=run, name="jobs-heartbeat", daemon=True).start()


@worker_shutdown.connect
def _stop_worker_heartbeat(**_: Any) -> None:
    _stop.set()
