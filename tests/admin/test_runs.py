"""job_runs: every pipeline task run is recorded from Celery's signals, in process and by real workers."""
from __future__ import annotations

import json
import re
import urllib.request

import pytest

from app.jobs import celery_app
from tests.admin.conftest import run_rows, wait_run
from tests.admin.tasks import LEAKED_PASSWORD
from tests.notify.conftest import free_port

SMTP_PASSWORD = "smtp-pass-9f3kq"


def _apply(name: str, **kwargs):
    return celery_app.tasks[name].apply(kwargs=kwargs)


def test_each_end_state_is_recorded_with_its_duration(make_app) -> None:
    app = make_app(SMTP_PASSWORD=SMTP_PASSWORD)
    assert _apply("tests.admin.nap", seconds=0.2).get() == {"slept_s": 0.2}
    _apply("tests.admin.idle")
    failed = _apply("tests.admin.boom")
    assert failed.state == "FAILURE"
    [nap] = run_rows(app, task="tests.admin.nap")
    assert nap.state == "success" and 0.2 <= nap.seconds < 5 and json.loads(nap.summary) == {"slept_s": 0.2}
    assert nap.task_id and nap.finished_at >= nap.started_at and nap.error is None
    [idle] = run_rows(app, task="tests.admin.idle")
    assert idle.state == "skipped"
    [boom] = run_rows(app, task="tests.admin.boom")
    assert boom.state == "failure" and boom.summary is None
    assert boom.error.startswith("ConnectionError: cannot reach postgresql://***@db.internal/prod")
    assert LEAKED_PASSWORD not in boom.error and SMTP_PASSWORD not in boom.error


def test_a_retry_is_one_run_and_the_next_try_another(make_app) -> None:
    app = make_app()
    _apply("tests.admin.flaky")
    rows = run_rows(app, task="tests.admin.flaky")
    assert sorted(r.state for r in rows) == ["retry", "success"], [(r.state, r.error) for r in rows]
    retried = next(r for r in rows if r.state == "retry")
    assert retried.error == "RuntimeError: first try fails"
    assert len({r.task_id for r in rows}) == 1, "a retry keeps its task id"


def test_a_long_result_is_kept_as_bounded_json(make_app) -> None:
    app = make_app()
    _apply("tests.admin.big")
    [row] = run_rows(app, task="tests.admin.big")
    assert len(row.summary) <= 1000
    summary = json.loads(row.summary)
    assert summary["truncated"] is True and summary["head"].startswith('{"symbols": ["SYM0", "SYM1"')


def test_the_heartbeat_is_not_recorded(make_app) -> None:
    app = make_app()
    _apply("jobs.heartbeat")
    _apply("tests.admin.idle")
    assert [r.task for r in run_rows(app)] == ["tests.admin.idle"]


def test_old_runs_are_pruned_per_task(make_app) -> None:
    app = make_app(JOBS_RUNS_KEEP=3, JOBS_RUNS_PRUNE_EVERY=2)
    _apply("tests.admin.nap", seconds=0)
    for _ in range(8):
        _apply("tests.admin.idle")
    idle = run_rows(app, task="tests.admin.idle")
    assert 3 <= len(idle) <= 4, "pruned to 3 on every second run"
    assert [r.id for r in idle] == sorted(r.id for r in idle)[-len(idle):]
    assert len(run_rows(app, task="tests.admin.nap")) == 1, "another task's runs are its own"


def test_recording_never_breaks_a_task_when_the_database_is_away(make_app, capsys) -> None:
    make_app(database_url="postgresql+psycopg://tickerdesk:db-secret-pw@127.0.0.1:1/none", LOG_LEVEL="WARNING")
    assert _apply("tests.admin.nap", seconds=0).get() == {"slept_s": 0}
    assert _apply("tests.admin.idle").get() == {"skipped": True}
    logged = capsys.readouterr().err
    assert "job_run_not_recorded" in logged and "db-secret-pw" not in logged


@pytest.mark.slow
@pytest.mark.parametrize("pool", ["threads", "prefork"])
def test_a_real_worker_records_its_runs(jobs_app, workers, pool) -> None:
    app = jobs_app()
    port = free_port()
    group = workers(app, redis=False)  # the embedded filesystem broker, as `make run` starts it
    group.start("--pool", pool, "--concurrency", "2", "-I", "tests.admin.tasks", "--loglevel", "INFO",
                SMTP_PASSWORD=SMTP_PASSWORD, JOBS_METRICS_PORT=str(port))
    ok = celery_app.send_task("tests.admin.nap", kwargs={"seconds": 0.3})
    bad = celery_app.send_task("tests.admin.boom")
    done = wait_run(app, ok.id, timeout=40)
    assert done.task == "tests.admin.nap" and done.state == "success" and 0.3 <= done.seconds < 5
    assert json.loads(done.summary) == {"slept_s": 0.3}
    failed = wait_run(app, bad.id, timeout=20)
    assert failed.state == "failure" and failed.error.startswith("ConnectionError: cannot reach postgresql://***@")
    assert LEAKED_PASSWORD not in failed.error and SMTP_PASSWORD not in failed.error
    # The worker's metrics port measures the queue too (what other jobs queued meanwhile may still wait there).
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        scraped = response.read().decode()
    assert re.search(r'^tickerdesk_task_queue_depth\{queue="celery"\} \d+\.0$', scraped, re.M), scraped[-1500:]
