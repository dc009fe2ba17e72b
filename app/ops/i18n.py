"""Languages and number formats of the pages (Flask-Babel): English and German.

The language is the account's choice, else the browser's `Accept-Language`, else English. The
API always answers in English. Numbers, money and dates on pages are written in the page's
language by Babel (CLDR), as the browser's Intl writes the ones live.js updates, so a cell that
moves keeps the format of the page: "1,234.56" in English, "1.234,56" in German.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from babel import numbers as babel_numbers
from babel.dates import format_date
from flask import Flask, has_request_context, request
from flask_babel import Babel, get_locale, lazy_gettext as _l

LOCALES = ("en", "de")
LANGUAGE_NAMES = {"en": "English", "de": "Deutsch"}
DEFAULT_LOCALE = "en"
# ISO 4217 minor units where they are not 2 (the currencies of the universe and the usual bases).
CURRENCY_DIGITS = {"JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "BHD": 3, "KWD": 3}
DASH = "–"

babel = Babel()
ALERT_KINDS = {"above": _l("above"), "below": _l("below"), "stop_loss": _l("stop loss"),
               "take_profit": _l("take profit")}
SENTIMENT_LABELS = {"positive": _l("positive"), "negative": _l("negative"), "neutral": _l("neutral")}


def select_locale() -> str:
    """The page's language: the account's, else the best of Accept-Language, else English; the API: English."""
    if not has_request_context() or request.path.startswith("/api/"):
        return DEFAULT_LOCALE
    from flask_login import current_user  # noqa: PLC0415 - the login manager is bound per app

    chosen = getattr(current_user, "locale", None) if current_user and current_user.is_authenticated else None
    if chosen in LOCALES:
        return chosen
    return request.accept_languages.best_match(LOCALES) or DEFAULT_LOCALE


def locale() -> str:
    """The language of the page being drawn ("en" outside a request)."""
    return str(get_locale() or DEFAULT_LOCALE) if has_request_context() else DEFAULT_LOCALE


def number(value: Any, digits: int = 2, *, sign: bool = False, at_least: int | None = None) -> str:
    """A number in the page's language, `digits` decimals (or from `at_least` up to `digits`); "–" for none."""
    if value is None:
        return DASH
    low = digits if at_least is None else at_least
    pattern = "#,##0" + ("." + "0" * low + "#" * (digits - low) if digits else "")
    if sign:
        pattern = f"+{pattern};-{pattern}"
    return babel_numbers.format_decimal(Decimal(str(value)), format=pattern, locale=locale(),
                                        decimal_quantization=True)


def percent(value: Any, digits: int = 2, *, sign: bool = True, fraction: bool = False) -> str:
    """A percentage as the pages write it ("+1.25 %", German "+1,25 %"); a fraction times 100 with `fraction`."""
    if value is None:
        return DASH
    amount = Decimal(str(value)) * (100 if fraction else 1)
    return f"{number(amount, digits, sign=sign)} %"


def money(value: Any, currency: str | None = None, *, symbol: bool = False) -> str:
    """An amount in its currency's minor units (4.90, JPY 2,500), never fewer digits than stored
    (180.505 stays 180.505); with `symbol` the currency too, as the language writes it ("€1,234.56",
    German "1.234,56 €")."""
    if value is None:
        return DASH
    amount = Decimal(str(value))
    digits = CURRENCY_DIGITS.get((currency or "").upper(), 2)
    exponent = amount.normalize().as_tuple().exponent
    own = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    places = max(digits, min(own, 10))
    if symbol and currency:
        return babel_numbers.format_currency(amount, currency.upper(), locale=locale(), currency_digits=False,
                                             format=_currency_pattern(places))
    return number(amount, places)


def _currency_pattern(places: int) -> str:
    from babel import Locale  # noqa: PLC0415

    standard = Locale.parse(locale()).currency_formats["standard"].pattern  # "¤#,##0.00" or "#,##0.00 ¤"
    decimals = "." + "0" * places if places else ""
    return standard.replace("#,##0.00", "#,##0" + decimals).split(";")[0]


def price(value: Any) -> str:
    """A price: 2 decimals from 1 up (150.00, 2,918.71), 4 below (0.0523); grouped; "–" for none."""
    if value is None:
        return DASH
    amount = Decimal(str(value))
    return number(amount, 2 if abs(amount) >= 1 else 4)


def day(value: date | datetime | str | None) -> str:
    """A date in the page's language: 2026-12-08 in English (ISO, as the forms take it), 08.12.2026 in German."""
    if value is None:
        return DASH
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    if isinstance(value, datetime):
        value = value.date()
    return value.isoformat() if locale() == "en" else format_date(value, format="dd.MM.yyyy", locale=locale())


# The universe's sectors (app.universe.SECTORS), as pages name them.
SECTOR_LABELS = {"Technology": _l("Technology"), "Healthcare": _l("Healthcare"), "Financials": _l("Financials"),
                 "Consumer Cyclical": _l("Consumer Cyclical"), "Consumer Defensive": _l("Consumer Defensive"),
                 "Industrials": _l("Industrials"), "Energy": _l("Energy"), "Utilities": _l("Utilities"),
                 "Real Estate": _l("Real Estate"), "Basic Materials": _l("Basic Materials"),
                 "Communication Services": _l("Communication Services")}


def country(name: str | None) -> str:
    """A country of the universe (stored by its English name) in the page's language (CLDR's names)."""
    if not name:
        return DASH
    code = _country_codes().get(name)
    if code is None or locale() == "en":
        return name
    from babel import Locale  # noqa: PLC0415

    return Locale.parse(locale()).territories.get(code, name)


def sector(name: str | None) -> str:
    """A sector in the page's language (the provider's own name when it is not one of the universe's)."""
    if not name:
        return DASH
    return str(SECTOR_LABELS.get(name, name))


@lru_cache(maxsize=1)
def _country_codes() -> dict[str, str]:
    from babel import Locale  # noqa: PLC0415

    return {title: code for code, title in Locale.parse("en").territories.items() if code.isalpha()}


def weekday_time(value: datetime) -> str:
    """A time within the week, as an exchange's next open or close: "Tue 08:00" (German "Di. 08:00")."""
    from babel.dates import format_datetime  # noqa: PLC0415

    return format_datetime(value, format="EEE HH:mm", tzinfo=value.tzinfo, locale=locale())


def init_app(app: Flask) -> None:
    """Bind Flask-Babel (translations in ./translations) and the number filters of the templates."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LOCALE)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(_translations_dir(app)))
    babel.init_app(app, locale_selector=select_locale)
    for name, fn in (("number", number), ("percent", percent), ("money", money), ("price", price),
                     ("day", day), ("weekday_time", weekday_time), ("country", country), ("sector", sector)):
        app.add_template_filter(fn, name)
    app.add_template_global(ALERT_KINDS, "ALERT_KINDS")
    app.add_template_global(SENTIMENT_LABELS, "SENTIMENT_LABELS")
    app.add_template_global(locale, "page_locale")
    app.add_template_global(LANGUAGE_NAMES, "LANGUAGE_NAMES")


def _translations_dir(app: Flask):
    from pathlib import Path  # noqa: PLC0415

    return Path(app.root_path).parent / "translations"
