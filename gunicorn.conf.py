"""gunicorn settings: the gevent worker, PORT and WEB_CONCURRENCY from the environment.

No `preload_app`: the gevent worker must monkey-patch before the app is imported.
"""
import os
import shutil
import tempfile

# Prometheus multiprocess mode: every worker writes its samples under this directory and
# /metrics adds them up. Set before any worker imports prometheus_client; fresh per master.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="tickerdesk-metrics-")
    _OWN_METRICS_DIR = True
else:
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
    _OWN_METRICS_DIR = False

# gevent keeps each greenlet's spawning stack and parent for debugging tools: a few dozen
# objects per connection that every garbage collection walks. Not needed in service.
os.environ.setdefault("GEVENT_TRACK_GREENLET_TREE", "0")

bind = f"0.0.0.0:{os.environ.get('PORT', '5000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
worker_class = "gevent"
worker_connections = int(os.environ.get("WORKER_CONNECTIONS", "2000"))
preload_app = False
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 20
keepalive = 5
accesslog = None  # the app logs each request itself, with its request id
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()


def post_worker_init(worker):
    """Collect once and freeze what the loaded app holds, so full collections skip it.

    The app's imports leave some 200,000 long-lived objects; walked by every full collection
    they stop the gevent worker for 100 ms or more, every connection waiting (gc.freeze, as
    the Python docs advise for pre-forked servers).
    """
    import gc

    gc.collect()
    gc.freeze()


def child_exit(server, worker):
    """Drop a dead worker's live gauges (open websocket connections) from /metrics."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """Remove the metrics directory this master made."""
    if _OWN_METRICS_DIR:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)


def worker_exit(server, worker):
    """Close the event loop, the HTTP session and the Redis pools before the worker goes."""
    from app.lifecycle import shutdown

    shutdown(getattr(worker.wsgi, "application", None) or worker.wsgi)
