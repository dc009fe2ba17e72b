"""How sessions and JWTs map to users, and how token failures answer (always 401, one shape)."""
from __future__ import annotations

from typing import Any

from flask import g

from app.auth import blocklist, sessions
from app.extensions import db, jwt, login_manager
from app.models import User
from app.ops.errors import error_response


@login_manager.user_loader
def load_session_user(session_id: str) -> User | None:
    """Return the user of a page session (or remember-me cookie) while its log-in session lives."""
    found = sessions.load(session_id)
    return None if found is None else found[1]


class TokenUser:
    """The user a verified access token names: `id` at once, every other attribute from the row.

    API views that only need the id (most) cost no query; the row is loaded on first use.
    """

    __slots__ = ("id", "_row")

    def __init__(self, user_id: int) -> None:
        object.__setattr__(self, "id", user_id)
        object.__setattr__(self, "_row", None)

    @property
    def row(self) -> User:
        """The user's database row (loaded once per request)."""
        row = self._row
        if row is None:
            row = db.session.get(User, self.id)
            if row is None:  # deleted since the token was checked, moments ago
                raise LookupError(f"user {self.id} no longer exists")
            object.__setattr__(self, "_row", row)
        return row

    def __getattr__(self, name: str) -> Any:
        return getattr(self.row, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.row, name, value)


@jwt.token_in_blocklist_loader
def token_revoked(_header: dict[str, Any], claims: dict[str, Any]) -> bool:
    """Return whether the token was revoked; note its session's owner for the user lookup."""
    revoked, owner = blocklist.token_state(claims["jti"], _sid(claims))
    g.tickerdesk_token_owner = owner
    return revoked


@jwt.user_lookup_loader
def load_token_user(_header: dict[str, Any], claims: dict[str, Any]) -> TokenUser | None:
    """Return the token's user while its log-in session lives and belongs to the token's subject."""
    identity, sid = str(claims.get("sub", "")), _sid(claims)
    if not identity.isdigit() or sid is None:
        return None
    owner = g.pop("tickerdesk_token_owner", None)
    if owner is None:  # the revocation check was skipped
        owner = blocklist.token_state(claims["jti"], sid)[1]
    return TokenUser(int(identity)) if owner == int(identity) else None


def _sid(claims: dict[str, Any]) -> str | None:
    sid = claims.get("sid")
    return sid if isinstance(sid, str) and 20 <= len(sid) <= 64 else None


@jwt.unauthorized_loader
def missing_token(reason: str):
    """No token, or not in the Authorization header."""
    return error_response(401, "Authentication required: send 'Authorization: Bearer <access token>'.",
                          "unauthorized", {"reason": reason})


@jwt.invalid_token_loader
def invalid_token(reason: str):
    """A malformed, tampered or wrong-type token."""
    return error_response(401, f"The token is invalid: {reason}.", "invalid_token")


@jwt.expired_token_loader
def expired_token(_header: dict[str, Any], claims: dict[str, Any]):
    """An expired token."""
    return error_response(401, "The token has expired; log in or refresh it.", "token_expired",
                          {"token_type": claims.get("type")})


@jwt.revoked_token_loader
def revoked_token(_header: dict[str, Any], _claims: dict[str, Any]):
    """A revoked token."""
    return error_response(401, "The token has been revoked; log in again.", "token_revoked")


@jwt.user_lookup_error_loader
def unknown_user(_header: dict[str, Any], _claims: dict[str, Any]):
    """A token whose log-in session ended (log-out, password change, account erased) or expired."""
    return error_response(401, "The token's log-in session has ended; log in again.", "invalid_token")


@jwt.needs_fresh_token_loader
def needs_fresh(_header: dict[str, Any], _claims: dict[str, Any]):
    """A fresh token is required."""
    return error_response(401, "This action needs a fresh log-in.", "fresh_token_required")
