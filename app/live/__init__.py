"""Live updates over Socket.IO: the `/live` namespace, the registry, the streamer.

Events a client sends: `subscribe {symbols: [...]}`, `unsubscribe {symbols: [...]}` (each
acknowledged with `{subscribed: [...], errors: {...}}`). Events it receives: `quote` (a
quote whose price changed), `portfolio` (the user's value and day change), `alert` (an
alert of the user fired), `market_status` (an exchange opened or closed), `error` (bad
input: `{code, message, details}`).
"""
from __future__ import annotations

from flask import Flask

from app.auth.sessions import sessions_ended
from app.live.registry import Registry
from app.live.streamer import NAMESPACE, LiveLoop
from app.ops.redis import redis_client

_EXT_KEY = "tickerdesk_live"


class LiveState:
    """What one process keeps for live updates: its registry and its background loop."""

    def __init__(self, app: Flask) -> None:
        client = redis_client(app)
        self.app = app
        self.registry = Registry(client, app.config["LIVE_REDIS_PREFIX"],
                                 ttl_s=3 * float(app.config["LIVE_LOCK_TTL_S"]))
        self.loop = LiveLoop(app, self.registry, client, stream=app.config["LIVE_STREAMER"] == "web")
        self.started = False

    def ensure_loop(self) -> None:
        """Start this process's background loop once (on its first connection)."""
        if self.started or not self.app.config["LIVE_LOOP"]:
            return
        self.started = True
        from app.extensions import socketio  # noqa: PLC0415

        socketio.start_background_task(self.loop.run)


def live_state(app: Flask) -> LiveState:
    """Return the app's live state, created on first use."""
    state = app.extensions.get(_EXT_KEY)
    if state is None:
        state = app.extensions[_EXT_KEY] = LiveState(app)
    return state


def disconnect_sessions(app: Flask, session_ids) -> int:
    """Disconnect this process's sockets opened with any of these (ended) log-in sessions.

    Called once their end is committed; other processes' live loops find theirs within
    LIVE_SESSION_CHECK_S (`LiveLoop.check_sessions`). Returns how many were disconnected.
    """
    state = app.extensions.get(_EXT_KEY)
    if state is None:
        return 0
    return state.loop.disconnect(set(session_ids))


def init_app(app: Flask) -> None:
    """Add the `flask live` commands (the `/live` handlers are declared by app.extensions)."""
    from app.live.cli import live_cli

    app.cli.add_command(live_cli)


__all__ = ["NAMESPACE", "LiveState", "disconnect_sessions", "init_app", "live_state"]


@sessions_ended.connect
def _disconnect_ended(app: Flask, session_ids: set[str], **_: object) -> None:
    disconnect_sessions(app, session_ids)
