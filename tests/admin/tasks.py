"""Tasks of the admin tests, run in process (`apply`) and by real workers (`celery worker -I tests.admin.tasks`)."""
from __future__ import annotations

import time

from celery import shared_task
from flask import current_app

LEAKED_PASSWORD = "hunter2-db-pass"


@shared_task(name="tests.admin.nap", ignore_result=True)
def nap(seconds: float = 0.3) -> dict:
    """Sleep, then say how long."""
    time.sleep(seconds)
    return {"slept_s": seconds}


@shared_task(name="tests.admin.boom", ignore_result=True)
def boom() -> None:
    """Fail with an error that quotes a database URL with its password and the SMTP password."""
    raise ConnectionError(f"cannot reach postgresql://app:{LEAKED_PASSWORD}@db.internal/prod "
                          f"(smtp login with {current_app.config['SMTP_PASSWORD']})")


@shared_task(name="tests.admin.idle", ignore_result=True)
def idle() -> dict:
    """Nothing to do, as a job says when another run holds its lock."""
    return {"skipped": True}


@shared_task(name="tests.admin.big", ignore_result=True)
def big() -> dict:
    """Return far more than a summary keeps."""
    return {"symbols": [f"SYM{i}" for i in range(1000)]}


@shared_task(name="tests.admin.shout", ignore_result=True)
def shout() -> None:
    """Fail with markup in the message (the page must escape it)."""
    raise ValueError("<script>alert(1)</script>")


@shared_task(bind=True, name="tests.admin.flaky", ignore_result=True, max_retries=1)
def flaky(self) -> dict:
    """Fail once (a retry), then succeed."""
    if self.request.retries == 0:
        raise self.retry(exc=RuntimeError("first try fails"), countdown=0)
    return {"tries": self.request.retries + 1}
