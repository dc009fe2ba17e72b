"""The stock universe and persisted daily bars."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.types import Money, UTCDateTime, utcnow


class Stock(db.Model):
    """One listed company; `symbol` is the canonical Yahoo-style symbol (e.g. ADS.DE, AAPL)."""

    __tablename__ = "stocks"

    id: Mapped[int] = mapped_column(primary_key=True)
    symbol: Mapped[str] = mapped_column(String(24), unique=True, index=True)
    name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(80), index=True)
    exchange: Mapped[str] = mapped_column(String(40))
    currency: Mapped[str] = mapped_column(String(3))
    sector: Mapped[str] = mapped_column(String(60), index=True)
    industry: Mapped[str | None] = mapped_column(String(200), default=None)
    isin: Mapped[str | None] = mapped_column(String(12), index=True, default=None)
    # Lower-case, accent-free "symbol name isin" for case- and accent-insensitive search.
    search_text: Mapped[str] = mapped_column(String(400), default="")
    memberships: Mapped[list[IndexMembership]] = relationship(
        back_populates="stock", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def indices(self) -> list[str]:
        """Return the names of the indices this stock belongs to."""
        return sorted(m.index_name for m in self.memberships)


class IndexMembership(db.Model):
    """That a stock is a member of an index (DAX, S&P 500, ...)."""

    __tablename__ = "index_memberships"
    __table_args__ = (UniqueConstraint("stock_id", "index_name", name="uq_index_membership"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    stock_id: Mapped[int] = mapped_column(ForeignKey("stocks.id", ondelete="CASCADE"), index=True)
    index_name: Mapped[str] = mapped_column(String(40), index=True)
    stock: Mapped[Stock] = relationship(back_populates="memberships")


class PriceBar(db.Model):
    """A closed trading day's OHLCV; immutable once stored."""

    __tablename__ = "price_bars"
    __table_args__ = (UniqueConstraint("symbol", "day", name="uq_price_bar_symbol_day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    symbol: Mapped[str] = mapped_column(String(24))
    day: Mapped[date] = mapped_column()
    open: Mapped[Decimal] = mapped_column(Money())
    high: Mapped[Decimal] = mapped_column(Money())
    low: Mapped[Decimal] = mapped_column(Money())
    close: Mapped[Decimal] = mapped_column(Money())
    volume: Mapped[int | None] = mapped_column(BigInteger, default=None)
    source: Mapped[str] = mapped_column(String(20))
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class StockSplit(db.Model):
    """A stock split: from `ex_date` on, every `ratio_from` shares are `ratio_to` (4:1 is 1 -> 4, 1:10 is 10 -> 1).

    Provider events (Yahoo chart events, Finnhub, the demo market) have no `user_id` and apply
    to everyone; a split a user entered for a stock the providers do not know applies only to
    that user's reads. Splits are applied on read: transactions keep what the user entered.
    """

    __tablename__ = "stock_splits"
    __table_args__ = (
        # `owner` is the user id, or 0 for everyone: NULLs are distinct in a unique index.
        Index("uq_stock_split", "symbol", "ex_date", "owner", unique=True),
        CheckConstraint("ratio_from > 0 AND ratio_to > 0 AND ratio_from <> ratio_to", name="ck_split_ratio"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    symbol: Mapped[str] = mapped_column(String(24), index=True)
    ex_date: Mapped[date] = mapped_column()
    ratio_from: Mapped[int] = mapped_column(Integer)
    ratio_to: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), default=None, index=True)
    owner: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @property
    def ratio(self) -> Decimal:
        """New shares per old share: 4 for a 4:1 split, 0.1 for a 1:10 reverse split."""
        return Decimal(self.ratio_to) / Decimal(self.ratio_from)


class DividendEvent(db.Model):
    """A cash dividend: shareholders at the start of `ex_date` are paid `amount` per share, in `currency`.

    `amount` is per share as held on the ex-date (as traded then), not restated for later
    splits, so amount x the quantity held that day is the cash. Providers that give amounts
    adjusted for later splits (Yahoo's chart events) are converted when stored.
    """

    __tablename__ = "dividend_events"
    __table_args__ = (UniqueConstraint("symbol", "ex_date", name="uq_dividend_event"),
                      CheckConstraint("amount > 0", name="ck_dividend_amount"))

    id: Mapped[int] = mapped_column(primary_key=True)
    symbol: Mapped[str] = mapped_column(String(24), index=True)
    ex_date: Mapped[date] = mapped_column()
    pay_date: Mapped[date | None] = mapped_column(default=None)
    amount: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(3))
    source: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
