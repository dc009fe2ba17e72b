"""The `/live` namespace: authenticate at connect, subscribe and unsubscribe, clean up on disconnect.

Socket.IO's own ping/pong and disconnect detection are used as they are; rooms are left by
Socket.IO when a connection ends, this module only forgets the connection's registry entry.
"""
from __future__ import annotations

from typing import Any

from flask import current_app, request
from flask_jwt_extended import decode_token
from flask_jwt_extended.exceptions import JWTExtendedException
from flask_login import current_user
from flask_socketio import ConnectionRefusedError, emit, join_room, leave_room
from jwt.exceptions import PyJWTError

from app.auth import blocklist
from app.extensions import socketio
from app.live import live_state
from app.live.streamer import NAMESPACE, symbol_room, user_room
from app.ops import metrics
from app.stocks.search import stock_row

MAX_SYMBOL_LENGTH = 24


@socketio.on("connect", namespace=NAMESPACE)
def on_connect(auth: Any = None) -> None:
    """Accept a page's session or an API client's JWT (`auth: {token}`); refuse anything else."""
    app = current_app._get_current_object()
    state = live_state(app)
    found = _authenticate(auth)
    if found is None:
        metrics.WS_CONNECTS.labels("unauthorized").inc()
        raise ConnectionRefusedError("Log in, or pass a valid access token as auth: {token: ...}.",
                                     {"code": "unauthorized"})
    user_id, session_id = found
    if len(state.registry) >= int(app.config["LIVE_MAX_CONNECTIONS"]):
        metrics.WS_CONNECTS.labels("too_many_connections").inc()
        raise ConnectionRefusedError("This server is at its limit of live connections; try again in a moment.",
                                     {"code": "too_many_connections"})
    per_user = int(app.config["LIVE_MAX_PER_USER"])
    if state.registry.count_user(user_id) >= per_user:
        metrics.WS_CONNECTS.labels("too_many_for_user").inc()
        raise ConnectionRefusedError(f"At most {per_user} live connections per account; close another tab first.",
                                     {"code": "too_many_connections"})
    state.registry.add(request.sid, user_id, session_id)
    metrics.WS_CONNECTS.labels("accepted").inc()
    metrics.WS_CONNECTIONS.inc()
    join_room(user_room(user_id))
    state.ensure_loop()


@socketio.on("disconnect", namespace=NAMESPACE)
def on_disconnect(*_args: Any) -> None:
    """Forget the connection (Socket.IO has already taken it out of its rooms)."""
    registry = live_state(current_app._get_current_object()).registry
    if registry.get(request.sid) is not None:
        metrics.WS_CONNECTIONS.dec()
    registry.remove(request.sid)


@socketio.on("subscribe", namespace=NAMESPACE)
def on_subscribe(data: Any = None) -> dict[str, Any]:
    """Join the rooms of valid symbols; report bad ones in an `error` event and the ack."""
    registry = live_state(current_app._get_current_object()).registry
    conn = registry.get(request.sid)
    symbols, errors = _symbols(data)
    if symbols is None:
        return _refuse("invalid_payload", errors["_"], conn)
    limit = int(current_app.config["LIVE_MAX_SYMBOLS"])
    if len(conn.symbols | set(symbols)) > limit:
        return _refuse("too_many_symbols",
                       f"At most {limit} symbols per connection; this one has {len(conn.symbols)} and asked "
                       f"for {len(set(symbols) - conn.symbols)} more. Unsubscribe some first.", conn)
    for symbol in registry.subscribe(request.sid, symbols):
        join_room(symbol_room(symbol))
    if errors:
        emit("error", {"code": "unknown_symbols", "message": "Some symbols are not in the stock universe.",
                       "details": {"symbols": errors}})
    return {"subscribed": sorted(conn.symbols), "errors": errors}


@socketio.on("unsubscribe", namespace=NAMESPACE)
def on_unsubscribe(data: Any = None) -> dict[str, Any]:
    """Leave the rooms of the given symbols."""
    registry = live_state(current_app._get_current_object()).registry
    conn = registry.get(request.sid)
    symbols, errors = _symbols(data, known_only=False)
    if symbols is None:
        return _refuse("invalid_payload", errors["_"], conn)
    for symbol in registry.unsubscribe(request.sid, symbols):
        leave_room(symbol_room(symbol))
    return {"subscribed": sorted(conn.symbols), "errors": {}}


def _authenticate(auth: Any) -> tuple[int, str] | None:
    """Return (user id, log-in session id) of a live session's access token or page session."""
    token = auth.get("token") if isinstance(auth, dict) else None
    if isinstance(token, str) and token:
        try:
            claims = decode_token(token.removeprefix("Bearer ").strip())
        except (JWTExtendedException, PyJWTError):
            return None
        identity, sid = str(claims.get("sub", "")), claims.get("sid")
        if claims.get("type") != "access" or not identity.isdigit() or not isinstance(sid, str):
            return None
        revoked, owner = blocklist.token_state(claims["jti"], sid)
        if revoked or owner != int(identity):
            return None
        return int(identity), sid
    if current_user.is_authenticated and current_user.login_session_id:
        return int(current_user.id), current_user.login_session_id
    return None


def _symbols(data: Any, known_only: bool = True) -> tuple[list[str] | None, dict[str, str]]:
    raw = data.get("symbols") if isinstance(data, dict) else None
    if not isinstance(raw, list) or not all(isinstance(s, str) for s in raw):
        return None, {"_": "Send {symbols: [\"SAP.DE\", ...]}: a list of symbol strings."}
    limit = int(current_app.config["LIVE_MAX_SYMBOLS"])
    if len(raw) > limit:
        return None, {"_": f"At most {limit} symbols per connection; got {len(raw)}."}
    symbols, errors = [], {}
    for item in dict.fromkeys(s.strip().upper() for s in raw):
        if not item or len(item) > MAX_SYMBOL_LENGTH or (known_only and stock_row(item) is None):
            errors[item[:MAX_SYMBOL_LENGTH] or "''"] = "not in the stock universe"
        else:
            symbols.append(item)
    return symbols, errors


def _refuse(code: str, message: str, conn: Any) -> dict[str, Any]:
    emit("error", {"code": code, "message": message, "details": {}})
    return {"subscribed": sorted(conn.symbols) if conn else [], "errors": {"_": message}}
