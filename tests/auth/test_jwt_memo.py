"""The memo of verified JWTs and the cached token versions: faster, and never less strict."""
from __future__ import annotations

import time
from datetime import timedelta

import flask_jwt_extended.view_decorators as view_decorators
import jwt as pyjwt
import pytest
from flask_jwt_extended import create_access_token, decode_token
from sqlalchemy import event

from app.ops import jwtmemo
from app.extensions import db
from app.models import User
from tests.conftest import PASSWORD, TEST_REDIS_URL, base_env, make_config, needs_redis, register_api
from tests.helpers import run_in_other_process


def test_the_patched_header_lookup_is_still_the_one_jwt_required_uses() -> None:
    # If an upgrade of Flask-JWT-Extended renames this, the memo silently stops covering headers.
    assert view_decorators.get_unverified_jwt_headers is jwtmemo.unverified_headers
    assert "get_unverified_jwt_headers" in view_decorators._decode_jwt_from_request.__code__.co_names


def test_a_token_is_verified_by_pyjwt_once(app, client, monkeypatch) -> None:
    user = register_api(client)
    calls = []
    real = pyjwt.decode

    def counting(*args, **kwargs):
        calls.append(kwargs.get("options"))
        return real(*args, **kwargs)

    monkeypatch.setattr(pyjwt, "decode", counting)
    for _ in range(5):
        assert client.get("/api/v1/me", headers=user["headers"]).status_code == 200
    assert len(calls) <= 2, calls  # register_api's log-in already memoised it, or this first request did


def test_tampered_and_expired_tokens_are_refused_even_when_a_twin_is_memoised(app, client) -> None:
    user = register_api(client)
    assert client.get("/api/v1/me", headers=user["headers"]).status_code == 200
    token = user["access_token"]
    head, body, sig = token.split(".")
    tampered = f"{head}.{body}.{sig[:-2]}{'AA' if sig[-2:] != 'AA' else 'BB'}"
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {tampered}"})
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "invalid_token"

    with app.app_context():
        sid = decode_token(token)["sid"]  # the same log-in session, so only the expiry refuses it
        short = create_access_token(identity=str(user["id"]), additional_claims={"sid": sid},
                                    expires_delta=timedelta(seconds=1))
    headers = {"Authorization": f"Bearer {short}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200  # now memoised
    time.sleep(1.2)
    response = client.get("/api/v1/me", headers=headers)
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "token_expired"


def test_an_api_request_that_only_needs_the_id_does_not_read_the_user_row(app, client) -> None:
    user = register_api(client)
    client.get("/api/v1/stocks/SAP.DE/quote", headers=user["headers"])  # warm the version and quote caches
    statements: list[str] = []
    with app.app_context():
        engine = db.engine
    listener = lambda *args: statements.append(args[2])  # noqa: E731 - (conn, cursor, statement, ...)
    event.listen(engine, "before_cursor_execute", listener)
    try:
        assert client.get("/api/v1/stocks/SAP.DE/quote", headers=user["headers"]).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert not [s for s in statements if "users" in s], statements
    # Views that need the row still get it.
    assert client.get("/api/v1/me", headers=user["headers"]).get_json()["email"] == user["email"]


def test_password_change_refuses_a_token_whose_version_was_cached(app, client) -> None:
    user = register_api(client)
    assert client.get("/api/v1/me", headers=user["headers"]).status_code == 200  # version cached
    with app.app_context():
        from app.auth import services

        services.change_password(db.session.get(User, user["id"]), PASSWORD, "a brand new password")
        db.session.commit()
    response = client.get("/api/v1/me", headers=user["headers"])
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "invalid_token"


def test_a_rolled_back_password_change_keeps_the_token_valid(app, client) -> None:
    user = register_api(client)
    with app.app_context():
        from app.auth import services

        services.change_password(db.session.get(User, user["id"]), PASSWORD, "a brand new password")
        db.session.flush()
        db.session.rollback()
    assert client.get("/api/v1/me", headers=user["headers"]).status_code == 200


@needs_redis
@pytest.mark.redis
def test_another_process_refuses_the_old_token_after_a_password_change(make_app, tmp_path) -> None:
    import shutil

    first = make_app(redis_url=TEST_REDIS_URL)
    db_path = tmp_path / "shared.db"
    shutil.copy(first.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"), db_path)
    app = make_app(database_url=f"sqlite:///{db_path}", redis_url=TEST_REDIS_URL)
    client = app.test_client()
    user = register_api(client)
    check = """
        codes = []
        for _ in range(int(args["rounds"])):
            r = client.get("/api/v1/me", headers={"Authorization": "Bearer " + args["token"]})
            codes.append(r.status_code)
        print(json.dumps(codes))
    """
    env = base_env(f"sqlite:///{db_path}", TEST_REDIS_URL)
    assert run_in_other_process(make_config(), env, check, token=user["access_token"], rounds=2) == [200, 200]
    with app.app_context():
        from app.auth import services

        services.change_password(db.session.get(User, user["id"]), PASSWORD, "a brand new password")
        db.session.commit()
    assert run_in_other_process(make_config(), env, check, token=user["access_token"], rounds=1) == [401]
