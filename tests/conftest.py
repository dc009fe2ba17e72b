"""Shared fixtures: apps on SQLite (always) and on the real PostgreSQL and Redis (CI).

Tests that need PostgreSQL or Redis read TEST_DATABASE_URL / TEST_REDIS_URL and skip
with a visible reason when they are unset; `.ci/run` always sets both.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app import create_app
from app.extensions import db

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL")
SECRET = "test-secret-" + "x" * 40
PASSWORD = "correct horse battery"

needs_postgres = pytest.mark.skipif(not TEST_DATABASE_URL, reason="TEST_DATABASE_URL not set: PostgreSQL tests skipped (CI sets it)")
needs_redis = pytest.mark.skipif(not TEST_REDIS_URL, reason="TEST_REDIS_URL not set: Redis tests skipped (CI sets it)")


def base_env(database_url: str, redis_url: str | None = None) -> dict[str, str]:
    """Return a clean environment for create_app (nothing leaks in from the developer's shell)."""
    env = {"TICKERDESK_ENV": "testing", "SECRET_KEY": SECRET, "DATABASE_URL": database_url,
           "LOG_LEVEL": "WARNING", "MARKET_PROVIDERS": "demo"}
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


# One Redis namespace per test for the cache and the token state: test databases reuse user ids
# and symbols, and must not see each other's remembered token versions or cached values.
_namespace = {"redis": "tdt:"}


def limiter_pattern(key_prefix: str) -> str:
    """The Redis keys Flask-Limiter writes for apps with this RATELIMIT_KEY_PREFIX (glob)."""
    return f"LIMITS:LIMITER/td/{key_prefix}*"


def delete_redis_keys(*patterns: str) -> None:
    """Delete every key of the shared test Redis matching one of the glob patterns."""
    if not TEST_REDIS_URL:
        return
    import redis

    client = redis.Redis.from_url(TEST_REDIS_URL)
    try:
        for pattern in patterns:
            keys = list(client.scan_iter(match=pattern, count=1000))
            for start in range(0, len(keys), 1000):
                client.delete(*keys[start:start + 1000])
    except redis.RedisError:
        pass
    finally:
        client.close()


@pytest.fixture(autouse=True)
def _redis_namespace() -> Iterator[None]:
    _namespace["redis"] = prefix = f"tdt{uuid.uuid4().hex[:10]}:"
    yield
    # Leave the shared Redis as clean as it was: the cache, token state and rate limits of this test.
    delete_redis_keys(f"{prefix}*", limiter_pattern(prefix))


def _jobs_root() -> str:
    # The embedded broker's folders of this test session's apps (each app its own), removed at its end.
    if "jobs_root" not in _namespace:
        _namespace["jobs_root"] = tempfile.mkdtemp(prefix="tdtest-jobs-")
    return _namespace["jobs_root"]


def pytest_sessionfinish(session: pytest.Session) -> None:
    root = _namespace.pop("jobs_root", None)
    if root:
        shutil.rmtree(root, ignore_errors=True)


def make_config(**overrides: Any) -> dict[str, Any]:
    """Return per-test settings: cheap password hashing, generous limits, a unique limiter prefix,
    and this test's Redis namespace for the cache and the token state (shared by its apps)."""
    # JOBS_INLINE_COMPUTE: a scores or performance request computes in the test's process (no worker runs);
    # tests/jobs/test_offloading.py turns it off to show that web processes never compute.
    # JOBS_INLINE_RESEARCH off: a stock page would train its index's forecasts in the test (tests/research
    # turn it on); FORECAST_DIR: the models of this test session, never the checkout's instance/.
    config = {"PASSWORD_HASH_FAST": True, "JOBS_INLINE_COMPUTE": True, "JOBS_INLINE_RESEARCH": False,
              "FORECAST_DIR": tempfile.mkdtemp(prefix="models-", dir=_jobs_root()), "JOBS_KEY_PREFIX": f"{_namespace['redis']}jobs:",
              "JOBS_DIR": tempfile.mkdtemp(prefix="jobs-", dir=_jobs_root()), "RATELIMIT_REGISTER": "1000 per minute",
              "RATELIMIT_LOGIN": "1000 per minute", "RATELIMIT_LOGIN_ACCOUNT": "1000 per minute",
              "RATELIMIT_KEY_PREFIX": f"{_namespace['redis']}{uuid.uuid4().hex[:6]}",
              "AUTH_REDIS_PREFIX": _namespace["redis"], "CACHE_KEY_PREFIX": _namespace["redis"]}
    config.update(overrides)
    return config


def migrate_and_seed(app: Flask) -> None:
    """Upgrade the app's database to head and seed the universe."""
    from flask_migrate import upgrade

    from app.stocks.services import seed_universe

    with app.app_context():
        upgrade()
        seed_universe()
        db.engine.dispose()  # closes the last connection, so SQLite checkpoints its WAL into the file


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated and seeded SQLite file, built once and copied for each test."""
    path = tmp_path_factory.mktemp("db") / "template.db"
    migrate_and_seed(create_app(make_config(), env=base_env(f"sqlite:///{path}")))
    return path


@pytest.fixture
def make_app(sqlite_template: Path, tmp_path: Path) -> Callable[..., Flask]:
    """Build an app on a fresh copy of the seeded SQLite database (optionally with Redis)."""

    def factory(redis_url: str | None = None, database_url: str | None = None, **overrides: Any) -> Flask:
        if database_url is None:
            path = tmp_path / f"app-{uuid.uuid4().hex[:8]}.db"
            shutil.copy(sqlite_template, path)
            database_url = f"sqlite:///{path}"
        return create_app(make_config(**overrides), env=base_env(database_url, redis_url))

    return factory


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    """The app on SQLite with in-memory cache and limits."""
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of `app`."""
    return app.test_client()


@pytest.fixture
def runner(app: Flask):
    """A CLI runner of `app`."""
    return app.test_cli_runner()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, migrated and seeded; dropped at the end."""
    if not TEST_DATABASE_URL:
        pytest.skip("TEST_DATABASE_URL not set: PostgreSQL tests skipped (CI sets it)")
    url = create_database(TEST_DATABASE_URL, "tdtest")
    migrate_and_seed(create_app(make_config(), env=base_env(url)))
    yield url
    drop_database(TEST_DATABASE_URL, url)


@pytest.fixture
def pg_app(make_app: Callable[..., Flask], pg_url: str) -> Flask:
    """The app on the real PostgreSQL (and the real Redis when TEST_REDIS_URL is set)."""
    return make_app(database_url=pg_url, redis_url=TEST_REDIS_URL)


def create_database(admin_url: str, prefix: str) -> str:
    """Create an empty database next to `admin_url`'s and return its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    engine = create_engine(_sa(admin_url), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return make_url(_sa(admin_url)).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, url: str) -> None:
    """Drop the database of `url` (terminating leftover connections)."""
    name = make_url(url).database
    assert name and re.fullmatch(r"[a-z0-9_]+", name)
    engine = create_engine(_sa(admin_url), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def _sa(url: str) -> str:
    from app.config import database_url

    return database_url(url)


def csrf_token(client: FlaskClient, path: str) -> str:
    """GET a page and return the CSRF token of its form."""
    html = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or \
        re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def register_api(client: FlaskClient, email: str | None = None, password: str = PASSWORD) -> dict[str, Any]:
    """Register through the API and log in; return email, tokens and auth headers."""
    email = email or f"user-{uuid.uuid4().hex[:8]}@example.com"
    response = client.post("/api/v1/auth/register", json={"email": email, "password": password})
    assert response.status_code == 201, response.get_json()
    tokens = client.post("/api/v1/auth/login", json={"email": email, "password": password}).get_json()
    return {"email": email, "id": response.get_json()["id"], **tokens,
            "headers": {"Authorization": f"Bearer {tokens['access_token']}"}}


@pytest.fixture
def auth(client: FlaskClient) -> dict[str, Any]:
    """A registered, logged-in API user of `client`."""
    return register_api(client)


def login_page(client: FlaskClient, email: str, password: str = PASSWORD) -> None:
    """Log `client` in through the log-in form (a session cookie, as a browser would)."""
    token = csrf_token(client, "/login")
    response = client.post("/login", data={"email": email, "password": password, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]


@pytest.fixture
def page_user(client: FlaskClient, auth: dict[str, Any]) -> dict[str, Any]:
    """A registered user, logged in to the pages of `client` (and holding API tokens too)."""
    login_page(client, auth["email"])
    return auth


def pytest_sessionstart(session: pytest.Session) -> None:
    """In CI the real servers are required: fail loudly instead of skipping."""
    if os.environ.get("CI") and not (TEST_DATABASE_URL and TEST_REDIS_URL):
        raise pytest.UsageError("CI is set but TEST_DATABASE_URL / TEST_REDIS_URL are not: run tests via .ci/run")
