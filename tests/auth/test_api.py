"""The auth API: bad inputs, tokens, revocation, export and erasure."""
from __future__ import annotations

import time
from datetime import timedelta

import pytest
from flask_jwt_extended import create_access_token
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, User, Watchlist
from tests.conftest import PASSWORD, register_api

LONG = "x" * 5000


def _users(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(User.id)))


@pytest.mark.parametrize("body, field", [
    ({}, "email"),
    ({"email": "a@example.com"}, "password"),
    ({"password": PASSWORD}, "email"),
    ({"email": 42, "password": PASSWORD}, "email"),
    ({"email": "a@example.com", "password": 1234567890123}, "password"),
    ({"email": ["a@example.com"], "password": PASSWORD}, "email"),
    ({"email": "not-an-email", "password": PASSWORD}, "email"),
    ({"email": LONG + "@example.com", "password": PASSWORD}, "email"),
    ({"email": "a@example.com", "password": "short"}, "password"),
    ({"email": "a@example.com", "password": LONG}, "password"),
    ({"email": "a@example.com", "password": PASSWORD, "admin": True}, "admin"),
])
def test_register_rejects_bad_input(app, client, body, field) -> None:
    before = _users(app)
    response = client.post("/api/v1/auth/register", json=body)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["details"]["fields"], error
    assert error["request_id"] == response.headers["X-Request-ID"]
    assert _users(app) == before


def test_register_short_password_message_is_clear(client) -> None:
    response = client.post("/api/v1/auth/register", json={"email": "a@example.com", "password": "123456789"})
    assert "at least 10" in str(response.get_json()["error"]["details"]["fields"]["password"]) \
        or "between 10" in str(response.get_json()["error"]["details"]["fields"]["password"])


@pytest.mark.parametrize("path", ["/api/v1/auth/register", "/api/v1/auth/login"])
@pytest.mark.parametrize("raw, content_type", [
    ("{not json", "application/json"),
    ('{"email": "a@example.com", "password": ', "application/json"),
    ("[1, 2, 3]", "application/json"),
    ("email=a@example.com", "application/x-www-form-urlencoded"),
])
def test_malformed_bodies_are_400(app, client, path, raw, content_type) -> None:
    before = _users(app)
    response = client.post(path, data=raw, content_type=content_type)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "validation_error"
    assert _users(app) == before


def test_register_normalises_email_and_refuses_duplicates(app, client) -> None:
    first = client.post("/api/v1/auth/register", json={"email": "  Ada@Example.COM ", "password": PASSWORD})
    assert first.status_code == 201
    assert first.get_json()["email"] == "ada@example.com"
    again = client.post("/api/v1/auth/register", json={"email": "ada@example.com", "password": PASSWORD})
    assert again.status_code == 409
    assert "already exists" in again.get_json()["error"]["message"]
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "ada@example.com"))
        assert user.password_hash.startswith("$argon2")
        assert PASSWORD not in user.password_hash
        assert [w.name for w in db.session.scalars(select(Watchlist).where(Watchlist.user_id == user.id))] \
            == ["My watchlist"]


def test_wrong_email_and_wrong_password_get_the_same_answer(app, client) -> None:
    user = register_api(client)
    wrong_password = client.post("/api/v1/auth/login", json={"email": user["email"], "password": "wrong password!"})
    wrong_email = client.post("/api/v1/auth/login", json={"email": "nobody@example.com", "password": PASSWORD})
    assert wrong_password.status_code == wrong_email.status_code == 401
    a, b = wrong_password.get_json()["error"], wrong_email.get_json()["error"]
    assert (a["code"], a["message"], a["details"]) == (b["code"], b["message"], b["details"])
    with app.app_context():
        kinds = db.session.scalars(select(AuditEvent.kind).order_by(AuditEvent.id)).all()
    assert kinds.count("login_failed") == 2 and "login_succeeded" in kinds


def test_login_refresh_me_logout(client) -> None:
    user = register_api(client)
    me = client.get("/api/v1/me", headers=user["headers"])
    assert me.status_code == 200 and me.get_json()["email"] == user["email"]
    assert "password_hash" not in me.get_json()
    refreshed = client.post("/api/v1/auth/refresh", headers={"Authorization": f"Bearer {user['refresh_token']}"})
    assert refreshed.status_code == 200
    new_headers = {"Authorization": f"Bearer {refreshed.get_json()['access_token']}"}
    assert client.get("/api/v1/me", headers=new_headers).status_code == 200
    assert client.post("/api/v1/auth/logout", headers=new_headers).status_code == 200
    assert client.get("/api/v1/me", headers=new_headers).get_json()["error"]["code"] == "token_revoked"
    # Log-out ends the whole log-in session: its first access token and its refresh token too.
    assert client.get("/api/v1/me", headers=user["headers"]).status_code == 401
    refresh_headers = {"Authorization": f"Bearer {user['refresh_token']}"}
    assert client.post("/api/v1/auth/refresh", headers=refresh_headers).status_code == 401


def test_logout_of_a_refresh_token_revokes_it(client) -> None:
    user = register_api(client)
    refresh_headers = {"Authorization": f"Bearer {user['refresh_token']}"}
    assert client.post("/api/v1/auth/logout", headers=refresh_headers).get_json()["token_type"] == "refresh"
    assert client.post("/api/v1/auth/refresh", headers=refresh_headers).status_code == 401


def _tamper(token: str) -> str:
    header, payload, signature = token.split(".")
    return ".".join([header, payload, ("A" if signature[0] != "A" else "B") + signature[1:]])


@pytest.mark.parametrize("case", ["missing", "garbage", "tampered", "refresh_as_access", "expired",
                                  "access_as_refresh", "deleted_user", "other_secret"])
def test_bad_tokens_are_401(app, client, case) -> None:
    user = register_api(client)
    path, method = "/api/v1/me", client.get
    if case == "missing":
        headers = {}
    elif case == "garbage":
        headers = {"Authorization": "Bearer not.a.jwt"}
    elif case == "tampered":
        headers = {"Authorization": f"Bearer {_tamper(user['access_token'])}"}
    elif case == "refresh_as_access":
        headers = {"Authorization": f"Bearer {user['refresh_token']}"}
    elif case == "access_as_refresh":
        path, method, headers = "/api/v1/auth/refresh", client.post, user["headers"]
    elif case == "expired":
        with app.app_context():
            token = create_access_token(identity=str(user["id"]), expires_delta=timedelta(seconds=-5))
        headers = {"Authorization": f"Bearer {token}"}
    elif case == "deleted_user":
        assert client.delete("/api/v1/me", headers=user["headers"], json={"password": PASSWORD}).status_code == 204
        fresh = client.post("/api/v1/auth/login", json={"email": user["email"], "password": PASSWORD})
        assert fresh.status_code == 401
        headers = {"Authorization": f"Bearer {user['refresh_token']}"}
        path, method = "/api/v1/auth/refresh", client.post
    else:  # a token signed with another key
        import jwt as pyjwt

        forged = pyjwt.encode({"sub": str(user["id"]), "type": "access", "jti": "x", "exp": time.time() + 60,
                               "fresh": False}, "another-secret-" + "y" * 32, algorithm="HS256")
        headers = {"Authorization": f"Bearer {forged}"}
    response = method(path, headers=headers)
    assert response.status_code == 401, (case, response.get_json())
    assert set(response.get_json()["error"]) >= {"code", "message", "details"}


def test_password_change_invalidates_old_tokens(app, client) -> None:
    user = register_api(client)
    with app.app_context():
        from app.auth import services

        account = db.session.get(User, user["id"])
        services.change_password(account, PASSWORD, "a brand new password")
        db.session.commit()
    assert client.get("/api/v1/me", headers=user["headers"]).status_code == 401


def test_export_contains_everything_the_user_created(app, client) -> None:
    user = register_api(client)
    with app.app_context():
        from app.models import Alert, Transaction, WatchlistItem
        from datetime import date
        from decimal import Decimal

        watchlist = db.session.scalar(select(Watchlist).where(Watchlist.user_id == user["id"]))
        db.session.add(WatchlistItem(watchlist_id=watchlist.id, symbol="ADS.DE"))
        db.session.add(Transaction(user_id=user["id"], symbol="AAPL", kind="buy", quantity=Decimal("1.5"),
                                   price=Decimal("187.12345678"), currency="USD", day=date(2024, 3, 1)))
        db.session.add(Alert(user_id=user["id"], symbol="SAP.DE", kind="above", threshold=Decimal("250")))
        db.session.commit()
    data = client.get("/api/v1/me/export", headers=user["headers"]).get_json()
    assert data["account"]["email"] == user["email"]
    assert [i["symbol"] for i in data["watchlists"][0]["items"]] == ["ADS.DE"]
    assert data["transactions"][0]["price"] == "187.12345678" and data["transactions"][0]["quantity"] == "1.5"
    assert data["alerts"][0]["symbol"] == "SAP.DE"
    assert {"login_succeeded"} <= {e["kind"] for e in data["audit_events"]}


def test_delete_me_leaves_no_row_behind(app, client) -> None:
    user = register_api(client)
    other = register_api(client)
    with app.app_context():
        from app.models import Alert, Transaction
        from datetime import date
        from decimal import Decimal

        db.session.add(Transaction(user_id=user["id"], symbol="AAPL", kind="buy", quantity=Decimal(1),
                                   price=Decimal(1), currency="USD", day=date(2024, 3, 1)))
        db.session.add(Alert(user_id=user["id"], symbol="AAPL", kind="below", threshold=Decimal(1)))
        db.session.commit()
    assert client.delete("/api/v1/me", headers=user["headers"], json={"password": PASSWORD}).status_code == 204
    assert_no_rows_of(app, user["id"])
    assert client.get("/api/v1/me", headers=other["headers"]).status_code == 200


def assert_no_rows_of(app, user_id: int) -> None:
    """Assert that no table holds a row of `user_id`."""
    with app.app_context():
        for table in db.metadata.sorted_tables:
            if "user_id" in table.c:
                count = db.session.scalar(select(func.count()).select_from(table).where(table.c.user_id == user_id))
                assert count == 0, f"{table.name} still has {count} rows of the deleted user"
        assert db.session.get(User, user_id) is None
        from app.models import WatchlistItem

        orphans = db.session.scalar(select(func.count(WatchlistItem.id)).where(
            ~WatchlistItem.watchlist_id.in_(select(Watchlist.id))))
        assert orphans == 0
        assert db.session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.kind == "account_deleted")) >= 1


def test_export_contains_notification_settings_and_webhooks_without_secrets(client) -> None:
    user = register_api(client)
    saved = client.put("/api/v1/me/notifications", headers=user["headers"], json={
        "channels": ["live", "webhook"], "webhooks": [{"url": "http://127.0.0.1:9/hook", "format": "ntfy-text"}]})
    assert saved.status_code == 200, saved.get_json()
    secret = saved.get_json()["webhooks"][0]["secret"]
    exported = client.get("/api/v1/me/export", headers=user["headers"])
    notifications = exported.get_json()["notifications"]
    assert notifications["webhook_enabled"] is True and notifications["email_enabled"] is False
    assert [(w["url"], w["format"]) for w in notifications["webhooks"]] == [("http://127.0.0.1:9/hook", "ntfy-text")]
    assert secret and secret not in exported.get_data(as_text=True)
    assert exported.get_json()["alert_fires"] == []
