"""schemathesis against the generated OpenAPI document: no 5xx, every response as documented.

Every /api/v1 operation is called with a bounded number of generated requests (valid and
invalid), as a logged-in user of a real app (the demo market; PostgreSQL and Redis in CI). Logging out and
deleting the account are left out: they would end the session the other calls use (tests in
tests/auth cover both).
"""
from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_headers_conformance,
                                               response_schema_conformance, status_code_conformance)

from app import create_app
from tests.conftest import TEST_DATABASE_URL, TEST_REDIS_URL, base_env, make_config, register_api

MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]
REPORT = Path(__file__).resolve().parents[2] / "build" / "test-output" / "schemathesis.txt"
SESSION_ENDERS = {("POST", "/api/v1/auth/logout"), ("DELETE", "/api/v1/me")}


@pytest.fixture(scope="module")
def fuzz_app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """The app on the real PostgreSQL and Redis when they are configured (CI), else on SQLite."""
    if TEST_DATABASE_URL:
        database_url = request.getfixturevalue("pg_url")
    else:
        path = tmp_path_factory.mktemp("fuzz") / f"app-{uuid.uuid4().hex[:8]}.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        database_url = f"sqlite:///{path}"
    return create_app(make_config(RATELIMIT_ENABLED=False), env=base_env(database_url, TEST_REDIS_URL))


@pytest.fixture(scope="module")
def fuzz_user(fuzz_app):
    return register_api(fuzz_app.test_client())


def _operations(app):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) not in SESSION_ENDERS:
            yield operation


def test_every_operation_answers_as_documented(fuzz_app, fuzz_user) -> None:
    failures: dict[str, str] = {}
    operations = list(_operations(fuzz_app))
    assert len(operations) >= 35, "every /api/v1 operation is in the document"
    for operation in operations:
        headers = dict(fuzz_user["headers"])
        if operation.path == "/api/v1/auth/refresh":
            headers["Authorization"] = f"Bearer {fuzz_user['refresh_token']}"

        @given(case=operation.as_strategy())
        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        def call(case) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            call()
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collect all, then report
            found = exc.exceptions if isinstance(exc, BaseExceptionGroup) else (exc,)
            failures[f"{operation.method.upper()} {operation.path}"] = "\n".join(str(e)[:1500] for e in found)
    report = "\n\n".join(f"== {name}\n{text}" for name, text in failures.items())
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(report or "no failures\n")
    assert not failures, f"{len(failures)} operations failed: {sorted(failures)}; details in {REPORT}"
