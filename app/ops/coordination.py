"""What processes share to coordinate: run locks (dedupe by key) and timestamps.

With Redis (`REDIS_URL`): a lock is `SET key token NX PX lease`, renewed by its holder while it
runs, released only by its holder (compare-and-delete), and lapses by itself within the lease
if the holder dies; timestamps are plain keys.
Both live under JOBS_KEY_PREFIX. Without Redis (the embedded default, one host): a lock is a
non-blocking `flock` on a file under JOBS_DIR/locks (the kernel drops it when the holder dies)
and timestamps are small files under JOBS_DIR/state.
"""
from __future__ import annotations

import fcntl
import os
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import structlog
from flask import current_app

from app.ops.redis import redis_client

log = structlog.get_logger(__name__)
_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
LEASE_S = 10.0  # how long a dead holder's Redis lock outlives it


@contextmanager
def run_lock(key: str, ttl_s: float) -> Iterator[bool]:
    """Hold the lock `key` for the block (at most `ttl_s`) if nobody else does; yield whether this run got it.

    With Redis the lock is a lease of LEASE_S that a thread of the holder renews while the block
    runs, so a holder that dies (a worker killed mid-task) frees it within LEASE_S, not ttl_s:
    the redelivered task can then redo the work at once.
    """
    client = redis_client(current_app)
    if client is not None:
        name = f"{current_app.config['JOBS_KEY_PREFIX']}lock:{key}"
        token = secrets.token_hex(8)
        lease_ms = int(min(ttl_s, LEASE_S) * 1000)
        got = bool(client.set(name, token, nx=True, px=lease_ms))
        stop = threading.Event()
        if got:
            threading.Thread(target=_renew, args=(client, name, token, lease_ms, time.monotonic() + ttl_s, stop),
                             name=f"lease-{key}", daemon=True).start()
        try:
            yield got
        finally:
            if got:
                stop.set()
                client.eval(_RELEASE, 1, name, token)
        return
    path = _folder("locks") / f"{key}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _renew(client: Any, name: str, token: str, lease_ms: int, until: float, stop: threading.Event) -> None:
    while not stop.wait(lease_ms / 3000):
        if time.monotonic() >= until:
            return  # held for its whole ttl: let it lapse
        try:
            if not client.eval(_RENEW, 1, name, token, lease_ms):
                return  # lost it (lapsed while Redis was away): the holder finishes; the lock is someone else's
        except Exception:  # noqa: BLE001 - Redis away: try again next beat, the lease may still hold
            log.warning("run_lock_renew_failed", lock=name)


def mark(name: str, at: float | None = None) -> None:
    """Record the time (epoch seconds, default now) of event `name`."""
    at = time.time() if at is None else at
    client = redis_client(current_app)
    if client is not None:
        client.set(f"{current_app.config['JOBS_KEY_PREFIX']}at:{name}", repr(at), ex=7 * 86400)
        return
    path = _folder("state") / name
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")  # one per writer: no race
    tmp.write_text(repr(at))
    tmp.replace(path)  # atomic: a reader never sees half a number


def last(name: str) -> float | None:
    """Return the time event `name` was last recorded, or None if never."""
    client = redis_client(current_app)
    if client is not None:
        raw = client.get(f"{current_app.config['JOBS_KEY_PREFIX']}at:{name}")
        return None if raw is None else float(raw)
    try:
        return float((_folder("state") / name).read_text())
    except (FileNotFoundError, ValueError):
        return None


def _folder(kind: str) -> Path:
    folder = Path(current_app.config["JOBS_DIR"]) / kind
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def claim(key: str, ttl_s: float) -> bool:
    """Take the marker `key` for `ttl_s` unless it is taken; return whether this caller took it.

    Unlike `run_lock`, a claim outlives its caller: a web process claims "a computation is
    queued" and the worker that runs it `unclaim`s it when done (or it lapses after ttl_s).
    """
    client = redis_client(current_app)
    if client is not None:
        return bool(client.set(f"{current_app.config['JOBS_KEY_PREFIX']}claim:{key}", "1",
                               nx=True, px=int(ttl_s * 1000)))
    path = _folder("claims") / key
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        try:
            if time.time() - path.stat().st_mtime < ttl_s:
                return False
            path.unlink()  # lapsed: the next taker wins
        except FileNotFoundError:
            pass
        return claim(key, ttl_s)
    os.close(fd)
    return True


def unclaim(key: str) -> None:
    """Give the marker `key` back."""
    client = redis_client(current_app)
    if client is not None:
        client.delete(f"{current_app.config['JOBS_KEY_PREFIX']}claim:{key}")
        return
    (_folder("claims") / key).unlink(missing_ok=True)
