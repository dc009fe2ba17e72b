"""Redis killed in the middle of a load of requests, then started again on the same port.

The app (gunicorn + gevent, one worker) uses a private redis-server for its cache, rate limits,
JWT blocklist, live registry/streamer lock and Socket.IO message queue. While a mixed load of
reads and writes runs, Redis is SIGKILLed (its data set is gone) and restarted ~2.5 s later.

Asserted: no answer >= 500 (nor a dropped connection) at any time; every write that answered
2xx is there afterwards (read back through the API); after the restart the app goes back to
Redis by itself (cache, rate-limit and blocklist keys appear in the new server, /ready says
Redis is ok, live quotes flow again through the Socket.IO message queue) and a log-out made
during the outage reaches the new Redis.
"""
from __future__ import annotations

import itertools
import random
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.faults.conftest import (
    Load, RedisProcess, describe, jwt_claims, register, start_server, status_counts, us_symbols,
)
from tests.conftest import PASSWORD
from tests.live.conftest import Listener

pytestmark = pytest.mark.slow  # a private redis-server, not TEST_REDIS_URL

LOAD_BEFORE_KILL_S = 2.0
OUTAGE_S = 2.5
LOAD_AFTER_RESTART_S = 3.0
RECOVERY_DEADLINE_S = 15.0  # generous: the observed recovery is reported and is far shorter


def test_redis_killed_and_restarted_under_load(redis_proc: RedisProcess, sqlite_template: Path, tmp_path: Path,
                                               servers, listeners) -> None:
    server = start_server(tmp_path, sqlite_template, REDIS_URL=redis_proc.url, MARKET_PROVIDERS="demo",
                          CACHE_TTL_QUOTE="1", RATELIMIT_BATCH="100000 per minute")
    servers.append(server)
    url = server.url
    writers = [register(url) for _ in range(3)]
    reader = register(url)
    leaver = register(url)  # logs out in the middle of the outage
    symbols = us_symbols(120)
    read_symbols = symbols[:8]
    for user in writers:
        made = requests.post(f"{url}/api/v1/watchlists", json={"name": "faults"}, headers=user["headers"], timeout=10)
        assert made.status_code == 201, made.text
        user["watchlist"] = made.json()["id"]

    # A Socket.IO client on /live: quotes travel streamer -> Redis pub/sub -> this process -> client.
    listener = Listener().connect(server, token=reader["access_token"])
    listeners.append(listener)
    assert listener.call("subscribe", {"symbols": read_symbols[:2]})["subscribed"] == sorted(read_symbols[:2])
    listener.wait_for("quote", timeout=15)

    load = Load(url)
    saved: dict[str, list] = {"transactions": [], "items": [], "alerts": []}
    saved_lock = threading.Lock()
    symbol_feed = {user["id"]: iter(symbols[20 * n:20 * n + 40]) for n, user in enumerate(writers)}

    def writer(user: dict):
        headers = user["headers"]

        def step(session: requests.Session, i: int) -> None:
            kind = i % 3
            if kind == 0:
                note = f"fault-{user['id']}-{i}"
                got = load.request(session, f"w{user['id']}", "POST", "/api/v1/portfolio/transactions",
                                   headers=headers, json={"symbol": read_symbols[i % 4], "kind": "buy",
                                                          "quantity": "1", "price": f"{100 + i}.25",
                                                          "date": "2024-03-01", "note": note})
                if 200 <= got.status < 300:
                    with saved_lock:
                        saved["transactions"].append((user, got.body["id"], note))
            elif kind == 1:
                symbol = next(symbol_feed[user["id"]], None)
                if symbol is None:
                    return
                got = load.request(session, f"w{user['id']}", "POST", f"/api/v1/watchlists/{user['watchlist']}/items",
                                   headers=headers, json={"symbol": symbol})
                if 200 <= got.status < 300:
                    with saved_lock:
                        saved["items"].append((user, symbol))
            else:
                got = load.request(session, f"w{user['id']}", "POST", "/api/v1/alerts", headers=headers,
                                   json={"symbol": read_symbols[i % 4], "kind": "above", "threshold": f"{5000 + i}.5"})
                if 200 <= got.status < 300:
                    with saved_lock:
                        saved["alerts"].append((user, got.body["id"]))
        return step

    rng = random.Random(3)
    reads = itertools.cycle([
        lambda: f"/api/v1/stocks/{rng.choice(read_symbols)}/quote",
        lambda: "/api/v1/portfolio",
        lambda: f"/api/v1/stocks/batch?symbols={','.join(read_symbols[:5])}",
        lambda: "/api/v1/alerts",
        lambda: "/api/v1/watchlists",
        lambda: "/api/v1/portfolio/transactions",
    ])
    read_lock = threading.Lock()

    def read_step(user: dict):
        def step(session: requests.Session, _i: int) -> None:
            with read_lock:
                path = next(reads)()
            load.request(session, "reader", "GET", path, headers=user["headers"])
        return step

    def login_step(session: requests.Session, _i: int) -> None:  # rate limits keyed per account and IP
        load.request(session, "login", "POST", "/api/v1/auth/login",
                     json={"email": reader["email"], "password": PASSWORD})

    for user in writers:
        load.spawn(f"writer-{user['id']}", writer(user), pause_s=0.05, max_steps=150)
    load.spawn("reader-1", read_step(reader), pause_s=0.02, max_steps=600)
    load.spawn("reader-2", read_step(writers[0]), pause_s=0.02, max_steps=600)
    load.spawn("login", login_step, pause_s=0.3, max_steps=40)

    started = time.monotonic()
    time.sleep(LOAD_BEFORE_KILL_S)
    redis_proc.kill()
    killed_at = time.monotonic()
    # A log-out while Redis is down: revoked at once here, and it must reach Redis when Redis is back.
    logout = requests.post(f"{url}/api/v1/auth/logout", headers=leaver["headers"], timeout=20)
    time.sleep(max(0.0, killed_at + OUTAGE_S - time.monotonic()))
    ready_down = requests.get(f"{url}/ready", timeout=10)
    redis_proc.start()  # same port, empty data set
    back_at = time.monotonic()

    # While the load goes on, watch the new redis-server for the app's keys, and /ready and /live.
    raw = redis_proc.client()
    revoked_key = f"td:revoked:{jwt_claims(leaver['access_token'])['jti']}"
    seen: dict[str, float] = {}

    def watch() -> None:
        with requests.Session() as session:
            while time.monotonic() < back_at + RECOVERY_DEADLINE_S and len(seen) < 6:
                if load.stop.is_set():  # the load is over: make the usual traffic ourselves
                    session.get(f"{url}/api/v1/stocks/{read_symbols[0]}/quote", headers=writers[0]["headers"],
                                timeout=10)
                keys = {k.decode() for k in raw.scan_iter(count=1000)}
                checks = {
                    "cache": any(k.startswith("td:quote:") for k in keys),
                    "rate_limit": any("tdfault" in k for k in keys),
                    "blocklist": any(k.startswith("td:sess:") for k in keys),
                    "revocation_replayed": revoked_key in keys,
                    "ready": session.get(f"{url}/ready", timeout=10).status_code == 200,
                    "live_quotes": bool(listener.of("quote", since=back_at)),
                }
                now = time.monotonic() - back_at
                for name, ok in checks.items():
                    if ok:
                        seen.setdefault(name, now)
                time.sleep(0.05)

    watcher = threading.Thread(target=watch, name="watch-redis", daemon=True)
    watcher.start()
    time.sleep(LOAD_AFTER_RESTART_S)
    load.finish()
    ended = time.monotonic()
    watcher.join(RECOVERY_DEADLINE_S + 5)
    raw.close()

    # -- what happened ------------------------------------------------------------------------
    everything = load.all()
    before = [o for o in everything if o.ended < killed_at]
    during = load.between(killed_at, back_at)
    after = [o for o in everything if o.started > back_at]
    print(f"\n[redis outage] load {ended - started:.1f} s, Redis down {back_at - killed_at:.2f} s")
    print(f"[redis outage] before: {describe(before)}")
    print(f"[redis outage] during: {describe(during)}")
    print(f"[redis outage] after:  {describe(after)}")
    writes = [o for o in everything if o.method == "POST" and o.worker != "login"]
    print(f"[redis outage] writes: {describe(writes)}; saved {len(saved['transactions'])} transactions, "
          f"{len(saved['items'])} watchlist items, {len(saved['alerts'])} alerts")
    assert len(during) >= 20, f"too little load during the outage to judge: {describe(during)}"
    # Nothing is a 5xx, and nothing dropped the connection or hung, before, during or after.
    bad = [(o.method, o.path, o.status, o.error, o.body) for o in everything if o.status >= 500 or o.status == 0]
    assert not bad, f"{len(bad)} failed requests, first: {bad[:5]}"
    # Every answer is one the API gives with Redis up: 2xx, or a 409 from the watchlist cap (none expected).
    assert set(status_counts(everything)) <= {200, 201}, status_counts(everything)
    # Redis down costs no request more than a few socket timeouts: never a hang.
    slowest = max(o.seconds for o in everything)
    assert slowest < 5.0, f"a request took {slowest:.2f} s"
    assert logout.status_code == 200, logout.text
    assert ready_down.status_code == 503 and ready_down.json()["components"]["redis"]["status"] == "down", \
        ready_down.text
    assert ready_down.json()["components"]["database"]["status"] == "ok"

    # -- nothing a user saved is lost ---------------------------------------------------------
    for user in writers:
        headers = user["headers"]
        rows = requests.get(f"{url}/api/v1/portfolio/transactions", headers=headers, timeout=10).json()
        have = {(r["id"], r["note"]) for r in rows}
        want = {(tid, note) for u, tid, note in saved["transactions"] if u is user}
        assert want <= have, f"transactions lost: {sorted(want - have)}"
        items = requests.get(f"{url}/api/v1/watchlists/{user['watchlist']}", headers=headers, timeout=10).json()
        assert {s for u, s in saved["items"] if u is user} <= {i["symbol"] for i in items["items"]}
        alerts = {a["id"] for a in requests.get(f"{url}/api/v1/alerts", headers=headers, timeout=10).json()}
        assert {aid for u, aid in saved["alerts"] if u is user} <= alerts
    saved_during = [o for o in writes if killed_at <= o.started <= back_at and 200 <= o.status < 300]
    print(f"[redis outage] writes saved while Redis was down: {len(saved_during)} (all read back)")
    assert saved_during, "no write was made during the outage"
    # The revoked token stays refused.
    assert requests.get(f"{url}/api/v1/me", headers=leaver["headers"], timeout=10).status_code == 401

    # -- the app goes back to Redis by itself -------------------------------------------------
    print("[redis outage] back on Redis after the restart (s): "
          + ", ".join(f"{k} {v:.2f}" for k, v in sorted(seen.items(), key=lambda kv: kv[1])))
    missing = {"cache", "rate_limit", "blocklist", "ready", "live_quotes", "revocation_replayed"} - set(seen)
    assert not missing, f"not back on Redis within {RECOVERY_DEADLINE_S} s: {sorted(missing)}; log:\n" \
                        f"{server.log()[-3000:]}"
    ready = requests.get(f"{url}/ready", timeout=10).json()
    assert ready["components"]["redis"] == {"status": "ok"}, ready
    assert server.proc.poll() is None, "the app process died"


def test_blocklist_writes_back_what_it_missed_when_redis_returns(redis_proc: RedisProcess, make_app) -> None:
    """The JWT blocklist during an outage that Redis survives with its data (restart from a dump):
    a log-out and a session ended meanwhile reach Redis once it is back, so other processes
    refuse the revoked token and forget the ended session's remembered owner."""
    from app.auth import blocklist

    app = make_app(redis_url=redis_proc.url)
    prefix = app.config["AUTH_REDIS_PREFIX"]
    raw = redis_proc.client()
    with app.app_context():
        sid = "ended-during-the-outage-0123456789"
        raw.set(f"{prefix}sess:{sid}", 7, ex=3600)  # the session's owner (user 7), remembered by some process
        raw.save()  # the restarted server loads this dump
        redis_proc.kill()
        started = time.monotonic()
        blocklist.revoke("jti-during-outage", time.time() + 600)
        blocklist.forget_sessions([sid])  # e.g. user 7 logged out everywhere: the remembered owner is outdated
        for _ in range(50):
            assert blocklist.token_state("jti-during-outage", None) == (True, None)  # refused here at once
        outage_calls_s = time.monotonic() - started
        redis_proc.start()  # same port, same data: the outdated owner of the session is back
        assert raw.get(f"{prefix}sess:{sid}") == b"7"
        time.sleep(blocklist.REDIS_RETRY_S + 0.1)
        assert blocklist.token_state("another-jti", None) == (False, None)  # first call: writes back first
        assert raw.exists(f"{prefix}revoked:jti-during-outage") == 1
        assert 500 < raw.ttl(f"{prefix}revoked:jti-during-outage") <= 601
        assert raw.exists(f"{prefix}sess:{sid}") == 0
    raw.close()
    print(f"\n[redis outage] blocklist: 52 calls while Redis was down took {outage_calls_s * 1000:.0f} ms; "
          "the revocation and the session delete were written back on the first call after it returned")
    assert outage_calls_s < 2.0
