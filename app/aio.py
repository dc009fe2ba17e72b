"""Bridge between synchronous Flask views and the asyncio market-data core.

One persistent asyncio event loop per process, one pooled
:class:`aiohttp.ClientSession` on it, and :func:`run_sync` /
:func:`async_route` to run coroutines on that loop from sync code.

Public API
----------
``run_sync(coro, timeout=DEFAULT, *, context=None)``
    Run *coro* on the bridge loop and return its result, or raise its
    exception (the very exception object, so the original type and traceback).
    After *timeout* seconds (default ``BridgeConfig.run_timeout`` = 30 s,
    ``None`` = wait forever) the task is cancelled **on the loop**, the caller
    waits up to ``cancel_grace`` (1 s) for the cancellation to be processed,
    and :class:`BridgeTimeoutError` (a subclass of the builtin
    ``TimeoutError``) is raised.  The coroutine runs in a *copy* of the
    caller's contextvars context unless *context* is given.  A task cancelled
    by someone else (e.g. :func:`shutdown`) raises
    ``concurrent.futures.CancelledError`` (an ``Exception``) in the caller.
    Calling it from code that already runs on the bridge loop raises
    ``RuntimeError`` (it would deadlock): ``await`` the coroutine instead.
``async_route`` / ``async_route(timeout=...)``
    Decorator: lets a Flask view be written ``async def``; the view runs on
    the bridge loop through :func:`run_sync`.  Put it *under* ``@app.route``.
``get_session()``
    The shared ``aiohttp.ClientSession``; call it from a coroutine running on
    the bridge loop (i.e. inside ``run_sync``/``async_route``).  Created
    lazily, re-created if it was closed.  Do not close it yourself.
``get_loop()``, ``current_mode()``
    The bridge loop (created on demand) and ``"gevent"`` / ``"thread"``.
``configure(**options)``
    Change :class:`BridgeConfig` (connector ``limit`` = 100,
    ``limit_per_host`` = 0 (unbounded), ``ttl_dns_cache`` = 300 s,
    ``keepalive_timeout`` = 30 s, HTTP ``total_timeout`` = 30 s,
    ``connect_timeout`` = 5 s, ``sock_read_timeout`` = 20 s, ``run_timeout``,
    ``cancel_grace``, ``shutdown_timeout``, ``user_agent``).  Session options
    apply to sessions created afterwards (call it before the first request,
    or call :func:`shutdown` first).
``init_app(app)``
    Optional: applies ``app.config["AIO_OPTIONS"]`` (a dict for
    :func:`configure`) and makes Flask run *undecorated* ``async def``
    views/handlers on the bridge loop (``app.async_to_sync``) instead of
    needing ``asgiref``.
``shutdown(timeout=None)``, ``worker_exit(server, worker)``
    Close the session, cancel leftover tasks, stop and close the loop.
    Idempotent; registered with :mod:`atexit`; call it from gunicorn's
    ``worker_exit`` hook too (``worker_exit`` here is that hook, ready to
    use).  A later ``run_sync`` starts a fresh loop and session.
``BridgeTimeoutError``, ``BridgeConfig``, ``get_config()``, ``DEFAULT``
    The timeout exception, the configuration and the "use the configured
    default timeout" sentinel.

After ``os.fork()`` the child forgets the parent's loop/session (see
``os.register_at_fork`` below; the inherited objects are never touched in the
child, so they cannot steal the parent's connections) and lazily builds its
own.  Nothing is created at import time, so ``gunicorn --preload`` is fine.

Mode choice (made at first use, and again after ``shutdown()``/fork)
--------------------------------------------------------------------
* ``gevent`` -- chosen when ``gevent.monkey.is_module_patched("socket")``
  (gunicorn ``-k gevent`` patches before it loads the app).  The asyncio loop
  runs *inside a greenlet* of the worker's hub thread: a
  ``SelectorEventLoop`` whose selector subclasses
  ``gevent.selectors.GeventSelector``, so waiting for I/O parks the loop
  greenlet in the gevent hub instead of blocking the process.  This is the
  idea of the ``asyncio-gevent`` package's ``EventLoop``, written here (~40
  lines; no dependency on that package, and its ``future_to_greenlet``, which
  hung every request on a persistent loop, is not used).  A caller (request
  greenlet) hands the work over with ``loop.call_soon`` and sets the
  selector's gevent ``Event`` (same OS thread, so no self-pipe write needed;
  real cross-thread wake-ups still use ``call_soon_threadsafe``), then waits on
  a ``gevent.event.Event`` that the task's done-callback sets.  Only the
  calling greenlet waits; every other greenlet keeps running.  Two details:
  while the loop greenlet is parked the selector clears asyncio's "running
  loop" (it is per OS thread, so otherwise every greenlet would see the
  bridge loop as running and ``asyncio.run()`` would fail there); and a
  zero-timeout poll (asyncio does one whenever callbacks are ready) yields to
  the hub only if the loop has not yielded in the last ``YIELD_EVERY`` (2 ms),
  which cut the sequential cost of a ``run_sync`` round trip from ~56 us to
  ~19 us while a busy coroutine still cannot starve other greenlets for long.
  aiohttp's default ``ThreadedResolver`` works here (its executor "threads"
  are greenlets and ``getaddrinfo`` is gevent's cooperative one).
  Constraint: call ``run_sync`` from greenlets of the thread that created the
  loop (gunicorn's worker thread); other native threads get ``RuntimeError``.
* ``thread`` -- no gevent monkey-patching (Flask dev server, the test suite,
  sync/gthread workers): the loop runs forever in a daemon thread
  (``tickerdesk-aio-loop``); callers submit with ``call_soon_threadsafe`` and
  wait on a ``threading.Event`` (the equivalent of
  ``asyncio.run_coroutine_threadsafe``, with cancellation that waits for the
  task to unwind).

Why greenlet mode under gevent -- measured on this machine (2 vCPU, shared
with other work), gunicorn 27.0.1 + gevent 26.9.0, 1 worker:

* earlier exploration (same load for each case): bare JSON view ~4,000 req/s;
  loop in a greenlet + ``call_soon_threadsafe`` + ``AsyncResult`` ~2,000
  bridged req/s, the best of the variants tried; loop in a native OS thread
  ~30 % slower than that and it needs two workarounds (aiohttp's default
  resolver hangs -- resolve with the unpatched ``getaddrinfo`` in a real
  thread -- and logging handlers shared with greenlets deadlock on gevent's
  patched locks), so that mode is not implemented.
* this module, ``python bench/bridge.py`` (50 keep-alive connections,
  alternating 3 s runs, asyncio HTTP/1.1 load generator in a separate
  process; wrk is not installed): bare ~3,600-4,000 req/s, bridged
  (``await asyncio.sleep(0)``) ~3,500-3,970 req/s in quiet runs, i.e. a
  ratio of 0.9-1.0; the worker spends ~240 us of CPU per bare request and
  ~1-30 us more per bridged one (req per worker CPU-second ratio 0.89-0.99).
  When other processes compete for the 2 vCPUs the wall-clock req/s swing
  between ~2,000 and ~4,000 for either view, hence the CPU figures.
* ``tests/aio/test_aio_gevent.py``: 200 concurrent requests to a bridged
  view that GETs a 100 ms upstream through ``get_session()`` (connector limit
  100, so two waves) complete in 0.30-0.56 s in total on one worker.

Flask request context inside ``async_route`` views
--------------------------------------------------
The coroutine runs in a copy of the request's contextvars context (Flask 3
keeps its contexts in contextvars), and the request greenlet/thread is blocked
until the coroutine finishes, so inside the coroutine ``request`` (args,
headers, ``get_json()``, form), ``current_app``, ``g``, ``session``,
``url_for``, ``jsonify``/``make_response`` and ``after_this_request`` work.
Mutations of *objects* (``g.x = 1``, ``session["k"] = v``) are seen by the view
afterwards; ``ContextVar.set()`` calls inside the coroutine are not (copied
context).  Read the request *before* awaiting anything that may time out:
after a timeout the request context is torn down once the cancelled task has
finished (or after ``cancel_grace``).  Streaming responses whose generators
need the loop are not supported -- return a complete response.  Anything
that does blocking I/O (SQLAlchemy sessions, ``requests``) must not be called
from the coroutine: it would block the loop (in gevent mode it would merely
yield to the hub, but still stall every other coroutine on the loop).
"""
from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextvars
import dataclasses
import functools
import inspect
import os
import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import aiohttp

__all__ = [
    "BridgeConfig",
    "BridgeTimeoutError",
    "DEFAULT",
    "async_route",
    "configure",
    "current_mode",
    "get_config",
    "get_loop",
    "get_session",
    "init_app",
    "run_sync",
    "shutdown",
    "worker_exit",
]

T = TypeVar("T")


class _Default:
    def __repr__(self) -> str:
        return "DEFAULT"


#: Sentinel: "use the configured default" (``BridgeConfig.run_timeout``).
DEFAULT: Any = _Default()


class BridgeTimeoutError(TimeoutError):
    """``run_sync`` gave up waiting; the coroutine was cancelled on the loop."""


@dataclasses.dataclass(frozen=True)
class BridgeConfig:
    # aiohttp.TCPConnector
    limit: int = 100
    limit_per_host: int = 0
    ttl_dns_cache: int | None = 300
    keepalive_timeout: float = 30.0
    # aiohttp.ClientTimeout
    total_timeout: float | None = 30.0
    connect_timeout: float | None = 5.0
    sock_read_timeout: float | None = 20.0
    user_agent: str | None = "Tickerdesk/0.1"
    # bridge
    run_timeout: float | None = 30.0   # default timeout of run_sync / async_route
    cancel_grace: float = 1.0          # how long a timed-out caller waits for the cancellation
    shutdown_timeout: float = 5.0


_config = BridgeConfig()


def configure(**options: Any) -> BridgeConfig:
    """Update the bridge configuration (see :class:`BridgeConfig`); returns it."""
    global _config
    _config = dataclasses.replace(_config, **options)
    return _config


def get_config() -> BridgeConfig:
    return _config


# --------------------------------------------------------------------------
# state
# --------------------------------------------------------------------------

class _Call:
    """One run_sync invocation: the coroutine, where its outcome lands, and its waiter."""

    __slots__ = ("coro", "context", "event", "task", "value", "exc", "done", "abandoned")

    def __init__(self, coro: Coroutine[Any, Any, Any], context: contextvars.Context, event: Any) -> None:
        self.coro = coro
        self.context = context
        self.event = event
        self.task: asyncio.Task[Any] | None = None
        self.value: Any = None
        self.exc: BaseException | None = None
        self.done = False
        self.abandoned = False

    def finish(self, value: Any = None, exc: BaseException | None = None) -> None:
        if self.done:
            return
        self.value, self.exc, self.done = value, exc, True
        self.event.set()


class _State:
    """The loop, its runner, its session; one per process (and per shutdown cycle)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.pid = os.getpid()
        self.loop: asyncio.AbstractEventLoop
        self.runner: Any = None          # threading.Thread or gevent.Greenlet
        self.os_thread: int | None = None  # gevent mode: the OS thread of the hub
        self.session: aiohttp.ClientSession | None = None
        self.pending: set[_Call] = set()
        self.dead = False
        if mode == "gevent":
            self._init_gevent()
        else:
            self._init_thread()

    # --- thread mode ---------------------------------------------------
    def _init_thread(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.new_event = threading.Event
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.call_soon(ready.set)
            self._run()

        self.runner = threading.Thread(target=run, name="tickerdesk-aio-loop", daemon=True)
        self.runner.start()
        ready.wait(5.0)

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        """Schedule ``fn(*args)`` on the loop from the calling thread/greenlet."""
        self.loop.call_soon_threadsafe(fn, *args)

    def in_loop(self) -> bool:
        return self.runner is threading.current_thread()

    # --- gevent mode ---------------------------------------------------
    def _init_gevent(self) -> None:
        import gevent
        import gevent.event
        from gevent.monkey import get_original

        self._real_get_ident = get_original("_thread", "get_ident")
        self.os_thread = self._real_get_ident()
        selector = _make_gevent_selector()
        self.loop = asyncio.SelectorEventLoop(selector)
        selector._bridge_loop = self.loop
        self.new_event = gevent.event.Event
        self._getcurrent = gevent.getcurrent
        self.runner = gevent.spawn(self._run)

        if not self.loop.get_debug():
            loop, wake = self.loop, selector.wakeup

            def submit(fn: Callable[..., Any], *args: Any) -> None:
                # Same OS thread and the loop greenlet is not running right now
                # (we are), so a plain call_soon is safe; wake its selector
                # without a self-pipe syscall.
                loop.call_soon(fn, *args)
                wake()

            self.submit = submit  # type: ignore[method-assign]

    def check_caller(self) -> None:
        if self.mode == "gevent":
            if self._real_get_ident() != self.os_thread:
                raise RuntimeError(
                    "app.aio: in gevent mode run_sync() must be called from greenlets of the "
                    "thread that created the loop, not from another native thread")
            if self._getcurrent() is self.runner:
                raise RuntimeError("app.aio: run_sync() called on the bridge loop; await the coroutine instead")
        elif self.in_loop():
            raise RuntimeError("app.aio: run_sync() called on the bridge loop; await the coroutine instead")

    # --- common --------------------------------------------------------
    def _run(self) -> None:
        loop = self.loop
        try:
            loop.run_forever()
        finally:
            if os.getpid() == self.pid:   # never touch inherited state in a forked child
                self.dead = True
                err = RuntimeError("app.aio: the bridge event loop has stopped")
                for call in list(self.pending):
                    call.finish(exc=err)
                try:
                    loop.close()
                except Exception:  # pragma: no cover - best effort
                    pass

    def join(self, timeout: float) -> bool:
        self.runner.join(timeout)
        if self.mode == "gevent":
            return self.runner.dead
        return not self.runner.is_alive()

    def forget_after_fork(self) -> None:
        """In a forked child: make sure the inherited loop can never run again here.

        The loop, its selector (an epoll instance *shared* with the parent)
        and the session's pooled sockets (also shared) must never be touched
        in the child: closing a transport would EPOLL_CTL_DEL the parent's
        registration or send a TLS close_notify on the parent's connection.
        So the whole state is made immortal (never finalized) and, in gevent
        mode, its hub watchers are stopped and its greenlet exits if it ever
        wakes up.
        """
        if self.mode == "gevent":
            sel = getattr(self.loop, "_selector", None)
            if sel is not None:
                sel._forked = True
                for watchers in (sel._active_watchers, sel._inactive_watchers):
                    for w in list((watchers or {}).values()):
                        try:
                            w.stop()   # libev never issues EPOLL_CTL_DEL, so the parent is unaffected
                        except Exception:  # pragma: no cover
                            pass
        try:
            import ctypes
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(self))
        except Exception:  # pragma: no cover - non-CPython: _orphans keeps it until exit
            pass


_selector_cls: Any = None
#: gevent mode: longest stretch the bridge loop runs ready callbacks without
#: letting the hub (and so every other greenlet and all I/O) run.
YIELD_EVERY = 0.002


def _make_gevent_selector() -> Any:
    global _selector_cls
    if _selector_cls is None:
        from asyncio import events
        from time import monotonic

        from gevent import GreenletExit
        from gevent.selectors import GeventSelector

        set_running = events._set_running_loop

        class _BridgeSelector(GeventSelector):
            """GeventSelector that hides the loop from other greenlets while it waits."""

            _bridge_loop: Any = None
            _forked = False
            _last_yield = 0.0

            def wakeup(self) -> None:
                self._ready.set()

            def select(self, timeout: float | None = None) -> Any:
                if timeout is not None and timeout <= 0 and not self._ready.is_set():
                    # asyncio polls with timeout 0 whenever callbacks are ready.  A
                    # zero-timeout poll only sees what the hub has already collected,
                    # so skip the hub round-trip unless we have not yielded lately.
                    if monotonic() - self._last_yield < YIELD_EVERY:
                        return []
                set_running(None)
                try:
                    result = super().select(timeout)
                finally:
                    if self._forked:
                        raise GreenletExit  # inherited by a forked child: die quietly
                    set_running(self._bridge_loop)
                    self._last_yield = monotonic()
                return result

        _selector_cls = _BridgeSelector
    return _selector_cls()


_state: _State | None = None
_lock = threading.Lock()
_orphans: list[_State] = []


def _detect_mode() -> str:
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None and monkey.is_module_patched("socket"):
        return "gevent"
    return "thread"


def _get_state() -> _State:
    st = _state
    if st is not None and not st.dead:
        return st
    return _new_state()


def _new_state() -> _State:
    global _state
    with _lock:
        st = _state
        if st is None or st.dead:
            st = _state = _State(_detect_mode())
        return st


def _after_fork_in_child() -> None:
    global _state, _lock
    _lock = threading.Lock()
    st, _state = _state, None
    if st is not None:
        _orphans.append(st)
        st.forget_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def get_loop() -> asyncio.AbstractEventLoop:
    """The process's bridge event loop (created on first use)."""
    return _get_state().loop


def current_mode() -> str:
    """``"gevent"`` or ``"thread"``: the mode of the current loop (creating it if needed)."""
    return _get_state().mode


# --------------------------------------------------------------------------
# run_sync
# --------------------------------------------------------------------------

def _start_call(st: _State, call: _Call) -> None:
    """On the loop: wrap the coroutine in a task."""
    if call.abandoned:
        call.coro.close()
        call.finish(exc=asyncio.CancelledError())
        return
    try:
        task = st.loop.create_task(call.coro, context=call.context)
    except BaseException as exc:  # pragma: no cover - e.g. loop closing
        call.coro.close()
        call.finish(exc=exc)
        return
    call.task = task
    task.add_done_callback(functools.partial(_finish_call, call))


def _finish_call(call: _Call, task: asyncio.Task[Any]) -> None:
    """On the loop: hand the task's outcome to the waiting caller."""
    if task.cancelled():
        call.finish(exc=asyncio.CancelledError())
        return
    exc = task.exception()
    if exc is None:
        call.finish(value=task.result())
    else:
        call.finish(exc=exc)


def _cancel_call(call: _Call) -> None:
    """On the loop: cancel a timed-out call."""
    call.abandoned = True
    if call.task is not None:
        call.task.cancel()


async def _await(aw: Awaitable[T]) -> T:
    return await aw


def run_sync(coro: Awaitable[T], timeout: float | None = DEFAULT, *,
             context: contextvars.Context | None = None) -> T:
    """Run *coro* on the bridge loop, block this thread/greenlet until it is done.

    Returns the coroutine's result or raises its exception.  On *timeout*
    (seconds; ``DEFAULT`` = ``get_config().run_timeout``, ``None`` = no limit)
    the task is cancelled on the loop and :class:`BridgeTimeoutError`
    (a ``TimeoutError``) is raised.
    """
    if not asyncio.iscoroutine(coro):
        if not inspect.isawaitable(coro):
            raise TypeError(f"run_sync() needs a coroutine or awaitable, got {type(coro).__name__}")
        coro = _await(coro)
    if timeout is DEFAULT:
        timeout = _config.run_timeout
    if context is None:
        context = contextvars.copy_context()

    for _attempt in range(3):
        st = _get_state()
        try:
            st.check_caller()
        except BaseException:
            coro.close()  # type: ignore[union-attr]
            raise
        call = _Call(coro, context, st.new_event())  # type: ignore[arg-type]
        st.pending.add(call)
        if st.dead:                       # loop stopped between _get_state() and now
            st.pending.discard(call)
            continue
        try:
            st.submit(_start_call, st, call)
        except RuntimeError:              # "Event loop is closed": raced with shutdown
            st.pending.discard(call)
            continue
        break
    else:  # pragma: no cover - only under a storm of concurrent shutdowns
        coro.close()  # type: ignore[union-attr]
        raise RuntimeError("app.aio: could not start the bridge event loop")

    try:
        finished = call.event.wait(timeout)
        if not finished:
            # Timed out: cancel on the loop, give the task a moment to unwind
            # (so it is not still touching the request when the view returns).
            try:
                st.submit(_cancel_call, call)
            except RuntimeError:  # pragma: no cover - loop already closed
                pass
            else:
                call.event.wait(_config.cancel_grace)
    except BaseException:
        # The waiting caller itself was interrupted (gevent.Timeout, GreenletExit
        # from gunicorn's graceful-timeout kill, KeyboardInterrupt): do not leave
        # the task running unattended.
        if not call.done:
            try:
                st.submit(_cancel_call, call)
            except Exception:  # pragma: no cover
                pass
        raise
    finally:
        st.pending.discard(call)

    if not finished:
        err = BridgeTimeoutError(f"coroutine did not finish within {timeout} s; cancelled")
        if call.done and call.exc is not None and not isinstance(call.exc, asyncio.CancelledError):
            raise err from call.exc
        raise err

    exc = call.exc
    if exc is None:
        return call.value  # type: ignore[no-any-return]
    call.exc = None  # no reference cycle through the traceback
    if isinstance(exc, asyncio.CancelledError):
        raise concurrent.futures.CancelledError("the bridged coroutine was cancelled") from exc
    raise exc


# --------------------------------------------------------------------------
# Flask glue
# --------------------------------------------------------------------------

def async_route(func: Callable[..., Awaitable[Any]] | None = None, /, *,
                timeout: float | None = DEFAULT) -> Any:
    """Make an ``async def`` Flask view run on the bridge loop.

    ::

        @bp.get("/quote/<symbol>")
        @async_route                     # or @async_route(timeout=5)
        async def quote(symbol):
            session = get_session()
            ...

    The coroutine sees the request context (copied contextvars); a bridge
    timeout raises :class:`BridgeTimeoutError` (map ``TimeoutError`` to 504
    with an error handler), other exceptions propagate unchanged.
    """
    def decorate(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
        if not inspect.iscoroutinefunction(fn):
            raise TypeError(f"@async_route needs an 'async def' function, got {fn!r}")

        @functools.wraps(fn)
        def view(*args: Any, **kwargs: Any) -> Any:
            return run_sync(fn(*args, **kwargs), timeout=timeout)

        view.__async_view__ = fn  # type: ignore[attr-defined]
        return view

    if func is not None:
        return decorate(func)
    return decorate


def init_app(app: Any) -> None:
    """Optional Flask integration (see the module docstring)."""
    options = app.config.get("AIO_OPTIONS")
    if options:
        configure(**options)

    def async_to_sync(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return run_sync(fn(*args, **kwargs))
        return wrapper

    app.async_to_sync = async_to_sync
    app.extensions["tickerdesk.aio"] = sys.modules[__name__]


# --------------------------------------------------------------------------
# session
# --------------------------------------------------------------------------

def _make_session() -> aiohttp.ClientSession:
    cfg = _config
    connector = aiohttp.TCPConnector(
        limit=cfg.limit,
        limit_per_host=cfg.limit_per_host,
        ttl_dns_cache=cfg.ttl_dns_cache,
        keepalive_timeout=cfg.keepalive_timeout,
    )
    timeout = aiohttp.ClientTimeout(
        total=cfg.total_timeout,
        connect=cfg.connect_timeout,
        sock_read=cfg.sock_read_timeout,
    )
    headers = {"User-Agent": cfg.user_agent} if cfg.user_agent else None
    return aiohttp.ClientSession(connector=connector, timeout=timeout, headers=headers)


def get_session() -> aiohttp.ClientSession:
    """The shared, pooled ``aiohttp.ClientSession`` of the bridge loop.

    Must be called from a coroutine running on the bridge loop.
    """
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    st = _state
    if st is None or running is None or running is not st.loop:
        raise RuntimeError("app.aio.get_session() must be called from a coroutine running on the "
                           "bridge loop (inside run_sync() or an @async_route view)")
    session = st.session
    if session is None or session.closed:
        session = st.session = _make_session()
    return session


# --------------------------------------------------------------------------
# shutdown
# --------------------------------------------------------------------------

async def _cleanup(st: _State, timeout: float) -> None:
    session, st.session = st.session, None
    if session is not None and not session.closed:
        await session.close()
    me = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not me]
    for t in tasks:
        t.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=timeout)
    await st.loop.shutdown_asyncgens()
    try:
        await asyncio.wait_for(st.loop.shutdown_default_executor(), timeout)
    except (asyncio.TimeoutError, RuntimeError):  # pragma: no cover
        pass


def shutdown(timeout: float | None = None) -> None:
    """Close the session and stop the loop of this process (idempotent).

    Registered with :mod:`atexit`; also call it from gunicorn's ``worker_exit``
    hook (or use :func:`worker_exit` directly as that hook).  A later
    ``run_sync`` starts a fresh loop and session.
    """
    global _state
    if timeout is None:
        timeout = _config.shutdown_timeout
    with _lock:
        st = _state
        if st is None or st.pid != os.getpid() or st.dead:
            return
        st.check_caller()   # raises when called on the loop itself
        _state = None
    try:
        cleanup = _Call(_cleanup(st, timeout), contextvars.Context(), st.new_event())
        st.pending.add(cleanup)
        st.submit(_start_call, st, cleanup)
        cleanup.event.wait(timeout + 1.0)
    except RuntimeError:  # pragma: no cover - loop already closed
        pass
    try:
        st.submit(st.loop.stop)
    except RuntimeError:  # pragma: no cover
        pass
    if not st.join(timeout):  # pragma: no cover - a callback is blocking the loop
        _orphans.append(st)


def worker_exit(server: Any, worker: Any) -> None:
    """gunicorn hook: ``worker_exit = app.aio.worker_exit`` in gunicorn.conf.py."""
    shutdown()


atexit.register(shutdown)
