"""Delivery tasks: send recorded deliveries (email or webhook), retried with backoff.

The deliveries of one quote round go out together: `delivery.send_batch` sends up to
DELIVERY_PARALLEL of them at once (threads, each in its own app context and database
session), so a hundred alerts crossing in one round do not queue one behind another
through a single worker slot. A delivery that fails in passing is then retried on its own
by `delivery.send` with exponential backoff; the sweep and the admin's retry use it too.

A task only sends a delivery that is still pending, under a per-delivery run lock
(Redis SET NX PX, or a file lock on the embedded broker), so two workers given the same
delivery never both send it; each attempt is also claimed with a conditional UPDATE of
its count. A worker killed mid-task leaves the message unacknowledged (acks_late), and on
Redis another worker takes it after the visibility timeout.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import structlog
from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from flask import current_app
from flask_babel import force_locale
from prometheus_client import Counter
from sqlalchemy import select, update

from app.extensions import db
from app.jobs.state import run_lock
from app.models import Alert, User
from app.models.notify import AlertFire, Delivery, Webhook
from app.models.types import utcnow
from app.notify import channels, services

log = structlog.get_logger(__name__)
SWEEP_BATCH = 500
SWEEP_WINDOW = timedelta(days=1)
LOCK_TTL_S = 120  # longer than the task's time limit
DELIVERIES = Counter("tickerdesk_deliveries_total", "Alert deliveries that ended, by channel and status",
                     ["channel", "status"])
DELIVERY_FAILURES = Counter("tickerdesk_delivery_attempt_failures_total",
                            "Failed delivery attempts (retried or not), by channel", ["channel"])


@shared_task(bind=True, name="delivery.send", acks_late=True, ignore_result=True,
             soft_time_limit=60, time_limit=90, max_retries=None)
def send_delivery(self, delivery_id: int) -> str:
    """Send one pending delivery; on a passing failure retry with exponential backoff, up to the limit."""
    status, countdown = send_one(delivery_id)
    if countdown is not None:
        raise self.retry(countdown=countdown)
    return status


@shared_task(name="delivery.send_batch", acks_late=True, ignore_result=True, soft_time_limit=60, time_limit=90)
def send_batch(delivery_ids: list[int]) -> dict[str, int]:
    """Send the pending deliveries given, DELIVERY_PARALLEL at once; each passing failure retries on its own."""
    app = current_app._get_current_object()
    ids = list(dict.fromkeys(int(i) for i in delivery_ids))[:services.BATCH_MAX]
    workers = max(1, min(int(app.config["DELIVERY_PARALLEL"]), len(ids)))

    def one(delivery_id: int) -> tuple[int, str, float | None]:
        if workers == 1:
            return (delivery_id, *send_one(delivery_id))
        with app.app_context():  # a session of the thread's own
            try:
                return (delivery_id, *send_one(delivery_id))
            finally:
                db.session.remove()

    if workers == 1:
        outcomes = [one(i) for i in ids]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="delivery") as pool:
            outcomes = list(pool.map(one, ids))
    counts: dict[str, int] = {}
    for delivery_id, status, countdown in outcomes:
        if countdown is not None:
            status = "retrying"
            send_delivery.apply_async((delivery_id,), countdown=countdown)
        counts[status] = counts.get(status, 0) + 1
    return counts


def send_one(delivery_id: int) -> tuple[str, float | None]:
    """Attempt one delivery under its lock: (status, None) when done, ("retry", countdown) to try again."""
    with run_lock(f"delivery-{delivery_id}", LOCK_TTL_S) as got:
        if not got:
            return "busy", None  # another worker is sending it right now
        return _attempt(delivery_id)


def _attempt(delivery_id: int) -> tuple[str, float | None]:
    delivery = db.session.get(Delivery, delivery_id)
    if delivery is None or delivery.status != "pending":
        return "skipped", None
    claimed = db.session.execute(
        update(Delivery).where(Delivery.id == delivery_id, Delivery.status == "pending",
                               Delivery.attempts == delivery.attempts)
        .values(attempts=Delivery.attempts + 1))
    db.session.commit()
    if claimed.rowcount != 1:
        return "skipped", None  # another worker holds this attempt
    db.session.refresh(delivery)
    cfg = current_app.config
    try:
        try:
            _send(delivery, cfg)
        except SoftTimeLimitExceeded:
            raise channels.DeliveryError("timed out (task time limit)") from None
    except channels.PermanentDeliveryError as exc:
        DELIVERY_FAILURES.labels(delivery.channel).inc()
        return _finish(delivery, "failed", str(exc)), None
    except channels.DeliveryError as exc:
        DELIVERY_FAILURES.labels(delivery.channel).inc()
        if delivery.attempts >= cfg["DELIVERY_MAX_ATTEMPTS"]:
            return _finish(delivery, "failed", str(exc)), None
        delivery.last_error = str(exc)[:channels.MAX_ERROR_LENGTH]
        db.session.commit()
        countdown = cfg["DELIVERY_RETRY_BASE_S"] * 2 ** (delivery.attempts - 1)
        log.info("delivery_retry", delivery_id=delivery.id, channel=delivery.channel, attempts=delivery.attempts,
                 countdown_s=countdown)
        return "retry", countdown
    return _finish(delivery, "sent", None), None


@shared_task(name="delivery.sweep", ignore_result=True, soft_time_limit=60, time_limit=90)
def sweep_pending() -> int:
    """Record fires that never reached delivery (a crash between evaluate and on_fired), then re-enqueue
    deliveries left pending and never tried (the broker was down when they were recorded)."""
    services.record_fires(unrecorded_fires())
    ids = list(db.session.scalars(select(Delivery.id).where(Delivery.status == "pending", Delivery.attempts == 0)
                                  .order_by(Delivery.id).limit(SWEEP_BATCH)))
    services.enqueue(ids)
    return len(ids)


def unrecorded_fires() -> list[dict]:
    """Return the alerts fired in the last day that have no recorded fire, as evaluate() reports them."""
    recorded = select(AlertFire.id).where(AlertFire.alert_id == Alert.id, AlertFire.triggered_at == Alert.triggered_at)
    rows = db.session.scalars(select(Alert).where(Alert.active.is_(False), Alert.triggered_at.is_not(None),
                                                  Alert.triggered_at > utcnow() - SWEEP_WINDOW, ~recorded.exists())
                              .order_by(Alert.id).limit(SWEEP_BATCH))
    return [{"id": a.id, "user_id": a.user_id, "symbol": a.symbol, "kind": a.kind, "threshold": str(a.threshold),
             "triggered_price": str(a.triggered_price), "triggered_at": a.triggered_at.isoformat()} for a in rows]


def _send(delivery: Delivery, cfg) -> None:
    fire = db.session.get(AlertFire, delivery.fire_id)
    if delivery.channel == "email":
        with force_locale(_language(delivery.user_id)):  # the account's language, as its pages
            subject, body = channels.message_for(fire)
        delivery.subject, delivery.body = subject, body
        if not cfg["SMTP_HOST"]:
            delivery.via = "outbox"
            log.info("email_outbox", delivery_id=delivery.id, user_id=delivery.user_id, subject=subject,
                     body=body)
            return
        delivery.via = "smtp"
        channels.send_email(cfg, delivery.target, subject, body)
        return
    hook = db.session.get(Webhook, delivery.webhook_id) if delivery.webhook_id is not None else None
    if hook is None:
        raise channels.PermanentDeliveryError("The webhook was removed.")
    with force_locale(_language(delivery.user_id)):  # an ntfy title is read by a person
        body, headers = channels.webhook_payload(fire, delivery.id, hook.format)
    headers["X-Tickerdesk-Delivery"] = str(delivery.id)
    channels.post_webhook(hook.url, hook.secret, body, headers, timeout_s=cfg["WEBHOOK_TIMEOUT_S"],
                          allow_private=cfg["WEBHOOK_ALLOW_PRIVATE"], require_https=cfg["PRODUCTION"])


def _language(user_id: int) -> str:
    """The account's chosen language; English when it follows the browser (an email has none)."""
    from app.ops.i18n import DEFAULT_LOCALE  # noqa: PLC0415

    return db.session.scalar(select(User.locale).where(User.id == user_id)) or DEFAULT_LOCALE


def _finish(delivery: Delivery, status: str, error: str | None) -> str:
    delivery.status = status
    delivery.last_error = error[:channels.MAX_ERROR_LENGTH] if error else None
    if status == "sent":
        delivery.sent_at = utcnow()
    db.session.commit()
    DELIVERIES.labels(delivery.channel, status).inc()
    log.info("delivery_" + status, delivery_id=delivery.id, channel=delivery.channel, attempts=delivery.attempts,
             error=delivery.last_error)
    return status
