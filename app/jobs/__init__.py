"""The pipeline: the Celery app, configured from the Flask config; every task runs in an app context.

`init_app(flask_app)` (called by `create_app`) points `celery_app` at the broker -- Redis when
`REDIS_URL` is set, else kombu's filesystem transport under JOBS_DIR -- and makes the app's
Task class enter the Flask app context, so `@shared_task` tasks of the job modules
(quotes, scores, heartbeat) can use the database, the cache and the market core.

The worker: `celery -A wsgi:celery worker` (README "Background jobs").
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from celery import Celery, Task
from kombu import Queue
from flask import Flask

from app.market.budget import background_priority

__all__ = ["celery_app", "init_app"]
# Task modules of app/jobs that other parts of the pipeline add (alert delivery), loaded by the worker.
OPTIONAL_TASK_MODULES = ("app.jobs.delivery",)
RESEARCH_QUEUE = "research"  # forecasts and backtests (app/jobs/research.py)


class FlaskTask(Task):
    """A task that runs inside the Flask app context of the app that configured Celery, at background priority."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        flask_app = self.app.flask_app  # set by init_app
        # Pipeline work: its provider calls use only the background share of each shared budget,
        # so users' requests always find room (app.market.budget).
        with flask_app.app_context(), background_priority():
            return super().__call__(*args, **kwargs)


celery_app = Celery("tickerdesk", task_cls=FlaskTask, set_as_current=True)
celery_app.flask_app = None


def init_app(flask_app: Flask) -> None:
    """Configure `celery_app` from the Flask config and bind its tasks to `flask_app`'s context."""
    from app.jobs import compute, metrics, schedule  # noqa: F401, PLC0415 - the job modules register their tasks

    cfg = flask_app.config
    if celery_app.flask_app is not None and celery_app.flask_app is not flask_app:
        _drop_broker_connections()  # a second app in one process (tests): send to its broker, not the first's
    celery_app.flask_app = flask_app
    celery_app.conf.update(broker_settings(cfg))
    celery_app.conf.update(
        imports=[name for name in OPTIONAL_TASK_MODULES if importlib.util.find_spec(name) is not None],
        task_ignore_result=True,  # no task returns anything anyone reads
        result_backend=None,
        task_acks_late=False,  # per task: only where redoing is safe (see each task)
        worker_prefetch_multiplier=1,  # a long scores run must not hold quote runs back in its buffer
        # Training and backtests go to their own queue: a worker consumes both (all of task_queues)
        # unless told otherwise (`-Q celery`), so a deployment can give the heavy research jobs
        # a worker of their own, and quotes and alerts never wait behind a training.
        task_default_queue="celery",
        task_queues=(Queue("celery"), Queue(RESEARCH_QUEUE)),
        task_routes={"jobs.research.*": {"queue": RESEARCH_QUEUE}},
        worker_hijack_root_logger=False,  # the app's structured logging stays in charge
        worker_redirect_stdouts=False,
        broker_connection_retry_on_startup=True,
        timezone="UTC",
        beat_schedule=schedule.beat_schedule(cfg),
        beat_schedule_filename=str(Path(cfg["JOBS_DIR"]) / "beat-schedule"),
        redbeat_redis_url=cfg.get("REDIS_URL"),
        redbeat_redis_options={},  # not the broker's transport options (its key prefix is not RedBeat's)
        redbeat_key_prefix=f"{cfg['JOBS_KEY_PREFIX']}redbeat",
        redbeat_lock_timeout=max(30, int(cfg["JOBS_HEARTBEAT_S"]) * 3),
    )
    celery_app.set_default()
    flask_app.extensions["tickerdesk.celery"] = celery_app


def broker_settings(cfg: Any) -> dict[str, Any]:
    """Return the broker URL and transport options: Redis with a key prefix, or folders under JOBS_DIR."""
    url = cfg["CELERY_BROKER_URL"]
    if not url.startswith("filesystem:"):
        return {"broker_url": url,
                "broker_transport_options": {"global_keyprefix": cfg["JOBS_KEY_PREFIX"],
                                             # A task taken by a worker that dies unacknowledged (acks_late) is
                                             # handed out again after this; it must exceed every task's time limit.
                                             "visibility_timeout": cfg["JOBS_VISIBILITY_TIMEOUT_S"],
                                             # Look for such tasks every 10 s (kombu's default: every 100 s).
                                             "unacked_restore_interval": max(1, min(10, int(
                                                 cfg["JOBS_VISIBILITY_TIMEOUT_S"]))),
                                             "unacked_restore_throttle": 1},
                "broker_pool_limit": 4}
    root = Path(cfg["JOBS_DIR"])
    queue, control = root / "queue", root / "control"
    for folder in (queue, control):
        folder.mkdir(parents=True, exist_ok=True)
    # One folder both ways: every process (web, worker, beat) writes and reads the same queue.
    return {"broker_url": "filesystem://",
            "broker_transport_options": {"data_folder_in": str(queue), "data_folder_out": str(queue),
                                         "control_folder": str(control), "store_processed": False}}


def _drop_broker_connections() -> None:
    # Celery keeps the connection and producer pools it made for the first broker URL; drop them
    # (as Celery does after a fork) so the next send connects with the new settings.
    pool, celery_app._pool = celery_app._pool, None
    if pool is not None:
        pool.force_close_all()
    amqp = celery_app.__dict__.get("amqp")
    if amqp is not None:
        amqp._producer_pool = None
