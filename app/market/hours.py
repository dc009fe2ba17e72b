"""Exchange hours: which exchange a stock trades on (its code in exchange_calendars) and whether it is open."""
from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

# The universe's exchange names -> ISO 10383 codes of exchange_calendars.
CALENDARS = {
    "NYSE": "XNYS", "NASDAQ": "XNAS", "TSE": "XTKS", "XETRA": "XETR", "LSE": "XLON",
    "Euronext Paris": "XPAR", "BME": "XMAD", "Nasdaq Stockholm": "XSTO", "Euronext Amsterdam": "XAMS",
    "Nasdaq Helsinki": "XHEL", "SIX": "XSWX", "Euronext Brussels": "XBRU", "Borsa Italiana": "XMIL",
}


@lru_cache(maxsize=None)
def _calendar(code: str):
    import exchange_calendars  # noqa: PLC0415 - slow to import

    return exchange_calendars.get_calendar(code)


def exchange_status(code: str, now: datetime) -> dict[str, Any]:
    """Return whether exchange `code` is open at `now`, and when that next changes."""
    import pandas as pd  # noqa: PLC0415

    cal = _calendar(code)
    minute = pd.Timestamp(now).floor("min")
    is_open = bool(cal.is_open_on_minute(minute, ignore_breaks=True))
    change = cal.next_close(minute) if is_open else cal.next_open(minute)
    return {"exchange": code, "open": is_open, "next_change": change.isoformat()}
