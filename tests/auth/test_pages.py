"""The account pages through the test client: forms, CSRF, the whole flow."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import User
from tests.auth.test_api import assert_no_rows_of
from tests.conftest import PASSWORD, csrf_token, needs_postgres


def _count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(User.id)))


def _register(client, email: str, password: str = PASSWORD, confirm: str | None = None):
    token = csrf_token(client, "/register")
    return client.post("/register", data={"csrf_token": token, "email": email, "password": password,
                                          "confirm": password if confirm is None else confirm})


def _login(client, email: str, password: str = PASSWORD):
    token = csrf_token(client, "/login")
    return client.post("/login", data={"csrf_token": token, "email": email, "password": password})


def _logout(client):
    token = csrf_token(client, "/account")
    return client.post("/logout", data={"csrf_token": token})


def full_flow(app) -> None:
    """register → log out → log in → account → change password → log out → log in with the new one."""
    client = app.test_client()
    response = _register(client, "Flow@Example.com")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "Flow@Example.com".lower() in client.get("/").get_data(as_text=True)
    assert _logout(client).status_code == 302
    assert client.get("/account").status_code == 302  # to the log-in page
    assert _login(client, "flow@example.com").status_code == 302
    account = client.get("/account")
    assert account.status_code == 200 and "flow@example.com" in account.get_data(as_text=True)
    token = csrf_token(client, "/account")
    changed = client.post("/account", data={
        "pw-csrf_token": token, "action": "password", "pw-current_password": PASSWORD,
        "pw-new_password": "another long password", "pw-confirm": "another long password"})
    assert changed.status_code == 302
    assert client.get("/account").status_code == 200  # this session survives its own change
    assert _logout(client).status_code == 302
    assert _login(client, "flow@example.com").status_code == 400
    assert _login(client, "flow@example.com", "another long password").status_code == 302
    cookie = client.get_cookie("session")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"


def test_full_page_flow_on_sqlite(app) -> None:
    full_flow(app)


@needs_postgres
@pytest.mark.postgres
def test_full_page_flow_on_postgres(pg_app) -> None:
    assert pg_app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql+psycopg://")
    full_flow(pg_app)


@pytest.mark.parametrize("email, password, confirm, message", [
    ("", PASSWORD, None, "This field is required"),
    ("not-an-email", PASSWORD, None, "valid email"),
    ("a@example.com", "short", None, "at least 10"),
    ("a@example.com", PASSWORD, "something else entirely", "differ"),
    ("a@example.com", "x" * 5000, None, "at least 10"),
    ("x" * 300 + "@example.com", PASSWORD, None, "Field cannot be longer"),
])
def test_register_form_rejects_bad_input(app, client, email, password, confirm, message) -> None:
    before = _count(app)
    response = _register(client, email, password, confirm)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert _count(app) == before


def test_register_form_duplicate_email(app, client) -> None:
    assert _register(client, "dup@example.com").status_code == 302
    other = app.test_client()
    response = _register(other, "DUP@example.com")
    assert response.status_code == 400 and "already exists" in response.get_data(as_text=True)


def test_form_post_without_csrf_token_is_refused(app, client) -> None:
    before = _count(app)
    response = client.post("/register", data={"email": "c@example.com", "password": PASSWORD, "confirm": PASSWORD})
    assert response.status_code == 400
    assert "form expired" in response.get_data(as_text=True)
    assert _count(app) == before
    response = client.post("/register", data={"csrf_token": "forged", "email": "c@example.com",
                                               "password": PASSWORD, "confirm": PASSWORD})
    assert response.status_code == 400 and _count(app) == before


def test_login_form_same_answer_for_unknown_email(client) -> None:
    _register(client, "known@example.com")
    _logout(client)
    a = _login(client, "known@example.com", "wrong password here")
    b = _login(client, "unknown@example.com", "wrong password here")
    assert a.status_code == b.status_code == 400
    assert "Invalid email or password." in a.get_data(as_text=True)
    assert "Invalid email or password." in b.get_data(as_text=True)


def test_login_does_not_redirect_off_site(client) -> None:
    _register(client, "nx@example.com")
    _logout(client)
    token = csrf_token(client, "/login")
    response = client.post("/login?next=//evil.example/x", data={
        "csrf_token": token, "email": "nx@example.com", "password": PASSWORD})
    assert response.headers["Location"] == "/"


def test_account_settings_and_export_and_delete(app, client) -> None:
    _register(client, "del@example.com")
    token = csrf_token(client, "/account")
    assert client.post("/account", data={"settings-csrf_token": token, "action": "settings",
                                         "settings-base_currency": "USD"}).status_code == 302
    assert "Base currency set to USD" in client.get("/account").get_data(as_text=True)
    exported = client.get("/account/export")
    assert exported.status_code == 200 and exported.get_json()["account"]["base_currency"] == "USD"
    with app.app_context():
        user_id = db.session.scalar(select(User.id).where(User.email == "del@example.com"))
    token = csrf_token(client, "/account")
    wrong = client.post("/account", data={"del-csrf_token": token, "action": "delete",
                                          "del-password": "not my password", "del-confirm_text": "DELETE"})
    assert wrong.status_code == 400 and "not correct" in wrong.get_data(as_text=True)
    token = csrf_token(client, "/account")
    gone = client.post("/account", data={"del-csrf_token": token, "action": "delete",
                                         "del-password": PASSWORD, "del-confirm_text": "DELETE"})
    assert gone.status_code == 302
    assert_no_rows_of(app, user_id)
    assert client.get("/account").status_code == 302


def test_other_sessions_end_when_the_password_changes(app) -> None:
    first, second = app.test_client(), app.test_client()
    _register(first, "two@example.com")
    assert _login(second, "two@example.com").status_code == 302
    token = csrf_token(first, "/account")
    first.post("/account", data={"pw-csrf_token": token, "action": "password", "pw-current_password": PASSWORD,
                                 "pw-new_password": "rotated password 1", "pw-confirm": "rotated password 1"})
    assert first.get("/account").status_code == 200
    assert second.get("/account").status_code == 302


def test_a_spent_log_in_budget_shows_the_form_and_the_wait(make_app) -> None:
    app = make_app(RATELIMIT_LOGIN="2 per minute", RATELIMIT_REGISTER="1 per minute")
    client = app.test_client()
    for _ in range(2):
        assert _login(client, "nobody@example.com", "wrong password 1").status_code == 400
    response = _login(client, "nobody@example.com", "wrong password 1")
    assert response.status_code == 429
    page = response.get_data(as_text=True)
    assert 'data-testid="wait-message"' in page
    wait = int(response.headers["Retry-After"])
    assert 1 <= wait <= 60
    # The wait the page names is the header's (to the second, as both are read in the same request).
    named = int(re.search(r"Please wait (\d+) seconds?, then try again\.", page).group(1))
    assert abs(named - wait) <= 1
    # The form is there to try again, with the email as typed and never the password.
    assert '<input' in page and 'name="password"' in page and 'value="nobody@example.com"' in page
    assert "wrong password 1" not in page
    # Registration too; the API keeps the standard JSON 429.
    assert _register(client, "first@example.com").status_code == 302
    client.post("/logout", data={"csrf_token": csrf_token(client, "/account")})
    refused = _register(client, "second@example.com")
    assert refused.status_code == 429 and 'data-testid="wait-message"' in refused.get_data(as_text=True)
    api = client.post("/api/v1/auth/login", json={"email": "nobody@example.com", "password": "x" * 12})
    assert api.status_code == 429 and api.get_json()["error"]["code"] == "rate_limited"
