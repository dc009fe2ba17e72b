"""Prometheus metrics per task, from Celery's signals: runs, failures, retries, duration, last success.

They live in the worker process's registry. A worker started with JOBS_METRICS_PORT serves
them on that port (`prometheus_client.start_http_server`), for Prometheus to scrape.
"""
from __future__ import annotations

import time
from typing import Any

from celery.signals import task_failure, task_postrun, task_prerun, task_retry, worker_ready
from prometheus_client import Counter, Gauge, Histogram

TASK_RUNS = Counter("tickerdesk_task_runs_total", "Celery task runs that ended, by task and state",
                    ["task", "state"])
TASK_FAILURES = Counter("tickerdesk_task_failures_total", "Celery task runs that raised", ["task"])
TASK_RETRIES = Counter("tickerdesk_task_retries_total", "Celery task retries", ["task"])
TASK_SECONDS = Histogram("tickerdesk_task_duration_seconds", "Celery task run time", ["task"],
                         buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600))
TASK_LAST_SUCCESS = Gauge("tickerdesk_task_last_success_timestamp_seconds",
                          "When each task last succeeded (epoch seconds)", ["task"], multiprocess_mode="max")
_started: dict[str, float] = {}


@task_prerun.connect
def _prerun(task_id: str | None = None, **_: Any) -> None:
    if task_id:
        _started[task_id] = time.perf_counter()


@task_postrun.connect
def _postrun(task_id: str | None = None, task: Any = None, state: str | None = None, **_: Any) -> None:
    started = _started.pop(task_id, None) if task_id else None
    name = getattr(task, "name", "unknown")
    if started is not None:
        TASK_SECONDS.labels(name).observe(time.perf_counter() - started)
    TASK_RUNS.labels(name, state or "UNKNOWN").inc()
    if state == "SUCCESS":
        TASK_LAST_SUCCESS.labels(name).set(time.time())


@task_failure.connect
def _failure(sender: Any = None, **_: Any) -> None:
    TASK_FAILURES.labels(getattr(sender, "name", "unknown")).inc()


@task_retry.connect
def _retry(sender: Any = None, **_: Any) -> None:
    TASK_RETRIES.labels(getattr(sender, "name", "unknown")).inc()


@worker_ready.connect
def _serve(sender: Any = None, **_: Any) -> None:
    from app.jobs import celery_app  # noqa: PLC0415

    app = celery_app.flask_app
    port = int(app.config.get("JOBS_METRICS_PORT") or 0) if app is not None else 0
    if port:
        from prometheus_client import start_http_server  # noqa: PLC0415

        start_http_server(port, addr="0.0.0.0")
