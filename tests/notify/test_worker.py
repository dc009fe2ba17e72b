"""Through a real Celery worker process (the embedded filesystem broker): a fire with nobody connected
is emailed to a real SMTP server and POSTed, signed, to a local webhook."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import SECRET, register_api
from tests.notify.conftest import fire

ROOT = Path(__file__).resolve().parents[2]



@pytest.mark.slow
def test_a_real_worker_sends_email_and_webhook(make_app, tmp_path, smtp_server, webhook_receiver) -> None:
    port, inbox = smtp_server
    jobs_dir = tmp_path / "jobs"
    app = make_app(JOBS_DIR=str(jobs_dir))
    database_url = app.config["SQLALCHEMY_DATABASE_URI"]
    client = app.test_client()
    user = register_api(client)
    saved = client.put("/api/v1/me/notifications", headers=user["headers"], json={
        "channels": ["email", "webhook"], "webhooks": [{"url": webhook_receiver.url}]}).get_json()
    webhook_receiver.secret = saved["webhooks"][0]["secret"]
    assert client.post("/api/v1/alerts", json={"symbol": "SAP.DE", "kind": "below", "threshold": "10"},
                       headers=user["headers"]).status_code == 201
    env = {"PATH": os.environ.get("PATH", ""), "TICKERDESK_ENV": "testing", "SECRET_KEY": SECRET,
           "DATABASE_URL": database_url, "JOBS_DIR": str(jobs_dir), "MARKET_PROVIDERS": "demo",
           "LOG_LEVEL": "WARNING", "LIVE_STREAMER": "off", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port),
           "SMTP_STARTTLS": "false", "MAIL_FROM": "worker@tickerdesk.test"}
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "wsgi:celery", "worker", "--pool=solo",
                               "--without-heartbeat", "--without-mingle", "--without-gossip", "-l", "WARNING"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        fire(app, "SAP.DE", "9.5")  # enqueued after the commit; the worker does the sending
        deadline = time.monotonic() + 45
        statuses: list[str] = []
        while time.monotonic() < deadline:
            items = client.get("/api/v1/alerts/history", headers=user["headers"]).get_json()["items"]
            statuses = sorted(f"{d['channel']}:{d['status']}" for d in items[0]["deliveries"]) if items else []
            if statuses == ["email:sent", "webhook:sent"]:
                break
            assert worker.poll() is None, worker.stderr.read().decode()[-3000:]
            time.sleep(0.2)
        assert statuses == ["email:sent", "webhook:sent"]
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        worker.stderr.close()
    [message] = inbox.messages
    assert message["to"] == [user["email"]] and message["from"] == "worker@tickerdesk.test"
    assert "Subject: Tickerdesk alert: SAP.DE below 10 fired at 9.5" in message["data"]
    [request] = webhook_receiver.requests
    assert request["signature_ok"]
