"""Log-in throttling, and state shared by several app instances through the real Redis."""
from __future__ import annotations

import time
import uuid

import pytest

from tests.conftest import PASSWORD, TEST_REDIS_URL, base_env, make_config, needs_redis, register_api
from tests.helpers import run_in_other_process


def _login(client, email: str, password: str, ip: str = "127.0.0.1"):
    return client.post("/api/v1/auth/login", json={"email": email, "password": password},
                       environ_base={"REMOTE_ADDR": ip})


def test_failed_logins_are_throttled_per_account_and_address_with_retry_after(make_app) -> None:
    app = make_app(RATELIMIT_LOGIN_ACCOUNT="3 per minute")
    client = app.test_client()
    user = register_api(client)  # a successful log-in: it costs nothing from the failure budget
    statuses = [_login(client, user["email"], "wrong password").status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    limited = _login(client, user["email"].upper(), PASSWORD)
    assert limited.status_code == 429, "the account key must be the normalised email"
    assert int(limited.headers["Retry-After"]) > 0
    assert limited.get_json()["error"]["code"] == "rate_limited"
    # The guesser's address is slowed down, not the owner: from another address they log in.
    assert _login(client, user["email"], PASSWORD, ip="198.51.100.7").status_code == 200
    # Another account from the guesser's address is not affected either.
    other = register_api(client)
    assert _login(client, other["email"], PASSWORD).status_code == 200


def test_successful_logins_do_not_use_up_the_failure_budget(make_app) -> None:
    app = make_app(RATELIMIT_LOGIN_ACCOUNT="2 per minute")
    client = app.test_client()
    user = register_api(client)
    assert [_login(client, user["email"], PASSWORD).status_code for _ in range(5)] == [200] * 5


def test_failed_logins_back_off_over_a_longer_window(make_app) -> None:
    # Two failures per 2 s, three per hour: once the short window has passed, one more guess is
    # allowed, and then the hour's budget refuses for far longer than the short window.
    app = make_app(RATELIMIT_LOGIN_ACCOUNT="2 per 2 seconds; 3 per hour")
    client = app.test_client()
    user = register_api(client)
    assert [_login(client, user["email"], "wrong password").status_code for _ in range(3)] == [401, 401, 429]
    time.sleep(2.2)
    assert _login(client, user["email"], "wrong password").status_code == 401
    refused = _login(client, user["email"], "wrong password")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 60


def test_guesses_from_many_addresses_are_capped_but_the_owner_keeps_logging_in(make_app) -> None:
    app = make_app(RATELIMIT_LOGIN_ACCOUNT_ANY="3 per minute")
    client = app.test_client()
    user = register_api(client)  # the owner logged in from 127.0.0.1
    codes = [_login(client, user["email"], "wrong password", ip=f"203.0.113.{i}").status_code for i in range(1, 6)]
    assert codes == [401, 401, 401, 429, 429]
    assert _login(client, user["email"], PASSWORD, ip="203.0.113.9").status_code == 429
    # The owner's known address is not part of the account-wide budget.
    assert _login(client, user["email"], PASSWORD).status_code == 200


def test_page_and_api_log_ins_share_one_budget(make_app) -> None:
    from tests.conftest import csrf_token

    app = make_app(RATELIMIT_LOGIN="3 per minute", RATELIMIT_LOGIN_ACCOUNT="2 per minute")
    client = app.test_client()
    token = csrf_token(client, "/login")
    assert _login(client, "p@example.com", "wrong password").status_code == 401
    page = client.post("/login", data={"csrf_token": token, "email": "p@example.com", "password": "wrong password"})
    assert page.status_code == 400
    # Two failures on the account from this address, one from the API and one from the page: the third is refused.
    assert _login(client, "p@example.com", "wrong password").status_code == 429
    # And the per-address budget of all attempts is shared too: three used, the page's next is refused.
    page = client.post("/login", data={"csrf_token": token, "email": "q@example.com", "password": "wrong password"})
    assert page.status_code == 429


def test_login_is_throttled_per_ip(make_app) -> None:
    app = make_app(RATELIMIT_LOGIN="4 per minute")
    client = app.test_client()
    codes = [client.post("/api/v1/auth/login", json={"email": f"n{i}@example.com", "password": PASSWORD}).status_code
             for i in range(5)]
    assert codes == [401, 401, 401, 401, 429]


def test_login_page_is_throttled_too(make_app) -> None:
    from tests.conftest import csrf_token

    app = make_app(RATELIMIT_LOGIN="2 per minute")
    client = app.test_client()
    token = csrf_token(client, "/login")
    codes = [client.post("/login", data={"csrf_token": token, "email": "p@example.com", "password": "x" * 12}).status_code
             for _ in range(3)]
    assert codes == [400, 400, 429]
    assert "Too many attempts from here. Please wait" in client.post("/login", data={"csrf_token": token}).get_data(
        as_text=True)  # the form again, with the wait (tests/auth/test_pages.py)


@needs_redis
@pytest.mark.redis
def test_login_throttle_is_shared_across_processes_via_redis(make_app, tmp_path) -> None:
    config = make_config(RATELIMIT_LOGIN_ACCOUNT="2 per minute")  # one limiter namespace for both processes
    db_url = f"sqlite:///{tmp_path / 'shared.db'}"
    app = make_app(database_url=None, redis_url=TEST_REDIS_URL, **{k: v for k, v in config.items()})
    client = app.test_client()
    email = f"victim-{uuid.uuid4().hex[:6]}@example.com"
    for _ in range(2):
        assert client.post("/api/v1/auth/login", json={"email": email, "password": "wrong password"}).status_code == 401
    status = run_in_other_process(config, base_env(db_url, TEST_REDIS_URL), """
        from flask_migrate import upgrade
        with app.app_context():
            upgrade()
        r = client.post("/api/v1/auth/login", json={"email": args["email"], "password": "wrong password"})
        print(json.dumps([r.status_code, r.headers.get("Retry-After")]))
    """, email=email)
    assert status[0] == 429 and int(status[1]) > 0


@needs_redis
@pytest.mark.redis
def test_revoked_token_stays_revoked_in_another_process(make_app, tmp_path) -> None:
    db_path = tmp_path / "shared.db"
    import shutil

    app = make_app(redis_url=TEST_REDIS_URL)
    shutil.copy(app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"), db_path)
    # Both instances use the same database file and the same Redis, like two web processes.
    app = make_app(database_url=f"sqlite:///{db_path}", redis_url=TEST_REDIS_URL)
    client = app.test_client()
    user = register_api(client)
    check = """
        r = client.get("/api/v1/me", headers={"Authorization": "Bearer " + args["token"]})
        print(json.dumps([r.status_code, r.get_json()["error"]["code"] if r.status_code != 200 else None]))
    """
    env = base_env(f"sqlite:///{db_path}", TEST_REDIS_URL)
    assert run_in_other_process(make_config(), env, check, token=user["access_token"]) == [200, None]
    assert client.post("/api/v1/auth/logout", headers=user["headers"]).status_code == 200
    assert run_in_other_process(make_config(), env, check, token=user["access_token"]) == [401, "token_revoked"]
    # Without Redis the other process does not know of the revoked jti, but the log-in session
    # ended in the shared database, so it refuses the token too.
    no_redis = base_env(f"sqlite:///{db_path}")
    assert run_in_other_process(make_config(), no_redis, check, token=user["access_token"]) == [401, "invalid_token"]
