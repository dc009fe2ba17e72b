"""The rate limiter's floor: the bare endpoint behind Flask-Limiter's default limit, nothing else.

    gunicorn -c gunicorn.conf.py -b 127.0.0.1:8003 bench.floor_app:app

``GET /quote`` answers the same fixed quote as ``bench.bare_app``, under Flask-Limiter's
default limit configured as the app configures it: ``RATELIMIT_DEFAULT`` per client, the
``X-RateLimit-*`` headers on, stored in ``REDIS_URL`` when it is set, else in memory. No auth,
no app code. Every Tickerdesk API request passes this limiter (the project's standards name
Flask-Limiter for rate limiting), so floor/bare bounds what the app's endpoint can reach,
and app/floor is what the app's own request path (token check, cache lookup, schema, request
log, metrics) costs on top. `bench/api.py` measures all three in one run.
"""
from __future__ import annotations

import os

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from bench.bare_app import QUOTE

app = Flask(__name__)
app.config.update(RATELIMIT_HEADERS_ENABLED=True)
Limiter(get_remote_address, app=app, key_prefix="floor",
        default_limits=[os.environ.get("RATELIMIT_DEFAULT") or "300 per minute"],
        storage_uri=os.environ.get("REDIS_URL") or "memory://")


@app.get("/quote")
def quote():  # type: ignore[no-untyped-def]
    """Return the fixed quote, within the rate limit."""
    return dict(QUOTE)
