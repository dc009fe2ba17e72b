"""Log-in sessions: the one server-side record behind every cookie, token and live socket.

Each log-in (the page form, or `POST /auth/login`) creates a `LoginSession` row with a random
id. The page session and its remember-me cookie store that id (`User.get_id`), both JWTs of an
API log-in carry it as their `sid` claim, and a live socket is registered under it. A request
is authenticated only while the row exists and has not expired, so ending a session is deleting
its row: log-out ends one, "log out everywhere" and a password change end all of a user's,
erasing the account ends all with it.

Ended ids are collected on the database session and, once the deletion is committed, dropped
from the token-state cache in Redis (app.auth.blocklist) and their sockets disconnected in this
process; the other processes' live loops disconnect theirs on their next session check.
"""
from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from blinker import Namespace
from flask import current_app
from sqlalchemy import delete, event, select
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import LoginSession, User
from app.models.types import utcnow

PAGE, API = "page", "api"
_ENDED_KEY = "tickerdesk_ended_sessions"
# Sent (sender: the app, session_ids: a set) once the end of log-in sessions is committed.
sessions_ended = Namespace().signal("sessions-ended")
_CHUNK = 500


def start(user: User, kind: str, lifetime: timedelta) -> LoginSession:
    """Open a log-in session for `user` (committed with the caller's transaction); set it on the user."""
    now = utcnow()
    # Expired rows of this user go now: the table holds only sessions that can still be used.
    db.session.execute(delete(LoginSession).where(LoginSession.user_id == user.id, LoginSession.expires_at <= now))
    row = LoginSession(id=secrets.token_urlsafe(32), user_id=user.id, kind=kind, created_at=now,
                       expires_at=now + lifetime)
    db.session.add(row)
    user.login_session_id = row.id
    return row


def page_lifetime(remember: bool) -> timedelta:
    """How long a page log-in lasts: the remember-me cookie's duration, or the session's."""
    cfg = current_app.config
    return cfg["REMEMBER_COOKIE_DURATION"] if remember else cfg["PERMANENT_SESSION_LIFETIME"]


def api_lifetime() -> timedelta:
    """How long an API log-in lasts: its refresh token's lifetime."""
    return current_app.config["JWT_REFRESH_TOKEN_EXPIRES"]


def load(session_id: str | None) -> tuple[LoginSession, User] | None:
    """Return the live session with this id and its user, None when it is unknown or expired."""
    if not isinstance(session_id, str) or not 20 <= len(session_id) <= 64:
        return None
    found = db.session.execute(select(LoginSession, User).join(User, User.id == LoginSession.user_id)
                               .where(LoginSession.id == session_id)).first()
    if found is None or found[0].expires_at <= utcnow():
        return None
    found[1].login_session_id = session_id
    return found[0], found[1]


def user_of(session_id: str) -> int | None:
    """Return the user id of a live session, None when it is unknown or expired."""
    row = db.session.execute(select(LoginSession.user_id, LoginSession.expires_at)
                             .where(LoginSession.id == session_id)).first()
    if row is None or row.expires_at <= utcnow():
        return None
    return int(row.user_id)


def expires_at(session_id: str) -> datetime | None:
    """When a session expires (None when it is gone)."""
    return db.session.scalar(select(LoginSession.expires_at).where(LoginSession.id == session_id))


def alive(session_ids: Iterable[str]) -> set[str]:
    """Those of `session_ids` that are live sessions now."""
    ids, now, found = list(set(session_ids)), utcnow(), set()
    for start_at in range(0, len(ids), _CHUNK):
        found.update(db.session.scalars(select(LoginSession.id).where(
            LoginSession.id.in_(ids[start_at:start_at + _CHUNK]), LoginSession.expires_at > now)))
    return found


def end(session_id: str | None) -> None:
    """End one session (committed with the caller's transaction)."""
    if session_id:
        db.session.execute(delete(LoginSession).where(LoginSession.id == session_id))
        _note_ended([session_id])


def end_all(user_id: int, keep: str | None = None) -> int:
    """End every session of a user but `keep`; return how many ended (committed with the caller's)."""
    query = select(LoginSession.id).where(LoginSession.user_id == user_id)
    ids = [sid for sid in db.session.scalars(query) if sid != keep]
    for start_at in range(0, len(ids), _CHUNK):
        db.session.execute(delete(LoginSession).where(LoginSession.id.in_(ids[start_at:start_at + _CHUNK])))
    _note_ended(ids)
    return len(ids)


def _note_ended(ids: list[str]) -> None:
    if ids:
        db.session.info.setdefault(_ENDED_KEY, set()).update(ids)


@event.listens_for(db.session, "after_commit")
def _after_commit(session: Session) -> None:
    ended = session.info.pop(_ENDED_KEY, None)
    if not ended:
        return
    # Subscribers: the token state (app.auth.blocklist forgets its copies) and the live sockets
    # (app.live disconnects this process's); they import this module, never the other way round.
    sessions_ended.send(current_app._get_current_object(), session_ids=ended)


@event.listens_for(db.session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_ENDED_KEY, None)

