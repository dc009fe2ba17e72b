"""Run by test_aio_gevent.py in a fresh, gevent-monkey-patched interpreter.

Exercises greenlet mode without gunicorn; prints "ALL OK" at the end.
"""
from gevent import monkey

monkey.patch_all()

import asyncio  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from aio_testutil import Upstream, load_aio  # noqa: E402

aio = load_aio()


def check(name, cond):
    if not cond:
        print(f"FAIL {name}", flush=True)
        sys.exit(1)
    print(f"ok   {name}", flush=True)


async def double(x):
    await asyncio.sleep(0.001)
    return x * 2


class Boom(Exception):
    pass


async def boom():
    await asyncio.sleep(0)
    raise Boom("x")


check("mode is gevent", aio.current_mode() == "gevent")
check("result", aio.run_sync(double(21)) == 42)
try:
    aio.run_sync(boom())
    check("exception type", False)
except Boom:
    check("exception type", True)

seen = []


async def slow():
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError:
        seen.append("cancelled")
        raise


t0 = time.perf_counter()
try:
    aio.run_sync(slow(), timeout=0.2)
    check("timeout raises", False)
except aio.BridgeTimeoutError:
    check("timeout raises, coroutine cancelled", seen == ["cancelled"] and time.perf_counter() - t0 < 1)

# the waiting greenlet is interrupted (gevent.Timeout / kill): the task is cancelled too
seen.clear()
try:
    with gevent.Timeout(0.1):
        aio.run_sync(slow(), timeout=None)
    check("outer gevent.Timeout interrupts run_sync", False)
except gevent.Timeout:
    gevent.sleep(0.05)
    check("interrupted caller cancels its task", seen == ["cancelled"])

# run_sync parks only the calling greenlet: 100 greenlets x 0.2 s overlap
t0 = time.perf_counter()
jobs = [gevent.spawn(aio.run_sync, double(i)) for i in range(100)]
gevent.joinall(jobs, timeout=10)
check("100 greenlets get their own results", [j.value for j in jobs] == [2 * i for i in range(100)])


async def nap():
    await asyncio.sleep(0.2)
    return 1


ticks = []
ticker = gevent.spawn(lambda: [ticks.append(gevent.sleep(0.01)) for _ in range(15)])
t0 = time.perf_counter()
jobs = [gevent.spawn(aio.run_sync, nap()) for _ in range(100)]
gevent.joinall(jobs, timeout=10)
check("100 concurrent 0.2 s naps overlap", sum(j.value for j in jobs) == 100 and time.perf_counter() - t0 < 1.0)
check("other greenlets ran meanwhile", len(ticks) >= 10)


# a busy coroutine (ready callbacks all the time) still lets the hub run
async def spin(seconds):
    end = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < end:
        await asyncio.sleep(0)
        n += 1
    return n


ticks.clear()
ticker = gevent.spawn(lambda: [ticks.append(gevent.sleep(0.005)) for _ in range(1000)])
aio.run_sync(spin(0.3))
ticker.kill()
check(f"busy loop yields to the hub ({len(ticks)} ticks in 0.3 s)", len(ticks) >= 20)


# while the loop greenlet is parked, other greenlets do not see a running loop
def no_running_loop():
    try:
        asyncio.get_running_loop()
        return False
    except RuntimeError:
        return True


async def running_loop_inside():
    return asyncio.get_running_loop() is aio.get_loop()

check("running loop visible inside the coroutine", aio.run_sync(running_loop_inside()))
check("no running loop in other greenlets", gevent.spawn(no_running_loop).get(timeout=5))
check("asyncio.run() still works in a plain greenlet",
      gevent.spawn(asyncio.run, asyncio.sleep(0, result="r")).get(timeout=5) == "r")

# session: one pooled session, real I/O through it, hostname resolution
# (threading is patched, so the upstream's "thread" is a greenlet running its
# own asyncio loop; both loops cooperate through the hub)
upstream = Upstream(delay=0.1).start()


async def fetch(path):
    session = aio.get_session()
    async with session.get(f"{upstream.url}{path}") as resp:
        return (await resp.json()), id(session)

results = [aio.run_sync(fetch("/fast"), timeout=10) for _ in range(5)]
check("one session for many calls", len({r[1] for r in results}) == 1)


async def fetch_by_name():
    session = aio.get_session()
    async with session.get(f"http://localhost:{upstream.port}/fast") as resp:
        return await resp.json()

check("resolver does not hang", aio.run_sync(fetch_by_name(), timeout=10) == {"fast": True})

# fork: the child builds its own loop and session, the parent keeps its own
parent_loop = aio.get_loop()
parent_session_id = results[0][1]
pid = gevent.fork()
if pid == 0:
    ok = False
    try:
        child = aio.run_sync(fetch("/fast"), timeout=10)
        ok = aio.get_loop() is not parent_loop and child[1] != parent_session_id
        aio.shutdown()
    finally:
        os._exit(0 if ok else 3)
_, status = os.waitpid(pid, 0)
check("forked child used its own loop and session", os.waitstatus_to_exitcode(status) == 0)
after = aio.run_sync(fetch("/fast"), timeout=10)
check("parent unaffected by the fork", aio.get_loop() is parent_loop and after[1] == parent_session_id)

session_holder = []


async def grab():
    session_holder.append(aio.get_session())

aio.run_sync(grab())
aio.shutdown()
check("shutdown closes the session", session_holder[0].closed and parent_loop.is_closed())
check("fresh loop after shutdown", aio.run_sync(double(1)) == 2 and aio.get_loop() is not parent_loop)
aio.shutdown()
upstream.stop()
print("ALL OK", flush=True)
