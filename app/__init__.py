"""Tickerdesk: the application factory."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from app.config import INSTANCE_DIR, load_config


def create_app(config: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None) -> Flask:
    """Build the app from the environment (or `env`), with `config` overriding single settings."""
    from app.auth.cookie_session import CookieSessionInterface
    from app import models as _models  # noqa: F401 - register the tables on db.metadata
    from app.extensions import init_extensions
    from app.live import events as _live_events  # noqa: F401 - before socketio.init_app (app.extensions)
    from app.ops import request_id
    from app.ops.errors import register_error_handlers
    from app.ops.logging import configure_logging

    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    app = Flask(__name__, template_folder="../templates", static_folder="../static",
                instance_path=str(INSTANCE_DIR))
    app.config.update(load_config(env=env, overrides=config))
    app.session_interface = CookieSessionInterface()
    configure_logging(app.config["LOG_LEVEL"], app.config["LOG_JSON"])
    request_id.init_app(app)  # first: every later hook (the rate limiter's too) has the request id
    init_extensions(app)
    register_blueprints(app)
    register_error_handlers(app)
    register_cli(app)
    _trust_proxies(app)
    return app


def _trust_proxies(app: Flask) -> None:
    """Behind TRUSTED_PROXIES reverse proxies, take the client's address and scheme from them.

    Werkzeug's ProxyFix reads the last N entries of X-Forwarded-For / -Proto (the ones those
    proxies appended; anything a client sent before them is ignored). It wraps the whole WSGI
    app, Socket.IO included, so rate limits, audit rows and the websocket origin check all see
    the real client. With 0 (the default) the headers are ignored: nobody can claim an address.
    """
    hops = int(app.config["TRUSTED_PROXIES"])
    if hops > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)


def register_blueprints(app: Flask) -> None:
    """Mount the page and API blueprints of every feature."""
    from app.auth import headers as auth_headers, tokens as _tokens  # noqa: F401 - tokens: session and JWT loaders
    from app.admin import api as admin_api, pages as admin_pages
    from app.alerts import api as alerts_api, pages as alerts_pages
    from app.auth import api as auth_api, pages as auth_pages
    from app.dashboard import pages as dashboard_pages
    from app.extensions import api, csrf
    from app.notify import api as notify_api
    from app.ops import apidoc, health, metrics, pwa
    from app.portfolio import api as portfolio_api, pages as portfolio_pages
    from app.research import api as research_api, pages as research_pages
    from app.stocks import api as stocks_api, pages as stock_pages
    from app.watchlist import api as watchlist_api, pages as watchlist_pages

    auth_headers.init_app(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(pwa.bp)
    app.register_blueprint(apidoc.docs_bp)
    metrics.init_app(app)
    app.register_blueprint(dashboard_pages.bp)
    app.register_blueprint(auth_pages.bp)
    for pages in (stock_pages, research_pages, watchlist_pages, portfolio_pages, alerts_pages, admin_pages):
        app.register_blueprint(pages.bp)
    for blueprint in (auth_api.bp, stocks_api.bp, research_api.bp, watchlist_api.bp,
                      portfolio_api.bp, alerts_api.bp, notify_api.bp, admin_api.bp):
        csrf.exempt(blueprint)  # the JSON API authenticates with bearer tokens, not cookies
        api.register_blueprint(blueprint)


def register_cli(app: Flask) -> None:
    """Add the `flask universe ...`, `flask users ...` and `flask scores ...` commands."""
    from app import jobs, live
    from app.cli import scores_cli, universe_cli, users_cli

    live.init_app(app)
    jobs.init_app(app)

    app.cli.add_command(universe_cli)
    app.cli.add_command(users_cli)
    app.cli.add_command(scores_cli)
