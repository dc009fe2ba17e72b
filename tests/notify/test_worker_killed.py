"""A worker killed mid-task: the task is handed to another worker and redone, with no duplicate fire or email.

The quotes task is acknowledged late, so a worker that dies while running it (SIGKILL to its
whole process group, as when a machine dies) leaves it unacknowledged in Redis; after the
broker's visibility timeout another worker takes it again. No beat runs here: the second
worker can only have done the work by taking the first one's task.
"""
from __future__ import annotations

import os
import signal
import time

import pytest
from sqlalchemy import func, select

from tests.conftest import TEST_REDIS_URL, _namespace, register_api
from tests.jobs.conftest import alert_near_price, jobs_app, wait_fired, workers  # noqa: F401 - fixtures

pytestmark = [pytest.mark.slow, pytest.mark.redis]
THREADS = ("--pool", "threads", "--concurrency", "2", "--loglevel", "INFO")


def test_a_task_of_a_killed_worker_is_redone_once(jobs_app, workers, smtp_server) -> None:  # noqa: F811
    if not TEST_REDIS_URL:
        pytest.skip("TEST_REDIS_URL not set (CI sets it)")
    port, inbox = smtp_server
    app = jobs_app(REDIS_URL=TEST_REDIS_URL, CELERY_BROKER_URL=TEST_REDIS_URL, JOBS_VISIBILITY_TIMEOUT_S=3)
    from app.jobs import init_app

    init_app(app)  # the broker settings above
    user = register_api(app.test_client())
    alert_id = alert_near_price(app, user["headers"])
    group = workers(app, redis=True)
    smtp = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port), "SMTP_STARTTLS": "false",
            "MAIL_FROM": "worker@tickerdesk.test", "JOBS_VISIBILITY_TIMEOUT_S": "3", "JOBS_SCHEDULE": "heartbeat",
            # A cache of the workers' own (in this test's namespace): the quote the API just read is not in it.
            "CACHE_KEY_PREFIX": f"{_namespace['redis']}workers:"}
    # The first worker's quotes fetch takes 20 s: it is killed while inside it.
    first = group.start(*THREADS, DEMO_LATENCY_MS="20000", **smtp)
    first.wait_for("ready.", 40)
    with app.app_context():
        app.extensions["tickerdesk.celery"].send_task("jobs.quotes.refresh")
    first.wait_for("Task jobs.quotes.refresh[", 20)
    time.sleep(1.0)  # inside the slow fetch
    os.killpg(first.proc.pid, signal.SIGKILL)
    first.proc.wait(10)

    second = group.start(*THREADS, **smtp)
    fired = wait_fired(app, [alert_id], timeout=60)
    assert fired[alert_id] is not None
    deadline = time.monotonic() + 30
    while not inbox.messages and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(3)  # room for a duplicate to show up
    assert "jobs.quotes.refresh" in second.log() and "jobs_quotes_done" in second.log()
    assert "jobs_quotes_done" not in first.log()  # the first never finished it
    from app.extensions import db
    from app.models import AlertFire, Delivery

    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AlertFire)
                                 .where(AlertFire.alert_id == alert_id)) == 1
        statuses = list(db.session.scalars(select(Delivery.status).join(AlertFire)
                                           .where(AlertFire.alert_id == alert_id, Delivery.channel == "email")))
        assert statuses == ["sent"]
        db.session.remove()
    assert len(inbox.messages) == 1 and inbox.messages[0]["to"] == [user["email"]]
