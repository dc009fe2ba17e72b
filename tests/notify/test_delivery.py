"""Fired alerts reach people who are not looking: a real SMTP server, a signed webhook, the outbox."""
from __future__ import annotations

import json

import pytest

from tests.conftest import register_api
from tests.notify.conftest import fire

SETTINGS = "/api/v1/me/notifications"
HISTORY = "/api/v1/alerts/history"


def _alert(client, headers, symbol="SAP.DE", kind="above", threshold="1") -> dict:
    response = client.post("/api/v1/alerts", json={"symbol": symbol, "kind": kind, "threshold": threshold},
                           headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _settings(client, headers, **body) -> dict:
    response = client.put(SETTINGS, json=body, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _history(client, headers) -> list[dict]:
    response = client.get(HISTORY, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


def test_a_fire_with_no_connection_is_emailed_through_a_real_smtp_server(notify_app, smtp_server) -> None:
    port, inbox = smtp_server
    app = notify_app(SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_STARTTLS=False, MAIL_FROM="alerts@tickerdesk.test")
    client = app.test_client()
    user = register_api(client)
    alert = _alert(client, user["headers"], threshold="100")
    fired = fire(app, "SAP.DE", "101.5")
    assert [f["id"] for f in fired] == [alert["id"]]
    assert len(inbox.messages) == 1
    message = inbox.messages[0]
    assert message["to"] == [user["email"]] and message["from"] == "alerts@tickerdesk.test"
    assert "Subject: Tickerdesk alert: SAP.DE above 100 fired at 101.5" in message["data"]
    assert "Your above alert on SAP.DE fired." in message["data"] and "Price: 101.5" in message["data"]
    [item] = _history(client, user["headers"])
    assert (item["alert_id"], item["symbol"], item["triggered_price"]) == (alert["id"], "SAP.DE", "101.5")
    [delivery] = item["deliveries"]
    assert (delivery["channel"], delivery["target"], delivery["status"], delivery["via"], delivery["attempts"]) == (
        "email", user["email"], "sent", "smtp", 1)
    assert delivery["sent_at"] is not None
    assert client.get("/api/v1/alerts/outbox", headers=user["headers"]).get_json()["items"] == []


def test_the_same_fire_handed_over_twice_is_sent_once(notify_app, smtp_server, webhook_receiver) -> None:
    port, inbox = smtp_server
    app = notify_app(SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_STARTTLS=False)
    client = app.test_client()
    user = register_api(client)
    webhook_receiver.secret = _settings(client, user["headers"], channels=["live", "email", "webhook"],
                                        webhooks=[{"url": webhook_receiver.url}])["webhooks"][0]["secret"]
    _alert(client, user["headers"])
    fired = fire(app, "SAP.DE", "5")
    from app.notify import on_fired

    with app.app_context():
        on_fired(fired)  # the quotes job redone after a crash, say
        on_fired(fired)
    assert len(inbox.messages) == 1 and len(webhook_receiver.requests) == 1
    [item] = _history(client, user["headers"])
    assert sorted((d["channel"], d["status"]) for d in item["deliveries"]) == [("email", "sent"), ("webhook", "sent")]


def test_without_smtp_the_email_lands_in_the_outbox(notify_app) -> None:
    app = notify_app()  # no SMTP_HOST
    client = app.test_client()
    user = register_api(client)
    _alert(client, user["headers"], kind="below", threshold="1000000")
    fire(app, "SAP.DE", "99")
    outbox = client.get("/api/v1/alerts/outbox", headers=user["headers"]).get_json()
    [mail] = outbox["items"]
    assert mail["to"] == user["email"]
    assert mail["subject"] == "Tickerdesk alert: SAP.DE below 1000000 fired at 99"
    assert "Price: 99" in mail["body"]
    [delivery] = _history(client, user["headers"])[0]["deliveries"]
    assert (delivery["status"], delivery["via"]) == ("sent", "outbox")
    assert client.get(SETTINGS, headers=user["headers"]).get_json()["smtp_configured"] is False


def test_a_webhook_is_signed_over_timestamp_and_body(notify_app, webhook_receiver) -> None:
    app = notify_app()
    client = app.test_client()
    user = register_api(client)
    saved = _settings(client, user["headers"], channels=["live", "webhook"], webhooks=[{"url": webhook_receiver.url}])
    webhook_receiver.secret = saved["webhooks"][0]["secret"]
    alert = _alert(client, user["headers"], kind="stop_loss", threshold="50")
    fire(app, "SAP.DE", "49.5")
    [request] = webhook_receiver.requests
    assert request["signature_ok"] and request["path"] == "/hook"
    assert request["headers"]["Content-Type"] == "application/json"
    document = json.loads(request["body"])
    assert document["event"] == "alert.fired"
    assert document["alert"] | {"triggered_at": None} == {
        "id": alert["id"], "symbol": "SAP.DE", "kind": "stop_loss", "threshold": "50", "triggered_price": "49.5",
        "triggered_at": None}
    [item] = _history(client, user["headers"])
    assert [(d["channel"], d["status"]) for d in item["deliveries"]] == [("webhook", "sent")]  # email is off
    assert str(document["delivery_id"]) == request["headers"]["X-Tickerdesk-Delivery"]


def test_an_ntfy_style_webhook_gets_plain_text(notify_app, webhook_receiver) -> None:
    app = notify_app()
    client = app.test_client()
    user = register_api(client)
    saved = _settings(client, user["headers"], channels=["webhook"],
                      webhooks=[{"url": webhook_receiver.url, "format": "ntfy-text"}])
    webhook_receiver.secret = saved["webhooks"][0]["secret"]
    _alert(client, user["headers"], kind="take_profit", threshold="10")
    fire(app, "SAP.DE", "12")
    [request] = webhook_receiver.requests
    assert request["signature_ok"]
    assert request["headers"]["Content-Type"].startswith("text/plain")
    assert request["body"] == b"SAP.DE take profit 10: price 12"
    assert request["headers"]["Title"].startswith("Tickerdesk alert: SAP.DE take profit 10")


def test_a_failing_webhook_is_retried_then_failed_visibly_and_can_be_retried(notify_app, webhook_receiver) -> None:
    from prometheus_client import REGISTRY

    def metric(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    failed_before = metric("tickerdesk_deliveries_total", channel="webhook", status="failed")
    attempts_before = metric("tickerdesk_delivery_attempt_failures_total", channel="webhook")
    app = notify_app(DELIVERY_MAX_ATTEMPTS=3)
    client = app.test_client()
    user = register_api(client)
    saved = _settings(client, user["headers"], channels=["webhook"], webhooks=[{"url": webhook_receiver.url}])
    webhook_receiver.secret = saved["webhooks"][0]["secret"]
    webhook_receiver.status = 500
    _alert(client, user["headers"])
    fire(app, "SAP.DE", "2")
    assert len(webhook_receiver.requests) == 3 and all(r["signature_ok"] for r in webhook_receiver.requests)
    [delivery] = _history(client, user["headers"])[0]["deliveries"]
    assert (delivery["status"], delivery["attempts"], delivery["last_error"]) == ("failed", 3, "HTTP 500 from the webhook")
    assert webhook_receiver.secret not in json.dumps(delivery)
    assert metric("tickerdesk_deliveries_total", channel="webhook", status="failed") == failed_before + 1
    assert metric("tickerdesk_delivery_attempt_failures_total", channel="webhook") == attempts_before + 3
    webhook_receiver.status = 204
    response = client.post(f"/api/v1/alerts/deliveries/{delivery['id']}/retry", headers=user["headers"])
    assert response.status_code == 202, response.get_json()
    assert (response.get_json()["status"], response.get_json()["attempts"]) == ("sent", 1)
    assert len(webhook_receiver.requests) == 4
    again = client.post(f"/api/v1/alerts/deliveries/{delivery['id']}/retry", headers=user["headers"])
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "not_failed"
    other = register_api(client)
    assert client.post(f"/api/v1/alerts/deliveries/{delivery['id']}/retry",
                       headers=other["headers"]).status_code == 404


def test_an_alert_can_override_the_account_channels(notify_app, webhook_receiver) -> None:
    app = notify_app()
    client = app.test_client()
    user = register_api(client)
    saved = _settings(client, user["headers"], channels=["live", "email", "webhook"],
                      webhooks=[{"url": webhook_receiver.url}])
    webhook_receiver.secret = saved["webhooks"][0]["secret"]
    quiet, loud = _alert(client, user["headers"]), _alert(client, user["headers"], symbol="ADS.DE")
    path = f"/api/v1/alerts/{quiet['id']}/channels"
    assert client.get(path, headers=user["headers"]).get_json() == {"email": None, "webhook": None}
    response = client.put(path, json={"email": False, "webhook": None}, headers=user["headers"])
    assert response.status_code == 200 and response.get_json() == {"email": False, "webhook": None}
    other = register_api(client)
    assert client.put(path, json={"email": True}, headers=other["headers"]).status_code == 404
    fire(app, "SAP.DE", "5")
    fire(app, "ADS.DE", "5")
    channels = {item["alert_id"]: sorted(d["channel"] for d in item["deliveries"])
                for item in _history(client, user["headers"])}
    assert channels == {quiet["id"]: ["webhook"], loud["id"]: ["email", "webhook"]}


def test_history_survives_rearm_and_deletion_and_pages(notify_app) -> None:
    app = notify_app()
    client = app.test_client()
    user = register_api(client)
    alert = _alert(client, user["headers"])
    fire(app, "SAP.DE", "5")
    assert client.post(f"/api/v1/alerts/{alert['id']}/rearm", headers=user["headers"]).status_code == 200
    fire(app, "SAP.DE", "6")
    assert client.delete(f"/api/v1/alerts/{alert['id']}", headers=user["headers"]).status_code == 204
    first = client.get(HISTORY + "?limit=1", headers=user["headers"]).get_json()
    assert [i["triggered_price"] for i in first["items"]] == ["6"] and first["next_before"]
    second = client.get(f"{HISTORY}?limit=1&before={first['next_before']}", headers=user["headers"]).get_json()
    assert [i["triggered_price"] for i in second["items"]] == ["5"] and second["next_before"] is None
    assert all(i["alert_id"] is None for i in first["items"] + second["items"])
    assert register_api(client)["headers"] and _history(client, register_api(client)["headers"]) == []
    for bad in ("limit=0", "limit=201", "before=0", "limit=x"):
        response = client.get(f"{HISTORY}?{bad}", headers=user["headers"])
        assert response.status_code == 400 and "fields" in response.get_json()["error"]["details"], bad


def test_erasing_the_account_erases_its_notifications(notify_app, webhook_receiver) -> None:
    from sqlalchemy import func, select

    from app.extensions import db
    from app.models import AlertChannels, AlertFire, Delivery, NotificationSettings, Webhook
    from tests.conftest import PASSWORD

    app = notify_app()
    client = app.test_client()
    user = register_api(client)
    webhook_receiver.secret = _settings(client, user["headers"], channels=["email", "webhook"],
                                        webhooks=[{"url": webhook_receiver.url}])["webhooks"][0]["secret"]
    alert = _alert(client, user["headers"])
    client.put(f"/api/v1/alerts/{alert['id']}/channels", json={"email": True}, headers=user["headers"])
    fire(app, "SAP.DE", "5")
    response = client.delete("/api/v1/me", json={"password": PASSWORD}, headers=user["headers"])
    assert response.status_code == 204, response.get_json()
    with app.app_context():
        for model in (NotificationSettings, Webhook, AlertChannels, AlertFire, Delivery):
            assert db.session.scalar(select(func.count()).select_from(model)) == 0, model.__name__


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_the_sweep_delivers_fires_that_never_reached_on_fired(notify_app, request, database) -> None:
    from app.alerts.services import evaluate
    from app.jobs.delivery import sweep_pending
    from app.notify import services

    app = notify_app() if database == "sqlite" else notify_app(database_url=request.getfixturevalue("pg_url"))
    client = app.test_client()
    user = register_api(client)
    lost, stuck = _alert(client, user["headers"]), _alert(client, user["headers"], symbol="ADS.DE")
    with app.app_context():
        evaluate({"SAP.DE": "5"})  # the process died before on_fired
        services.record_fires(evaluate({"ADS.DE": "5"}))  # recorded, but the broker was down: never enqueued
    assert {i["alert_id"]: [d["status"] for d in i["deliveries"]] for i in _history(client, user["headers"])} == {
        stuck["id"]: ["pending"]}
    with app.app_context():  # (the PostgreSQL database is shared: other tests' rows may be swept too)
        assert sweep_pending.run() >= 2
        sweep_pending.run()  # nothing twice
    history = {i["alert_id"]: [(d["channel"], d["status"]) for d in i["deliveries"]]
               for i in _history(client, user["headers"])}
    assert history == {lost["id"]: [("email", "sent")], stuck["id"]: [("email", "sent")]}
    assert len(client.get("/api/v1/alerts/outbox", headers=user["headers"]).get_json()["items"]) == 2


def test_a_send_past_the_task_time_limit_counts_as_a_failed_attempt(notify_app, monkeypatch) -> None:
    from celery.exceptions import SoftTimeLimitExceeded

    import app.jobs.delivery as delivery_tasks

    def too_slow(delivery, cfg):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(delivery_tasks, "_send", too_slow)
    app = notify_app(DELIVERY_MAX_ATTEMPTS=2)
    client = app.test_client()
    user = register_api(client)
    _alert(client, user["headers"])
    fire(app, "SAP.DE", "5")
    [delivery] = _history(client, user["headers"])[0]["deliveries"]
    assert (delivery["status"], delivery["attempts"], delivery["last_error"]) == (
        "failed", 2, "timed out (task time limit)")


def test_one_rounds_fires_go_out_together_and_a_failure_retries_alone(notify_app, webhook_receiver) -> None:
    app = notify_app(DELIVERY_PARALLEL=4)
    client = app.test_client()
    users = []
    for _ in range(6):  # six people, each with a webhook and an alert that one price crosses
        user = register_api(client)
        saved = _settings(client, user["headers"], channels=["webhook"], webhooks=[{"url": webhook_receiver.url}])
        assert saved["webhooks"][0]["secret"]
        users.append(user)
        _alert(client, user["headers"], threshold="1")
    webhook_receiver.delay_s = 0.4  # each POST holds the receiver long enough for the others to overlap
    webhook_receiver.statuses = [500]  # the first POST fails in passing
    fired = fire(app, "SAP.DE", "2")
    assert len(fired) == 6
    # Sent 4 at a time (DELIVERY_PARALLEL), not one behind another; never more than 4 at once.
    # (At least 3 overlapping: a loaded machine may start the fourth thread late.)
    assert 3 <= webhook_receiver.max_in_flight <= 4
    # Six first attempts, one of which failed and was retried on its own: seven POSTs, six sent.
    assert len(webhook_receiver.requests) == 7
    deliveries = [_history(client, user["headers"])[0]["deliveries"] for user in users]
    assert all(len(d) == 1 and d[0]["status"] == "sent" for d in deliveries), deliveries
    assert sorted(d[0]["attempts"] for d in deliveries) == [1, 1, 1, 1, 1, 2]


def test_an_account_in_german_gets_its_alert_email_in_german(notify_app) -> None:
    app = notify_app()
    client = app.test_client()
    user = register_api(client)
    from app.extensions import db
    from app.models import User

    with app.app_context():  # the language chosen on the account page
        db.session.get(User, user["id"]).locale = "de"
        db.session.commit()
    _alert(client, user["headers"], kind="below", threshold="1000000.5")
    fire(app, "SAP.DE", "99.25")
    [mail] = client.get("/api/v1/alerts/outbox", headers=user["headers"]).get_json()["items"]
    assert mail["subject"] == "Tickerdesk-Alarm: SAP.DE unter 1000000,5 ausgelöst bei 99,25"
    assert "Ihr Alarm „unter“ für SAP.DE wurde ausgelöst." in mail["body"] and "Kurs: 99,25" in mail["body"]
    assert "„Kursalarme“" in mail["body"]
