"""Notification settings, webhooks, per-alert channel choices, alert fires and their deliveries."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import Money, UTCDateTime, utcnow

CHANNELS = ("email", "webhook")  # besides live, which every fire gets
DELIVERY_STATUSES = ("pending", "sent", "failed")
WEBHOOK_FORMATS = ("json", "ntfy-text")


class NotificationSettings(db.Model):
    """A user's default channels for fired alerts (live always; email on or off, to which address)."""

    __tablename__ = "notification_settings"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    email_enabled: Mapped[bool] = mapped_column(default=True)
    # None: the account's own address.
    email_address: Mapped[str | None] = mapped_column(String(254), default=None)
    webhook_enabled: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Webhook(db.Model):
    """A URL that fired alerts are POSTed to, signed with its own secret."""

    __tablename__ = "webhooks"
    __table_args__ = (CheckConstraint("format IN ('json', 'ntfy-text')", name="ck_webhook_format"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    secret: Mapped[str] = mapped_column(String(128))
    format: Mapped[str] = mapped_column(String(10), default="json")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AlertChannels(db.Model):
    """One alert's override of the account's channels: None follows the account default."""

    __tablename__ = "alert_channels"

    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True)
    email: Mapped[bool | None] = mapped_column(default=None)
    webhook: Mapped[bool | None] = mapped_column(default=None)


class AlertFire(db.Model):
    """One firing of an alert: the history survives re-arming and deleting the alert."""

    __tablename__ = "alert_fires"
    __table_args__ = (Index("uq_alert_fire", "alert_id", "triggered_at", unique=True),
                      Index("ix_alert_fires_user_time", "user_id", "triggered_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", ondelete="SET NULL"), default=None)
    symbol: Mapped[str] = mapped_column(String(24))
    kind: Mapped[str] = mapped_column(String(12))
    threshold: Mapped[Decimal] = mapped_column(Money())
    triggered_price: Mapped[Decimal] = mapped_column(Money())
    triggered_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Delivery(db.Model):
    """One fire sent on one channel to one target; the idempotency key makes it happen once."""

    __tablename__ = "deliveries"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'sent', 'failed')", name="ck_delivery_status"),
        CheckConstraint("channel IN ('email', 'webhook')", name="ck_delivery_channel"),
        Index("ix_deliveries_user_status", "user_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    fire_id: Mapped[int] = mapped_column(ForeignKey("alert_fires.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(10))
    # An email address or a webhook URL (never its secret).
    target: Mapped[str] = mapped_column(String(2048))
    webhook_id: Mapped[int | None] = mapped_column(ForeignKey("webhooks.id", ondelete="SET NULL"), default=None)
    idempotency_key: Mapped[str] = mapped_column(String(400), unique=True)
    status: Mapped[str] = mapped_column(String(8), default="pending")
    # email: "smtp" or "outbox" (no SMTP configured: the user reads it on the alerts page).
    via: Mapped[str | None] = mapped_column(String(8), default=None)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(500), default=None)
    subject: Mapped[str | None] = mapped_column(String(200), default=None)
    body: Mapped[str | None] = mapped_column(Text(), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
