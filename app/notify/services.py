"""Notification services: record fires and their deliveries, settings, history, retries."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import Alert, User
from app.models.notify import AlertChannels, AlertFire, Delivery, NotificationSettings, Webhook
from app.ops.errors import APIError

log = structlog.get_logger(__name__)
SEND_TASK = "delivery.send"  # app.jobs.delivery.send_delivery, enqueued by name (jobs sit above this package)
BATCH_TASK = "delivery.send_batch"  # app.jobs.delivery.send_batch: many deliveries, sent concurrently
BATCH_MAX = 100  # deliveries per send_batch task
SAFETY_NET_S = 120  # the queued copy of an inline send runs this much later (and finds them sent)
_inline: dict[str, ThreadPoolExecutor] = {}
_pool_lock = threading.Lock()


def _in_worker_task() -> bool:
    """True inside a task that a Celery worker is running (not an eager call in a web process or a test)."""
    from celery import current_task  # noqa: PLC0415

    request = getattr(current_task, "request", None)
    return bool(current_task) and request is not None and request.id is not None and not request.is_eager


def _inline_pool() -> ThreadPoolExecutor:
    with _pool_lock:  # made on first use: after a prefork worker's fork
        if "pool" not in _inline:
            _inline["pool"] = ThreadPoolExecutor(max_workers=2, thread_name_prefix="deliver-inline")
        return _inline["pool"]
MAX_FIRES_PER_CALL = 10_000


def record_fires(fired: list[dict[str, Any]]) -> list[int]:
    """Store each fire and its pending deliveries (once per idempotency key); return the new delivery ids."""
    created: list[Delivery] = []
    for item in fired[:MAX_FIRES_PER_CALL]:
        fire = _fire(item)
        if fire is None:
            continue
        for channel, target, webhook_id in targets_for(fire.user_id, fire.alert_id):
            key = idempotency_key(fire, channel, target)
            if db.session.scalar(select(Delivery.id).where(Delivery.idempotency_key == key)) is not None:
                continue
            delivery = Delivery(fire_id=fire.id, user_id=fire.user_id, channel=channel, target=target,
                                webhook_id=webhook_id, idempotency_key=key)
            try:
                with db.session.begin_nested():
                    db.session.add(delivery)
            except IntegrityError:  # another process recorded it first
                continue
            created.append(delivery)
    db.session.commit()
    return [d.id for d in created]


def enqueue(delivery_ids: list[int]) -> None:
    """Hand the (committed) deliveries to the sending tasks, up to BATCH_MAX a task; one the broker refuses
    stays pending for the sweep.

    In a worker (the quotes job fired them) they are sent from this process at once, in a
    thread, rather than waiting in the queue for a free worker slot behind the next quote
    round; a queued copy follows SAFETY_NET_S later and sends whatever that left pending (a
    worker that died mid-send). A web process only ever enqueues.
    """
    if not delivery_ids:
        return
    from celery import current_app as celery  # the app's Celery app (app.jobs), found without importing it

    if not (celery.conf.task_always_eager or getattr(celery, "flask_app", None) is not None):
        # No Celery app configured in this process (app.jobs.init_app not run): the sweep sends them later.
        log.warning("delivery_enqueue_skipped", reason="celery_not_configured", deliveries=len(delivery_ids))
        return
    inline = getattr(celery, "flask_app", None) is not None and not celery.conf.task_always_eager and _in_worker_task()
    for start in range(0, len(delivery_ids), BATCH_MAX):
        chunk = delivery_ids[start:start + BATCH_MAX]
        try:
            if inline:
                _inline_pool().submit(_send_inline, celery.flask_app, celery.tasks[BATCH_TASK], chunk)
                celery.tasks[BATCH_TASK].apply_async((chunk,), countdown=SAFETY_NET_S)
            elif len(chunk) == 1:
                celery.tasks[SEND_TASK].delay(chunk[0])
            else:
                celery.tasks[BATCH_TASK].delay(chunk)
        except Exception as exc:  # noqa: BLE001 - kombu raises many kinds; the sweep re-enqueues pending rows
            log.warning("delivery_enqueue_failed", delivery_ids=chunk, error=type(exc).__name__)


def _send_inline(flask_app: Any, batch_task: Any, ids: list[int]) -> None:
    with flask_app.app_context():
        try:
            batch_task.run(ids)
        except Exception as exc:  # noqa: BLE001 - the queued copy sends what this left pending
            log.warning("delivery_inline_failed", deliveries=len(ids), error=type(exc).__name__)
        finally:
            db.session.remove()


def idempotency_key(fire: AlertFire, channel: str, target: str) -> str:
    """Return the key that makes one fire go to one channel and target once."""
    return f"{fire.alert_id}:{fire.triggered_at.isoformat()}:{channel}:{target}"[:400]


def settings_for(user_id: int) -> NotificationSettings:
    """Return the user's notification settings (the defaults if never saved; not added to the session)."""
    found = db.session.get(NotificationSettings, user_id)
    return found if found is not None else NotificationSettings(user_id=user_id, email_enabled=True,
                                                                email_address=None, webhook_enabled=True)


def webhooks(user_id: int) -> list[Webhook]:
    """Return the user's webhooks, oldest first."""
    return list(db.session.scalars(select(Webhook).where(Webhook.user_id == user_id).order_by(Webhook.id)))


def targets_for(user_id: int, alert_id: int | None) -> list[tuple[str, str, int | None]]:
    """Return (channel, target, webhook id) for each channel a fire of this alert goes to."""
    settings = settings_for(user_id)
    email_on, webhook_on = settings.email_enabled, settings.webhook_enabled
    override = db.session.get(AlertChannels, alert_id) if alert_id is not None else None
    if override is not None:
        email_on = email_on if override.email is None else override.email
        webhook_on = webhook_on if override.webhook is None else override.webhook
    targets: list[tuple[str, str, int | None]] = []
    if email_on:
        address = settings.email_address or db.session.scalar(select(User.email).where(User.id == user_id))
        if address:
            targets.append(("email", address, None))
    if webhook_on:
        targets.extend(("webhook", hook.url, hook.id) for hook in webhooks(user_id))
    return targets


def _fire(item: dict[str, Any]) -> AlertFire | None:
    triggered_at = item["triggered_at"]
    if isinstance(triggered_at, str):
        triggered_at = datetime.fromisoformat(triggered_at)
    alert_id = item.get("id")
    query = select(AlertFire).where(AlertFire.alert_id == alert_id, AlertFire.triggered_at == triggered_at)
    found = db.session.scalar(query)
    if found is not None:
        return found
    if alert_id is not None and db.session.get(Alert, alert_id) is None:
        alert_id = None  # deleted meanwhile: keep the fire in the history all the same
    fire = AlertFire(user_id=item["user_id"], alert_id=alert_id, symbol=item["symbol"], kind=item["kind"],
                     threshold=Decimal(str(item["threshold"])), triggered_price=Decimal(str(item["triggered_price"])),
                     triggered_at=triggered_at)
    try:
        with db.session.begin_nested():
            db.session.add(fire)
    except IntegrityError:  # recorded by another process at the same moment
        return db.session.scalar(query)
    return fire


def history(user_id: int, limit: int = 50, before: int | None = None) -> dict[str, Any]:
    """Return a page of the user's fires, newest first, each with its deliveries."""
    query = select(AlertFire).where(AlertFire.user_id == user_id)
    if before is not None:
        query = query.where(AlertFire.id < before)
    fires = list(db.session.scalars(query.order_by(AlertFire.id.desc()).limit(limit + 1)))
    more = len(fires) > limit
    fires = fires[:limit]
    by_fire: dict[int, list[Delivery]] = {fire.id: [] for fire in fires}
    if fires:
        for delivery in db.session.scalars(select(Delivery).where(Delivery.fire_id.in_(list(by_fire)))
                                           .order_by(Delivery.id)):
            by_fire[delivery.fire_id].append(delivery)
    items = [{"id": f.id, "alert_id": f.alert_id, "symbol": f.symbol, "kind": f.kind, "threshold": f.threshold,
              "triggered_price": f.triggered_price, "triggered_at": f.triggered_at, "deliveries": by_fire[f.id]}
             for f in fires]
    return {"items": items, "next_before": fires[-1].id if more else None}


def outbox(user_id: int, limit: int = 50, before: int | None = None) -> dict[str, Any]:
    """Return a page of the user's emails kept in the outbox, newest first."""
    query = select(Delivery).where(Delivery.user_id == user_id, Delivery.channel == "email",
                                   Delivery.via == "outbox")
    if before is not None:
        query = query.where(Delivery.id < before)
    rows = list(db.session.scalars(query.order_by(Delivery.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": rows, "next_before": rows[-1].id if more else None}


def retry(user_id: int, delivery_id: int) -> Delivery:
    """Send a failed delivery again from a fresh count of attempts (404 if not the user's, 409 unless failed)."""
    delivery = db.session.scalar(select(Delivery).where(Delivery.id == delivery_id, Delivery.user_id == user_id))
    if delivery is None:
        raise APIError(404, "No such delivery.", code="not_found")
    if delivery.status != "failed":
        raise APIError(409, f"Only a failed delivery can be retried; this one is {delivery.status}.",
                       code="not_failed")
    delivery.status, delivery.attempts = "pending", 0
    db.session.commit()
    enqueue([delivery.id])
    db.session.refresh(delivery)
    return delivery
