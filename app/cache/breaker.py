"""Back-off switch for a remote level: trip on connection errors, probe again later."""

from __future__ import annotations

import threading
import time

import structlog

log = structlog.get_logger(__name__)


class Backoff:
    """Tracks whether a remote store (Redis) may be called.

    ``failure`` marks it down for ``backoff_s`` seconds and logs one warning per
    outage; after the back-off exactly one caller is let through as a probe
    (``allow`` returns True for it only); ``success`` brings it back up and logs
    once that it is back. ``allow`` is lock-free while the store is up.
    """

    def __init__(self, backoff_s: float = 2.0, name: str = "redis", target: str | None = None,
                 clock=time.monotonic) -> None:
        self.backoff_s = float(backoff_s)
        self.name = name
        self.target = target  # must already be redacted: it is logged
        self._clock = clock
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._retry_at = 0.0
        self._probing = False
        self.outages = 0

    @property
    def is_down(self) -> bool:
        """True while the store is considered unreachable."""
        return self._down_since is not None

    def allow(self) -> bool:
        """Return True when the caller may use the store now (the probe, if down)."""
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
        """Record that a call reached the store; log once and return True if it was down."""
        if self._down_since is None:
            return False
        with self._lock:
            if self._down_since is None:
                return False
            down_s = self._clock() - self._down_since
            self._down_since = None
            self._probing = False
        log.info("cache.remote_back", store=self.name, target=self.target,
                 down_s=round(down_s, 3))
        return True

    def failure(self, exc: BaseException) -> None:
        """Record a connection/timeout error: back off, warn once per outage."""
        with self._lock:
            now = self._clock()
            first = self._down_since is None
            if first:
                self._down_since = now
                self.outages += 1
            self._retry_at = now + self.backoff_s
            self._probing = False
        if first:
            log.warning("cache.remote_down", store=self.name, target=self.target,
                        error_type=type(exc).__name__, error=str(exc),
                        backoff_s=self.backoff_s)

    def release(self) -> None:
        """End a probe that got an answer which proves nothing either way."""
        with self._lock:
            self._probing = False

    def state(self) -> dict:
        """Return a JSON-able view: up/down, seconds until the next probe, outages."""
        with self._lock:
            down = self._down_since is not None
            retry_in = max(0.0, self._retry_at - self._clock()) if down else 0.0
        return {"state": "down" if down else "up", "retry_in_s": round(retry_in, 3),
                "backoff_s": self.backoff_s, "outages": self.outages}
