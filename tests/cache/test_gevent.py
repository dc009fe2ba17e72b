"""Under gevent monkey-patching (as gunicorn's gevent worker runs it): greenlet-safe."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    from gevent import monkey
    monkey.patch_all()

    import json, threading, time
    import gevent
    from app.cache import TieredCache, cached

    cache = TieredCache(None, max_entries=100)
    calls = []

    @cached(0.2, grace_s=30, cache=cache)
    def slow(symbol):
        calls.append(symbol)
        time.sleep(0.05)  # yields to other greenlets
        return len(calls)

    # 50 greenlets miss the same key at once: one call.
    first = gevent.joinall([gevent.spawn(slow, "A") for _ in range(50)])
    values = {g.value for g in first}
    calls_after_miss = len(calls)

    # Stale: 50 greenlets read; exactly one refresh greenlet runs.
    time.sleep(0.25)
    stale = [g.value for g in gevent.joinall([gevent.spawn(slow.lookup, "A") for _ in range(50)])]
    time.sleep(0.2)
    fresh = slow.lookup("A")

    # Many greenlets hammering the memory level.
    def hammer(n):
        for i in range(200):
            cache.l1.set(f"k{(n * 7 + i) % 300}", i, 60)
            cache.l1.get(f"k{i % 300}")
            if i % 50 == 0:
                gevent.sleep(0)
    gevent.joinall([gevent.spawn(hammer, n) for n in range(100)])

    print(json.dumps({
        "lock": type(cache.l1._lock).__module__,
        "values": sorted(values),
        "calls_after_miss": calls_after_miss,
        "stale_flags": sorted({r.stale for r in stale}),
        "calls_after_refresh": len(calls),
        "fresh": [fresh.value, fresh.stale],
        "size": len(cache.l1),
    }))
    """
)


def test_cache_under_gevent_monkey_patching():
    pytest.importorskip("gevent")
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["lock"].startswith("gevent"), out  # threading.Lock became a greenlet lock
    assert out["values"] == [1] and out["calls_after_miss"] == 1
    assert out["stale_flags"] == [True]
    assert out["calls_after_refresh"] == 2  # one background refresh (a greenlet)
    assert out["fresh"] == [2, False]
    assert out["size"] <= 100
