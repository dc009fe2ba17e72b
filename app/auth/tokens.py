"""How sessions and JWTs map to users, and how token failures answer (always 401, one shape)."""
from __future__ import annotations

from typing import Any

from app.auth import blocklist
from app.extensions import db, jwt, login_manager
from app.models import User
from app.ops.errors import error_response


@login_manager.user_loader
def load_session_user(session_id: str) -> User | None:
    """Return the user of a session id "<id>:<token_version>", None when it is outdated."""
    user_id, _, version = session_id.partition(":")
    if not user_id.isdigit() or not version.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    return user if user is not None and user.token_version == int(version) else None


@jwt.user_lookup_loader
def load_token_user(_header: dict[str, Any], claims: dict[str, Any]) -> User | None:
    """Return the token's user, None when it is gone or changed its password since."""
    identity = claims.get("sub", "")
    if not str(identity).isdigit():
        return None
    user = db.session.get(User, int(identity))
    if user is None or claims.get("ver", 0) != user.token_version:
        return None
    return user


@jwt.token_in_blocklist_loader
def token_revoked(_header: dict[str, Any], claims: dict[str, Any]) -> bool:
    """Return whether the token was revoked."""
    return blocklist.is_revoked(claims["jti"])


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
    """A token whose account is gone or whose password changed."""
    return error_response(401, "The token's account no longer accepts it; log in again.", "invalid_token")


@jwt.needs_fresh_token_loader
def needs_fresh(_header: dict[str, Any], _claims: dict[str, Any]):
    """A fresh token is required."""
    return error_response(401, "This action needs a fresh log-in.", "fresh_token_required")
