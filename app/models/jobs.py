"""What the pipeline keeps in the database: its recent runs, and results that workers compute for pages.

* `JobRun`: one row per task run (started, finished, state, a short summary or error), for the
  admin's "recent job runs"; old rows are pruned by the jobs themselves.
* `ComputedResult`: a result a worker computed (a universe's score table, a portfolio's
  performance) under a key, with the digest of the inputs it was computed from. Web processes
  only read it (and enqueue its recomputation); the database is what web and worker processes
  share in every configuration, the embedded default included.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UTCDateTime, utcnow

JOB_RUN_STATES = ("running", "success", "failure", "retry", "skipped")


class JobRun(db.Model):
    """One run of a pipeline task."""

    __tablename__ = "job_runs"
    __table_args__ = (Index("ix_job_runs_task_started", "task", "started_at"),
                      Index("ix_job_runs_started", "started_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    task: Mapped[str] = mapped_column(String(100))
    task_id: Mapped[str | None] = mapped_column(String(64), default=None)
    state: Mapped[str] = mapped_column(String(10), default="running")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    seconds: Mapped[float | None] = mapped_column(default=None)
    summary: Mapped[str | None] = mapped_column(String(1000), default=None)  # JSON of the task's result
    error: Mapped[str | None] = mapped_column(String(500), default=None)  # exception type and message


class ComputedResult(db.Model):
    """A result computed by a worker, read by the web processes."""

    __tablename__ = "computed_results"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))  # of the inputs: a different digest means stale
    payload: Mapped[str] = mapped_column(Text())  # JSON
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    seconds: Mapped[float] = mapped_column(default=0.0)
