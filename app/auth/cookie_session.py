"""Flask's signed-cookie sessions, without their per-request cost on requests that carry none."""
from __future__ import annotations

from typing import Any

from flask.sessions import SecureCookieSession, SecureCookieSessionInterface


class CookieSessionInterface(SecureCookieSessionInterface):
    """`SecureCookieSessionInterface`, skipping the serializer when there is no cookie to read or write.

    Flask builds an itsdangerous serializer on every request, cookie or not; the JSON API's
    bearer-token requests never carry a session cookie, so they get an empty session directly
    and leave without one (unless the view put something in it).
    """

    def open_session(self, app: Any, request: Any) -> SecureCookieSession | None:
        if not app.secret_key:
            return None
        if not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Any, session: Any, response: Any) -> None:
        if not session and not session.modified:  # nothing stored, nothing to delete
            if session.accessed:
                response.vary.add("Cookie")
            return
        super().save_session(app, session, response)
