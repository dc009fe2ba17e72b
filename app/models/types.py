"""Column types that keep money exact and time zone-aware on SQLite and PostgreSQL alike."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from decimal import InvalidOperation

from sqlalchemy import DateTime, Numeric, String, event
from sqlalchemy.orm import Mapper
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    """Return the current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """A timestamp stored as UTC and always read back timezone-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column; attach a timezone")
        value = value.astimezone(timezone.utc)
        # SQLite keeps no zone: store naive UTC there, aware everywhere else.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Money(TypeDecorator):
    """An exact decimal amount: NUMERIC(28, 10) on PostgreSQL, text on SQLite (which has no decimal)."""

    impl = Numeric(28, 10)
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(40))
        return dialect.type_descriptor(Numeric(28, 10, asdecimal=True))

    def process_bind_param(self, value: Decimal | int | str | None, dialect: Any) -> Any:
        if value is None:
            return None
        value = Decimal(value)
        if not value.is_finite():
            raise ValueError("money amounts must be finite")
        return str(plain_decimal(value)) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Any) -> Decimal | None:
        if value is None:
            return None
        # SQLite holds the plain text written above; PostgreSQL pads NUMERIC(28, 10) with zeros.
        return Decimal(value) if isinstance(value, str) else plain_decimal(Decimal(value))


def plain_decimal(value: Decimal) -> Decimal:
    """Return the value without trailing zeros and without an exponent (100, not 1E+2 or 100.0000000000)."""
    value = value.normalize()
    return value.quantize(Decimal(1)) if value.as_tuple().exponent > 0 else value


def _as_stored(_target: Any, value: Any, _old: Any, _initiator: Any) -> Any:
    # The session keeps objects' values after a commit (expire_on_commit=False), so an amount
    # must read back as the database would return it: 4.9, not the 4.90 that was sent.
    try:
        amount = Decimal(value) if value is not None else None
    except (InvalidOperation, TypeError, ValueError):
        return value  # the bind refuses it, with its own message
    return plain_decimal(amount) if amount is not None and amount.is_finite() else value


@event.listens_for(Mapper, "mapper_configured")
def _normalise_money_on_set(mapper: Mapper, cls: type) -> None:
    for prop in mapper.column_attrs:
        if any(isinstance(column.type, Money) for column in prop.columns):
            event.listen(getattr(cls, prop.key), "set", _as_stored, retval=True)
