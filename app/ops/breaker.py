"""One circuit breaker for every remote the app calls: market-data providers, the cache's Redis,
the shared provider budget's Redis.

Closed → (``failure_threshold`` failures in a row) → open → (``reset_after_s``) → half-open:
exactly one caller is let through as a probe; its success closes the circuit, its failure
opens it again for another ``reset_after_s``. ``on_open`` / ``on_close`` hooks fire once per
outage (the owner logs there), so one outage gives one warning however many calls it skips.

Thread-safe (the cache calls it from many threads) and lock-free while closed, so the
common path costs one attribute read. Imports nothing from the app: low layers use it.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class CircuitBreaker:
    """Tracks whether a remote may be called now; see the module docstring for the cycle."""

    def __init__(self, failure_threshold: int = 5, reset_after_s: float = 30.0, *,
                 clock: Callable[[], float] = time.monotonic,
                 on_open: Callable[[BaseException | None], Any] | None = None,
                 on_close: Callable[[float], Any] | None = None) -> None:
        self.failure_threshold = max(1, int(failure_threshold))
        self.reset_after_s = float(reset_after_s)
        self.outages = 0  # times the circuit opened since it was built
        self._clock = clock
        self._on_open = on_open
        self._on_close = on_close
        self._lock = threading.Lock()
        self._failures = 0
        self._down_since: float | None = None  # None: closed
        self._retry_at = 0.0
        self._probing = False

    @property
    def state(self) -> str:
        """Return "closed", "open" or "half_open" (open, and a probe may go out)."""
        if self._down_since is None:
            return CLOSED
        return HALF_OPEN if self._clock() >= self._retry_at else OPEN

    @property
    def is_open(self) -> bool:
        """True from the trip until a success (open or half-open)."""
        return self._down_since is not None

    @property
    def retry_in_s(self) -> float:
        """Seconds until the next probe may go out (0 when closed or due)."""
        return max(0.0, self._retry_at - self._clock()) if self._down_since is not None else 0.0

    def allow(self) -> bool:
        """Return whether a call may go out now: always when closed, else only the one probe."""
        if self._down_since is None:
            return True
        with self._lock:
            if self._down_since is None:
                return True
            if self._probing or self._clock() < self._retry_at:
                return False
            self._probing = True
            return True

    def success(self) -> bool:
        """Record a good answer: the circuit closes; return True if it was open."""
        if self._down_since is None and self._failures == 0:
            return False
        with self._lock:
            down_since, self._down_since = self._down_since, None
            self._failures, self._probing = 0, False
            down_s = 0.0 if down_since is None else self._clock() - down_since
        if down_since is None:
            return False
        if self._on_close is not None:
            self._on_close(down_s)
        return True

    def failure(self, exc: BaseException | None = None) -> None:
        """Record a failed call: open at the threshold; while open, start the wait again."""
        with self._lock:
            now = self._clock()
            self._failures += 1
            tripped = self._down_since is None and self._failures >= self.failure_threshold
            if tripped:
                self._down_since = now
                self.outages += 1
            if self._down_since is not None:
                self._retry_at = now + self.reset_after_s
            self._probing = False
        if tripped and self._on_open is not None:
            self._on_open(exc)

    def release(self) -> None:
        """End a probe whose outcome proves nothing either way (cancelled, refused locally)."""
        with self._lock:
            self._probing = False

    def snapshot(self) -> dict[str, Any]:
        """Return a JSON-able view: state, seconds until the next probe, failures, outages."""
        with self._lock:
            return {"state": self.state, "retry_in_s": round(self.retry_in_s, 3),
                    "reset_after_s": self.reset_after_s, "failures": self._failures, "outages": self.outages}
