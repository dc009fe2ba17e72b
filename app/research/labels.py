"""The growth score's factors and inputs as pages name them: a label and a unit for every key."""
from __future__ import annotations

from typing import Any

FACTOR_LABELS = {"performance": "Performance", "fundamental": "Fundamentals", "sentiment": "News sentiment",
                 "sector": "Sector strength", "momentum": "Momentum"}

# key -> (label, unit); units: "pct" a fraction shown in %, "pct+" the same with its sign (a change),
# "x" a multiple, "signed" -1..1, "num", "text".
_BASE = {
    "return_3m": ("3-month return", "pct+"), "return_6m": ("6-month return", "pct+"),
    "return_12m": ("12-month return", "pct+"), "volatility": ("Volatility (annualised)", "pct"),
    "pe_ratio": ("Price/earnings", "x"), "pb_ratio": ("Price/book", "x"),
    "debt_to_equity": ("Debt/equity", "x"), "roe": ("Return on equity", "pct"),
    "revenue_growth": ("Revenue growth", "pct+"), "news_sentiment": ("News sentiment (−1 to +1)", "signed"),
    "sector": ("Sector", "text"), "sector_return_6m": ("Sector's 6-month return", "pct+"),
    "universe_return_6m": ("Universe's 6-month return", "pct+"), "rsi14": ("RSI (14 days)", "num"),
    "macd_hist": ("MACD histogram", "num"), "price_vs_sma50": ("Price vs 50-day average", "pct+"),
    "price_vs_sma200": ("Price vs 200-day average", "pct+"),
}
INPUT_LABELS = {**_BASE, **{f"sector_median_{k}": (f"Sector median {label[0].lower()}{label[1:]}", unit)
                            for k, (label, unit) in _BASE.items()
                            if k in ("pe_ratio", "pb_ratio", "debt_to_equity", "roe", "revenue_growth")}}


def input_label(key: str) -> str:
    """The label of a score input (an unknown key as words, never a raw identifier)."""
    return INPUT_LABELS.get(key, (key.replace("_", " ").capitalize(), "num"))[0]


def input_value(value: Any, key: str) -> str:
    """A score input's value in its unit: 12.3 %, 18.4×, +0.25, 54.1; "–" when unknown."""
    if value is None:
        return "–"
    unit = INPUT_LABELS.get(key, ("", "num"))[1]
    if unit == "text":
        return str(value)
    number = float(value)
    if unit in ("pct", "pct+"):
        return f"{number * 100:{'+' if unit == 'pct+' else ''}.1f} %"
    if unit == "x":
        return f"{number:.1f}×"
    if unit == "signed":
        return f"{number:+.2f}"
    return f"{number:.1f}"
