"""Count the keys a test run leaves in Redis: `python -m tests.ops.redis_leaks tests/api [pytest args]`.

Runs pytest with TEST_REDIS_URL (default redis://127.0.0.1:6379/0; use a database of its own,
e.g. .../7, for an exact count while others share the server), and prints the number of keys
before and after and the prefixes of the keys the run added. Exits 1 if any key was added.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter

import redis


def main(argv: list[str]) -> int:
    """Run pytest on `argv`; report the keys it left behind."""
    url = os.environ.setdefault("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    client = redis.Redis.from_url(url)
    before = set(client.scan_iter(count=1000))
    subprocess.run([sys.executable, "-m", "pytest", "-q", *argv], check=False)
    after = set(client.scan_iter(count=1000))
    added = after - before
    prefixes = Counter(re.sub(rb"[0-9a-f]{6,}.*", b"*", key).decode(errors="replace")[:40] for key in added)
    print(f"redis keys at {url}: before {len(before)}, after {len(after)}, added by the run {len(added)}")
    for prefix, count in prefixes.most_common(20):
        print(f"  {count:6d}  {prefix}")
    return 1 if added else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
