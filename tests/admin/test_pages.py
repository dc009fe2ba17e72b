"""The /admin page: for administrators only; runs, task summary and failed deliveries, escaped; a CSRF retry form."""
from __future__ import annotations

import re

from sqlalchemy import select

from app.extensions import db
from app.jobs import celery_app
from app.models.notify import Delivery
from tests.admin.conftest import make_admin
from tests.admin.test_api import SECRET_QUERY, _delivery, _webhook_user
from tests.conftest import csrf_token, login_page, register_api
from tests.notify.conftest import fire


def _failed_delivery(app, webhook_receiver) -> int:
    # Delivery runs in process (the `eager` fixture): one attempt allowed, and the receiver answers 500.
    user = _webhook_user(app, f"{webhook_receiver.url}?{SECRET_QUERY}")
    webhook_receiver.secret, webhook_receiver.status = user["secret"], 500
    fire(app, "SAP.DE", "9.5")
    with app.app_context():
        delivery = db.session.scalar(select(Delivery).order_by(Delivery.id.desc()))
        assert delivery.status == "failed", delivery.last_error
        return delivery.id


def test_the_admin_page_shows_runs_tasks_and_failed_deliveries_escaped(make_app, eager, webhook_receiver) -> None:
    app = make_app(DELIVERY_MAX_ATTEMPTS=1, DELIVERY_RETRY_BASE_S=0)
    delivery_id = _failed_delivery(app, webhook_receiver)
    celery_app.tasks["tests.admin.shout"].apply()
    celery_app.tasks["tests.admin.nap"].apply(kwargs={"seconds": 0})
    client = app.test_client()
    login_page(client, make_admin(app)["email"])
    page = client.get("/admin")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-testid="nav-admin"' in html
    assert 'data-task="tests.admin.shout"' in html and 'data-task="delivery.send"' in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    row = re.search(rf'<tr data-delivery-id="{delivery_id}">.*?</tr>', html, re.S).group(0)
    assert "HTTP 500 from the webhook" in row and "/…" in row and "topsecret" not in html
    assert f'action="/admin/deliveries/{delivery_id}/retry"' in row and 'name="csrf_token"' in row

    filtered = client.get("/admin?task=tests.admin.nap&state=success").get_data(as_text=True)
    runs = re.search(r'data-testid="job-runs">.*?</table>', filtered, re.S).group(0)
    assert "tests.admin.nap" in runs and "tests.admin.shout" not in runs


def test_the_retry_form_needs_its_csrf_token_and_sends_again(make_app, eager, webhook_receiver) -> None:
    app = make_app(DELIVERY_MAX_ATTEMPTS=1, DELIVERY_RETRY_BASE_S=0)
    delivery_id = _failed_delivery(app, webhook_receiver)
    client = app.test_client()
    login_page(client, make_admin(app)["email"])
    forged = client.post(f"/admin/deliveries/{delivery_id}/retry")
    assert forged.status_code == 400 and _delivery(app, delivery_id).status == "failed"

    webhook_receiver.status = 200
    token = csrf_token(client, "/admin")
    done = client.post(f"/admin/deliveries/{delivery_id}/retry", data={"csrf_token": token})
    assert done.status_code == 302 and done.headers["Location"].endswith("/admin")
    assert _delivery(app, delivery_id).status == "sent" and len(webhook_receiver.requests) == 2
    again = client.post(f"/admin/deliveries/{delivery_id}/retry", data={"csrf_token": token}, follow_redirects=True)
    assert "Only a failed delivery can be retried" in again.get_data(as_text=True)


def test_the_admin_page_is_refused_to_others(app) -> None:
    stranger = app.test_client()
    to_login = stranger.get("/admin")
    assert to_login.status_code == 302 and "/login" in to_login.headers["Location"]
    client = app.test_client()
    user = register_api(client)
    login_page(client, user["email"])
    refused = client.get("/admin")
    assert refused.status_code == 403 and "Administrators only" in refused.get_data(as_text=True)
    assert 'data-testid="nav-admin"' not in client.get("/alerts").get_data(as_text=True)
    token = csrf_token(client, "/alerts")
    assert client.post("/admin/deliveries/1/retry", data={"csrf_token": token}).status_code == 403
