"""Prometheus metrics per task, from Celery's signals: runs, failures, retries, duration, last success;
and the number of messages waiting in each queue, measured on the broker when scraped.

The task metrics live in the worker process's registry. A worker started with JOBS_METRICS_PORT
serves them on that port (`prometheus_client.start_http_server`), for Prometheus to scrape.
`QUEUE_DEPTH` (`tickerdesk_task_queue_depth{queue}`) is a collector in the default registry, so
that port and the web process's /metrics (app.ops.metrics, which adds it to its multiprocess
registry too, from SHARED_COLLECTORS) both report it. Each run is also recorded in `job_runs` (app.jobs.runs).
"""
from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import redis
import structlog
from celery.signals import task_failure, task_postrun, task_prerun, task_retry, worker_ready
from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from app.ops.metrics import SHARED_COLLECTORS

from app.jobs import runs  # noqa: F401 - its signal handlers record each run in job_runs

log = structlog.get_logger(__name__)
QUEUE_DEPTH_TIMEOUT_S = 1.0

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
    from celery import current_app as celery_app  # noqa: PLC0415 - app.jobs's, without importing the package

    app = getattr(celery_app, "flask_app", None)
    port = int(app.config.get("JOBS_METRICS_PORT") or 0) if app is not None else 0
    if port:
        from prometheus_client import start_http_server  # noqa: PLC0415

        start_http_server(port, addr="0.0.0.0")


def queue_depths(cfg: Any, queues: list[str]) -> dict[str, int]:
    """Return how many messages wait in each queue of the configured broker (Redis or the filesystem)."""
    url = cfg["CELERY_BROKER_URL"]
    if url.startswith("filesystem:"):
        return _folder_depths(Path(cfg["JOBS_DIR"]) / "queue", queues)
    if url.startswith(("redis://", "rediss://", "unix://")):
        return _redis_depths(url, cfg["JOBS_KEY_PREFIX"], queues)
    return {}  # another broker: nothing measured


class QueueDepthCollector(Collector):
    """`tickerdesk_task_queue_depth{queue}`: messages waiting in each Celery queue, read on scrape."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("tickerdesk_task_queue_depth", "Messages waiting in each Celery queue",
                                   labels=["queue"])
        found = _configured()
        if found is not None:
            cfg, queues = found
            try:
                depths = queue_depths(cfg, queues)
            except (redis.RedisError, OSError) as exc:  # a scrape answers even when the broker does not
                log.warning("queue_depth_unavailable", error=type(exc).__name__)
                depths = {}
            for queue, depth in sorted(depths.items()):
                family.add_metric([queue], depth)
        yield family

    def describe(self) -> list[GaugeMetricFamily]:
        return []  # measured on collect only: registering must not reach the broker


def _configured() -> tuple[Any, list[str]] | None:
    # The request's app on /metrics, else (the worker's metrics port) the app Celery was configured from.
    from flask import current_app, has_app_context  # noqa: PLC0415

    from celery import current_app as celery_app  # noqa: PLC0415 - app.jobs's, without importing the package

    app = current_app._get_current_object() if has_app_context() else getattr(celery_app, "flask_app", None)
    if app is None or "CELERY_BROKER_URL" not in app.config:
        return None
    return app.config, sorted(celery_app.amqp.queues.keys())


def _redis_depths(url: str, prefix: str, queues: list[str]) -> dict[str, int]:
    # kombu's Redis transport keeps a queue as the list `<global_keyprefix><queue>`, and each priority
    # step above 0 as `<global_keyprefix><queue>\x06\x16<step>` (kombu.transport.redis: _q_for_pri).
    from kombu.transport.redis import PRIORITY_STEPS, Channel  # noqa: PLC0415

    client = redis.Redis.from_url(url, socket_timeout=QUEUE_DEPTH_TIMEOUT_S,
                                  socket_connect_timeout=QUEUE_DEPTH_TIMEOUT_S)
    try:
        keys = [(queue, f"{prefix}{queue}{Channel.sep}{step}" if step else f"{prefix}{queue}")
                for queue in queues for step in PRIORITY_STEPS]
        with client.pipeline(transaction=False) as pipe:
            for _, key in keys:
                pipe.llen(key)
            sizes = pipe.execute()
    finally:
        client.close()
    depths = dict.fromkeys(queues, 0)
    for (queue, _), size in zip(keys, sizes):
        depths[queue] += int(size)
    return depths


def _folder_depths(folder: Path, queues: list[str]) -> dict[str, int]:
    # kombu's filesystem transport writes each message as `<ms>_<uuid>.<queue>.msg` (filesystem._put).
    depths = dict.fromkeys(queues, 0)
    suffixes = {f"{queue}.msg": queue for queue in queues}
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                queue = suffixes.get(entry.name.partition(".")[2])
                if queue is not None:
                    depths[queue] += 1
    except FileNotFoundError:
        pass  # nothing was ever queued
    return depths


QUEUE_DEPTH = QueueDepthCollector()
REGISTRY.register(QUEUE_DEPTH)
SHARED_COLLECTORS.append(QUEUE_DEPTH)  # the web process's multiprocess /metrics reports it too
