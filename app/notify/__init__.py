"""Delivery of fired alerts beyond the live socket: email and webhooks.

`on_fired` is the contract: whoever fires alerts (the quotes job, a page load) calls it
with what `app.alerts.services.evaluate` returned. It records the fire and one delivery
per enabled channel and target, commits, and only then enqueues the sending (a Celery
task in `app.jobs.delivery`). Each delivery's idempotency key
(alert id, fire time, channel, target) is unique, so calling it twice for one fire
records and sends nothing twice.
"""
from __future__ import annotations

from typing import Any


def on_fired(fired: list[dict[str, Any]]) -> None:
    """Record one delivery per fire and enabled channel, commit, then enqueue their sending."""
    if not fired:
        return
    from app.notify import services  # the models import the extensions; keep this package light

    services.enqueue(services.record_fires(fired))
