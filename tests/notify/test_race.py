"""Two workers given the same delivery at once send it once (SQLite and the real PostgreSQL/Redis)."""
from __future__ import annotations

import threading

import pytest

from app.jobs.delivery import send_delivery
from app.notify import services
from tests.conftest import TEST_REDIS_URL, delete_redis_keys, register_api


def _race(app, webhook_receiver) -> None:
    client = app.test_client()
    user = register_api(client)
    saved = client.put("/api/v1/me/notifications", headers=user["headers"], json={
        "channels": ["webhook"], "webhooks": [{"url": webhook_receiver.url}]}).get_json()
    webhook_receiver.secret, webhook_receiver.delay_s = saved["webhooks"][0]["secret"], 0.5
    alert = client.post("/api/v1/alerts", json={"symbol": "SAP.DE", "kind": "above", "threshold": "1"},
                        headers=user["headers"]).get_json()
    with app.app_context():
        [delivery_id] = services.record_fires([{
            "id": alert["id"], "user_id": user["id"], "symbol": "SAP.DE", "kind": "above", "threshold": "1",
            "triggered_price": "2", "triggered_at": "2026-12-02T00:00:00+00:00"}])  # recorded, not enqueued
    start, results = threading.Barrier(2), []

    def worker() -> None:
        with app.app_context():
            start.wait()
            results.append(send_delivery.run(delivery_id))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == ["busy", "sent"]
    assert len(webhook_receiver.requests) == 1 and webhook_receiver.requests[0]["signature_ok"]
    with app.app_context():
        assert send_delivery.run(delivery_id) == "skipped"  # a late duplicate finds it sent
    assert len(webhook_receiver.requests) == 1


def test_two_workers_racing_on_one_delivery_send_it_once(notify_app, webhook_receiver) -> None:
    _race(notify_app(), webhook_receiver)


@pytest.mark.postgres
@pytest.mark.redis
def test_two_workers_racing_on_postgres_and_redis(notify_app, pg_url, webhook_receiver) -> None:
    if not TEST_REDIS_URL:
        pytest.skip("TEST_REDIS_URL not set: Redis tests skipped (CI sets it)")
    prefix = f"tdtn{threading.get_ident() % 10**6}:"
    try:
        _race(notify_app(database_url=pg_url, redis_url=TEST_REDIS_URL, JOBS_KEY_PREFIX=prefix), webhook_receiver)
    finally:
        delete_redis_keys(f"{prefix}*")
