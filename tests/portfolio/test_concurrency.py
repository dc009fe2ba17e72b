"""Parallel writes to one portfolio: nothing lost, never more sold than held.

Every request runs in its own thread through its own test client, so each gets its own
app context, SQLAlchemy session and database connection, as on a threaded server.
`services._ledger_write` locks the user's row (SELECT ... FOR UPDATE) before the
"enough shares held?" check and keeps it until the commit, so on PostgreSQL the
check-then-insert of two requests for the same user cannot interleave.
"""
from __future__ import annotations

import threading
from collections import Counter
from decimal import Decimal
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from flask import Flask

from app.portfolio import services
from tests.conftest import needs_postgres, register_api
from tests.portfolio.helpers import TXN

SELL = {"symbol": "SAP.DE", "kind": "sell", "quantity": "10", "price": "50", "date": "2025-04-01"}


def _in_parallel(app: Flask, headers: dict[str, str], bodies: list[dict[str, Any]]) -> list[Any]:
    """POST every body at once, one thread and one test client each; return the responses."""
    start = threading.Barrier(len(bodies))

    def post(body: dict[str, Any]):
        client = app.test_client()
        start.wait(timeout=30)
        return client.post(TXN, json=body, headers=headers)

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(post, bodies))


def _buy(client, headers, quantity: int) -> None:
    response = client.post(TXN, json={"symbol": "SAP.DE", "kind": "buy", "quantity": str(quantity), "price": "40",
                                      "date": "2025-03-03"}, headers=headers)
    assert response.status_code == 201, response.get_json()


def _quantity_held(client, headers) -> str | None:
    held = {h["symbol"]: h for h in client.get("/api/v1/portfolio", headers=headers).get_json()["holdings"]}
    return held["SAP.DE"]["quantity"] if "SAP.DE" in held else None


def _slow_check(monkeypatch, wait_s: float) -> dict[str, int]:
    """Make the "enough shares held?" check wait until a second request is inside it too (or wait_s passes).

    If two requests can be between reading the transactions and committing at the same time,
    both reach the barrier and both check the same stale list. If a lock keeps the second one
    out, the barrier times out and the first goes on alone.
    """
    real = services._check_replay
    barrier = threading.Barrier(2, timeout=wait_s)
    guard = threading.Lock()
    seen = {"inside": 0, "max_inside": 0}

    def check(rows, because=None):
        with guard:
            seen["inside"] += 1
            seen["max_inside"] = max(seen["max_inside"], seen["inside"])
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            pass
        try:
            return real(rows, because)
        finally:
            with guard:
                seen["inside"] -= 1

    monkeypatch.setattr(services, "_check_replay", check)
    return seen


@needs_postgres
@pytest.mark.postgres
def test_parallel_buys_are_all_stored(pg_app) -> None:
    client = pg_app.test_client()
    user = register_api(client)
    bodies = [{"symbol": "SAP.DE", "kind": "buy", "quantity": "1", "price": str(40 + i), "date": "2025-03-03"}
              for i in range(20)]
    responses = _in_parallel(pg_app, user["headers"], bodies)
    assert [r.status_code for r in responses] == [201] * 20, [r.get_json() for r in responses if r.status_code != 201]
    stored = client.get(TXN, headers=user["headers"]).get_json()
    assert len(stored) == 20 and len({t["id"] for t in stored}) == 20
    assert sorted(Decimal(t["price"]) for t in stored) == list(range(40, 60))
    assert Decimal(_quantity_held(client, user["headers"])) == 20


@needs_postgres
@pytest.mark.postgres
def test_parallel_sells_never_sell_more_than_held(pg_app) -> None:
    client = pg_app.test_client()
    user = register_api(client)
    _buy(client, user["headers"], 50)
    responses = _in_parallel(pg_app, user["headers"], [SELL] * 10)
    # 50 held, ten sells of 10: exactly five fit. Each refused one was checked after the first five
    # were committed, so it saw 0 held.
    assert Counter(r.status_code for r in responses) == {201: 5, 422: 5}
    for refused in (r for r in responses if r.status_code == 422):
        details = refused.get_json()["error"]["details"]
        assert refused.get_json()["error"]["code"] == "oversell"
        assert (Decimal(details["held"]), Decimal(details["requested"])) == (0, 10)
    stored = client.get(TXN, headers=user["headers"]).get_json()
    assert Counter(t["kind"] for t in stored) == {"buy": 1, "sell": 5}
    assert _quantity_held(client, user["headers"]) is None  # 50 - 5 * 10 = 0: nothing held, never negative


@needs_postgres
@pytest.mark.postgres
def test_the_row_lock_keeps_a_second_sell_out_of_the_check(pg_app, monkeypatch) -> None:
    client = pg_app.test_client()
    user = register_api(client)
    _buy(client, user["headers"], 10)
    seen = _slow_check(monkeypatch, wait_s=1.5)
    responses = _in_parallel(pg_app, user["headers"], [SELL, SELL])
    assert seen["max_inside"] == 1  # the second request waited at SELECT ... FOR UPDATE
    assert sorted(r.status_code for r in responses) == [201, 422]
    assert _quantity_held(client, user["headers"]) is None


def test_sqlite_parallel_sells_never_sell_more_than_held(app, monkeypatch) -> None:
    client = app.test_client()
    user = register_api(client)
    _buy(client, user["headers"], 10)
    _slow_check(monkeypatch, wait_s=1.5)
    responses = _in_parallel(app, user["headers"], [SELL, SELL])
    statuses = sorted(r.status_code for r in responses)
    stored = client.get(TXN, headers=user["headers"]).get_json()
    sold = sum(Decimal(t["quantity"]) for t in stored if t["kind"] == "sell")
    assert statuses == [201, 422] and sold == 10, (statuses, sold)
