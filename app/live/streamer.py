"""The price streamer: one poller across every process, pushing quotes, portfolios and alerts.

`LiveLoop.run` is the background task of a web process (and the body of `flask live stream`).
Each round it publishes this process's subscriptions (app.live.registry), and, if it may
stream, takes or renews the streamer lock (redis-py's `Lock`, a key with a TTL; without
Redis the one process always holds it) and runs one `tick`:

* poll the core for the union of all subscribed symbols, plus the symbols connected users
  hold, in one batched call (`refresh_quotes`): the live view's fast poll, which also keeps
  those quotes fresh in the cache so the quotes job (app/jobs/quotes.py) does not fetch them again;
* emit `quote` to a symbol's room only when its price changed;
* emit `alert` to the owner's room for every alert fired since the last tick (whoever fired
  it: the quotes job, a page load): `Alert.triggered_at` past a watermark that starts when
  this process takes the lock. Alerts are evaluated in one place, `alerts.services.evaluate`,
  never here;
* emit `portfolio` (value and day change) to each connected user holding a changed symbol;
* emit `market_status` when one of the relevant exchanges opens or closes (trading
  calendars from `exchange_calendars`).

It ticks every LIVE_TICK_OPEN_S while one of those exchanges is open (or the demo market
replays a session: DEMO_ALWAYS_OPEN) and every LIVE_TICK_CLOSED_S otherwise. If the holder
dies, its lock lapses after LIVE_LOCK_TTL_S and another process's loop takes over.
"""
from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from decimal import Decimal
from functools import lru_cache
from typing import Any

import redis
import structlog
from flask import Flask
from redis.exceptions import LockError
from sqlalchemy import select

from app.cache import get_cache
from app.extensions import db, socketio
from app.live.registry import Registry
from app.market.hours import CALENDARS, exchange_status  # noqa: F401 - exchange_status re-exported
from app.models import Alert, Transaction, User
from app.models.types import utcnow
from app.ops import metrics

log = structlog.get_logger(__name__)
NAMESPACE = "/live"
ALERTS_PER_TICK = 500  # a backlog drains over a few ticks instead of one huge one

def symbol_room(symbol: str) -> str:
    """The room of everyone subscribed to `symbol`."""
    return f"sym:{symbol}"


def user_room(user_id: int) -> str:
    """The room of every connection of one user."""
    return f"user:{user_id}"


class Streamer:
    """One tick's work; holds what it last emitted, to emit only changes."""

    def __init__(self, app: Flask, registry: Registry) -> None:
        self.app = app
        self.registry = registry
        self.last_prices: dict[str, float] = {}
        self.market: dict[str, bool] = {}
        self.ticks = 0
        self.fired_since = utcnow()  # the alert watermark; reset when this process takes the lock

    def tick(self) -> float:
        """Poll, emit what changed, and return the seconds until the next tick."""
        cfg = self.app.config
        started = time.perf_counter()
        with self.app.app_context():
            users = self.registry.all_users()
            held = _held_symbols(users)
            watched = self.registry.all_symbols() | set().union(*held.values())
            any_open = self._market_status(watched)
            if watched:
                self._prices(sorted(watched), held)
            self._fired_alerts()
            self.ticks += 1
            metrics.sync_cache(get_cache().counters())
        metrics.STREAMER_TICKS.inc()
        metrics.STREAMER_TICK_SECONDS.observe(time.perf_counter() - started)
        return float(cfg["LIVE_TICK_OPEN_S"] if any_open or _demo_replays(cfg) else cfg["LIVE_TICK_CLOSED_S"])

    def _fired_alerts(self) -> None:
        """Emit `alert` to each owner for the alerts fired since the watermark, and move it on."""
        try:
            rows = list(db.session.scalars(select(Alert).where(Alert.triggered_at > self.fired_since)
                                           .order_by(Alert.triggered_at).limit(ALERTS_PER_TICK)))
        except Exception:  # noqa: BLE001 - the database away for a tick: catch up on the next one
            log.exception("live_alerts_failed")
            db.session.rollback()
            return
        for alert in rows:
            socketio.emit("alert", alert_event(alert), to=user_room(alert.user_id), namespace=NAMESPACE)
            metrics.STREAMER_EMITS.labels("alert").inc()
            self.fired_since = max(self.fired_since, alert.triggered_at)

    def _prices(self, symbols: list[str], held: dict[int, set[str]]) -> None:
        from app.market.service import refresh_quotes  # noqa: PLC0415

        batch = refresh_quotes(symbols)
        changed: dict[str, dict[str, Any]] = {}
        for symbol, quote in batch["quotes"].items():
            if self.last_prices.get(symbol) != quote["price"]:
                self.last_prices[symbol] = quote["price"]
                changed[symbol] = quote
        metrics.STREAMER_EMITS.labels("quote").inc(len(changed))
        if not changed:
            return
        with _collection_deferred():
            sent_at = time.time()  # lets a client measure how late a tick reached it
            for symbol, quote in changed.items():
                socketio.emit("quote", {**quote, "sent_at": sent_at}, to=symbol_room(symbol), namespace=NAMESPACE)
            # An emit only queues the packet for each connection's writer; yield so they send it now,
            # not after the alert and portfolio queries below (which would hold up every quote).
            socketio.sleep(0)
        for user_id, symbols in held.items():
            if symbols & changed.keys():
                try:
                    payload = portfolio_summary(user_id)
                except Exception:  # noqa: BLE001 - one user's data must never stop another's stream
                    log.exception("live_portfolio_failed", user_id=user_id)
                    db.session.rollback()
                    continue
                if payload is not None:
                    socketio.emit("portfolio", payload, to=user_room(user_id), namespace=NAMESPACE)
                    metrics.STREAMER_EMITS.labels("portfolio").inc()

    def _market_status(self, symbols: set[str]) -> bool:
        from app.stocks.search import stock_row  # noqa: PLC0415

        codes = {CALENDARS[row.exchange] for row in map(stock_row, symbols)
                 if row is not None and row.exchange in CALENDARS}
        now = datetime.now(timezone.utc)
        any_open = False
        replaying = _demo_replays(self.app.config)
        for code in sorted(codes):
            try:
                status = exchange_status(code, now)
            except Exception as exc:  # noqa: BLE001 - a calendar past its range must not stop prices
                log.warning("live_calendar_failed", exchange=code, error=type(exc).__name__)
                continue
            any_open = any_open or status["open"]
            if self.market.get(code) != status["open"]:
                self.market[code] = status["open"]
                # `simulated`: the demo market's prices move while the exchange is closed (a replayed
                # session), so the page says so instead of "markets closed" beside ticking prices.
                socketio.emit("market_status", {**status, "simulated": replaying}, namespace=NAMESPACE)
        return any_open


def portfolio_summary(user_id: int) -> dict[str, Any] | None:
    """Return the user's portfolio value and day change (base currency), None without holdings."""
    from app.portfolio import services as portfolio_services  # noqa: PLC0415
    from app.ops.errors import APIError  # noqa: PLC0415

    user = db.session.get(User, user_id)
    if user is None:
        return None
    try:
        data = portfolio_services.portfolio(user)
    except APIError as exc:  # FX unavailable, say: skip this round
        log.info("live_portfolio_skipped", user_id=user_id, reason=exc.message)
        return None
    totals = data["totals"]
    # Every figure the pages show that moves with a price, so none of them stays frozen beside the value.
    return {"base_currency": data["base_currency"], "value": _num(totals["value"]),
            "day_change": _num(totals["day_change"]), "day_change_pct": _pct(totals["day_change_pct"]),
            "total_pl": _num(totals["total_pl"]), "unrealised": _num(totals["unrealised"]),
            "complete": data["complete"],
            "holdings": {h["symbol"]: {"price": _num(h["price"]), "market_value_base": _num(h.get("market_value_base")),
                                       "unrealised_base": _num(h.get("unrealised_base")),
                                       "unrealised_pct": _pct(h.get("unrealised_pct")),
                                       "day_change_base": _num(h.get("day_change_base")),
                                       "weight": _pct(h.get("weight"))}
                         for h in data["holdings"]},
            "ts": datetime.now(timezone.utc).isoformat()}


def alert_event(alert: Alert) -> dict[str, Any]:
    """Return the `alert` event of a fired alert (the fields `evaluate` reports for a fire)."""
    return {"id": alert.id, "user_id": alert.user_id, "symbol": alert.symbol, "kind": alert.kind,
            "threshold": str(alert.threshold), "triggered_price": str(alert.triggered_price),
            "triggered_at": alert.triggered_at.isoformat()}


def _num(value: Decimal | float | None) -> float | None:
    return None if value is None else round(float(value), 2)


def _pct(value: Decimal | float | None) -> float | None:
    return None if value is None else round(float(value), 6)


def _held_symbols(users: set[int]) -> dict[int, set[str]]:
    if not users:
        return {}
    held: dict[int, set[str]] = {}
    rows = db.session.execute(select(Transaction.user_id, Transaction.symbol)
                              .where(Transaction.user_id.in_(users)).distinct())
    for user_id, symbol in rows:
        held.setdefault(user_id, set()).add(symbol)
    return held


@contextmanager
def _collection_deferred() -> Iterator[None]:
    """Keep the garbage collector from starting a collection while a tick's quotes go out.

    With a thousand connections a full collection of a gevent worker takes 100 ms or more;
    started in the middle of the fan-out it holds up every quote still queued. Deferred for
    the fan-out (tens of ms), a collection that falls due runs right after, between ticks.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def freeze_long_lived_objects() -> None:
    """Take what the process holds by now out of the garbage collector's full collections.

    Once the app (SQLAlchemy, pandas, exchange_calendars, ...) is imported a process tracks
    some 200,000 objects that live as long as it does, and every full collection walks them
    all: a 100-250 ms stop. Collected once, then frozen (`gc.freeze`), they are skipped. Called
    by `flask live stream` before its loop, and by each gunicorn worker (gunicorn.conf.py)
    before it accepts connections -- never later, when it would freeze connections too.
    """
    started = time.perf_counter()
    gc.collect()
    gc.freeze()
    log.info("live_gc_frozen", objects=gc.get_freeze_count(), ms=round((time.perf_counter() - started) * 1000, 1))


class LiveLoop:
    """The per-process background loop: publish subscriptions; stream while holding the lock."""

    def __init__(self, app: Flask, registry: Registry, client: redis.Redis | None, *, stream: bool) -> None:
        self.app = app
        self.registry = registry
        self.stream = stream
        self.streamer = Streamer(app, registry)
        ttl = float(app.config["LIVE_LOCK_TTL_S"])
        self.lock = None if client is None else client.lock(
            f"{registry.prefix}streamer", timeout=ttl, blocking=False, thread_local=False)
        self.holding = False
        self.stopped = threading.Event()

    def holds_lock(self) -> bool:
        """Take the streamer lock, or keep it for another TTL; return whether this process holds it."""
        if self.lock is None:
            return True
        try:
            if self.holding:
                self.lock.reacquire()
            else:
                self.holding = bool(self.lock.acquire(blocking=False))
                if self.holding:
                    self.streamer.fired_since = utcnow()  # alerts fired before: the previous holder's
                    log.info("live_streamer_lock_taken", process=self.registry.proc_id)
        except LockError:
            log.warning("live_streamer_lock_lost", process=self.registry.proc_id)
            self.holding = False
        except redis.RedisError as exc:
            log.warning("live_streamer_lock_unavailable", error=type(exc).__name__)
            self.holding = False
        return self.holding

    def round(self) -> float:
        """One round: publish, then stream if allowed; return the seconds to sleep."""
        cfg = self.app.config
        heartbeat = float(cfg["LIVE_LOCK_TTL_S"]) / 3
        self.registry.publish()
        if not self.stream or not self.holds_lock():
            return min(heartbeat, 1.0)
        started = time.monotonic()
        try:
            interval = self.streamer.tick()
        except Exception:  # noqa: BLE001 - the loop must outlive one bad tick
            log.exception("live_tick_failed")
            interval = float(cfg["LIVE_TICK_OPEN_S"])
        # Sleep no longer than a third of the lock's TTL, so the lock is renewed in time.
        return max(0.05, min(interval - (time.monotonic() - started), heartbeat))

    def check_sessions(self) -> int:
        """Disconnect this process's sockets whose log-in session has ended (in any process)."""
        by_session = self.registry.by_session()
        if not by_session:
            return 0
        from app.auth import sessions  # noqa: PLC0415 - import cycle

        try:
            with self.app.app_context():
                ended = set(by_session) - sessions.alive(by_session)
        except Exception:  # noqa: BLE001 - the database may be away; check again next time
            log.warning("live_session_check_failed", exc_info=True)
            return 0
        return self.disconnect(ended, by_session)

    def disconnect(self, session_ids: set[str], by_session: dict[str, list[str]] | None = None) -> int:
        """Disconnect this process's sockets of these log-in sessions; return how many."""
        if not session_ids:
            return 0
        by_session = self.registry.by_session() if by_session is None else by_session
        socket_ids = [sid for session_id in session_ids for sid in by_session.get(session_id, ())]
        for sid in socket_ids:  # its disconnect handler (events.on_disconnect) forgets it
            socketio.server.disconnect(sid, namespace=NAMESPACE, ignore_queue=True)
        if socket_ids:
            log.info("live_sessions_ended", sockets=len(socket_ids))
        return len(socket_ids)

    def run(self) -> None:
        """Loop until `stop` (socketio.sleep yields to gevent, or sleeps a thread)."""
        log.info("live_loop_started", process=self.registry.proc_id, stream=self.stream)
        next_tick = next_check = 0.0
        check_every = float(self.app.config["LIVE_SESSION_CHECK_S"])
        while not self.stopped.is_set():
            if self.registry.dirty:  # a (un)subscription: let the streamer see it soon
                self.registry.publish()
            if time.monotonic() >= next_check:
                self.check_sessions()
                next_check = time.monotonic() + check_every
            if time.monotonic() >= next_tick:
                wait = self.round()  # what is left of the interval once the round is done
                next_tick = time.monotonic() + wait
            socketio.sleep(min(0.25, max(0.0, next_tick - time.monotonic())))
        self.release()

    def release(self) -> None:
        """Give up the lock and the published subscriptions (on shutdown)."""
        self.registry.withdraw()
        if self.lock is not None and self.holding:
            try:
                self.lock.release()
            except (LockError, redis.RedisError):
                pass
            self.holding = False

    def stop(self) -> None:
        """Ask the loop to end after its current round."""
        self.stopped.set()


def _demo_replays(cfg: Any) -> bool:
    """Whether the demo market serves the quotes (first in the chain) and replays a session while closed."""
    return bool(cfg.get("DEMO_ALWAYS_OPEN")) and list(cfg.get("MARKET_PROVIDERS") or [])[:1] == ["demo"]
