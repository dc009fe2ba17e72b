"""Tiny WSGI app served by gunicorn -k gevent in test_aio_gevent.py.

Upstream URL comes from $AIO_TEST_UPSTREAM (a local aiohttp server that
sleeps 100 ms per /slow request).
"""
from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from flask import Flask, g, request  # noqa: E402

from aio_testutil import load_aio  # noqa: E402

aio = load_aio()
UPSTREAM = os.environ.get("AIO_TEST_UPSTREAM", "http://127.0.0.1:9")
UPSTREAM_PORT = UPSTREAM.rsplit(":", 1)[1]

app = Flask(__name__)
stats = {"cancelled": 0, "loops": set(), "sessions": set()}


@app.errorhandler(TimeoutError)
def on_timeout(exc):
    return {"error": "timeout", "type": type(exc).__name__}, 504


@app.errorhandler(ValueError)
def on_value_error(exc):
    return {"error": str(exc), "type": type(exc).__name__}, 500


@app.before_request
def tag():
    g.tag = request.args.get("n")


@app.get("/bare")
def bare():
    return {"ok": True}


@app.get("/bridged")
@aio.async_route
async def bridged():
    n = request.args.get("n", "")          # request context is usable in the coroutine
    params = {"n": n}
    if "d" in request.args:
        params["d"] = request.args["d"]
    session = aio.get_session()
    stats["loops"].add(id(asyncio.get_running_loop()))
    stats["sessions"].add(id(session))
    async with session.get(f"{UPSTREAM}/slow", params=params) as resp:
        body = await resp.json()
    return {"n": body["n"], "tag": g.tag}


@app.get("/resolve")
@aio.async_route
async def resolve():
    # a host name, not an IP: goes through aiohttp's default (threaded) resolver
    async with aio.get_session().get(f"http://localhost:{UPSTREAM_PORT}/fast") as resp:
        return await resp.json()


@app.get("/boom")
@aio.async_route
async def boom():
    await asyncio.sleep(0)
    raise ValueError("boom from the loop")


@app.get("/timeout")
@aio.async_route(timeout=0.2)
async def too_slow():
    try:
        await asyncio.sleep(5)
    except asyncio.CancelledError:
        stats["cancelled"] += 1
        raise
    return {"never": True}


@app.get("/stats")
def get_stats():
    return {
        "mode": aio.current_mode(),
        "pid": os.getpid(),
        "cancelled": stats["cancelled"],
        "loops": len(stats["loops"]),
        "sessions": len(stats["sessions"]),
    }
