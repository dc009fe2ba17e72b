"""Responses for a signed-in user are private: never stored by a browser or a proxy cache."""
from __future__ import annotations

from flask import Flask, Response, current_app, request, session


def init_app(app: Flask) -> None:
    """Mark every response to a request with credentials `Cache-Control: no-store`."""

    @app.after_request
    def no_store_when_signed_in(response: Response) -> Response:
        # A bearer token, a page session or a remember-me cookie. Read from the request alone: this
        # hook also runs for error responses (the database may be down), so it loads no user.
        signed_in = request.headers.get("Authorization", "").startswith("Bearer ") or (
            request.endpoint != "static" and (
                "_user_id" in session
                or current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token") in request.cookies))
        if signed_in:
            response.headers["Cache-Control"] = "no-store"
            response.headers.pop("Expires", None)
            response.vary.add("Cookie")
        return response
