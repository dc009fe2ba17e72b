"""Liveness and readiness."""
from __future__ import annotations

import socket

import pytest

from tests.conftest import TEST_REDIS_URL, needs_redis


def test_health_answers_while_up(client) -> None:
    response = client.get("/health")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_ready_reports_the_database(client) -> None:
    body = client.get("/ready").get_json()
    assert body["status"] == "ok" and body["components"]["database"]["status"] == "ok"
    assert "redis" not in body["components"]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_ready_names_redis_when_it_is_down(make_app) -> None:
    app = make_app(redis_url=f"redis://127.0.0.1:{_closed_port()}/0")
    response = app.test_client().get("/ready")
    assert response.status_code == 503
    body = response.get_json()
    assert body["failing"] == ["redis"] and body["components"]["database"]["status"] == "ok"
    assert app.test_client().get("/health").status_code == 200


def test_ready_names_the_database_when_it_is_down(make_app, tmp_path) -> None:
    app = make_app(database_url=f"sqlite:///{tmp_path}/missing-dir/none.db")
    response = app.test_client().get("/ready")
    assert response.status_code == 503 and response.get_json()["failing"] == ["database"]


@needs_redis
@pytest.mark.redis
def test_ready_with_the_real_redis(make_app) -> None:
    body = make_app(redis_url=TEST_REDIS_URL).test_client().get("/ready").get_json()
    assert body["components"]["redis"]["status"] == "ok"
