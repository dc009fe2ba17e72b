"""Responses for a signed-in user are private: never stored by a browser or a proxy cache."""
from __future__ import annotations

from flask import Flask, Response, request
from flask_login import current_user


def init_app(app: Flask) -> None:
    """Mark every response to an authenticated request `Cache-Control: no-store`."""

    @app.after_request
    def no_store_when_signed_in(response: Response) -> Response:
        # A bearer token, or a page session that loaded a user (touching current_user loads it).
        signed_in = request.headers.get("Authorization", "").startswith("Bearer ") or (
            request.endpoint != "static" and current_user.is_authenticated)
        if signed_in:
            response.headers["Cache-Control"] = "no-store"
            response.headers.pop("Expires", None)
            response.vary.add("Cookie")
        return response
