"""The alerts page: history with each delivery's status, the outbox, and the notification settings form."""
from __future__ import annotations

import re

from tests.conftest import csrf_token, login_page, register_api
from tests.notify.conftest import fire


def _page_user(app):
    client = app.test_client()
    user = register_api(client)
    login_page(client, user["email"])
    return client, user


def test_history_outbox_and_a_failed_delivery_with_its_retry_button(notify_app, webhook_receiver) -> None:
    app = notify_app(DELIVERY_MAX_ATTEMPTS=2)
    client, user = _page_user(app)
    token = csrf_token(client, "/alerts")
    response = client.post("/alerts/notifications", data={
        "csrf_token": token, "channel_email": "1", "channel_webhook": "1", "webhook_url_0": webhook_receiver.url})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    secret = re.search(r'data-testid="new-secret">.*?<code>([0-9a-f]{64})</code>', html).group(1)
    assert secret not in client.get("/alerts").get_data(as_text=True)  # shown once
    webhook_receiver.secret, webhook_receiver.status = secret, 503
    assert client.post("/api/v1/alerts", json={"symbol": "SAP.DE", "kind": "above", "threshold": "1"},
                       headers=user["headers"]).status_code == 201
    fire(app, "SAP.DE", "3")
    html = client.get("/alerts").get_data(as_text=True)
    assert 'data-testid="alert-history"' in html and "email: sent (outbox)" in html
    assert 'data-status="failed"' in html and "webhook: failed" in html and "HTTP 503 from the webhook" in html
    assert 'data-testid="outbox-message"' in html and "Tickerdesk alert: SAP.DE above 1 fired at 3" in html
    delivery_id = re.search(r'data-delivery-id="(\d+)" data-status="failed"', html).group(1)
    webhook_receiver.status = 200
    response = client.post(f"/alerts/deliveries/{delivery_id}/retry", data={"csrf_token": csrf_token(client, "/alerts")})
    assert response.status_code == 302
    assert 'data-status="failed"' not in client.get("/alerts").get_data(as_text=True)
    assert [r["signature_ok"] for r in webhook_receiver.requests] == [True, True, True]


def test_settings_form_errors_are_shown_and_nothing_is_stored(notify_app) -> None:
    app = notify_app()
    client, user = _page_user(app)
    token = csrf_token(client, "/alerts")
    response = client.post("/alerts/notifications", data={"csrf_token": token, "channel_email": "1",
                                                          "email_address": "nope", "webhook_url_0": "ftp://x.example/"})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'data-testid="notification-errors"' in html and "Nothing was saved" in html
    assert "Email address: Enter a valid email address." in html
    settings = client.get("/api/v1/me/notifications", headers=user["headers"]).get_json()
    assert settings["email_address"] is None and settings["webhooks"] == []
    response = client.post("/alerts/notifications", data={"csrf_token": token, "webhook_url_0": "ftp://x.example/"})
    assert "Must be an http:// or https:// URL." in response.get_data(as_text=True)
    # Without the CSRF token the form is refused.
    assert client.post("/alerts/notifications", data={"channel_email": "1"}).status_code == 400
    saved = client.post("/alerts/notifications", data={"csrf_token": token, "email_address": "Me@Example.com"})
    assert saved.status_code == 302
    settings = client.get("/api/v1/me/notifications", headers=user["headers"]).get_json()
    assert settings["channels"] == ["live"] and settings["email_address"] == "me@example.com"


def test_a_german_page_says_what_is_wrong_in_german_and_the_api_in_english(notify_app) -> None:
    from bs4 import BeautifulSoup

    app = notify_app()
    client, user = _page_user(app)
    token = csrf_token(client, "/alerts")
    german = {"Accept-Language": "de-DE,de;q=0.9"}
    cases = [({"channel_email": "1", "email_address": "nope"}, "E-Mail-Adresse: Geben Sie eine gültige E-Mail-Adresse ein."),
             ({"webhook_url_0": "ftp://x.example/"}, "Webhook 1, URL: Muss eine http://- oder https://-URL sein."),
             ({"webhook_url_0": "https://u:p@x.example/"}, "Webhook 1, URL: Darf keinen Benutzernamen und kein Passwort enthalten."),
             ({"webhook_url_0": "https://x.example/", "webhook_format_0": "xml"},
              "Webhook 1, Format: Muss einer dieser Werte sein: json, ntfy-text.")]
    for data, expected in cases:
        response = client.post("/alerts/notifications", headers=german, data={"csrf_token": token, **data})
        text = BeautifulSoup(response.get_data(as_text=True), "html.parser").select_one(
            "[data-testid=notification-errors]").get_text(" ", strip=True)
        assert response.status_code == 400 and expected in text, text
    api = client.put("/api/v1/me/notifications", headers={**user["headers"], **german},
                     json={"channels": ["live"], "webhooks": [{"url": "ftp://x.example/"}]})
    assert api.status_code == 400
    assert "Must be an http:// or https:// URL." in str(api.get_json()["error"]["details"])
