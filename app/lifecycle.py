"""Graceful shutdown: what a worker closes before it exits."""
from __future__ import annotations

import structlog
from flask import Flask

log = structlog.get_logger(__name__)


def shutdown(app: Flask | None) -> None:
    """Close the asyncio loop and HTTP session, the cache's and the app's Redis pools."""
    from app import aio
    from app.ops.redis import close_redis

    if isinstance(app, Flask):
        live = app.extensions.get("tickerdesk_live")
        if live is not None:  # give up the streamer lock now rather than when its TTL lapses
            live.loop.stop()
            live.loop.release()
    aio.shutdown()
    if isinstance(app, Flask):
        close_redis(app)
        cache = app.extensions.get("tickerdesk_cache")
        if cache is not None:
            cache.close()
    log.info("worker_shutdown")
