"""Admin-only cache endpoints; the admin is made with `flask users create-admin`."""
from __future__ import annotations

import uuid

import pytest

from tests.conftest import PASSWORD, TEST_REDIS_URL, needs_redis, register_api


def _admin(app, client) -> dict:
    email = f"admin-{uuid.uuid4().hex[:6]}@example.com"
    result = app.test_cli_runner().invoke(args=["users", "create-admin", email, "--password", PASSWORD])
    assert result.exit_code == 0, result.output
    tokens = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}).get_json()
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def test_non_admins_get_403_and_strangers_401(client) -> None:
    user = register_api(client)
    for method, path in (("get", "/api/v1/admin/cache/stats"), ("post", "/api/v1/admin/cache/invalidate")):
        refused = client.open(path, method=method.upper(), json={"pattern": "*"}, headers=user["headers"])
        assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "forbidden"
        assert client.open(path, method=method.upper(), json={"pattern": "*"}).status_code == 401


def _warm(client, headers) -> None:
    assert client.get("/api/v1/stocks/SAP.DE/quote", headers=headers).status_code == 200
    assert client.get("/api/v1/stocks/SIE.DE/quote", headers=headers).status_code == 200
    assert client.get("/api/v1/stocks/SAP.DE/quote", headers=headers).status_code == 200


def test_admin_reads_stats_and_invalidates_by_pattern(app, client) -> None:
    headers = _admin(app, client)
    _warm(client, headers)
    stats = client.get("/api/v1/admin/cache/stats", headers=headers).get_json()
    assert stats["mode"] == "memory" and stats["memory"]["hits"] >= 1 and stats["memory"]["size"] >= 2
    assert stats["ttl_s"]["quote"] == 15

    bad = client.post("/api/v1/admin/cache/invalidate", json={"pattern": ""}, headers=headers)
    assert bad.status_code == 400 and "pattern" in bad.get_json()["error"]["details"]["fields"]
    done = client.post("/api/v1/admin/cache/invalidate", json={"pattern": "quote:SAP*"}, headers=headers)
    assert done.status_code == 200
    assert done.get_json() == {"pattern": "quote:SAP*", "l1": 1, "l2": None, "deferred": False}
    again = client.post("/api/v1/admin/cache/invalidate", json={"pattern": "quote:SAP*"}, headers=headers)
    assert again.get_json()["l1"] == 0, "that key is gone; SIE.DE's is not"
    assert client.post("/api/v1/admin/cache/invalidate", json={"pattern": "quote:SIE*"},
                       headers=headers).get_json()["l1"] == 1


@needs_redis
@pytest.mark.redis
def test_invalidation_reaches_redis(make_app) -> None:
    app = make_app(redis_url=TEST_REDIS_URL)  # the test's own cache namespace, emptied when it ends
    client = app.test_client()
    headers = _admin(app, client)
    _warm(client, headers)
    stats = client.get("/api/v1/admin/cache/stats", headers=headers).get_json()
    assert stats["mode"] == "tiered" and stats["l2"]["backend"] == "redis"
    assert "@" not in stats["l2"]["url"] or ":***@" in stats["l2"]["url"], "no password in the stats"
    result = client.post("/api/v1/admin/cache/invalidate", json={"pattern": "quote:S*"}, headers=headers).get_json()
    assert result["l2"] >= 2 and result["deferred"] is False


def test_cache_invalidation_is_audited_with_who_what_and_the_request(app, client) -> None:
    from sqlalchemy import select

    from app.extensions import db
    from app.models import AuditEvent, User

    headers = _admin(app, client)
    user = register_api(client)
    assert client.post("/api/v1/admin/cache/invalidate", json={"pattern": "*"},
                       headers=user["headers"]).status_code == 403
    response = client.post("/api/v1/admin/cache/invalidate", json={"pattern": "quote:SAP*"}, headers=headers,
                           environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert response.status_code == 200
    with app.app_context():
        events = list(db.session.scalars(select(AuditEvent).where(AuditEvent.kind == "cache_invalidated")))
        assert len(events) == 1, "one event, and none for the refused non-admin"
        event = events[0]
        admin = db.session.get(User, event.user_id)
        assert admin is not None and admin.is_admin
        assert event.details == {"pattern": "quote:SAP*"}
        assert event.ip == "10.1.2.3" and event.request_id == response.headers["X-Request-ID"]
