"""One request budget per provider, shared by every process that calls it, with users first.

A provider's documented limits (`Limits.budget`, in the `limits` package's notation, e.g.
"5/minute;25/day") are moving windows kept where every process sees them: in Redis when
REDIS_URL is set (all hosts share one budget), else in a SQLite file on the host (the web
and worker processes of the embedded default share it). Each HTTP request takes one entry
from every window of its provider just before it goes out (`HttpProvider._get`).

Priority: calls made under `background_priority()` (the Celery tasks) may fill only
`BUDGET_BACKGROUND_SHARE` of each window (floor(share × limit) entries); user-facing
calls (the default) may fill all of it, so the last part of every window is kept for
users. Both count in the same window. A call that finds no room waits for it while its
time budget (`deadline`, set by the client) allows, else fails with BudgetExhaustedError.
"""
from __future__ import annotations

import asyncio
import contextvars
import hashlib
import math
import random
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from limits import RateLimitItem, parse_many

from app.market.budget_store import WindowStore, store_for
from app.market.types import BudgetExhaustedError

USER, BACKGROUND = "user", "background"
DEFAULT_BACKGROUND_SHARE = 0.8
DEFAULT_WAIT_S = 8.0  # longest wait for room when no deadline is set (MARKET_BUDGET_S's default)
_REQUEST_RESERVE_S = 1.0  # a wait must leave this much of the deadline for the request itself

#: Whose call this is: "user" (web requests, the default) or "background" (pipeline tasks).
priority: contextvars.ContextVar[str] = contextvars.ContextVar("market_priority", default=USER)
#: When the current market call must be done (time.monotonic()); the client sets it per attempt.
deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("market_deadline", default=None)


@contextmanager
def background_priority() -> Iterator[None]:
    """Run the block's market calls as pipeline work: they may use only the background share."""
    token = priority.set(BACKGROUND)
    try:
        yield
    finally:
        priority.reset(token)


def parse_budget(spec: str | None) -> list[RateLimitItem]:
    """Return the windows of a budget spec ("60/minute;30/second"); "" or "off" is no budget."""
    text = (spec or "").strip()
    if text.lower() in ("", "off", "none"):
        return []
    return sorted(parse_many(text), key=lambda item: item.get_expiry())


class ProviderBudget:
    """The shared windows of one provider (and API key), taken per HTTP request."""

    def __init__(self, provider: str, windows: list[RateLimitItem], store: WindowStore,
                 background_share: float = DEFAULT_BACKGROUND_SHARE, api_key: str | None = None) -> None:
        self.provider = provider
        self.windows = windows  # shortest first: a refused call then spends no scarce long-window entry
        self.store = store
        self.background_share = background_share
        # Budgets are per API key; the key itself never reaches Redis or a file, only a short digest.
        who = hashlib.sha256(api_key.encode()).hexdigest()[:12] if api_key else "keyless"
        self._keys = [item.key_for(provider, who) for item in windows]

    def limit_for(self, item: RateLimitItem, who: str) -> int:
        """Return how many entries of the window `who` ("user"/"background") may fill."""
        if who == BACKGROUND:
            return math.floor(item.amount * self.background_share + 1e-9)
        return item.amount

    async def take(self) -> tuple[float, RateLimitItem] | None:
        """Take one entry from every window; None when taken, else (seconds until room, full window)."""
        who = priority.get()
        pairs = list(zip(self.windows, self._keys))
        # Look at the longer windows first: refusing there spends nothing.
        for item, key in pairs[1:]:
            wait_s = await self._room_in(item, key, who, acquire=False)
            if wait_s:
                return wait_s, item
        for item, key in pairs:
            wait_s = await self._room_in(item, key, who, acquire=True)
            if wait_s:
                return wait_s, item
        return None

    async def acquire(self) -> None:
        """Take one entry from every window, waiting for room within the deadline."""
        while (refused := await self.take()) is not None:
            await self.wait(*refused)

    async def wait(self, wait_s: float, item: RateLimitItem) -> None:
        """Sleep until the window has room, or raise BudgetExhaustedError if the deadline comes first."""
        left = (deadline.get() or time.monotonic() + DEFAULT_WAIT_S) - time.monotonic()
        if wait_s > left - min(_REQUEST_RESERVE_S, left / 2):
            share = " (its background share)" if priority.get() == BACKGROUND else ""
            raise BudgetExhaustedError(
                f"{self.provider}: the shared budget of {item} is spent{share}; room again in {wait_s:.1f} s",
                retry_after_s=wait_s, provider=self.provider)
        await asyncio.sleep(wait_s + random.uniform(0, 0.02))  # jitter: waiters do not wake as one

    async def aclose(self) -> None:
        """Release the store's connections."""
        await self.store.aclose()

    async def _room_in(self, item: RateLimitItem, key: str, who: str, *, acquire: bool) -> float:
        """Return 0 when the window has room (taking an entry if `acquire`), else the seconds until it has."""
        limit, expiry = self.limit_for(item, who), item.get_expiry()
        if limit <= 0:
            return float(expiry)
        if acquire and await self.store.acquire_entry(key, limit, expiry):
            return 0.0
        start, count = await self.store.get_moving_window(key, limit, expiry)
        if count < limit:
            return 0.0 if not acquire else 0.01  # room appeared (an entry expired) since: try again
        return max(0.01, start + expiry - time.time())


def budget_for(provider: str, spec: str | None, settings: Mapping[str, Any],
               api_key: str | None = None) -> ProviderBudget | None:
    """Return the provider's shared budget from its settings, or None (no windows, or no store set up)."""
    windows = parse_budget(spec)
    store = store_for(settings) if windows else None
    if store is None:
        return None
    share = settings.get("BUDGET_BACKGROUND_SHARE")
    share = DEFAULT_BACKGROUND_SHARE if share in (None, "") else float(share)
    return ProviderBudget(provider, windows, store, share, api_key)
