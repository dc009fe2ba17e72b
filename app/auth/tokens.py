"""How sessions and JWTs map to users, and how token failures answer (always 401, one shape)."""
from __future__ import annotations

from typing import Any

from flask import g
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

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


@event.listens_for(db.session, "after_flush")
def _note_token_version_changes(session: Session, _context: Any) -> None:
    """Remember users whose token version changed or who were deleted, to forget after commit."""
    changed = {obj.id for obj in session.dirty
               if isinstance(obj, User) and inspect(obj).attrs.token_version.history.has_changes()}
    changed.update(obj.id for obj in session.deleted if isinstance(obj, User))
    if changed:
        session.info.setdefault("tickerdesk_forget_users", set()).update(changed)


@event.listens_for(db.session, "after_commit")
def _forget_changed_versions(session: Session) -> None:
    for user_id in session.info.pop("tickerdesk_forget_users", ()):
        blocklist.forget_user(user_id)


@event.listens_for(db.session, "after_rollback")
def _drop_noted_versions(session: Session) -> None:
    session.info.pop("tickerdesk_forget_users", None)


@jwt.token_in_blocklist_loader
def token_revoked(_header: dict[str, Any], claims: dict[str, Any]) -> bool:
    """Return whether the token was revoked; note its user's current version for the lookup."""
    identity = str(claims.get("sub", ""))
    revoked, version = blocklist.token_state(claims["jti"], int(identity) if identity.isdigit() else None)
    g.tickerdesk_token_user_version = version
    return revoked


@jwt.user_lookup_loader
def load_token_user(_header: dict[str, Any], claims: dict[str, Any]) -> TokenUser | None:
    """Return the token's user, None when it is gone or changed its password since."""
    identity = str(claims.get("sub", ""))
    if not identity.isdigit():
        return None
    version = g.pop("tickerdesk_token_user_version", None)
    if version is None:  # the revocation check was skipped
        version = blocklist.token_state(claims["jti"], int(identity))[1]
    if version == blocklist.GONE or claims.get("ver", 0) != version:
        return None
    return TokenUser(int(identity))


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
