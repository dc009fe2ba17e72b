"""One error shape for every API failure, HTML error pages for everything else.

API errors are `{"error": {"code", "message", "details", "request_id"}}` with the right
status; pages get `templates/errors/error.html`.
"""
from __future__ import annotations

import math
import time
from typing import Any

import structlog
from flask import Flask, g, jsonify, render_template, request
from flask_babel import gettext
from markupsafe import escape
from prometheus_client import Counter
from flask_limiter.errors import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

log = structlog.get_logger(__name__)
# Exported by app.ops.metrics with the other metrics; defined here, where the failures are answered.
ERRORS = Counter("tickerdesk_errors_total", "Failures answered with a 5xx, by kind", ["kind"])



def N_(text: str) -> str:
    """Mark a generic error text for the pages' catalogue (pybabel's default `N_` keyword) and return it
    as written: the API answers it in English, `_page(..., generic=True)` in the page's language."""
    return text


# Werkzeug's own texts of the usual failures, for the pages' catalogue (a page translates only these
# defaults, never a description given with the error).
WERKZEUG_TEXTS = (
    N_("The browser (or proxy) sent a request that this server could not understand."),
    N_("You don't have the permission to access the requested resource. It is either read-protected or "
       "not readable by the server."),
    N_("The requested URL was not found on the server. If you entered the URL manually please check your "
       "spelling and try again."),
    N_("The method is not allowed for the requested URL."),
    N_("The data value transmitted exceeds the capacity limit."),
    N_("The server encountered an internal error and was unable to complete your request. Either the server "
       "is overloaded or there is an error in the application."),
)

_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type",
    422: "unprocessable", 429: "rate_limited", 500: "internal_error", 502: "bad_gateway",
    503: "service_unavailable", 504: "gateway_timeout",
}


class APIError(Exception):
    """Raise from a view or service to answer with the standard error shape."""

    def __init__(self, status: int, message: str, *, code: str | None = None,
                 details: dict[str, Any] | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code or _CODES.get(status, "error")
        self.message = message
        self.details = details or {}
        self.headers = headers or {}


def validation_error(field_errors: dict[str, Any], message: str = "Some fields are invalid.") -> APIError:
    """Return a 400 naming each invalid field."""
    return APIError(400, message, code="validation_error", details={"fields": field_errors})


def error_response(status: int, message: str, code: str | None = None,
                   details: dict[str, Any] | None = None, headers: dict[str, str] | None = None):
    """Return the standard JSON error response."""
    body = {"error": {"code": code or _CODES.get(status, "error"), "message": message,
                      "details": details or {}, "request_id": g.get("request_id")}}
    response = jsonify(body)
    response.status_code = status
    # Flask-Limiter's after_request hook would replace a Retry-After given here with its own window;
    # app.extensions puts this one back (`_retry_after_only_when_refused`).
    response.own_retry_after = (headers or {}).get("Retry-After")
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def wants_json() -> bool:
    """Return whether the current request should get JSON errors rather than a page."""
    if request.path.startswith("/api/") or request.path.endswith(".json"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def rate_limited(exc: RateLimitExceeded):
    """A spent rate limit: the standard 429 (Flask-Limiter adds Retry-After and X-RateLimit-* after it)."""
    message = N_("Too many requests: the limit is %(limit)s. Try again later.")
    if wants_json():
        return error_response(429, message % {"limit": exc.description})
    return _page(429, message, generic=True, limit=exc.description)


def seconds_until_allowed() -> int:
    """Seconds until the limit this request broke lets the next one through (at least 1)."""
    from app.extensions import limiter  # noqa: PLC0415 - extensions import this module

    current = limiter.current_limit
    return max(1, math.ceil(current.reset_at - time.time())) if current is not None else 60


def register_error_handlers(app: Flask) -> None:
    """Install the handlers that turn every failure into the standard shape or an error page."""

    @app.errorhandler(APIError)
    def handle_api_error(exc: APIError):
        if not wants_json():
            return _page(exc.status, exc.message)
        return error_response(exc.status, exc.message, exc.code, exc.details, exc.headers)

    app.register_error_handler(RateLimitExceeded, rate_limited)

    @app.errorhandler(CSRFError)
    def handle_csrf(exc: CSRFError):
        message = N_("The form expired or was not sent from this site; reload the page and try again.")
        return error_response(400, message, "csrf_failed") if wants_json() else _page(400, message, generic=True)

    @app.errorhandler(HTTPException)
    def handle_http(exc: HTTPException):
        status = exc.code or 500
        message = exc.description or exc.name
        details: dict[str, Any] = {}
        data = getattr(exc, "data", None)  # webargs / flask-smorest attach validation messages here
        if isinstance(data, dict) and data.get("messages"):
            status, message = 400, N_("Some fields are invalid.")
            if isinstance(data["messages"].get("json"), list):  # the body itself could not be parsed
                message = N_("The request body is not valid JSON.")
            details = {"fields": _flatten_locations(data["messages"])}
            if wants_json():
                return error_response(status, message, "validation_error", details)
            return _page(status, message, generic=True)
        headers = {}
        if status == 405 and getattr(exc, "valid_methods", None):
            headers["Allow"] = ", ".join(exc.valid_methods)
        if wants_json():
            return error_response(status, message, None, details, headers)
        return _page(status, message, generic=exc.description == type(exc).description)

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def handle_database_down(exc: DBAPIError):
        # The database went away (restart, failover, network): a clean 503, never a 500.
        # pool_pre_ping replaces dead connections, so requests succeed again once it is back.
        from app.extensions import db  # noqa: PLC0415 - errors.py loads before the extensions bind

        try:
            db.session.rollback()
        except DBAPIError:
            pass
        ERRORS.labels("database_unavailable").inc()
        log.warning("database_unavailable", error_type=type(exc.orig).__name__ if exc.orig else type(exc).__name__)
        message = N_("The database is unavailable right now; try again in a few seconds.")
        if wants_json():
            return error_response(503, message, "database_unavailable", headers={"Retry-After": "5"})
        return _page(503, message, generic=True)

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception):
        if isinstance(exc, HTTPException):  # pragma: no cover - routed above
            return handle_http(exc)
        log.exception("unhandled_error", error_type=type(exc).__name__)
        ERRORS.labels("unhandled").inc()
        message = N_("Something went wrong on our side. The request id identifies it in the logs.")
        return error_response(500, message) if wants_json() else _page(500, message, generic=True)


def _flatten_locations(messages: dict[str, Any]) -> dict[str, Any]:
    # webargs nests messages by location ({"json": {"email": [...]}}); the client wants fields.
    flat: dict[str, Any] = {}
    for location, fields in messages.items():
        if isinstance(fields, dict):
            flat.update(fields)
        else:
            flat[location] = fields
    return flat


def _page(status: int, message: str, *, generic: bool = False, **values: Any):
    """The HTML error page; a `generic` message (one of this module's texts, `values` filled in) in the
    page's language, any other (a service's, the API's wording) as given."""
    text = message % values if values else message
    try:
        if generic:
            text = gettext(message, **values)  # the language may come from the account: the database
        return render_template("errors/error.html", status=status, message=text), status
    except DBAPIError:  # the layout asks for the current user, and the database is down
        return (f"<!doctype html><title>Error {status}</title><h1>Error {status}</h1><p>{escape(text)}</p>",
                status)


