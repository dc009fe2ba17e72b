"""The Celery app follows the Flask app that configured it: its broker, key prefix and app context."""
from __future__ import annotations

from pathlib import Path

import pytest
import redis

from app.jobs import celery_app
from tests.conftest import TEST_REDIS_URL, needs_redis


def test_the_embedded_broker_is_a_folder_under_jobs_dir(jobs_app) -> None:
    app = jobs_app()
    assert celery_app.conf.broker_url == "filesystem://"
    celery_app.send_task("jobs.heartbeat")
    queue = Path(app.config["JOBS_DIR"]) / "queue"
    assert len(list(queue.iterdir())) == 1  # the message, waiting for a worker


@needs_redis
@pytest.mark.redis
def test_each_app_sends_to_its_own_broker_namespace(jobs_app) -> None:
    client = redis.Redis.from_url(TEST_REDIS_URL)
    first = jobs_app(redis_url=TEST_REDIS_URL, JOBS_KEY_PREFIX="tdtjobs-a:")
    try:
        celery_app.send_task("jobs.heartbeat")
        second = jobs_app(redis_url=TEST_REDIS_URL)  # this test's namespace
        celery_app.send_task("jobs.heartbeat")
        assert client.llen("tdtjobs-a:celery") == 1
        assert client.llen(f"{second.config['JOBS_KEY_PREFIX']}celery") == 1
        assert first.config["JOBS_KEY_PREFIX"] != second.config["JOBS_KEY_PREFIX"]
    finally:
        keys = list(client.scan_iter(match="tdtjobs-a:*"))
        if keys:
            client.delete(*keys)
        client.close()


def test_tasks_run_in_the_flask_app_context(jobs_app) -> None:
    from flask import current_app

    app = jobs_app()
    seen = []

    @celery_app.task(name="tests.jobs.context")
    def probe() -> None:
        seen.append(current_app._get_current_object())

    probe.apply()
    assert seen == [app]


def test_tasks_call_providers_at_background_priority_and_requests_at_user_priority(jobs_app) -> None:
    """Every pipeline task's market calls use only the background share of the shared budgets."""
    from app import aio
    from app.jobs import celery_app
    from app.market import budget

    app = jobs_app()

    async def seen() -> str:  # what a provider call on the bridge loop sees
        return budget.priority.get()

    @celery_app.task(name="tests.priority_probe")
    def probe() -> str:
        return aio.run_sync(seen())

    try:
        celery_app.flask_app = app
        assert probe.apply().get() == budget.BACKGROUND
        with app.test_request_context("/"):
            assert aio.run_sync(seen()) == budget.USER  # a web request's calls keep the user's priority
    finally:
        celery_app.tasks.pop("tests.priority_probe", None)
