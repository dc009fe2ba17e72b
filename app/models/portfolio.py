"""Watchlists, transactions and alerts: everything a user saves."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.types import Money, UTCDateTime, utcnow

TRANSACTION_KINDS = ("buy", "sell", "dividend", "fee")
ALERT_KINDS = ("above", "below", "stop_loss", "take_profit")


class Watchlist(db.Model):
    """A named, ordered list of symbols a user follows."""

    __tablename__ = "watchlists"
    __table_args__ = (UniqueConstraint("user_id", "name", name="uq_watchlist_user_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    items: Mapped[list[WatchlistItem]] = relationship(
        back_populates="watchlist", cascade="all, delete-orphan", order_by="WatchlistItem.position",
        lazy="selectin",
    )


class WatchlistItem(db.Model):
    """One symbol on a watchlist."""

    __tablename__ = "watchlist_items"
    __table_args__ = (UniqueConstraint("watchlist_id", "symbol", name="uq_watchlist_item_symbol"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    watchlist_id: Mapped[int] = mapped_column(ForeignKey("watchlists.id", ondelete="CASCADE"), index=True)
    symbol: Mapped[str] = mapped_column(String(24))
    position: Mapped[int] = mapped_column(default=0)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    watchlist: Mapped[Watchlist] = relationship(back_populates="items")


class Transaction(db.Model):
    """A buy, sell, dividend or fee, in the stock's own currency."""

    __tablename__ = "transactions"
    __table_args__ = (
        Index("ix_transactions_user_date", "user_id", "day"),
        CheckConstraint("kind IN ('buy', 'sell', 'dividend', 'fee')", name="ck_transaction_kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    symbol: Mapped[str] = mapped_column(String(24), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    quantity: Mapped[Decimal] = mapped_column(Money())
    price: Mapped[Decimal] = mapped_column(Money())
    fee: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0"))
    currency: Mapped[str] = mapped_column(String(3))
    day: Mapped[date] = mapped_column()
    note: Mapped[str | None] = mapped_column(String(500), default=None)
    # A fingerprint of the row's content, so re-importing the same CSV does not duplicate.
    import_key: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Alert(db.Model):
    """A price condition on a symbol that fires once, until it is re-armed."""

    __tablename__ = "alerts"
    __table_args__ = (
        CheckConstraint("kind IN ('above', 'below', 'stop_loss', 'take_profit')", name="ck_alert_kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    symbol: Mapped[str] = mapped_column(String(24), index=True)
    kind: Mapped[str] = mapped_column(String(12))
    threshold: Mapped[Decimal] = mapped_column(Money())
    # For stop-loss / take-profit given as a % from cost; the price threshold is derived from it.
    threshold_pct: Mapped[Decimal | None] = mapped_column(Money(), default=None)
    active: Mapped[bool] = mapped_column(default=True)
    triggered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    triggered_price: Mapped[Decimal | None] = mapped_column(Money(), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


DIVIDEND_DECISIONS = ("accepted", "dismissed")


class DividendDecision(db.Model):
    """What the user did with a proposed dividend (an event on a stock they held on its ex-date).

    Proposals themselves are not stored: they are derived on read from the events and the
    ledger, less the ones decided here. So a dismissed proposal never comes back, and an
    accepted one points at the transaction it booked (kept if that transaction is deleted later).
    """

    __tablename__ = "dividend_decisions"
    __table_args__ = (UniqueConstraint("user_id", "symbol", "ex_date", name="uq_dividend_decision"),
                      CheckConstraint("status IN ('accepted', 'dismissed')", name="ck_dividend_decision"))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    symbol: Mapped[str] = mapped_column(String(24))
    ex_date: Mapped[date] = mapped_column()
    status: Mapped[str] = mapped_column(String(10))
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("transactions.id", ondelete="SET NULL"),
                                                       default=None)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
