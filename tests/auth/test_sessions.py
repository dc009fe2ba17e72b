"""Log-in sessions end what they should, where they should (issue 13, accounts, tokens and sessions).

Every page session, remember-me cookie and token pair is one `login_sessions` row: these tests
replay cookies and tokens captured before a log-out, a password change or an erasure, on
SQLite and on the real PostgreSQL (with the real Redis in CI).
"""
from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.extensions import db
from app.models import LoginSession, User
from tests.conftest import PASSWORD, csrf_token, login_page, needs_postgres, register_api

NEW_PASSWORD = "a brand new passphrase"


def _login_api(client: FlaskClient, email: str, password: str = PASSWORD) -> dict:
    response = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.get_json()
    tokens = response.get_json()
    return {**tokens, "headers": {"Authorization": f"Bearer {tokens['access_token']}"},
            "refresh_headers": {"Authorization": f"Bearer {tokens['refresh_token']}"}}


def _page_login(app: Flask, email: str, remember: bool = False) -> FlaskClient:
    client = app.test_client()
    token = csrf_token(client, "/login")
    data = {"csrf_token": token, "email": email, "password": PASSWORD}
    if remember:
        data["remember"] = "y"
    assert client.post("/login", data=data).status_code == 302
    return client


def _replay(app: Flask, cookies: dict[str, str]) -> FlaskClient:
    """A new browser holding copies of captured cookies."""
    thief = app.test_client()
    for name, value in cookies.items():
        thief.set_cookie(name, value)
    return thief


def _captured(client: FlaskClient, *names: str) -> dict[str, str]:
    found = {name: client.get_cookie(name) for name in names}
    assert all(found.values()), found
    return {name: cookie.value for name, cookie in found.items()}


def _me(client: FlaskClient, headers: dict) -> int:
    return client.get("/api/v1/me", headers=headers).status_code


def _takeover_through_a_reused_id(app: Flask) -> None:
    client = app.test_client()
    a = register_api(client, email="a-takeover@example.com")       # first log-in of A
    a_second = _login_api(client, a["email"])                       # second log-in of A
    a_page = _page_login(app, a["email"], remember=True)
    a_cookies = _captured(a_page, "session", "remember_token")
    assert a_page.get("/portfolio").status_code == 200
    # A erases itself from the first log-in.
    erased = client.delete("/api/v1/me", headers=a["headers"], json={"password": PASSWORD})
    assert erased.status_code == 204
    b = register_api(client, email="b-takeover@example.com")
    assert b["id"] != a["id"], "an erased account's id was handed to a new account"
    # Nothing of A opens anything any more: not its other tokens, not its cookies.
    assert _me(client, a_second["headers"]) == 401
    assert client.post("/api/v1/auth/refresh", headers=a_second["refresh_headers"]).status_code == 401
    assert client.post("/api/v1/auth/refresh", headers={"Authorization": f"Bearer {a['refresh_token']}"}
                       ).status_code == 401
    assert _replay(app, a_cookies).get("/portfolio").status_code == 302
    assert _replay(app, {"remember_token": a_cookies["remember_token"]}).get("/portfolio").status_code == 302
    # B's own tokens work at once (no remembered state of the erased account's id is in the way).
    assert _me(client, b["headers"]) == 200
    assert client.get("/api/v1/me", headers=b["headers"]).get_json()["email"] == "b-takeover@example.com"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(LoginSession)
                                 .where(LoginSession.user_id == a["id"])) == 0


def test_an_erased_accounts_tokens_and_cookies_never_open_a_new_account_on_sqlite(app) -> None:
    _takeover_through_a_reused_id(app)


@needs_postgres
@pytest.mark.postgres
def test_an_erased_accounts_tokens_and_cookies_never_open_a_new_account_on_postgres(pg_app) -> None:
    _takeover_through_a_reused_id(pg_app)


def test_sqlite_never_hands_out_the_id_of_the_newest_erased_account(app) -> None:
    client = app.test_client()
    first = register_api(client)
    newest = register_api(client)
    assert client.delete("/api/v1/me", headers=newest["headers"], json={"password": PASSWORD}).status_code == 204
    again = register_api(client)
    assert again["id"] > newest["id"] > first["id"]


def _logout_ends_the_session(app: Flask) -> None:
    client = app.test_client()
    user = register_api(client)
    page = _page_login(app, user["email"], remember=True)
    cookies = _captured(page, "session", "remember_token")
    token = csrf_token(page, "/account")
    assert page.post("/logout", data={"csrf_token": token}).status_code == 302
    # The session cookie and the remember-me cookie captured before the log-out open nothing.
    assert _replay(app, cookies).get("/portfolio").status_code == 302
    assert _replay(app, {"remember_token": cookies["remember_token"]}).get("/portfolio").status_code == 302
    # The API log-in is another session: it goes on. Its own log-out ends its refresh token too.
    assert _me(client, user["headers"]) == 200
    assert client.post("/api/v1/auth/logout", headers=user["headers"]).status_code == 200
    refresh = {"Authorization": f"Bearer {user['refresh_token']}"}
    assert client.post("/api/v1/auth/refresh", headers=refresh).status_code == 401


def test_log_out_ends_cookies_and_refresh_token_on_sqlite(app) -> None:
    _logout_ends_the_session(app)


@needs_postgres
@pytest.mark.postgres
def test_log_out_ends_cookies_and_refresh_token_on_postgres(pg_app) -> None:
    _logout_ends_the_session(pg_app)


def test_a_password_change_ends_every_other_session_and_keeps_this_one(app) -> None:
    client = app.test_client()
    user = register_api(client)
    other_browser = _page_login(app, user["email"], remember=True)
    other_cookies = _captured(other_browser, "session", "remember_token")
    page = _page_login(app, user["email"])
    token = csrf_token(page, "/account")
    changed = page.post("/account", data={"pw-csrf_token": token, "action": "password",
                                          "pw-current_password": PASSWORD, "pw-new_password": NEW_PASSWORD,
                                          "pw-confirm": NEW_PASSWORD})
    assert changed.status_code == 302
    assert page.get("/portfolio").status_code == 200, "the session that changed it goes on"
    assert other_browser.get("/portfolio").status_code == 302
    assert _replay(app, {"remember_token": other_cookies["remember_token"]}).get("/portfolio").status_code == 302
    assert _me(client, user["headers"]) == 401
    refresh = {"Authorization": f"Bearer {user['refresh_token']}"}
    assert client.post("/api/v1/auth/refresh", headers=refresh).status_code == 401


def test_a_wrong_current_password_changes_nothing(app) -> None:
    client = app.test_client()
    user = register_api(client)
    page = _page_login(app, user["email"])
    token = csrf_token(page, "/account")
    refused = page.post("/account", data={"pw-csrf_token": token, "action": "password",
                                          "pw-current_password": "not the password", "pw-new_password": NEW_PASSWORD,
                                          "pw-confirm": NEW_PASSWORD})
    assert refused.status_code == 400
    assert "The current password is not correct." in refused.get_data(as_text=True)
    assert _me(client, user["headers"]) == 200, "no session ended"
    assert client.post("/api/v1/auth/login", json={"email": user["email"], "password": PASSWORD}).status_code == 200
    assert client.post("/api/v1/auth/login", json={"email": user["email"], "password": NEW_PASSWORD}
                       ).status_code == 401


def test_log_out_everywhere_from_the_api(app) -> None:
    client = app.test_client()
    user = register_api(client)
    second = _login_api(client, user["email"])
    page = _page_login(app, user["email"], remember=True)
    ended = client.post("/api/v1/auth/logout-all", headers=second["headers"])
    assert ended.status_code == 200 and ended.get_json() == {"sessions_ended": 3}
    assert _me(client, user["headers"]) == 401 and _me(client, second["headers"]) == 401
    assert client.post("/api/v1/auth/refresh", headers=second["refresh_headers"]).status_code == 401
    assert page.get("/portfolio").status_code == 302
    # Logging in again works, of course.
    assert _me(client, _login_api(client, user["email"])["headers"]) == 200


def test_log_out_everywhere_from_the_account_page(app) -> None:
    client = app.test_client()
    user = register_api(client)
    page = _page_login(app, user["email"])
    other = _page_login(app, user["email"], remember=True)
    account = page.get("/account").get_data(as_text=True)
    assert "Log out everywhere" in account
    token = csrf_token(page, "/account")
    response = page.post("/logout-all", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")
    assert page.get("/portfolio").status_code == 302 and other.get("/portfolio").status_code == 302
    assert _me(client, user["headers"]) == 401
    # Without the CSRF token another site cannot log you out everywhere.
    again = _page_login(app, user["email"])
    assert again.post("/logout-all").status_code == 400
    assert again.get("/portfolio").status_code == 200


def test_deleting_the_account_needs_its_password_and_a_fresh_token(app) -> None:
    client = app.test_client()
    user = register_api(client)
    missing = client.delete("/api/v1/me", headers=user["headers"])
    assert missing.status_code == 400 and "password" in missing.get_json()["error"]["details"]["fields"]
    wrong = client.delete("/api/v1/me", headers=user["headers"], json={"password": "not my password"})
    assert wrong.status_code == 400 and "password" in wrong.get_json()["error"]["details"]["fields"]
    refreshed = client.post("/api/v1/auth/refresh", headers={"Authorization": f"Bearer {user['refresh_token']}"})
    stale = {"Authorization": f"Bearer {refreshed.get_json()['access_token']}"}
    not_fresh = client.delete("/api/v1/me", headers=stale, json={"password": PASSWORD})
    assert not_fresh.status_code == 401 and not_fresh.get_json()["error"]["code"] == "fresh_token_required"
    with app.app_context():
        assert db.session.get(User, user["id"]) is not None, "nothing was erased"
    assert client.delete("/api/v1/me", headers=user["headers"], json={"password": PASSWORD}).status_code == 204


@pytest.mark.parametrize("target", [
    "/%09/evil.example", "/%0a/evil.example", "/%0d%0a/evil.example", "//evil.example", "/\\evil.example",
    "https://evil.example/", "/%5Cevil.example", " /evil.example", "/ok%0aSet-Cookie:x=1", "javascript:alert(1)",
])
def test_log_in_never_redirects_off_site(client, target) -> None:
    user = register_api(client)
    token = csrf_token(client, "/login")
    response = client.post(f"/login?next={target}", data={"csrf_token": token, "email": user["email"],
                                                          "password": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_log_in_keeps_a_same_site_next_path(client) -> None:
    user = register_api(client)
    token = csrf_token(client, "/login")
    response = client.post("/login?next=/stocks/SAP.DE%3Frange%3D1y", data={
        "csrf_token": token, "email": user["email"], "password": PASSWORD})
    assert response.headers["Location"] == "/stocks/SAP.DE?range=1y"


def test_remember_me_cookie_is_same_site_and_http_only(app) -> None:
    user = register_api(app.test_client())
    cookie = _page_login(app, user["email"], remember=True).get_cookie("remember_token")
    assert cookie.same_site == "Lax" and cookie.http_only


@pytest.mark.parametrize("password", ["          ", "aaaaaaaaaa", "1234567890", "password123", "qwertyuiop",
                                      "weak-{email}"])
def test_guessable_passwords_are_refused(client, password) -> None:
    email = "zx-owner@example.com"
    password = password.format(email=email)
    response = client.post("/api/v1/auth/register", json={"email": email, "password": password})
    assert response.status_code == 400, response.get_json()
    assert "too easy to guess" in response.get_json()["error"]["details"]["fields"]["password"][0]
    own_email = client.post("/api/v1/auth/register", json={"email": email, "password": email})
    assert own_email.status_code == 400


def test_the_register_and_password_forms_show_why_a_password_is_weak(app) -> None:
    client = app.test_client()
    token = csrf_token(client, "/register")
    page = client.post("/register", data={"csrf_token": token, "email": "weak@example.com",
                                          "password": "aaaaaaaaaa", "confirm": "aaaaaaaaaa"})
    assert page.status_code == 400 and "too easy to guess" in page.get_data(as_text=True)
    user = register_api(client)
    login_page(client, user["email"])
    token = csrf_token(client, "/account")
    page = client.post("/account", data={"pw-csrf_token": token, "action": "password",
                                         "pw-current_password": PASSWORD, "pw-new_password": "aaaaaaaaaa",
                                         "pw-confirm": "aaaaaaaaaa"})
    assert page.status_code == 400 and "too easy to guess" in page.get_data(as_text=True)
    assert client.post("/api/v1/auth/login", json={"email": user["email"], "password": PASSWORD}).status_code == 200


def test_signed_in_responses_are_never_stored(app) -> None:
    client = app.test_client()
    user = register_api(client)
    assert "no-store" not in (client.get("/login").headers.get("Cache-Control") or "")
    login_page(client, user["email"])
    for path in ("/", "/portfolio", "/account", "/account/export", "/watchlist", "/alerts"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers.get("Cache-Control") == "no-store", path
    for path in ("/api/v1/me", "/api/v1/me/export", "/api/v1/portfolio"):
        response = app.test_client().get(path, headers=user["headers"])
        assert response.status_code == 200 and response.headers.get("Cache-Control") == "no-store", path


def test_behind_a_trusted_proxy_each_client_has_its_own_address(make_app) -> None:
    app = make_app(TRUSTED_PROXIES=1, RATELIMIT_LOGIN="2 per minute")
    client = app.test_client()

    def attempt(forwarded: str) -> int:
        return client.post("/api/v1/auth/login", json={"email": "x@example.com", "password": "wrong password"},
                           headers={"X-Forwarded-For": forwarded}).status_code

    assert [attempt("198.51.100.1") for _ in range(3)] == [401, 401, 429]
    assert attempt("198.51.100.2") == 401, "another client behind the proxy has its own budget"
    # Only the entry the proxy appended counts: a client cannot choose its address by prepending one.
    assert attempt("203.0.113.50, 198.51.100.1") == 429


def test_without_trusted_proxies_forwarded_headers_are_ignored(make_app) -> None:
    app = make_app(RATELIMIT_LOGIN="2 per minute")
    client = app.test_client()
    codes = [client.post("/api/v1/auth/login", json={"email": "x@example.com", "password": "wrong password"},
                         headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code for i in range(3)]
    assert codes == [401, 401, 429]


def test_the_csp_allows_websockets_to_the_apps_own_origin_only(client) -> None:
    csp = client.get("/login", base_url="http://tickerdesk.example:8000").headers["Content-Security-Policy"]
    connect = next(d for d in csp.split(";") if d.strip().startswith("connect-src")).split()
    assert connect == ["connect-src", "'self'", "ws://tickerdesk.example:8000"]
    secure = client.get("/login", base_url="https://tickerdesk.example").headers["Content-Security-Policy"]
    assert "connect-src 'self' wss://tickerdesk.example;" in secure
    assert " ws: " not in csp and " wss: " not in secure


def test_zxcvbns_hints_are_in_the_pages_language_and_english_in_the_api(app) -> None:
    """zxcvbn writes English only; a German page shows its hints in German (each known hint), the API English."""
    from bs4 import BeautifulSoup
    from zxcvbn import zxcvbn

    from app.auth.password_hints import MARKED

    client = app.test_client()
    headers = {"Accept-Language": "de-DE,de;q=0.9"}
    token = csrf_token(client, "/register")
    page = client.post("/register", headers=headers, data={"csrf_token": token, "email": "weak@example.com",
                                                            "password": "aaaaaaaaaa", "confirm": "aaaaaaaaaa"})
    assert page.status_code == 400
    text = BeautifulSoup(page.get_data(as_text=True), "html.parser").get_text(" ")
    english = zxcvbn("aaaaaaaaaa")["feedback"]  # 'Repeats like "aaa" are easy to guess.', 'Avoid repeated ...'
    assert english["warning"] and english["warning"] not in text
    assert "Wiederholungen wie „aaa“ sind leicht zu erraten." in text
    assert "Vermeiden Sie wiederholte Wörter und Zeichen." in text
    api = client.post("/api/v1/auth/register", headers=headers, json={"email": "weak@example.com",
                                                                       "password": "aaaaaaaaaa"})
    assert english["warning"] in api.get_json()["error"]["details"]["fields"]["password"][0]
    # Every hint zxcvbn can give is marked: its feedback module has no text that is missing here.
    import ast
    import inspect

    import zxcvbn.feedback
    found = {node.args[0].value for node in ast.walk(ast.parse(inspect.getsource(zxcvbn.feedback)))
             if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "_"}
    with app.app_context():
        assert found == {str(m) for m in MARKED}
