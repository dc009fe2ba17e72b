"""tickerdesk_task_queue_depth: messages waiting per Celery queue, measured on scrape with no worker running."""
from __future__ import annotations

import re

import pytest
import redis

from app.jobs import celery_app
from tests.conftest import TEST_REDIS_URL, _namespace, needs_redis


def _depth(client, queue: str = "celery") -> float:
    body = client.get("/metrics").get_data(as_text=True)
    match = re.search(rf'^tickerdesk_task_queue_depth{{queue="{queue}"}} (\S+)$', body, re.M)
    assert match, body[-2000:]
    return float(match.group(1))


def test_the_filesystem_broker_reports_its_waiting_messages(make_app) -> None:
    app = make_app()  # the embedded broker, in this test's JOBS_DIR
    client = app.test_client()
    assert _depth(client) == 0
    for _ in range(3):
        celery_app.send_task("tests.admin.idle")
    assert _depth(client) == 3


@needs_redis
@pytest.mark.redis
def test_redis_reports_its_waiting_messages_priorities_included(make_app) -> None:
    app = make_app(redis_url=TEST_REDIS_URL)  # the broker's keys under this test's namespace, deleted after it
    prefix = app.config["JOBS_KEY_PREFIX"]
    assert prefix.startswith(_namespace["redis"])
    client = app.test_client()
    assert _depth(client) == 0
    for _ in range(3):
        celery_app.send_task("tests.admin.idle")
    for _ in range(2):
        celery_app.send_task("tests.admin.idle", priority=9)
    assert _depth(client) == 5
    raw = redis.Redis.from_url(TEST_REDIS_URL)
    try:
        assert raw.llen(f"{prefix}celery") == 3 and raw.llen(f"{prefix}celery\x06\x169") == 2
        assert raw.llen("celery") == 0, "nothing outside the namespace"
    finally:
        raw.close()


def test_an_unreachable_broker_gives_no_sample_and_no_error(make_app) -> None:
    app = make_app(CELERY_BROKER_URL="redis://127.0.0.1:1/0")
    response = app.test_client().get("/metrics")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "# TYPE tickerdesk_task_queue_depth gauge" in body and "tickerdesk_task_queue_depth{" not in body
