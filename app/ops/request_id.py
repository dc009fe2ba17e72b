"""Request ids, the request log line, and security headers."""
from __future__ import annotations

import re
import time
import uuid

import structlog
from flask import Flask, Response, g, request

from app.ops import metrics
from app.ops.inputs import refuse_unusable_input

log = structlog.get_logger("tickerdesk.request")
_VALID_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")
_HOST = re.compile(r"[A-Za-z0-9.\-]{1,253}(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?")

# Only self-hosted scripts and styles; websockets back to this origin only, for live updates.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self' {websocket}; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def content_security_policy() -> str:
    """The CSP for this request: `connect-src` allows websockets to the app's own host only.

    ('self' covers ws: and wss: of the same host in CSP Level 3, but not in every browser.)
    """
    host = request.host
    if not _HOST.fullmatch(host):  # a Host header no browser sends: no websocket source at all
        return CSP.format(websocket="").replace("'self' ;", "'self';")
    scheme = "wss" if request.scheme == "https" else "ws"
    return CSP.format(websocket=f"{scheme}://{host}")


def init_app(app: Flask) -> None:
    """Give each request an id (from `X-Request-ID` or new), log it, and set security headers."""

    @app.before_request
    def bind_request_id() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _VALID_ID.match(incoming) else uuid.uuid4().hex
        g.started = time.perf_counter()
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=g.request_id)
        refuse_unusable_input()  # NUL, lone surrogates, over-deep JSON: a 400 before any view

    @app.after_request
    def finish(response: Response) -> Response:
        request_id = g.get("request_id")
        if request_id:
            response.headers["X-Request-ID"] = request_id
        headers = response.headers
        if "Content-Security-Policy" not in headers:
            headers["Content-Security-Policy"] = content_security_policy()
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        if app.config.get("PRODUCTION"):
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if "started" in g and request.endpoint != "static":
            elapsed = time.perf_counter() - g.started
            metrics.observe_request(request.method, request.endpoint, response.status_code, elapsed)
            log.info("request", method=request.method, path=request.path, status=response.status_code,
                     duration_ms=round(elapsed * 1000, 2))
        return response
