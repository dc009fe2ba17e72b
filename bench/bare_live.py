"""A bare Flask-SocketIO server that only emits: the baseline of `bench/live.py`.

    gunicorn -c gunicorn.conf.py -b 127.0.0.1:8002 bench.bare_live:app

Namespace `/live`: any connection is accepted, `subscribe {symbols}` joins one room per
symbol, and one background task emits a quote-sized `quote` (with `sent_at`) to the room of
BENCH_SYMBOL every BENCH_TICK_S seconds once someone has subscribed. No auth, no registry,
no market data, no database: what Socket.IO itself costs on the same server config.

With BENCH_REDIS_URL it uses that Redis as Socket.IO's message queue (channel BENCH_CHANNEL),
like the app with several web workers, and only the worker holding the key
BENCH_PREFIX + "ticker" (SET NX with a TTL, renewed every tick) emits.
"""
from __future__ import annotations

import gc
import os
import time

from flask import Flask
from flask_socketio import SocketIO, join_room

REDIS_URL = os.environ.get("BENCH_REDIS_URL") or None
PREFIX = os.environ.get("BENCH_PREFIX", "tdbench-bare:")
app = Flask(__name__)
socketio = SocketIO(app, async_mode="gevent", cors_allowed_origins=[], message_queue=REDIS_URL,
                    channel=os.environ.get("BENCH_CHANNEL", "tdbench-bare"))
SYMBOL = os.environ.get("BENCH_SYMBOL", "SAP.DE")
TICK_S = float(os.environ.get("BENCH_TICK_S", "0.25"))
_started = False


def _holds_ticker(client, me: str) -> bool:
    """Take or renew the one-emitter key; return whether this worker emits."""
    if client is None:
        return True
    ttl_ms = int(max(3.0, 3 * TICK_S) * 1000)
    if client.set(PREFIX + "ticker", me, nx=True, px=ttl_ms):
        return True
    if client.get(PREFIX + "ticker") == me.encode():
        client.pexpire(PREFIX + "ticker", ttl_ms)
        return True
    return False


def _ticker() -> None:
    # Paced and collected like the app's streamer (app.live.streamer), so the two are compared
    # like for like: one tick every TICK_S from its start, no garbage collection mid fan-out.
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2) if REDIS_URL else None
    me = f"{os.getpid()}"
    price = 100.0
    next_tick = time.monotonic()
    while True:
        price = round(price + 0.01, 2)
        if not _holds_ticker(client, me):
            next_tick += TICK_S
            socketio.sleep(max(0.0, next_tick - time.monotonic()))
            continue
        gc.disable()
        try:
            socketio.emit("quote", {"symbol": SYMBOL, "price": price, "change": 0.49, "change_pct": 1.43,
                                    "currency": "EUR", "volume": 3325753, "source": "bare",
                                    "ts": "2026-11-20T16:30:00+00:00", "sent_at": time.time()},
                          to=f"sym:{SYMBOL}", namespace="/live")
            socketio.sleep(0)  # let the connections' writers send it
        finally:
            gc.enable()
        next_tick += TICK_S
        socketio.sleep(max(0.0, next_tick - time.monotonic()))


@socketio.on("subscribe", namespace="/live")
def subscribe(data):  # type: ignore[no-untyped-def]
    global _started
    for symbol in data.get("symbols", []):
        join_room(f"sym:{symbol}")
    if not _started:
        _started = True
        socketio.start_background_task(_ticker)
    return {"subscribed": data.get("symbols", []), "errors": {}}


@app.get("/health")
def health():  # type: ignore[no-untyped-def]
    return {"status": "ok"}
