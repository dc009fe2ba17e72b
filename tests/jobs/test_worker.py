"""Real Celery processes: the worker and its scheduler fire alerts with nobody connected, on the real
Redis (RedBeat) and on the embedded filesystem broker; two workers fire each alert once; of two
beats, one schedules."""
from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import register_api
from tests.jobs.conftest import ROOT, alert_near_price, wait_fired

pytestmark = pytest.mark.slow
THREADS = ("--pool", "threads", "--concurrency", "2", "--loglevel", "INFO")
REDBEAT = ("-B", "--scheduler", "redbeat.RedBeatScheduler")


@pytest.mark.redis
@pytest.mark.parametrize("pool", ["threads", "prefork"])  # prefork as on Render: a forked child runs the task
def test_an_alert_fires_for_a_user_with_no_connection(jobs_app, workers, pool) -> None:
    app = jobs_app()
    user = register_api(app.test_client())  # never opens a socket
    alert_id = alert_near_price(app, user["headers"])
    group = workers(app, redis=True)
    group.start("--pool", pool, "--concurrency", "2", "--loglevel", "INFO", *REDBEAT)
    fired = wait_fired(app, [alert_id], timeout=40)
    assert fired[alert_id] is not None


@pytest.mark.redis
def test_two_workers_racing_on_the_same_alerts_fire_each_once(jobs_app, workers) -> None:
    app = jobs_app()
    users = [register_api(app.test_client()) for _ in range(3)]
    alert_ids = [alert_near_price(app, u["headers"], symbol) for u in users for symbol in ("SAP.DE", "AAPL")]
    group = workers(app, redis=True)
    # Both take quote runs from the same queue; one of them also runs the beat (every second).
    first = group.start(*THREADS, *REDBEAT)
    second = group.start(*THREADS)
    wait_fired(app, alert_ids, timeout=40)
    time.sleep(2)  # more runs on both: nothing fires twice
    fired_counts = [int(n) for w in (first, second) for n in re.findall(r"fired=(\d+)", w.log())]
    assert sum(fired_counts) == len(alert_ids), fired_counts
    assert "jobs.quotes.refresh" in second.log() or "jobs.quotes.refresh" in first.log()


@pytest.mark.redis
def test_of_two_beats_only_one_schedules(jobs_app, workers) -> None:
    app = jobs_app()
    group = workers(app, redis=True)
    env = {"JOBS_SCHEDULE": "heartbeat", "JOBS_HEARTBEAT_S": "0.5"}
    one = group.start(*THREADS, *REDBEAT, **env)
    one.wait_for("Sending due task heartbeat", 40)
    two = group.start(*THREADS, *REDBEAT, **env)
    two.wait_for("ready.", 40)
    before = one.count("Sending due task") + two.count("Sending due task")
    time.sleep(5)
    sent = one.count("Sending due task") + two.count("Sending due task") - before
    assert two.count("Sending due task") == 0, "the second beat must wait for RedBeat's lock"
    assert 6 <= sent <= 12, f"{sent} heartbeats in 5 s at one per 0.5 s"


def test_the_embedded_default_started_like_make_run_fires_an_alert(jobs_app, workers) -> None:
    app = jobs_app()  # no REDIS_URL: the filesystem broker under JOBS_DIR, beat in the worker
    user = register_api(app.test_client())
    alert_id = alert_near_price(app, user["headers"])
    group = workers(app, redis=False)
    node = f"embedded@{socket.gethostname()}"
    worker = group.start("-B", *THREADS, "-n", node)  # the Makefile's WORKER command (named, to ping it)
    wait_fired(app, [alert_id], timeout=40)
    worker.wait_for("jobs.heartbeat", 10)
    # Remote control over the filesystem transport (its fanout exchange): the worker answers a ping.
    celery = Path(sys.executable).with_name("celery")
    ping = subprocess.run([str(celery), "-A", "wsgi:celery", "inspect", "ping", "-d", node, "--timeout", "10"], cwd=str(ROOT),
                          env=group.env, capture_output=True, text=True, timeout=60)
    assert ping.returncode == 0 and "pong" in ping.stdout and "1 node online" in ping.stdout, ping.stdout + ping.stderr
