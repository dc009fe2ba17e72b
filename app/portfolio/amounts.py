"""Amounts as users type them: one bounded decimal parser for the API, the page forms and the CSV import.

`Decimal(text)` accepts far more than an amount: "NaN", "sNaN", "Infinity", "1_000", digits of
other scripts, and exponents such as "1E+1000000" whose first arithmetic (`abs`, a comparison
with a context, `quantize`) raises decimal.Overflow or InvalidOperation, a 500. Here a number is
plain ASCII, `[+-]digits[.digits][e[+-]digits]`, at most MAX_INPUT_CHARS long, and it must then
fit the columns, at most 15 digits before the decimal point and 10 after it (NUMERIC(28, 10)),
checked with `adjusted()` and the digit tuple, which never overflow. "-0" is 0. Only after
that is it a Decimal anyone computes with.
"""
from __future__ import annotations

import hashlib
import re
from datetime import date
from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError

from app.ops.apidoc import DecimalString

MAX_INPUT_CHARS = 64
INTEGER_DIGITS = 15
FRACTION_DIGITS = 10
# Lazy: in the language of the page the message is shown on (the API's requests are always English).
LIMITS = _l("At most %(before)s digits before the decimal point and %(after)s after it.",
            before=INTEGER_DIGITS, after=FRACTION_DIGITS)
NOT_A_NUMBER = _l("Enter a number.")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_STEP = Decimal(1).scaleb(-FRACTION_DIGITS)


class AmountError(ValueError):
    """The text is not an amount we store; the message says why, for the field."""


def parse_amount(raw: Any) -> Decimal:
    """Return the amount `raw` (text, int, float or Decimal) stands for, or raise AmountError."""
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float, Decimal)):
        raise AmountError(NOT_A_NUMBER)
    text = raw.strip() if isinstance(raw, str) else str(raw)
    if len(text) > MAX_INPUT_CHARS:
        raise AmountError(LIMITS)
    if not _NUMBER.fullmatch(text):
        raise AmountError(NOT_A_NUMBER)
    value = Decimal(text)
    if not fits(value):
        raise AmountError(LIMITS)
    return value.copy_abs() if value.is_zero() else value  # "-0" is 0


# Decimal comma, with or without dots between thousands: "180,50", "1.234,56", "-0,5".
_COMMA_NUMBER = re.compile(r"([+-]?)([0-9]{1,3}(?:\.[0-9]{3})+|[0-9]+)(?:,([0-9]+))?")


def parse_decimal_comma(raw: str) -> Decimal:
    """Return the amount of text written with a decimal comma (German style), or raise AmountError.

    Dots may group thousands ("1.234,56"). Text without a comma is read as `parse_amount` reads it,
    so "180.50" is still 180.50, not 18,050.
    """
    text = raw.strip()
    if "," not in text and text.count(".") <= 1:
        return parse_amount(text)
    found = _COMMA_NUMBER.fullmatch(text) if len(text) <= MAX_INPUT_CHARS else None
    if found is None:
        raise AmountError(NOT_A_NUMBER)
    sign, whole, fraction = found.groups()
    return parse_amount(f"{sign}{whole.replace('.', '')}" + (f".{fraction}" if fraction else ""))


def parse_form_amount(raw: str) -> Decimal:
    """An amount typed into a page's form: German pages take a decimal comma ("10,5", "1.234,56"),
    English ones the point; the API always reads `parse_amount`."""
    from app.ops.i18n import locale  # noqa: PLC0415

    return parse_decimal_comma(raw) if locale() == "de" else parse_amount(raw)


def fits(value: Decimal) -> bool:
    """Return whether a decimal is finite and stored exactly (15 integer and 10 fraction digits at most).

    Uses only operations that never consult the decimal context, so a huge exponent is a
    plain False, never decimal.Overflow.
    """
    if not value.is_finite():
        return False
    if value.is_zero():
        return True
    if value.adjusted() >= INTEGER_DIGITS:
        return False
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # finite
    if exponent >= -FRACTION_DIGITS:
        return True
    # More places than we keep: fine only when the extra ones are zeros (1.50000000000).
    return value.adjusted() >= -FRACTION_DIGITS and value == value.quantize(_STEP)


class Amount(DecimalString):
    """A decimal string field read through parse_amount (documented as a decimal string)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Decimal:
        try:
            return parse_amount(value)
        except AmountError as exc:
            raise ValidationError(str(exc)) from None


def content_key(day: date, symbol: str, kind: str, quantity: Any, price: Any, fee: Any, currency: str | None,
                note: str | None) -> str:
    """Return a fingerprint of a transaction's content (the stock's currency is filled in when empty)."""
    from app.stocks.search import stock_row  # noqa: PLC0415 - the universe loads lazily

    row = stock_row(symbol.upper())
    currency = (currency or (row.currency if row else "")).upper()
    text = "|".join([day.isoformat(), symbol.upper(), kind.lower(), plain(quantity), plain(price), plain(fee),
                     currency, (note or "").strip()])
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def plain(value: Any) -> str:
    """Return a decimal amount as plain digits, without exponent or trailing zeros ("1E+1" -> "10")."""
    return format(Decimal(value).normalize(), "f")
