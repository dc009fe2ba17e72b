"""Helpers shared by the app.aio tests (and the gunicorn test app).

``load_aio()`` imports ``app.aio`` whether or not ``app/__init__.py`` exists
yet (``app`` may still be a namespace package) and without using the app
factory.  If ``app/__init__.py`` exists but cannot be imported right now (the
package is being edited concurrently), ``app.aio`` is loaded through a
namespace stand-in for ``app`` so these tests still exercise the bridge.
"""
from __future__ import annotations

import asyncio
import importlib
import socket
import sys
import threading
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def load_aio() -> types.ModuleType:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    try:
        return importlib.import_module("app.aio")
    except ImportError as exc:
        if exc.name == "app.aio" or "app.aio" in sys.modules:
            raise
        broken = exc
    except Exception as exc:  # app/__init__.py is broken right now
        broken = exc
    if "app" in sys.modules:  # pragma: no cover
        raise broken
    stub = types.ModuleType("app")
    stub.__path__ = [str(ROOT / "app")]  # type: ignore[attr-defined]
    sys.modules["app"] = stub
    return importlib.import_module("app.aio")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Upstream:
    """A local aiohttp "upstream" server on its own loop in a daemon thread.

    ``/slow?n=X[&d=S]`` sleeps ``S`` (default ``delay``) seconds and answers ``{"n": X}``;
    ``/fast`` answers immediately.
    """

    def __init__(self, delay: float = 0.1) -> None:
        self.delay = delay
        self.port = 0
        self.hits = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="aio-test-upstream", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        from aiohttp import web

        async def slow(request: web.Request) -> web.Response:
            self.hits += 1
            await asyncio.sleep(float(request.query.get("d", self.delay)))
            return web.json_response({"n": request.query.get("n")})

        async def fast(request: web.Request) -> web.Response:
            self.hits += 1
            return web.json_response({"fast": True})

        async def start() -> None:
            app = web.Application()
            app.router.add_get("/slow", slow)
            app.router.add_get("/fast", fast)
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=1024)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(start())
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    def start(self) -> "Upstream":
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("upstream did not start")
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
