"""Open-loop HTTP load for bench/pipeline.py: GET some paths at a fixed rate, print the latencies.

    python bench/pipeline_load.py --base http://127.0.0.1:PORT --path /health --path /api/... \
        [--token T] [--rate 40] [--duration 10]

Runs in its own process. Request i is due at start + i/rate (the paths taken in turn) and
its latency counts from that due time, so a server that stalls is charged for the requests
that queued behind the stall (no coordinated omission). Stops after --duration seconds (or,
with --stdin-stop, when a line arrives on stdin), then prints one JSON object: per path the latencies in ms,
and the count of failed (non-2xx or transport error) requests.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

import aiohttp


async def run(args: argparse.Namespace) -> dict:
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    latencies: dict[str, list[float]] = {p: [] for p in args.path}
    errors: dict[str, list[str]] = {p: [] for p in args.path}
    stop = asyncio.Event()
    if args.stdin_stop:
        asyncio.get_running_loop().add_reader(sys.stdin.fileno(), stop.set)
    connector = aiohttp.TCPConnector(limit=64)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, headers=headers) as session:
        async def one(path: str, due: float) -> None:
            try:
                async with session.get(args.base + path) as resp:
                    await resp.read()
                    if not 200 <= resp.status < 300:
                        errors[path].append(f"HTTP {resp.status}")
                        return
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                errors[path].append(type(exc).__name__)
                return
            latencies[path].append((time.monotonic() - due) * 1000)

        start = time.monotonic()
        tasks = []
        i = 0
        while not stop.is_set() and time.monotonic() - start < args.duration:
            due = start + i / args.rate
            delay = due - time.monotonic()
            if delay > 0:
                try:
                    await asyncio.wait_for(stop.wait(), delay)
                    break
                except asyncio.TimeoutError:
                    pass
            tasks.append(asyncio.create_task(one(args.path[i % len(args.path)], due)))
            i += 1
        await asyncio.gather(*tasks)
    return {"latency_ms": latencies, "errors": {p: e[:5] for p, e in errors.items()},
            "failed": {p: len(e) for p, e in errors.items()}, "seconds": time.monotonic() - start}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True)
    parser.add_argument("--path", action="append", required=True)
    parser.add_argument("--token", default="")
    parser.add_argument("--rate", type=float, default=40.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--stdin-stop", action="store_true", help="also stop when a line arrives on stdin")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
