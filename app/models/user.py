"""Accounts and the audit trail."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from flask_login import UserMixin
from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import Money, UTCDateTime, utcnow


class User(UserMixin, db.Model):
    """A person with an account; email is stored normalised (lower-case)."""

    __tablename__ = "users"
    # SQLite would hand a deleted maximum id to the next account; AUTOINCREMENT never reuses one.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True, index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(default=False)
    base_currency: Mapped[str | None] = mapped_column(String(3), default=None)
    benchmark: Mapped[str | None] = mapped_column(String(32), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Counts password changes (sessions end through login_sessions, app.auth.sessions).
    token_version: Mapped[int] = mapped_column(default=0)
    # Bumped (under the row lock) by every write to the user's transactions: keys derived caches.
    ledger_version: Mapped[int] = mapped_column(default=0, server_default="0")
    # The Sharpe ratio's risk-free rate, a year's rate as a fraction (0.02 = 2 %); None: 0.
    risk_free_rate: Mapped[Decimal | None] = mapped_column(Money(), default=None)
    # How a sale's cost is taken from the position: "fifo" (oldest lots first) or "average".
    cost_basis_method: Mapped[str] = mapped_column(String(8), default="fifo", server_default="fifo")
    # The pages' colour theme: "auto" (the browser's prefers-color-scheme), "light" or "dark".
    theme: Mapped[str] = mapped_column(String(5), default="auto", server_default="auto")
    # The pages' language ("en", "de"); None: the browser's Accept-Language.
    locale: Mapped[str | None] = mapped_column(String(5), default=None)

    # The log-in session a request came with (set by the session loader), not a column.
    login_session_id = None  # type: str | None

    def get_id(self) -> str | None:
        """Return what Flask-Login stores in the session and remember-me cookies: the log-in's id."""
        return self.login_session_id


class AuditEvent(db.Model):
    """A security-relevant event (log-in, password change, revocation, export, deletion)."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_user_created", "user_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), default=None)
    kind: Mapped[str] = mapped_column(String(40))
    ip: Mapped[str | None] = mapped_column(String(64), default=None)
    request_id: Mapped[str | None] = mapped_column(String(64), default=None)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class LoginSession(db.Model):
    """One log-in: a page session (and its remember-me cookie) or an API token pair.

    Its random id is what a session cookie, a remember-me cookie, a JWT (`sid` claim) and a
    live socket carry; deleting the row ends all of them, wherever they are presented.
    """

    __tablename__ = "login_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # "page" or "api"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
