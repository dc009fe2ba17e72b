"""History ranges and weekly bars."""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any

RANGES = ("1m", "3m", "6m", "ytd", "1y", "2y", "5y", "max")
INTERVALS = ("1d", "1wk")
FIRST_DAY = date(2000, 1, 3)


def range_start(range_name: str, today: date) -> date:
    """Return the first day of a named range ending today."""
    days = {"1m": 31, "3m": 92, "6m": 183, "1y": 366, "2y": 731, "5y": 1827}
    if range_name == "ytd":
        return date(today.year, 1, 1)
    if range_name == "max":
        return FIRST_DAY
    return today - timedelta(days=days[range_name])


def weekly(bars: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fold daily bars (oldest first) into ISO weeks: first open, max high, min low, last close, summed volume."""
    out: list[dict[str, Any]] = []
    current: tuple[int, int] | None = None
    for bar in bars:
        week = date.fromisoformat(bar["date"]).isocalendar()[:2]
        if week != current:
            current = week
            out.append(dict(bar))
            continue
        last = out[-1]
        last["high"] = max(last["high"], bar["high"])
        last["low"] = min(last["low"], bar["low"])
        last["close"] = bar["close"]
        if bar.get("volume") is not None:
            last["volume"] = (last.get("volume") or 0) + bar["volume"]
    return out
