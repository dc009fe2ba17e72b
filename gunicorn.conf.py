"""gunicorn settings: the gevent worker, PORT and WEB_CONCURRENCY from the environment.

No `preload_app`: the gevent worker must monkey-patch before the app is imported.
"""
import os

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


def worker_exit(server, worker):
    """Close the event loop, the HTTP session and the Redis pools before the worker goes."""
    from app.lifecycle import shutdown

    shutdown(getattr(worker.wsgi, "application", None) or worker.wsgi)
