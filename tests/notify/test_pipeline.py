"""The whole pipeline in real processes on the real Redis: the scheduler's quotes job fires an alert of a
user with no connection, and two workers deliver it once by email (aiosmtpd) and signed webhook."""
from __future__ import annotations

import time

import pytest

from tests.conftest import register_api
from tests.jobs.conftest import alert_near_price, jobs_app, workers  # noqa: F401 - fixtures

pytestmark = pytest.mark.slow
THREADS = ("--pool", "threads", "--concurrency", "2", "--loglevel", "INFO")
REDBEAT = ("-B", "--scheduler", "redbeat.RedBeatScheduler")


@pytest.mark.redis
def test_a_fired_alert_reaches_email_and_webhook_once_through_two_workers(
        jobs_app, workers, smtp_server, webhook_receiver) -> None:  # noqa: F811 - fixtures
    port, inbox = smtp_server
    app = jobs_app()
    client = app.test_client()
    user = register_api(client)  # never opens a socket
    saved = client.put("/api/v1/me/notifications", headers=user["headers"], json={
        "channels": ["email", "webhook"], "webhooks": [{"url": webhook_receiver.url}]}).get_json()
    webhook_receiver.secret = saved["webhooks"][0]["secret"]
    alert_near_price(app, user["headers"])
    group = workers(app, redis=True)
    smtp = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port), "SMTP_STARTTLS": "false"}
    started = [group.start(*THREADS, *REDBEAT, **smtp), group.start(*THREADS, **smtp)]
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline and not (inbox.messages and webhook_receiver.requests):
        time.sleep(0.2)
    time.sleep(2)  # more quote runs on both workers: nothing is sent twice
    assert [m["to"] for m in inbox.messages] == [[user["email"]]]
    assert "Subject: Tickerdesk alert: SAP.DE above" in inbox.messages[0]["data"]
    assert [r["signature_ok"] for r in webhook_receiver.requests] == [True]
    [item] = client.get("/api/v1/alerts/history", headers=user["headers"]).get_json()["items"]
    assert sorted((d["channel"], d["status"], d["attempts"]) for d in item["deliveries"]) == [
        ("email", "sent", 1), ("webhook", "sent", 1)]
    # Sent at once by the worker that fired them, not after a trip through the queue: the queued
    # copy (the safety net, delivery.send_batch 120 s later) is only received, and nothing else ran.
    logs = "".join(w.log() for w in started)
    assert "Task delivery.send_batch[" in logs and " received" in logs
    assert "succeeded" not in "".join(line for line in logs.splitlines() if "delivery.send" in line)


def test_the_embedded_default_puts_the_email_in_the_outbox(jobs_app, workers) -> None:  # noqa: F811 - fixtures
    app = jobs_app()  # no REDIS_URL, no SMTP_HOST: the filesystem broker, beat in the worker, as make run
    client = app.test_client()
    user = register_api(client)  # never opens a socket
    alert_near_price(app, user["headers"])
    workers(app, redis=False).start("-B", *THREADS)  # the Makefile's WORKER command
    deadline, items = time.monotonic() + 45, []
    while time.monotonic() < deadline and not items:
        items = client.get("/api/v1/alerts/outbox", headers=user["headers"]).get_json()["items"]
        time.sleep(0.3)
    [mail] = items
    assert mail["to"] == user["email"] and mail["subject"].startswith("Tickerdesk alert: SAP.DE above")
    [item] = client.get("/api/v1/alerts/history", headers=user["headers"]).get_json()["items"]
    assert [(d["channel"], d["status"], d["via"]) for d in item["deliveries"]] == [("email", "sent", "outbox")]
