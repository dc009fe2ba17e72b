"""Prometheus metrics (prometheus_client), correct under several gunicorn workers.

gunicorn.conf.py points PROMETHEUS_MULTIPROC_DIR at a fresh directory before the workers
import the app; each worker then writes its samples there and `/metrics` aggregates them
(prometheus_client's multiprocess mode). Without it (`flask run`, the CLI) the process's
own registry is served. Either way the Celery queues' depths (`tickerdesk_task_queue_depth`,
app.jobs.metrics) are measured on the broker when scraped.

`/metrics` needs `Authorization: Bearer $METRICS_TOKEN` when METRICS_TOKEN is set; without a
token it is open in development and switched off (404) in production.
"""
from __future__ import annotations

import hmac
import os
import threading
import time
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request
from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge, Histogram,
                               generate_latest)

from app.ops.errors import ERRORS, APIError  # noqa: F401 - ERRORS: exported here with the rest

# Collectors that read shared state on scrape (the broker's queue depths, app.jobs.metrics): registered into
# the multiprocess registry too, so web processes report them.
SHARED_COLLECTORS: list[Any] = []
MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

HTTP_REQUESTS = Counter("tickerdesk_http_requests_total", "HTTP requests by endpoint and status",
                        ["method", "endpoint", "status"])
HTTP_LATENCY = Histogram("tickerdesk_http_request_duration_seconds", "HTTP request latency by endpoint",
                         ["method", "endpoint"],
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
CACHE = Counter("tickerdesk_cache_requests_total", "Cache lookups per level and result (hit, miss, error)",
                ["level", "result"])
PROVIDER_CALLS = Counter("tickerdesk_provider_calls_total", "Market-data provider calls by outcome",
                         ["provider", "operation", "outcome"])
PROVIDER_LATENCY = Histogram("tickerdesk_provider_latency_seconds", "Market-data provider call latency",
                             ["provider", "operation"],
                             buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0))
PROVIDER_CIRCUIT = Gauge("tickerdesk_provider_circuit_state",
                         "Circuit breaker per provider: 0 closed, 1 half-open, 2 open (worst process)",
                         ["provider"], multiprocess_mode="max")
WS_CONNECTIONS = Gauge("tickerdesk_websocket_connections", "Open Socket.IO /live connections",
                       multiprocess_mode="livesum")
WS_CONNECTS = Counter("tickerdesk_websocket_connects_total", "Socket.IO /live connection attempts by result",
                      ["result"])
STREAMER_TICKS = Counter("tickerdesk_streamer_ticks_total", "Price streamer ticks")
STREAMER_TICK_SECONDS = Histogram("tickerdesk_streamer_tick_duration_seconds", "Duration of one streamer tick",
                                  buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0))
STREAMER_EMITS = Counter("tickerdesk_streamer_events_total", "Events the streamer emitted, by kind", ["event"])

_CIRCUIT_VALUES = {"closed": 0, "half_open": 1, "half-open": 1, "open": 2}
_cache_seen: dict[tuple[str, str], int] = {}
_cache_lock = threading.Lock()
_cache_synced = [0.0]
CACHE_SYNC_S = 5.0

bp = Blueprint("metrics", __name__)


def observe_request(method: str, endpoint: str | None, status: int, seconds: float) -> None:
    """Count one HTTP request and its latency; every few seconds, publish the cache's counts."""
    name = endpoint or "unmatched"
    HTTP_REQUESTS.labels(method, name, str(status)).inc()
    HTTP_LATENCY.labels(method, name).observe(seconds)
    now = time.monotonic()
    if now - _cache_synced[0] >= CACHE_SYNC_S:
        _cache_synced[0] = now
        from app.cache import get_cache  # noqa: PLC0415

        sync_cache(get_cache().counters())


def provider_call(provider: str, operation: str, outcome: str, seconds: float, circuit: str | None) -> None:
    """The market client's hook: one provider call, its outcome and latency, the circuit after it."""
    PROVIDER_CALLS.labels(provider, operation, outcome).inc()
    PROVIDER_LATENCY.labels(provider, operation).observe(seconds)
    if circuit is not None:
        PROVIDER_CIRCUIT.labels(provider).set(_CIRCUIT_VALUES.get(str(circuit).lower(), 2))


def sync_cache(counters: dict[str, dict[str, int]]) -> None:
    """Add what the cache counted since the last call (`TieredCache.counters()`) to the metric."""
    with _cache_lock:
        for level, results in counters.items():
            for result, total in results.items():
                key = (level, result)
                before = _cache_seen.get(key, 0)
                delta = total - before if total >= before else total  # the admin reset the counters
                _cache_seen[key] = total
                if delta:
                    CACHE.labels(level, result).inc(delta)


def _registry() -> Any:
    if not MULTIPROCESS:
        return REGISTRY
    from prometheus_client import multiprocess  # noqa: PLC0415

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    for collector in SHARED_COLLECTORS:
        registry.register(collector)
    return registry


@bp.get("/metrics")
def metrics() -> Response:
    """The Prometheus text format, behind METRICS_TOKEN."""
    token = current_app.config.get("METRICS_TOKEN")
    if not token:
        if current_app.config.get("PRODUCTION"):
            raise APIError(404, "Metrics are disabled: set METRICS_TOKEN to enable them.")
    else:
        sent = request.headers.get("Authorization", "")
        if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            raise APIError(401, "Send Authorization: Bearer <METRICS_TOKEN> to read the metrics.",
                           headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    from app.cache import get_cache  # noqa: PLC0415 - count what this process saw up to now

    sync_cache(get_cache().counters())
    return Response(generate_latest(_registry()), headers={"Content-Type": CONTENT_TYPE_LATEST})


def init_app(app: Flask) -> None:
    """Serve /metrics (exempt from rate limits)."""
    from app.extensions import limiter  # noqa: PLC0415

    limiter.exempt(bp)
    app.register_blueprint(bp)
