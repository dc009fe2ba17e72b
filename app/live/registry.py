"""Who is connected to this process and which symbols they watch; shared through Redis.

Each web process keeps its connections in memory (sid -> user and symbols) and, with Redis,
publishes the union of its symbols and users under keys of its own that expire unless the
process refreshes them (`publish`, called by the live loop). The streamer, in whichever
process holds the lock, reads the union over every live process (`all_symbols`,
`all_users`); a process that dies stops refreshing and its keys lapse.
"""
from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field

import redis
import structlog

log = structlog.get_logger(__name__)


@dataclass
class Connection:
    """One Socket.IO connection: its user and the symbols it subscribed to."""

    user_id: int
    session_id: str  # the log-in session it was opened with: it ends with it
    symbols: set[str] = field(default_factory=set)


class Registry:
    """The connections of this process, and their published union in Redis (when configured)."""

    def __init__(self, client: redis.Redis | None, prefix: str, ttl_s: float) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl_s = ttl_s
        self.proc_id = uuid.uuid4().hex[:12]
        self._lock = threading.Lock()
        self._conns: dict[str, Connection] = {}
        self.dirty = True

    # -- this process ------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._conns)

    def add(self, sid: str, user_id: int, session_id: str) -> None:
        """Register a new connection."""
        with self._lock:
            self._conns[sid] = Connection(user_id, session_id)
            self.dirty = True

    def count_user(self, user_id: int) -> int:
        """How many connections of this process belong to `user_id`."""
        with self._lock:
            return sum(1 for c in self._conns.values() if c.user_id == user_id)

    def by_session(self) -> dict[str, list[str]]:
        """Log-in session id -> the socket ids of this process opened with it."""
        with self._lock:
            found: dict[str, list[str]] = {}
            for sid, conn in self._conns.items():
                found.setdefault(conn.session_id, []).append(sid)
            return found

    def remove(self, sid: str) -> Connection | None:
        """Forget a connection (on disconnect); return it."""
        with self._lock:
            self.dirty = True
            return self._conns.pop(sid, None)

    def get(self, sid: str) -> Connection | None:
        """Return the connection of `sid`, if registered."""
        return self._conns.get(sid)

    def subscribe(self, sid: str, symbols: list[str]) -> list[str]:
        """Add symbols to a connection; return those that were new to it."""
        with self._lock:
            conn = self._conns[sid]
            added = [s for s in symbols if s not in conn.symbols]
            conn.symbols.update(added)
            self.dirty = self.dirty or bool(added)
            return added

    def unsubscribe(self, sid: str, symbols: list[str]) -> list[str]:
        """Remove symbols from a connection; return those it had."""
        with self._lock:
            conn = self._conns[sid]
            removed = [s for s in symbols if s in conn.symbols]
            conn.symbols.difference_update(removed)
            self.dirty = self.dirty or bool(removed)
            return removed

    def local_symbols(self) -> set[str]:
        """Every symbol some connection of this process watches."""
        with self._lock:
            return set().union(*(c.symbols for c in self._conns.values())) if self._conns else set()

    def local_users(self) -> set[int]:
        """Every user connected to this process."""
        with self._lock:
            return {c.user_id for c in self._conns.values()}

    # -- across processes ----------------------------------------------------------------

    def _key(self, kind: str, proc: str | None = None) -> str:
        return f"{self.prefix}{kind}:{proc or self.proc_id}"

    def publish(self) -> None:
        """Write this process's symbols and users to Redis, with a fresh expiry."""
        if self.client is None:
            return
        symbols, users = self.local_symbols(), self.local_users()
        self.dirty = False
        ttl_ms = int(self.ttl_s * 1000)
        try:
            pipe = self.client.pipeline(transaction=True)
            for kind, members in (("syms", symbols), ("users", users)):
                key = self._key(kind)
                pipe.delete(key)
                if members:
                    pipe.sadd(key, *members)
                    pipe.pexpire(key, ttl_ms)
            pipe.execute()
        except redis.RedisError as exc:
            self.dirty = True  # try again on the next round
            log.warning("live_registry_publish_failed", error=type(exc).__name__)

    def withdraw(self) -> None:
        """Remove this process's keys (on shutdown)."""
        if self.client is None:
            return
        try:
            self.client.delete(self._key("syms"), self._key("users"))
        except redis.RedisError:
            pass

    def all_symbols(self) -> set[str]:
        """The symbols watched in every live process (this one's alone without Redis)."""
        return {m.decode() if isinstance(m, bytes) else m for m in self._union("syms", self.local_symbols())}

    def all_users(self) -> set[int]:
        """The users connected to any live process."""
        return {int(m) for m in self._union("users", self.local_users())}

    def _union(self, kind: str, local: set) -> set:
        if self.client is None:
            return set(local)
        try:
            keys = list(self.client.scan_iter(match=f"{self.prefix}{kind}:*", count=500))
            return set(self.client.sunion(keys)) if keys else set()
        except redis.RedisError as exc:
            log.warning("live_registry_read_failed", error=type(exc).__name__)
            return set(local)
