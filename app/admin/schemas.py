"""Request and response schemas of the admin's pipeline endpoints: job runs, deliveries."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.admin.services import parse_summary
from app.models.jobs import JOB_RUN_STATES
from app.models.notify import DELIVERY_STATUSES
from app.notify.schemas import DeliverySchema, PageQuerySchema

TASK_NAME = validate.Regexp(r"^[A-Za-z0-9_.\-]{1,100}$", error="A task name: letters, digits, '.', '_', '-'.")


class JobRunsQuerySchema(PageQuerySchema):
    task = fields.String(load_default=None, validate=TASK_NAME,
                         metadata={"description": "only this task's runs", "example": "jobs.quotes.refresh"})
    state = fields.String(load_default=None, validate=validate.OneOf(JOB_RUN_STATES))


class JobRunSchema(Schema):
    """One run of a pipeline task."""

    id = fields.Integer()
    task = fields.String()
    task_id = fields.String(allow_none=True)
    state = fields.String(metadata={"enum": list(JOB_RUN_STATES)})
    started_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)
    seconds = fields.Float(allow_none=True)
    summary = fields.Function(lambda run: parse_summary(run.summary), allow_none=True,
                              metadata={"description": "the task's return value (JSON, at most 1000 characters "
                                                       "stored; secrets masked)"})
    error = fields.String(allow_none=True, metadata={"description": "exception type and message (secrets masked)"})


class TaskSummarySchema(Schema):
    """One task's last run, last success and its count of runs and failures in the last 24 hours."""

    task = fields.String()
    last_run = fields.Nested(JobRunSchema)
    last_success_at = fields.DateTime(allow_none=True)
    runs_24h = fields.Integer()
    failures_24h = fields.Integer()


class JobRunsSchema(Schema):
    """A page of runs, newest first (`next_before` pages on; null: no more), and every task's summary."""

    items = fields.List(fields.Nested(JobRunSchema))
    next_before = fields.Integer(allow_none=True)
    tasks = fields.List(fields.Nested(TaskSummarySchema))


class DeliveriesQuerySchema(PageQuerySchema):
    status = fields.String(load_default="failed", validate=validate.OneOf(DELIVERY_STATUSES))


class AdminDeliverySchema(DeliverySchema):
    """A delivery of any user; a webhook target shows scheme, host and port only (its path may be its secret)."""

    user_id = fields.Integer()
    fire_id = fields.Integer()


class AdminDeliveriesSchema(Schema):
    """A page of deliveries, newest first."""

    items = fields.List(fields.Nested(AdminDeliverySchema))
    next_before = fields.Integer(allow_none=True)
