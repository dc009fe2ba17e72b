"""Which exchanges are open now: one answer per exchange per run, for the jobs' pace."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone

import structlog
from flask import current_app

log = structlog.get_logger(__name__)


class MarketHours:
    """Answers "is this symbol's exchange open?" for one run, asking each calendar once."""

    def __init__(self) -> None:
        cfg = current_app.config
        providers = list(cfg.get("MARKET_PROVIDERS") or ["demo"])
        # The demo market, when it serves the quotes, replays a session at any hour: always open.
        self.always_open = bool(cfg.get("DEMO_ALWAYS_OPEN")) and providers[:1] == ["demo"]
        self.now = datetime.now(timezone.utc)
        self._open: dict[str, bool] = {}

    def is_open(self, symbol: str) -> bool:
        """Return whether the symbol's exchange trades now (unknown exchanges count as open)."""
        if self.always_open:
            return True
        from app.market.hours import CALENDARS, exchange_status  # noqa: PLC0415 - exchange_calendars is slow
        from app.stocks.search import stock_row  # noqa: PLC0415

        row = stock_row(symbol)
        code = CALENDARS.get(row.exchange) if row is not None else None
        if code is None:
            return True
        if code not in self._open:
            try:
                self._open[code] = bool(exchange_status(code, self.now)["open"])
            except Exception as exc:  # noqa: BLE001 - a calendar past its range: treat as open, keep prices
                log.warning("jobs_calendar_failed", exchange=code, error=type(exc).__name__)
                self._open[code] = True
        return self._open[code]

    def any_open(self, symbols: Iterable[str]) -> bool:
        """Return whether the exchange of any of the symbols trades now."""
        return any(self.is_open(symbol) for symbol in symbols)
