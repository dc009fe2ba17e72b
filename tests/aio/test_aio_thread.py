"""app.aio in thread mode (no gevent monkey-patching): loop in a daemon thread."""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import os
import random
import threading
import time

import pytest
from flask import Flask, current_app, g, request


async def double(x):
    await asyncio.sleep(0.001)
    return x * 2


class MarketDataError(Exception):
    pass


def test_mode_is_thread(aio):
    assert aio.current_mode() == "thread"


def test_returns_result(aio):
    assert aio.run_sync(double(21)) == 42
    assert aio.run_sync(double("ab"), timeout=None) == "abab"


def test_accepts_awaitables(aio):
    async def make_future():
        fut = asyncio.get_running_loop().create_future()
        fut.set_result("done")
        return await fut
    assert aio.run_sync(make_future()) == "done"
    with pytest.raises(TypeError):
        aio.run_sync(lambda: None)


def test_exception_propagates_with_its_type(aio):
    async def fail():
        await asyncio.sleep(0)
        raise MarketDataError("no quote for XYZ")

    with pytest.raises(MarketDataError, match="no quote for XYZ") as info:
        aio.run_sync(fail())
    assert type(info.value) is MarketDataError
    # the traceback still points into the coroutine
    assert any(entry.name == "fail" for entry in info.traceback)


def test_coroutine_raising_timeout_error_is_not_a_bridge_timeout(aio):
    async def inner_timeout():
        raise TimeoutError("upstream said so")

    with pytest.raises(TimeoutError, match="upstream said so") as info:
        aio.run_sync(inner_timeout(), timeout=5)
    assert not isinstance(info.value, aio.BridgeTimeoutError)


def test_timeout_cancels_the_coroutine(aio):
    seen = []

    async def slow():
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise
        seen.append("finished")

    t0 = time.perf_counter()
    with pytest.raises(TimeoutError) as info:
        aio.run_sync(slow(), timeout=0.2)
    elapsed = time.perf_counter() - t0
    assert isinstance(info.value, aio.BridgeTimeoutError)
    assert seen == ["cancelled"]          # cancelled on the loop before run_sync returned
    assert 0.19 <= elapsed < 1.0
    assert aio.run_sync(double(2)) == 4   # the loop is fine afterwards


def test_timeout_when_the_coroutine_ignores_cancellation(aio):
    old = aio.get_config()
    aio.configure(cancel_grace=0.1)
    release = threading.Event()

    async def stubborn():
        while not release.is_set():
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                pass
        return "late"

    try:
        t0 = time.perf_counter()
        with pytest.raises(TimeoutError):
            aio.run_sync(stubborn(), timeout=0.1)
        assert time.perf_counter() - t0 < 1.0
    finally:
        release.set()
        aio.configure(cancel_grace=old.cancel_grace)
    assert aio.run_sync(double(3)) == 6


def test_default_timeout_is_configurable(aio):
    old = aio.get_config().run_timeout
    aio.configure(run_timeout=0.1)
    try:
        with pytest.raises(TimeoutError):
            aio.run_sync(asyncio.sleep(5))
    finally:
        aio.configure(run_timeout=old)


def test_same_loop_and_session_serve_many_calls(aio, upstream):
    async def fetch(i):
        session = aio.get_session()
        async with session.get(f"{upstream.url}/fast") as resp:
            assert resp.status == 200
            await resp.json()
        return asyncio.get_running_loop(), session, threading.current_thread()

    results = [aio.run_sync(fetch(i)) for i in range(30)]
    loops = {id(r[0]) for r in results}
    sessions = {id(r[1]) for r in results}
    threads = {r[2].name for r in results}
    assert len(loops) == 1 and len(sessions) == 1 and threads == {"tickerdesk-aio-loop"}
    assert results[0][0] is aio.get_loop()
    session = results[0][1]
    assert not session.closed
    assert session.connector.limit == aio.get_config().limit

    aio.shutdown()
    assert session.closed
    assert results[0][0].is_closed()
    aio.shutdown()  # idempotent

    loop2, session2, _ = aio.run_sync(fetch(99))
    assert session2 is not session and not session2.closed
    assert loop2 is not results[0][0]


def test_connector_limits_are_configurable(aio):
    old = aio.get_config()
    aio.shutdown()
    aio.configure(limit=7, limit_per_host=3, total_timeout=12.0)
    try:
        async def inspect_session():
            session = aio.get_session()
            return session.connector.limit, session.connector.limit_per_host, session.timeout.total

        assert aio.run_sync(inspect_session()) == (7, 3, 12.0)
    finally:
        aio.shutdown()
        aio.configure(limit=old.limit, limit_per_host=old.limit_per_host, total_timeout=old.total_timeout)


def test_many_threads_get_their_own_results(aio):
    async def work(tid, i):
        await asyncio.sleep(random.random() / 200)
        return (tid, i, threading.current_thread().name)

    errors = []
    results: dict[int, list] = {}

    def client(tid):
        try:
            results[tid] = [aio.run_sync(work(tid, i), timeout=10) for i in range(25)]
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(t,)) for t in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    for tid in range(32):
        assert [r[:2] for r in results[tid]] == [(tid, i) for i in range(25)]
        assert {r[2] for r in results[tid]} == {"tickerdesk-aio-loop"}


def test_concurrent_calls_overlap_on_the_loop(aio):
    async def nap():
        await asyncio.sleep(0.2)
        return 1

    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(50) as pool:
        assert sum(pool.map(lambda _: aio.run_sync(nap()), range(50))) == 50
    assert time.perf_counter() - t0 < 1.5   # 50 x 0.2 s ran concurrently


def test_caller_context_is_copied(aio):
    var = contextvars.ContextVar("var", default="unset")

    async def read_and_set():
        seen = var.get()
        var.set("changed-in-coroutine")
        return seen

    token = var.set("from-caller")
    try:
        assert aio.run_sync(read_and_set()) == "from-caller"
        assert var.get() == "from-caller"    # a copy: the coroutine's set() does not leak back
    finally:
        var.reset(token)


def test_run_sync_on_the_loop_is_refused(aio):
    async def nested():
        inner = double(1)
        try:
            aio.run_sync(inner)
        except RuntimeError as exc:
            return str(exc)
        return "no error"

    assert "await" in aio.run_sync(nested())


def test_get_session_outside_the_loop_is_refused(aio):
    with pytest.raises(RuntimeError):
        aio.get_session()

    async def elsewhere():
        return aio.get_session()

    with pytest.raises(RuntimeError):
        asyncio.run(elsewhere())


def test_cancelled_by_someone_else(aio):
    async def victim():
        asyncio.current_task().cancel()
        await asyncio.sleep(1)

    with pytest.raises(concurrent.futures.CancelledError):
        aio.run_sync(victim())


def test_after_fork_the_child_builds_its_own_loop_and_session(aio, upstream):
    async def fetch():
        session = aio.get_session()
        async with session.get(f"{upstream.url}/fast") as resp:
            await resp.read()
        return id(asyncio.get_running_loop()), id(session), os.getpid()

    parent = aio.run_sync(fetch())
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            os.close(read_fd)
            child = aio.run_sync(fetch(), timeout=10)
            ok = child[0] != parent[0] and child[1] != parent[1] and child[2] != parent[2]
            aio.shutdown()
            os.write(write_fd, b"ok" if ok else repr((parent, child)).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_fd)
    deadline = time.monotonic() + 30
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:  # pragma: no cover - never leave the child behind
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("forked child hung")
        time.sleep(0.02)
    with os.fdopen(read_fd, "rb") as fh:
        answer = fh.read().decode()
    assert os.waitstatus_to_exitcode(status) == 0
    assert answer == "ok"
    # the parent's loop and pooled session are untouched by the child
    assert aio.run_sync(fetch())[:2] == parent[:2]


# ---------------------------------------------------------------- Flask

def make_app(aio):
    app = Flask("aio_thread_test")

    @app.errorhandler(TimeoutError)
    def on_timeout(exc):
        return {"error": "timeout"}, 504

    @app.before_request
    def before():
        g.user = "alice"

    @app.get("/quote/<symbol>")
    @aio.async_route
    async def quote(symbol):
        await asyncio.sleep(0.001)
        g.seen_on = threading.current_thread().name   # object mutation is visible to the view
        return {
            "symbol": symbol.upper(),
            "qty": request.args.get("qty", type=int),
            "user": g.user,
            "app": current_app.name,
            "thread": threading.current_thread().name,
        }

    @app.post("/echo")
    @aio.async_route
    async def echo():
        return {"got": request.get_json()["x"]}, 201

    @app.get("/broken")
    @aio.async_route
    async def broken():
        raise MarketDataError("broken")

    @app.get("/slow")
    @aio.async_route(timeout=0.1)
    async def slow():
        await asyncio.sleep(5)

    return app


def test_async_route_with_flask_test_client(aio):
    app = make_app(aio)
    client = app.test_client()

    resp = client.get("/quote/aapl?qty=3")
    assert resp.status_code == 200
    assert resp.get_json() == {"symbol": "AAPL", "qty": 3, "user": "alice",
                               "app": "aio_thread_test", "thread": "tickerdesk-aio-loop"}

    resp = client.post("/echo", json={"x": [1, 2]})
    assert resp.status_code == 201 and resp.get_json() == {"got": [1, 2]}

    assert client.get("/broken").status_code == 500
    app.testing = True   # now exceptions propagate to the test client
    with pytest.raises(MarketDataError):
        client.get("/broken")

    t0 = time.perf_counter()
    resp = client.get("/slow")
    assert resp.status_code == 504
    assert time.perf_counter() - t0 < 1.5


def test_async_route_rejects_sync_functions(aio):
    with pytest.raises(TypeError):
        aio.async_route(lambda: None)


def test_init_app_runs_plain_async_views_on_the_bridge(aio):
    app = Flask("aio_init_app_test")
    app.config["AIO_OPTIONS"] = {"limit": aio.get_config().limit}
    aio.init_app(app)

    @app.get("/plain")
    async def plain():
        await asyncio.sleep(0)
        return {"thread": threading.current_thread().name, "path": request.path}

    resp = app.test_client().get("/plain")
    assert resp.status_code == 200
    assert resp.get_json() == {"thread": "tickerdesk-aio-loop", "path": "/plain"}
