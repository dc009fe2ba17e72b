"""Account work that spans models: registration, authentication, export, erasure, audit."""
from __future__ import annotations

import functools
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, g, has_request_context, request
from flask_babel import gettext, lazy_gettext
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from zxcvbn import zxcvbn

from app import computed
from app.auth import schemas, sessions
from app.auth.password_hints import translated
from app.auth.schemas import MAX_PASSWORD, MIN_PASSWORD
from app.extensions import db
from app.models import Alert, AuditEvent, Transaction, User, Watchlist, WatchlistItem
from app.models.notify import AlertFire, Delivery, NotificationSettings, Webhook

# The first watchlist's name, in the language the account is created in (the API's: English).
DEFAULT_WATCHLIST = lazy_gettext("My watchlist")


class AccountError(ValueError):
    """A request about an account that cannot be honoured; `field` names the culprit."""

    def __init__(self, message: str, field: str | None = None, status: int = 400):
        super().__init__(message)
        self.message, self.field, self.status = message, field, status


def normalize_email(raw: str) -> str:
    """Return the canonical (lower-case, IDNA-normalised) form of an email, or raise AccountError."""
    try:
        return schemas.normalize_email(raw)
    except ValueError as exc:
        raise AccountError(str(exc), "email") from None


MIN_STRENGTH = 3  # zxcvbn's score, 0-4: 3 is "safely unguessable" (about 10^10 guesses)
_STRENGTH_PREFIX = 100  # zxcvbn's time grows with length; a strong prefix makes a strong password


def check_password_rules(password: str, email: str | None = None) -> None:
    """Raise AccountError unless the password has 10 to 1024 characters and is hard to guess.

    Strength is zxcvbn's estimate (its dictionaries of common passwords, names and words,
    keyboard patterns, repeats and sequences), with the account's email as a known input.
    """
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise AccountError(gettext("The password must be at least %(min)d characters long.", min=MIN_PASSWORD), "password")
    if len(password) > MAX_PASSWORD:
        raise AccountError(gettext("The password must be at most %(max)d characters long.", max=MAX_PASSWORD), "password")
    inputs = [email, email.partition("@")[0]] if email else []
    result = zxcvbn(password[:_STRENGTH_PREFIX], user_inputs=inputs)
    if result["score"] < MIN_STRENGTH:
        feedback = result["feedback"]
        hints = " ".join(translated(h) for h in filter(None, [feedback.get("warning"), *feedback.get("suggestions", [])]))
        weak = gettext("This password is too easy to guess.")
        raise AccountError(f"{weak} {hints}".strip(), "password")


def register_user(email: str, password: str) -> User:
    """Create an account with its default watchlist; AccountError(409) when the email is taken."""
    email = normalize_email(email)
    check_password_rules(password, email)
    user = User(email=email, password_hash=_hasher().hash(password))
    db.session.add(user)
    try:
        db.session.flush()
        db.session.add(Watchlist(user_id=user.id, name=str(DEFAULT_WATCHLIST), position=0))
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise AccountError(gettext("An account with this email already exists."), "email", status=409) from None
    return user


def authenticate(email: str, password: str) -> User | None:
    """Return the user for these credentials, or None (the same for a wrong email or password)."""
    try:
        email = normalize_email(email)
    except AccountError:
        email = ""
    user = db.session.scalar(select(User).where(User.email == email)) if email else None
    # Verify against a dummy hash for unknown emails so both answers take the same time.
    stored = user.password_hash if user else _dummy_hash()
    try:
        _hasher().verify(stored, password if isinstance(password, str) else "")
    except (VerificationError, InvalidHashError):
        audit("login_failed", user.id if user else None)
        return None
    if user is None:  # pragma: no cover - the dummy password is random and never matches
        return None
    if _hasher().check_needs_rehash(user.password_hash):
        user.password_hash = _hasher().hash(password)
    audit("login_succeeded", user.id)
    return user


def verify_password(user: User, password: str) -> bool:
    """Return whether `password` is the user's (no audit row: for re-confirming a signed-in user)."""
    try:
        return _hasher().verify(user.password_hash, password if isinstance(password, str) else "")
    except (VerificationError, InvalidHashError):
        return False


def change_password(user: User, current: str, new: str) -> None:
    """Set a new password after checking the current one; ends every session of the user.

    The caller opens a new session for the request that asked, if it should stay logged in.
    """
    if not verify_password(user, current):
        raise AccountError(gettext("The current password is not correct."), "current_password")
    check_password_rules(new, user.email)
    user.password_hash = _hasher().hash(new)
    user.token_version += 1
    sessions.end_all(user.id)
    audit("password_changed", user.id)


def log_out_everywhere(user_id: int) -> int:
    """End every log-in session of the user (pages, remember-me cookies, tokens, sockets)."""
    ended = sessions.end_all(user_id)
    audit("logged_out_everywhere", user_id, sessions=ended)
    return ended


def set_base_currency(user: User, currency: str) -> None:
    """Set the user's base currency (a three-letter code)."""
    currency = (currency or "").strip().upper()
    if len(currency) != 3 or not currency.isalpha():
        raise AccountError(gettext("Choose a three-letter currency code such as EUR or USD."), "base_currency")
    user.base_currency = currency
    db.session.commit()


def export_user_data(user: User) -> dict[str, Any]:
    """Return everything the user created, as JSON-able data."""
    watchlists = db.session.scalars(select(Watchlist).where(Watchlist.user_id == user.id)
                                    .order_by(Watchlist.position, Watchlist.id)).all()
    transactions = db.session.scalars(select(Transaction).where(Transaction.user_id == user.id)
                                      .order_by(Transaction.day, Transaction.id)).all()
    alerts = db.session.scalars(select(Alert).where(Alert.user_id == user.id).order_by(Alert.id)).all()
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.user_id == user.id)
                                .order_by(AuditEvent.id)).all()
    settings = db.session.get(NotificationSettings, user.id)
    webhooks = db.session.scalars(select(Webhook).where(Webhook.user_id == user.id).order_by(Webhook.id)).all()
    fires = db.session.scalars(select(AlertFire).where(AlertFire.user_id == user.id).order_by(AlertFire.id)).all()
    deliveries: dict[int, list[Delivery]] = {}
    for delivery in db.session.scalars(select(Delivery).where(Delivery.user_id == user.id).order_by(Delivery.id)):
        deliveries.setdefault(delivery.fire_id, []).append(delivery)
    audit("data_exported", user.id)
    db.session.commit()
    return {
        "account": {"id": user.id, "email": user.email, "created_at": user.created_at.isoformat(),
                    "base_currency": user.base_currency, "benchmark": user.benchmark},
        "watchlists": [{"id": w.id, "name": w.name, "position": w.position,
                        "items": [{"symbol": i.symbol, "position": i.position,
                                   "added_at": i.added_at.isoformat()} for i in w.items]} for w in watchlists],
        "transactions": [{"id": t.id, "symbol": t.symbol, "kind": t.kind, "quantity": str(t.quantity),
                          "price": str(t.price), "fee": str(t.fee), "currency": t.currency,
                          "date": t.day.isoformat(), "note": t.note} for t in transactions],
        "alerts": [{"id": a.id, "symbol": a.symbol, "kind": a.kind, "threshold": str(a.threshold),
                    "threshold_pct": str(a.threshold_pct) if a.threshold_pct is not None else None,
                    "active": a.active,
                    "triggered_at": a.triggered_at.isoformat() if a.triggered_at else None,
                    "triggered_price": str(a.triggered_price) if a.triggered_price is not None else None}
                   for a in alerts],
        "audit_events": [{"kind": e.kind, "created_at": e.created_at.isoformat(), "ip": e.ip}
                         for e in events],
        # Webhook secrets stay out: they are shown once, when made, and can be made anew.
        "notifications": {
            "email_enabled": settings.email_enabled if settings else None,
            "email_address": settings.email_address if settings else None,
            "webhook_enabled": settings.webhook_enabled if settings else None,
            "webhooks": [{"id": w.id, "url": w.url, "format": w.format, "created_at": w.created_at.isoformat()}
                         for w in webhooks]},
        "alert_fires": [{"alert_id": f.alert_id, "symbol": f.symbol, "kind": f.kind, "threshold": str(f.threshold),
                         "triggered_price": str(f.triggered_price), "triggered_at": f.triggered_at.isoformat(),
                         "deliveries": [{"channel": d.channel, "target": d.target, "status": d.status,
                                         "attempts": d.attempts,
                                         "sent_at": d.sent_at.isoformat() if d.sent_at else None}
                                        for d in deliveries.get(f.id, [])]} for f in fires],
    }


def delete_account(user: User) -> None:
    """Erase the account and every row that belongs to it."""
    user_id = user.id
    sessions.end_all(user_id)  # noted, so that their sockets and cached states go after the commit
    watchlist_ids = select(Watchlist.id).where(Watchlist.user_id == user_id)
    db.session.execute(delete(WatchlistItem).where(WatchlistItem.watchlist_id.in_(watchlist_ids)))
    for model in (Watchlist, Transaction, Alert, AuditEvent):
        db.session.execute(delete(model).where(model.user_id == user_id))
    db.session.execute(delete(User).where(User.id == user_id))
    computed.forget(f"performance:{user_id}:")
    # Keep that an erasure happened, but nothing that identifies who.
    db.session.add(AuditEvent(kind="account_deleted", user_id=None, details={}))
    db.session.commit()


def audit(kind: str, user_id: int | None, **details: Any) -> None:
    """Record a security event (committed with the caller's transaction)."""
    ip = request.remote_addr if has_request_context() else None
    request_id = g.get("request_id") if has_request_context() else None
    db.session.add(AuditEvent(kind=kind, user_id=user_id, ip=ip, request_id=request_id, details=details))


def _hasher() -> PasswordHasher:
    return _hasher_for(bool(current_app.config.get("PASSWORD_HASH_FAST")))


@functools.cache
def _hasher_for(fast: bool) -> PasswordHasher:
    # Tests may ask for cheap parameters; production uses argon2-cffi's recommended defaults.
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1) if fast else PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    import secrets

    return _hasher().hash(secrets.token_urlsafe(16))


def has_logged_in_from(email: str, ip: str | None) -> bool:
    """Whether the account with this (normalised) email has logged in from address `ip` before."""
    if not ip:
        return False
    return db.session.scalar(
        select(AuditEvent.id).join(User, User.id == AuditEvent.user_id)
        .where(User.email == email, AuditEvent.kind == "login_succeeded", AuditEvent.ip == ip).limit(1)) is not None
