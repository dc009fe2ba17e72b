"""Notification settings: defaults, bounded input refused with the standard error and nothing stored, SSRF."""
from __future__ import annotations

import socket

import pytest

from app.notify.channels import check_webhook_url, is_public_address
from tests.conftest import register_api

SETTINGS = "/api/v1/me/notifications"


def _put(client, headers, **body):
    return client.put(SETTINGS, json=body, headers=headers)


def test_needs_a_token(client) -> None:
    assert client.get(SETTINGS).status_code == 401
    assert client.put(SETTINGS, json={"channels": []}).status_code == 401
    assert client.get("/api/v1/alerts/history").status_code == 401
    assert client.get("/api/v1/alerts/outbox").status_code == 401


def test_defaults_are_live_and_email_to_the_account(client, auth) -> None:
    body = client.get(SETTINGS, headers=auth["headers"]).get_json()
    assert body == {"channels": ["live", "email", "webhook"], "email_address": None,
                    "effective_email": auth["email"], "webhooks": [], "smtp_configured": False}


def test_put_replaces_and_a_secret_is_shown_once(client, auth) -> None:
    h = auth["headers"]
    response = _put(client, h, channels=["email"], email_address=" Ada@Example.COM ",
                    webhooks=[{"url": "http://127.0.0.1:9/a"}, {"url": "https://ntfy.example/t", "format": "ntfy-text"}])
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["channels"] == ["live", "email"]  # live is always on
    assert body["email_address"] == body["effective_email"] == "ada@example.com"
    first, second = body["webhooks"]
    assert len(first["secret"]) == 64 and first["secret"] != second["secret"] and second["format"] == "ntfy-text"
    shown = client.get(SETTINGS, headers=h).get_json()
    assert [w["secret"] for w in shown["webhooks"]] == [None, None]
    # Keeping a webhook by id keeps its secret; regenerate_secret makes a new one (shown once); one left out goes.
    again = _put(client, h, channels=["webhook"], webhooks=[{"id": first["id"], "url": first["url"],
                                                             "regenerate_secret": True}]).get_json()
    [kept] = again["webhooks"]
    assert kept["id"] == first["id"] and kept["secret"] and kept["secret"] != first["secret"]
    same = _put(client, h, channels=["webhook"], webhooks=[{"id": first["id"], "url": first["url"]}]).get_json()
    assert same["webhooks"][0]["secret"] is None and same["email_address"] is None


@pytest.mark.parametrize("body, field", [
    ({"channels": ["sms"]}, "channels"),
    ({"channels": ["email"] * 4}, "channels"),
    ({}, "channels"),
    ({"channels": ["email"], "email_address": "not-an-address"}, "email_address"),
    ({"channels": ["email"], "email_address": "a@" + "b" * 260 + ".com"}, "email_address"),
    ({"channels": ["webhook"], "webhooks": [{"url": f"http://127.0.0.1/{i}"} for i in range(4)]}, "webhooks"),
    ({"channels": ["webhook"], "webhooks": [{"url": "ftp://example.com/x"}]}, "webhooks"),
    ({"channels": ["webhook"], "webhooks": [{"url": "http://u:p@example.com/x"}]}, "webhooks"),
    ({"channels": ["webhook"], "webhooks": [{"url": "http://example.com/" + "x" * 2100}]}, "webhooks"),
    ({"channels": ["webhook"], "webhooks": [{"url": "http://a.example/x"}, {"url": "http://a.example/x"}]}, "webhooks"),
    ({"channels": ["webhook"], "webhooks": [{"url": "http://a.example/x", "format": "xml"}]}, "webhooks"),
    ({"channels": ["webhook"], "webhooks": [{"id": 999999, "url": "http://a.example/x"}]}, "webhooks"),
])
def test_bad_input_is_a_400_and_stores_nothing(client, auth, body, field) -> None:
    h = auth["headers"]
    before = client.get(SETTINGS, headers=h).get_json()
    response = _put(client, h, **body)
    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "validation_error" and field in error["details"]["fields"], error
    assert client.get(SETTINGS, headers=h).get_json() == before


def test_another_users_webhook_id_is_refused(client, auth) -> None:
    mine = _put(client, auth["headers"], channels=["webhook"], webhooks=[{"url": "http://a.example/x"}]).get_json()
    other = register_api(client)
    response = _put(client, other["headers"], channels=["webhook"],
                    webhooks=[{"id": mine["webhooks"][0]["id"], "url": "http://b.example/y"}])
    assert response.status_code == 400
    assert client.get(SETTINGS, headers=auth["headers"]).get_json()["webhooks"][0]["url"] == "http://a.example/x"


def test_production_refuses_http_and_private_addresses(make_app, monkeypatch) -> None:
    app = make_app(PRODUCTION=True, WEBHOOK_ALLOW_PRIVATE=False)
    client = app.test_client()
    user = register_api(client)
    answers = {"public.example": "93.184.216.34", "inside.example": "10.1.2.3"}
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, port, **kw: [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port))])
    for url in ("http://public.example/x", "https://inside.example/x"):
        response = _put(client, user["headers"], channels=["webhook"], webhooks=[{"url": url}])
        assert response.status_code == 400, url
        assert "url" in response.get_json()["error"]["details"]["fields"]["webhooks"]["0"]
    ok = _put(client, user["headers"], channels=["webhook"], webhooks=[{"url": "https://public.example/x"}])
    assert ok.status_code == 200, ok.get_json()


@pytest.mark.parametrize("address, public", [
    ("93.184.216.34", True), ("2606:2800:220:1:248:1893:25c8:1946", True),
    ("127.0.0.1", False), ("10.0.0.1", False), ("172.16.5.4", False), ("192.168.1.1", False),
    ("169.254.169.254", False), ("0.0.0.0", False), ("224.0.0.1", False), ("240.0.0.1", False),
    ("100.64.0.1", False), ("::1", False), ("fe80::1%eth0", False), ("fc00::1", False), ("ff02::1", False),
    ("::ffff:127.0.0.1", False), ("::ffff:10.0.0.1", False), ("not-an-ip", False),
])
def test_public_addresses(address, public) -> None:
    assert is_public_address(address) is public


def test_every_resolved_address_must_be_public(monkeypatch) -> None:
    # A host with one public and one private address is refused (DNS answers are not one address).
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, port, **kw: [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
        (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::1", port, 0, 0))])
    with pytest.raises(ValueError, match="private"):
        check_webhook_url("https://mixed.example/x", allow_private=False, require_https=True)
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **kw: (_ for _ in ()).throw(socket.gaierror("no")))
    with pytest.raises(ValueError, match="resolve"):
        check_webhook_url("https://nowhere.example/x", allow_private=False, require_https=True)
    assert check_webhook_url("http://localhost:8080/x", allow_private=True, require_https=False)
