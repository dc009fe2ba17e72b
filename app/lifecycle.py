"""Graceful shutdown: what a worker closes before it exits."""
from __future__ import annotations

import structlog
from flask import Flask

log = structlog.get_logger(__name__)


def shutdown(app: Flask | None) -> None:
    """Close the asyncio loop and HTTP session, the cache's and the app's Redis pools."""
    from app import aio
    from app.ops.redis import close_redis

    closed = []
    if isinstance(app, Flask):
        live = app.extensions.get("tickerdesk_live")
        if live is not None:  # give up the streamer lock now rather than when its TTL lapses
            live.loop.stop()
            live.loop.release()
            closed.append("live_loop")
    aio.shutdown()  # the HTTP session of the providers, then the event loop
    closed.append("event_loop")
    if isinstance(app, Flask):
        close_redis(app)
        cache = app.extensions.get("tickerdesk_cache")
        if cache is not None:
            cache.close()  # its Redis pool too
            closed.append("cache")
        closed.append("redis")
    log.info("worker_shutdown", closed=closed)
