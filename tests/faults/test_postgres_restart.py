"""PostgreSQL stopped and started again under the running app, which is never restarted.

A private PostgreSQL cluster (initdb into a temp dir, run as the postgres OS user, trust auth,
its own port) is migrated and seeded; the app (gunicorn + gevent) runs on it. While a load of
reads and writes runs, the cluster is stopped (`pg_ctl stop -m fast`: every backend is
terminated) and started again ~3 s later.

Asserted: while it is down, requests fail cleanly and quickly: a 503 in the standard JSON error
shape (code database_unavailable, Retry-After) or, for a page, an HTML 503; never a 500, a
dropped connection or a hang. Requests that need no database (a cached quote) may go on
answering 200. After the start, requests succeed again without restarting the app, /ready
says the database is ok, every write that answered 201 is stored and none refused once the
database was down is.

Two deterministic tests pin the races the restart can hit with a request in flight: the
connection terminated before the request's end (was a bare gunicorn 500, fixed in
app/ops/health.py), and PostgreSQL gone right after a COMMIT (the stored write was answered
503, so a retrying client stored it twice; fixed by expire_on_commit=False in app/extensions.py).
"""
from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.faults.conftest import (
    Load, PgCluster, describe, migrated_database, register, start_server, status_counts,
)
from tests.live.conftest import page_cookie

pytestmark = pytest.mark.slow

LOAD_BEFORE_STOP_S = 1.5
OUTAGE_S = 3.0
RECOVERY_DEADLINE_S = 20.0  # generous: the observed recovery time is printed and is far shorter
FAIL_FAST_S = 5.0  # down, an answer comes at once (observed: tens of ms); a hang would take far longer


def test_postgres_stopped_and_started_under_load(pg_cluster: PgCluster, tmp_path: Path, servers) -> None:
    database_url = migrated_database(pg_cluster)
    server = start_server(tmp_path, None, DATABASE_URL=database_url, REDIS_URL="", MARKET_PROVIDERS="demo",
                          LIVE_LOOP="false")
    servers.append(server)
    url = server.url
    user = register(url)
    headers = user["headers"]
    cookie = page_cookie(server, user["email"])  # a browser's session, for the HTML pages
    made = requests.post(f"{url}/api/v1/watchlists", json={"name": "pg"}, headers=headers, timeout=10)
    assert made.status_code == 201, made.text
    watchlist = made.json()["id"]
    requests.get(f"{url}/api/v1/stocks/AAPL/quote", headers=headers, timeout=10).raise_for_status()

    load = Load(url, timeout_s=30.0)
    notes = itertools.count()
    notes_lock = threading.Lock()
    posted: dict[str, tuple[int, float, float]] = {}  # note -> (status, started, ended) of its POST

    def write(session: requests.Session, _i: int) -> None:
        with notes_lock:
            note = f"pg-fault-{next(notes)}"
        got = load.request(session, "writer", "POST", "/api/v1/portfolio/transactions", headers=headers,
                           json={"symbol": "AAPL", "kind": "buy", "quantity": "2", "price": "150.5",
                                 "date": "2024-02-01", "note": note})
        with notes_lock:
            posted[note] = (got.status, got.started, got.ended)

    reads = itertools.cycle(["/api/v1/portfolio/transactions", f"/api/v1/watchlists/{watchlist}",
                             "/api/v1/alerts", "/api/v1/stocks/AAPL/quote", "/api/v1/me"])
    reads_lock = threading.Lock()

    def read(session: requests.Session, _i: int) -> None:
        with reads_lock:
            path = next(reads)
        load.request(session, "reader", "GET", path, headers=headers)

    def page(session: requests.Session, _i: int) -> None:
        load.request(session, "page", "GET", "/portfolio", headers={"Cookie": cookie, "Accept": "text/html"})

    load.spawn("writer-1", write, pause_s=0.05, max_steps=300)
    load.spawn("writer-2", write, pause_s=0.05, max_steps=300)
    load.spawn("reader", read, pause_s=0.03, max_steps=500)
    load.spawn("page", page, pause_s=0.4, max_steps=60)

    time.sleep(LOAD_BEFORE_STOP_S)
    stopping_at = time.monotonic()
    pg_cluster.stop("fast")  # terminates every backend; returns once the server is gone
    stopped_at = time.monotonic()
    time.sleep(OUTAGE_S / 2)
    ready_down = requests.get(f"{url}/ready", timeout=10)
    time.sleep(max(0.0, stopped_at + OUTAGE_S - time.monotonic()))
    started_at_begin = time.monotonic()
    pg_cluster.start()  # the app is not touched
    back_at = time.monotonic()

    # Keep the load on until every kind of request has worked again for a while.
    deadline = back_at + RECOVERY_DEADLINE_S
    first_ok: dict[str, float] = {}
    while time.monotonic() < deadline:
        for o in load.all():
            if o.started >= back_at and 200 <= o.status < 300:
                first_ok.setdefault(f"{o.method} {o.worker}", o.ended - back_at)
        if len(first_ok) == 3 and time.monotonic() - back_at > max(first_ok.values()) + 1.5:
            break
        time.sleep(0.1)
    load.finish()

    everything = load.all()
    before = [o for o in everything if o.ended < stopping_at]
    down = [o for o in everything if o.started >= stopped_at and o.ended <= started_at_begin]
    after = [o for o in everything if o.started >= back_at]
    print(f"\n[postgres restart] down {back_at - stopped_at:.2f} s (pg_ctl stop took {stopped_at - stopping_at:.2f} s, "
          f"start {back_at - started_at_begin:.2f} s)")
    stopping = [o for o in everything if o.started < stopping_at < o.ended]
    print(f"[postgres restart] in flight at the stop: {describe(stopping)}")
    print(f"[postgres restart] before: {describe(before)}")
    print(f"[postgres restart] down:   {describe(down)}")
    print(f"[postgres restart] after:  {describe(after)}")
    print("[postgres restart] first success after the start (s): "
          + ", ".join(f"{k} {v:.2f}" for k, v in sorted(first_ok.items(), key=lambda kv: kv[1])))

    # -- before: all good ----------------------------------------------------------------------
    assert before and all(200 <= o.status < 300 for o in before), status_counts(before)

    # -- down: clean, quick failures ------------------------------------------------------------
    assert len(down) >= 10, f"too little load while the database was down: {describe(down)}"
    dropped = [(o.method, o.path, o.error) for o in everything if o.status == 0]
    assert not dropped, f"requests without an HTTP answer: {dropped[:5]}"
    five_hundreds = [(o.method, o.path, o.body) for o in everything if o.status == 500 or o.status > 503]
    assert not five_hundreds, f"unclean failures: {five_hundreds[:5]}"
    failed = [o for o in down if o.status == 503]
    assert failed, f"nothing failed while the database was down: {status_counts(down)}"
    for o in (o for o in everything if o.status == 503):
        if o.worker == "page":
            # The HTML error page, saying what is wrong.
            assert isinstance(o.body, str) and "database is unavailable" in o.body, o.body[:2000]
        else:
            error = o.body["error"]  # the standard shape
            assert set(error) == {"code", "message", "details", "request_id"}, o.body
            assert error["code"] == "database_unavailable" and error["request_id"], o.body
            assert "database" in error["message"].lower(), o.body
            assert o.headers.get("Retry-After"), o.headers
    assert set(status_counts(down)) <= {200, 201, 503}, status_counts(down)
    ok_while_down = [o for o in down if o.status == 200]
    assert all(o.path.endswith("/quote") for o in ok_while_down), \
        f"only a cached quote can answer without the database: {[o.path for o in ok_while_down]}"
    slowest_down = max(o.seconds for o in down)
    assert slowest_down < FAIL_FAST_S, f"a request took {slowest_down:.2f} s while the database was down"
    assert ready_down.status_code == 503, ready_down.text
    assert ready_down.json()["components"]["database"]["status"] == "down"

    # -- after: back without restarting the app ---------------------------------------------------
    assert {"POST writer", "GET reader", "GET page"} <= set(first_ok), \
        f"not every kind of request succeeded within {RECOVERY_DEADLINE_S} s: {first_ok}\n{server.log()[-3000:]}"
    settled = back_at + max(first_ok.values()) + 0.5
    late = [o for o in after if o.started > settled]
    assert late and all(200 <= o.status < 300 for o in late), status_counts(late)
    ready = requests.get(f"{url}/ready", timeout=10)
    assert ready.status_code == 200 and ready.json()["components"]["database"] == {"status": "ok"}, ready.text

    # -- writes: every 201 stored; none refused while the database was down is stored -------------
    stored = {r["note"] for r in requests.get(f"{url}/api/v1/portfolio/transactions", headers=headers,
                                              timeout=10).json()}
    created = {note for note, (status, _, _) in posted.items() if status == 201}
    refused = {note for note, (status, _, _) in posted.items() if status == 503}
    # A write in flight when the server stopped may have committed and still be answered 503: that
    # case is test_a_committed_write_is_not_answered_503 below. Writes started once it was down cannot.
    refused_down = {note for note in refused if posted[note][1] >= stopped_at}
    ambiguous = sorted((refused & stored) - refused_down)
    print(f"[postgres restart] writes: {len(created)} stored (201), {len(refused)} refused (503), of which "
          f"{len(ambiguous)} in flight at the stop were stored all the same")
    assert created <= stored, f"lost writes: {sorted(created - stored)[:5]}"
    assert not refused_down & stored, f"writes answered 503 but stored: {sorted(refused_down & stored)[:5]}"
    assert refused_down, "no write was refused while the database was down"
    assert server.proc.poll() is None, "the app process died"


@pytest.mark.postgres
def test_request_ends_cleanly_when_the_database_drops_its_connection(make_app, pg_url: str) -> None:
    """Deterministic form of a race the restart test can hit: the connection a request holds is
    terminated by PostgreSQL (as `pg_ctl stop` or a failover does) after the view's last query.
    Rolling back that connection at the end of the request must not turn the answer into a 500.
    """
    from sqlalchemy import create_engine, text

    from app.config import database_url
    from app.extensions import db

    app = make_app(database_url=pg_url)
    admin = create_engine(database_url(pg_url), isolation_level="AUTOCOMMIT")

    def view():
        pid = db.session.execute(text("SELECT pg_backend_pid()")).scalar()  # opens a transaction
        with admin.connect() as conn:  # this request's own backend, nobody else's
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
        time.sleep(0.1)
        return {"ok": True}

    app.add_url_rule("/_faults/dropped", "faults_dropped", view)
    try:
        response = app.test_client().get("/_faults/dropped")
        assert response.status_code == 200, response.get_data(as_text=True)[:500]
        with app.app_context():  # and the next request gets a working connection
            assert db.session.execute(text("SELECT 1")).scalar() == 1
    finally:
        admin.dispose()
        with app.app_context():
            db.engine.dispose()


def test_a_committed_write_is_not_answered_503(make_app, pg_cluster: PgCluster) -> None:
    """Deterministic form of the other race of the restart test: PostgreSQL stops right after a
    write's COMMIT. The write is stored, so its answer must be the 201 with the stored row."""
    from sqlalchemy import event, text

    from app.extensions import db
    from tests.conftest import register_api

    app = make_app(database_url=migrated_database(pg_cluster))
    client = app.test_client()
    user = register_api(client)
    armed: list[bool] = []

    def stop_after_commit(_session) -> None:
        if armed and armed.pop():
            pg_cluster.stop("fast")

    event.listen(db.session, "after_commit", stop_after_commit)
    try:
        armed.append(True)
        response = client.post("/api/v1/portfolio/transactions", headers=user["headers"],
                               json={"symbol": "AAPL", "kind": "buy", "quantity": "3", "price": "99.5",
                                     "date": "2024-02-01", "note": "committed-then-down"})
    finally:
        event.remove(db.session, "after_commit", stop_after_commit)
        if not pg_cluster.running():
            pg_cluster.start()
    with app.app_context():
        stored = db.session.execute(text("SELECT count(*) FROM transactions WHERE note = 'committed-then-down'"))
        assert stored.scalar() == 1  # the write did reach the database
        db.engine.dispose()
    print(f"\n[postgres restart] a write committed just before the stop was answered {response.status_code}: "
          f"{response.get_data(as_text=True)[:200]}")
    assert response.status_code == 201, response.get_data(as_text=True)
