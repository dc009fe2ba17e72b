"""The Flask extensions, created unbound here and bound in `create_app`."""
from __future__ import annotations

from pathlib import Path

from flask import Flask, current_app, request
from sqlalchemy import event
from flask_jwt_extended import decode_token
from flask_jwt_extended.exceptions import JWTExtendedException
from jwt.exceptions import PyJWTError
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_socketio import SocketIO
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase

from app import aio, cache
from app.ops import i18n
from app.ops.jwtmemo import MemoJWTManager
from app.ops.apidoc import TickerdeskApi, install_id_converter


class Base(DeclarativeBase):
    """Declarative base of every model."""


def limit_key(kind: str, value: str) -> str:
    """Return a rate-limit key, namespaced by the app's RATELIMIT_KEY_PREFIX.

    Flask-Limiter keeps one storage and prefix per Limiter object; production has one app
    per process, but tests build many, so each app's keys carry its own namespace.
    """
    return f"{current_app.config.get('RATELIMIT_KEY_PREFIX', '')}|{kind}:{value}"


def user_or_ip() -> str:
    """Rate-limit key: the identity of a valid bearer token, else the client IP.

    Only the token's signature and expiry are checked here (from the memo of verified tokens,
    app.ops.jwtmemo); the view's own check refuses a revoked or outdated one.
    """
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        try:
            identity = decode_token(auth[7:].strip()).get("sub")
        except (JWTExtendedException, PyJWTError):  # the view rejects it; key by IP meanwhile
            identity = None
        if identity:
            return limit_key("user", str(identity))
    return limit_key("ip", get_remote_address())


# Objects keep their loaded values after a commit: answering a committed write must not need
# the database again (if it went away in between, the client would retry a stored write).
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
migrate = Migrate()
jwt = MemoJWTManager()
login_manager = LoginManager()
csrf = CSRFProtect()
def _default_limit() -> str:
    # Read per request: one Limiter object serves every app of a process (tests build many).
    return current_app.config["RATELIMIT_DEFAULT"]


limiter = Limiter(key_func=user_or_ip, key_prefix="td", default_limits=[_default_limit])  # keys: limit_key()
socketio = SocketIO()
api = TickerdeskApi()


def init_extensions(app: Flask) -> None:
    """Bind every extension to `app`."""
    app.config.setdefault("API_TITLE", "Tickerdesk API")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api/v1")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.config.setdefault("RATELIMIT_DEFAULTS_EXEMPT_WHEN", _exempt_from_default_limit)
    install_id_converter(app)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(app.root_path).parent / "migrations"))
    jwt.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message_category = "info"
    csrf.init_app(app)
    # after_request hooks run last-registered-first: this one runs after Flask-Limiter's.
    app.after_request(_retry_after_only_when_refused)
    limiter.init_app(app)
    api.init_app(app)
    cache.init_app(app)
    aio.init_app(app)
    i18n.init_app(app)
    # The Socket.IO handlers (app.live.events) are declared before this, by create_app: handlers
    # declared before the first init_app are kept by Flask-SocketIO and bound to every app's server;
    # declared after, they would bind to that one server only (tests build many apps).
    # Flask-SocketIO keeps server options between init_app calls: drop an earlier app's queue.
    socketio.server_options.pop("client_manager", None)
    socketio.init_app(app, message_queue=app.config.get("REDIS_URL"), channel=app.config["LIVE_CHANNEL"],
                      async_mode=_async_mode(),
                      cors_allowed_origins=same_origin_check(app), logger=False, engineio_logger=False)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            event.listen(db.engine, "connect", _sqlite_pragmas)


def same_origin_check(app: Flask):
    """Return Engine.IO's origin check for `app`: a browser's socket only from the app's own pages.

    The origin must be the scheme and host the request came to (after TRUSTED_PROXIES'
    ProxyFix), or one listed in ALLOWED_ORIGINS; "null" and other sites are refused, so a
    page elsewhere cannot open a socket with the user's cookies. Clients that send no Origin
    (scripts with a token) are not asked.
    """
    allowed = {o.lower() for o in app.config.get("ALLOWED_ORIGINS") or ()}

    def check(origin: str | None, environ: dict | None = None) -> bool:
        if not origin or environ is None:
            return False
        origin = origin.rstrip("/").lower()
        own = f"{environ.get('wsgi.url_scheme', 'http')}://{environ.get('HTTP_HOST', '')}".lower()
        return origin == own or origin in allowed

    return check


def _retry_after_only_when_refused(response):
    """Flask-Limiter sets Retry-After on every response; keep it on 429 and 503 only, and an error's own."""
    own = getattr(response, "own_retry_after", None)
    if own is not None:
        response.headers["Retry-After"] = own
    elif response.status_code not in (429, 503):
        response.headers.pop("Retry-After", None)
    return response


def _exempt_from_default_limit() -> bool:
    return request.endpoint in ("static", "ops.health", "ops.ready")


def _async_mode() -> str:
    # gunicorn's gevent worker monkey-patches before importing the app; the dev server uses threads.
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover - gevent is a dependency
        return "threading"
    return "gevent" if monkey.is_module_patched("socket") else "threading"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
