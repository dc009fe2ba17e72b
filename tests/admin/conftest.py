"""Fixtures of the admin tests: an administrator (API token and page session), the admin's test tasks,
and the real worker, webhook receiver and eager-delivery fixtures of tests/jobs and tests/notify."""
from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.jobs import runs
from app.models.jobs import JobRun
from tests.admin import tasks  # noqa: F401 - registers the test tasks in this process
from tests.conftest import PASSWORD
from tests.jobs.conftest import jobs_app, workers  # noqa: F401 - fixtures
from tests.notify.conftest import eager, webhook_receiver  # noqa: F401 - fixtures


def make_admin(app: Flask) -> dict[str, Any]:
    """Create an administrator with `flask users create-admin`; return its email and API headers."""
    email = f"admin-{uuid.uuid4().hex[:6]}@example.com"
    result = app.test_cli_runner().invoke(args=["users", "create-admin", email, "--password", PASSWORD])
    assert result.exit_code == 0, result.output
    tokens = app.test_client().post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}).get_json()
    return {"email": email, "headers": {"Authorization": f"Bearer {tokens['access_token']}"}}


def run_rows(app: Flask, **where: Any) -> list[JobRun]:
    """Return the job_runs rows matching column=value filters, oldest first."""
    with app.app_context():
        query = select(JobRun).filter_by(**where).order_by(JobRun.id)
        rows = list(db.session.scalars(query))
        db.session.expunge_all()
        db.session.remove()
    return rows


def wait_run(app: Flask, task_id: str, timeout: float = 30.0) -> JobRun:
    """Wait until the run of `task_id` has ended; return its row."""
    deadline = time.monotonic() + timeout
    while True:
        rows = [r for r in run_rows(app, task_id=task_id) if r.state != "running"]
        if rows:
            return rows[-1]
        assert time.monotonic() < deadline, f"no finished run of {task_id} within {timeout} s"
        time.sleep(0.2)


@pytest.fixture(autouse=True)
def _recorder_up() -> Iterator[None]:
    # A test that takes the database away makes the recorder pause; the next test starts afresh.
    runs._down_until[0] = 0.0
    yield
    runs._down_until[0] = 0.0
