"""The growth score's factors and inputs as pages name them: a label and a unit for every key."""
from __future__ import annotations

from typing import Any

from babel.numbers import get_decimal_symbol
from flask_babel import lazy_gettext as _l

from app.ops import i18n

FACTOR_LABELS = {"performance": _l("Performance"), "fundamental": _l("Fundamentals"),
                 "sentiment": _l("News sentiment"), "sector": _l("Sector strength"), "momentum": _l("Momentum")}

# key -> (label, unit); units: "pct" a fraction shown in %, "pct+" the same with its sign (a change),
# "x" a multiple, "signed" -1..1, "num", "text".
_BASE = {
    "return_3m": (_l("3-month return"), "pct+"), "return_6m": (_l("6-month return"), "pct+"),
    "return_12m": (_l("12-month return"), "pct+"), "volatility": (_l("Volatility (annualised)"), "pct"),
    "pe_ratio": (_l("Price/earnings"), "x"), "pb_ratio": (_l("Price/book"), "x"),
    "debt_to_equity": (_l("Debt/equity"), "x"), "roe": (_l("Return on equity"), "pct"),
    "revenue_growth": (_l("Revenue growth"), "pct+"), "news_sentiment": (_l("News sentiment (−1 to +1)"), "signed"),
    "sector": (_l("Sector"), "text"), "sector_return_6m": (_l("Sector's 6-month return"), "pct+"),
    "universe_return_6m": (_l("Universe's 6-month return"), "pct+"), "rsi14": (_l("RSI (14 days)"), "num"),
    "macd_hist": (_l("MACD histogram"), "num"), "price_vs_sma50": (_l("Price vs 50-day average"), "pct+"),
    "price_vs_sma200": (_l("Price vs 200-day average"), "pct+"),
}
# The sector's medians of the fundamentals, each a whole text for the translations.
_SECTOR_MEDIANS = {
    "pe_ratio": _l("Sector median price/earnings"), "pb_ratio": _l("Sector median price/book"),
    "debt_to_equity": _l("Sector median debt/equity"), "roe": _l("Sector median return on equity"),
    "revenue_growth": _l("Sector median revenue growth"),
}
INPUT_LABELS = {**_BASE, **{f"sector_median_{k}": (label, _BASE[k][1]) for k, label in _SECTOR_MEDIANS.items()}}


def input_label(key: str) -> str:
    """The label of a score input (an unknown key as words, never a raw identifier)."""
    return str(INPUT_LABELS.get(key, (key.replace("_", " ").capitalize(), "num"))[0])


def input_value(value: Any, key: str) -> str:
    """A score input's value in its unit: 12.3 %, 18.4×, +0.25, 54.1; "–" when unknown.
    The page's language's decimal sign (German 12,3 %); no grouping, as before."""
    if value is None:
        return "–"
    unit = INPUT_LABELS.get(key, ("", "num"))[1]
    if unit == "text":
        return str(value)
    number = float(value)
    if unit in ("pct", "pct+"):
        text = f"{number * 100:{'+' if unit == 'pct+' else ''}.1f} %"
    elif unit == "x":
        text = f"{number:.1f}×"
    elif unit == "signed":
        text = f"{number:+.2f}"
    else:
        text = f"{number:.1f}"
    return _localized(text)


def _localized(text: str) -> str:
    """A number written by Python ("12.3") with the decimal sign of the page's language."""
    language = i18n.locale()
    return text if language == "en" else text.replace(".", get_decimal_symbol(language))
