"""The admin API: job runs (filters, paging, per-task summary), every user's failed deliveries and their retry."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from app.extensions import db
from app.jobs import celery_app
from app.models import AuditEvent
from app.models.notify import Delivery
from tests.admin.conftest import make_admin
from tests.conftest import register_api
from tests.notify.conftest import fire

SECRET_QUERY = "token=topsecret-ntfy"


def _runs(app) -> None:
    for name in ("tests.admin.nap", "tests.admin.boom", "tests.admin.idle", "tests.admin.nap"):
        celery_app.tasks[name].apply(kwargs={"seconds": 0} if name.endswith("nap") else {})


def test_admin_lists_runs_with_filters_paging_and_a_summary_per_task(app, client) -> None:
    admin = make_admin(app)
    _runs(app)
    everything = client.get("/api/v1/admin/jobs", headers=admin["headers"]).get_json()
    assert [r["task"] for r in everything["items"]] == ["tests.admin.nap", "tests.admin.idle", "tests.admin.boom",
                                                        "tests.admin.nap"], "newest first"
    assert everything["next_before"] is None
    assert everything["items"][0]["summary"] == {"slept_s": 0}, "the summary comes back as JSON"
    tasks = {t["task"]: t for t in everything["tasks"]}
    assert set(tasks) == {"tests.admin.nap", "tests.admin.boom", "tests.admin.idle"}
    assert tasks["tests.admin.boom"]["failures_24h"] == 1 and tasks["tests.admin.boom"]["last_success_at"] is None
    assert tasks["tests.admin.boom"]["last_run"]["state"] == "failure"
    assert tasks["tests.admin.nap"]["runs_24h"] == 2 and tasks["tests.admin.nap"]["failures_24h"] == 0
    assert tasks["tests.admin.nap"]["last_success_at"] is not None

    failures = client.get("/api/v1/admin/jobs?state=failure", headers=admin["headers"]).get_json()["items"]
    assert [r["task"] for r in failures] == ["tests.admin.boom"]
    assert failures[0]["error"].startswith("ConnectionError:") and "***@db.internal" in failures[0]["error"]
    naps = client.get("/api/v1/admin/jobs?task=tests.admin.nap&limit=1", headers=admin["headers"]).get_json()
    assert len(naps["items"]) == 1 and naps["next_before"] == naps["items"][0]["id"]
    rest = client.get(f"/api/v1/admin/jobs?task=tests.admin.nap&limit=1&before={naps['next_before']}",
                      headers=admin["headers"]).get_json()
    assert len(rest["items"]) == 1 and rest["next_before"] is None and rest["items"][0]["id"] < naps["next_before"]


@pytest.mark.parametrize("query, field", [("limit=0", "limit"), ("limit=201", "limit"), ("limit=many", "limit"),
                                          ("state=exploded", "state"), ("task=" + "x" * 101, "task"),
                                          ("task=a%20b", "task"), ("before=0", "before")])
def test_bad_job_parameters_are_a_400_naming_the_field(app, client, query, field) -> None:
    admin = make_admin(app)
    response = client.get(f"/api/v1/admin/jobs?{query}", headers=admin["headers"])
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "validation_error" and field in error["details"]["fields"]
    assert set(error) == {"code", "message", "details", "request_id"}


def test_bad_delivery_parameters_are_a_400(app, client) -> None:
    admin = make_admin(app)
    for query, field in (("status=lost", "status"), ("limit=-1", "limit")):
        response = client.get(f"/api/v1/admin/deliveries?{query}", headers=admin["headers"])
        assert response.status_code == 400 and field in response.get_json()["error"]["details"]["fields"]


def test_the_pipeline_endpoints_are_for_admins_only(app, client) -> None:
    user = register_api(client)
    for method, path in (("GET", "/api/v1/admin/jobs"), ("GET", "/api/v1/admin/deliveries"),
                         ("POST", "/api/v1/admin/deliveries/1/retry")):
        refused = client.open(path, method=method, headers=user["headers"])
        assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "forbidden"
        stranger = client.open(path, method=method)
        assert stranger.status_code == 401 and "error" in stranger.get_json()


def test_the_openapi_document_describes_them(client) -> None:
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    jobs = paths["/api/v1/admin/jobs"]["get"]
    assert {p["name"] for p in jobs["parameters"]} >= {"task", "state", "limit", "before"}
    assert {"200", "400", "401", "403"} <= set(jobs["responses"])
    assert {p["name"] for p in paths["/api/v1/admin/deliveries"]["get"]["parameters"]} >= {"status", "limit"}
    retry = paths["/api/v1/admin/deliveries/{delivery_id}/retry"]["post"]
    assert {"202", "401", "403", "404", "409"} <= set(retry["responses"])


def _webhook_user(app, url: str) -> dict:
    client = app.test_client()
    user = register_api(client)
    saved = client.put("/api/v1/me/notifications", headers=user["headers"],
                       json={"channels": ["live", "webhook"], "webhooks": [{"url": url}]})
    assert saved.status_code == 200, saved.get_json()
    user["secret"] = saved.get_json()["webhooks"][0]["secret"]
    assert client.post("/api/v1/alerts", headers=user["headers"],
                       json={"symbol": "SAP.DE", "kind": "below", "threshold": "10"}).status_code == 201
    return user


def _delivery(app, delivery_id: int) -> Delivery:
    with app.app_context():
        found = db.session.get(Delivery, delivery_id)
        db.session.expunge_all()
        db.session.remove()
    return found


def _wait_status(app, status: str, timeout: float = 40.0) -> Delivery:
    deadline = time.monotonic() + timeout
    while True:
        with app.app_context():
            found = db.session.scalar(select(Delivery).order_by(Delivery.id.desc()))
            db.session.expunge_all()
            db.session.remove()
        if found is not None and found.status == status:
            return found
        assert time.monotonic() < deadline, f"no {status} delivery within {timeout} s: {found and found.status}"
        time.sleep(0.2)


@pytest.mark.slow
def test_a_failed_delivery_is_listed_and_the_admin_retry_has_a_worker_send_it(jobs_app, workers,
                                                                              webhook_receiver) -> None:
    app = jobs_app()
    client = app.test_client()
    admin = make_admin(app)
    user = _webhook_user(app, f"{webhook_receiver.url}?{SECRET_QUERY}")
    webhook_receiver.secret, webhook_receiver.status = user["secret"], 500
    fire(app, "SAP.DE", "9.5")  # enqueued on the embedded broker; the worker sends it
    group = workers(app, redis=False)
    group.start("--pool", "threads", "--concurrency", "2", "--loglevel", "INFO", DELIVERY_MAX_ATTEMPTS="1",
                WEBHOOK_TIMEOUT_S="2")
    failed = _wait_status(app, "failed")

    listed = client.get("/api/v1/admin/deliveries?status=failed", headers=admin["headers"]).get_json()
    [item] = listed["items"]
    port = webhook_receiver.server.server_address[1]
    assert item == {"id": failed.id, "user_id": user["id"], "fire_id": failed.fire_id, "channel": "webhook",
                    "target": f"http://127.0.0.1:{port}/…", "status": "failed", "via": None, "attempts": 1,
                    "last_error": "HTTP 500 from the webhook", "created_at": item["created_at"], "sent_at": None}
    assert "topsecret" not in str(listed)
    assert client.get("/api/v1/admin/deliveries?status=sent", headers=admin["headers"]).get_json()["items"] == []

    webhook_receiver.status = 200
    retried = client.post(f"/api/v1/admin/deliveries/{failed.id}/retry", headers=admin["headers"])
    assert retried.status_code == 202, retried.get_json()
    assert retried.get_json()["status"] == "pending" and retried.get_json()["attempts"] == 0
    sent = _wait_status(app, "sent")
    assert sent.id == failed.id and sent.attempts == 1
    assert len(webhook_receiver.requests) == 2 and webhook_receiver.requests[-1]["signature_ok"]
    assert SECRET_QUERY in webhook_receiver.requests[-1]["path"], "the real URL is used for sending"

    again = client.post(f"/api/v1/admin/deliveries/{failed.id}/retry", headers=admin["headers"])
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "not_failed"
    unknown = client.post("/api/v1/admin/deliveries/999999/retry", headers=admin["headers"])
    assert unknown.status_code == 404 and unknown.get_json()["error"]["code"] == "not_found"
    with app.app_context():
        [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.kind == "delivery_retried")).all()
        assert event.details == {"delivery_id": failed.id, "owner_id": user["id"]}
    assert _delivery(app, failed.id).status == "sent"
