"""A bare Flask app with one JSON route, the baseline of `bench/api.py`.

    gunicorn -c gunicorn.conf.py -b 127.0.0.1:8001 bench.bare_app:app

``GET /quote`` returns a fixed quote-like dict of the same keys and about the same size as
``GET /api/v1/stocks/<symbol>/quote`` (about 260 bytes of JSON), through Flask's own JSON
response: no extensions, no auth, no rate limit, no request log, no cache lookup.  It is
served by the same gunicorn command and config as the real app, so the difference between
the two is what the Tickerdesk stack adds per request.
"""
from __future__ import annotations

from flask import Flask

app = Flask(__name__)

QUOTE = {
    "change": 0.49,
    "change_pct": 1.4319,
    "currency": "EUR",
    "day_high": 35.09,
    "day_low": 34.28,
    "market_state": "closed",
    "open": 34.33,
    "previous_close": 34.22,
    "price": 34.71,
    "source": "demo",
    "stale": False,
    "symbol": "SAP.DE",
    "ts": "2026-11-20T16:30:00+00:00",
    "volume": 3325753,
}


@app.get("/quote")
def quote():  # type: ignore[no-untyped-def]
    """Return the fixed quote (a fresh dict, as a view building its answer would)."""
    return dict(QUOTE)
