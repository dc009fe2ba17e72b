"""Flask-Limiter on every API route: per user or IP, tighter on log-in, register and batches."""
from __future__ import annotations

import uuid

from tests.conftest import PASSWORD, register_api


def _limited(response) -> None:
    assert response.status_code == 429
    body = response.get_json()["error"]
    assert body["code"] == "rate_limited" and "limit" in body["message"] and body["request_id"]
    assert 0 < int(response.headers["Retry-After"]) <= 60


def test_the_default_limit_is_per_user_with_headers(make_app) -> None:
    app = make_app(RATELIMIT_DEFAULT="4 per minute")
    client = app.test_client()
    first, second = register_api(client), register_api(client)  # the same address, two identities
    remaining = []
    for _ in range(4):
        response = client.get("/api/v1/me", headers=first["headers"])
        assert response.status_code == 200
        assert response.headers["X-RateLimit-Limit"] == "4"
        assert int(response.headers["X-RateLimit-Reset"]) > 0
        assert "Retry-After" not in response.headers, "only a refusal says when to retry"
        remaining.append(int(response.headers["X-RateLimit-Remaining"]))
    assert remaining == [3, 2, 1, 0]
    _limited(client.get("/api/v1/me", headers=first["headers"]))
    assert client.get("/api/v1/me", headers=second["headers"]).status_code == 200, "another user has their own"
    # The default limit counts per route (Flask-Limiter's default limits), as the README says.
    assert client.get("/api/v1/watchlists", headers=first["headers"]).status_code == 200


def test_requests_without_a_token_count_against_the_address(make_app) -> None:
    app = make_app(RATELIMIT_DEFAULT="3 per minute")
    client = app.test_client()
    statuses = [client.get("/api/v1/stocks/search?q=sap", environ_base={"REMOTE_ADDR": "10.0.0.1"}).status_code
                for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    # A forged or expired token is keyed by address too, not by the identity it claims.
    forged = {"Authorization": "Bearer abc.def.ghi"}
    _limited(client.get("/api/v1/stocks/search?q=sap", headers=forged, environ_base={"REMOTE_ADDR": "10.0.0.1"}))
    assert client.get("/api/v1/stocks/search?q=sap", headers=forged,
                      environ_base={"REMOTE_ADDR": "10.0.0.2"}).status_code == 401


def test_batches_have_a_tighter_limit_than_single_quotes(make_app) -> None:
    app = make_app(RATELIMIT_BATCH="2 per minute")
    client = app.test_client()
    user = register_api(client)
    for _ in range(2):
        assert client.post("/api/v1/stocks/batch", json={"symbols": ["SAP.DE"]}, headers=user["headers"]).status_code == 200
    _limited(client.get("/api/v1/stocks/batch?symbols=SAP.DE", headers=user["headers"]))
    assert client.get("/api/v1/stocks/SAP.DE/quote", headers=user["headers"]).status_code == 200


def test_registration_is_limited_per_address(make_app) -> None:
    app = make_app(RATELIMIT_REGISTER="2 per minute")
    client = app.test_client()
    statuses = [client.post("/api/v1/auth/register", json={"email": f"r{uuid.uuid4().hex[:6]}@example.com",
                                                             "password": PASSWORD}).status_code for _ in range(3)]
    assert statuses == [201, 201, 429]


def test_limits_come_from_the_environment(tmp_path) -> None:
    from app.config import load_config

    cfg = load_config(env={"RATELIMIT_DEFAULT": "7 per second", "RATELIMIT_BATCH": "3 per hour",
                           "RATELIMIT_LOGIN": "9 per minute", "RATELIMIT_REGISTER": "1 per day"},
                      instance_dir=tmp_path)
    assert (cfg["RATELIMIT_DEFAULT"], cfg["RATELIMIT_BATCH"], cfg["RATELIMIT_LOGIN"], cfg["RATELIMIT_REGISTER"]) == \
        ("7 per second", "3 per hour", "9 per minute", "1 per day")


def test_a_token_signed_with_another_key_is_keyed_by_address_not_by_its_sub(make_app) -> None:
    import jwt

    app = make_app(RATELIMIT_DEFAULT="3 per minute")
    client = app.test_client()
    user = register_api(client)
    claims = jwt.decode(user["access_token"], options={"verify_signature": False})
    forged = jwt.encode(claims, "another-key-" + "y" * 40, algorithm="HS256")
    assert forged.count(".") == 2 and forged != user["access_token"], "well-formed, same sub, wrong signature"
    forged_headers = {"Authorization": f"Bearer {forged}"}
    attacker, owner = {"REMOTE_ADDR": "10.0.0.66"}, {"REMOTE_ADDR": "10.0.0.7"}
    statuses = [client.get("/api/v1/me", headers=forged_headers, environ_base=attacker).status_code
                for _ in range(3)]
    assert statuses == [401, 401, 401]
    # The forged requests spent the attacker's address budget, not the user's.
    _limited(client.get("/api/v1/me", headers=forged_headers, environ_base=attacker))
    mine = client.get("/api/v1/me", headers=user["headers"], environ_base=owner)
    assert mine.status_code == 200 and mine.headers["X-RateLimit-Remaining"] == "2"
