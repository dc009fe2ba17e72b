"""A circuit breaker per provider: opens after repeated failures, probes again later."""
from __future__ import annotations

import time
from collections.abc import Callable

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class CircuitBreaker:
    """Closed → (``failure_threshold`` failures in a row) → open → (``reset_after_s``) → half-open.

    Half-open lets one probe through: success closes the circuit, failure opens it again.
    Runs on the single event loop, so it needs no lock.
    """

    def __init__(self, failure_threshold: int = 5, reset_after_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.failure_threshold = failure_threshold
        self.reset_after_s = reset_after_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> str:
        """Return "closed", "open" or "half_open"."""
        if self._opened_at is None:
            return CLOSED
        return HALF_OPEN if self._clock() - self._opened_at >= self.reset_after_s else OPEN

    def allow(self) -> bool:
        """Return whether a call may go out now (in half-open, only one probe at a time)."""
        state = self.state
        if state == CLOSED:
            return True
        if state == HALF_OPEN and not self._probing:
            self._probing = True
            return True
        return False

    def success(self) -> None:
        """Record a good answer: the circuit closes."""
        self._failures, self._opened_at, self._probing = 0, None, False

    def failure(self) -> None:
        """Record a failed call: opens the circuit at the threshold, or again after a failed probe."""
        self._failures += 1
        if self._probing or self._failures >= self.failure_threshold:
            self._opened_at = self._clock()
        self._probing = False

    def release(self) -> None:
        """Forget an unfinished probe (cancelled), so another may try."""
        self._probing = False
