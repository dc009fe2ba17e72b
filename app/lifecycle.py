"""Graceful shutdown: what a worker closes before it exits."""
from __future__ import annotations

import structlog
from flask import Flask

log = structlog.get_logger(__name__)


def shutdown(app: Flask | None) -> None:
    """Close the asyncio loop and HTTP session, the cache's and the app's Redis pools."""
    from app import aio
    from app.ops.redis import close_redis

    aio.shutdown()
    if isinstance(app, Flask):
        close_redis(app)
        cache = app.extensions.get("tickerdesk_cache")
        if cache is not None:
            cache.close()
    log.info("worker_shutdown")
