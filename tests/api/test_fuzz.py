"""schemathesis against the generated OpenAPI document: no 5xx, every response as documented.

Every /api/v1 operation is called with a bounded number of generated requests (valid and
invalid), as a logged-in user of a real app (the demo market; PostgreSQL and Redis in CI). Logging out and
deleting the account are left out: they would end the session the other calls use (tests in
tests/auth cover both).

Generated data alone rarely reaches the values that broke the API before, so:

* decimal strings (`format: decimal`) are drawn partly from extreme spellings ("1E+1000000",
  "1E+999999999999", 400 nines, "NaN", ...);
* each operation is also sent hostile variants of one valid request: every body field and query
  parameter in turn set to a lone surrogate, an extreme decimal, 1e308 or a 400-digit integer,
  and, for JSON bodies, a body nested 1,000 levels deep;
* data the document calls valid must not be refused with a 400: such a 400 is a rule the
  document does not state (an enum, a bound). It fails the operations of STATED_RULES; for the
  others (rules OpenAPI 3.0 cannot state, e.g. "an index or a country, not both", or state-
  dependent ones) the report lists them without failing.

The app has its own Redis namespace for the module, and its keys are deleted at the end.
"""
from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_headers_conformance,
                                               response_schema_conformance, status_code_conformance)

from app import create_app
from tests.conftest import TEST_DATABASE_URL, TEST_REDIS_URL, base_env, make_config, register_api

MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
REPORT = Path(__file__).resolve().parents[2] / "build" / "test-output" / "schemathesis.txt"
SESSION_ENDERS = {("POST", "/api/v1/auth/logout"), ("POST", "/api/v1/auth/logout-all"), ("DELETE", "/api/v1/me")}

EXTREME_DECIMALS = ("1E+1000000", "-1E+1000000", "1E+999999999999", "1e-1000000", "9" * 400, "1e308",
                    "NaN", "Infinity", "-0", "0." + "0" * 300 + "1")
LONE_SURROGATE = "x\ud800"
HUGE_INT = 10**400


def _decimal_strings() -> st.SearchStrategy[str]:
    ordinary = st.decimals(allow_nan=False, allow_infinity=False, places=4,
                           min_value=-10**9, max_value=10**9).map(str)
    return st.one_of(ordinary, st.sampled_from(EXTREME_DECIMALS))


schemathesis.openapi.format("decimal", _decimal_strings())


# Operations whose every 400 rule the document states (enums, bounds): schema-valid data passes.
STATED_RULES = {"GET /api/v1/stocks/{symbol}/history", "GET /api/v1/stocks/{symbol}/indicators"}
# A 503 that says a worker is computing the answer (forecasts being trained, a backtest queued) is the
# documented reply of a web process that never computes: it must carry Retry-After and its code.
COMPUTING = {"not_yet_trained", "backtest_running", "not_yet_scored"}


def not_a_server_error_but_computing(ctx, response, case) -> bool | None:
    """schemathesis's not_a_server_error, except a documented "being computed" 503."""
    if response.status_code == 503 and response.headers.get("retry-after"):  # lowercase keys, list values
        try:
            if response.json()["error"]["code"] in COMPUTING:
                return None
        except (ValueError, KeyError, TypeError):
            pass
    return not_a_server_error(ctx, response, case)


CHECKS = [not_a_server_error_but_computing, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]


def _undocumented_400s(name: str, seen: list[str]):
    """A check: a 400 for a request the document calls valid is a rule the document does not state."""

    def schema_valid_data_is_not_a_400(ctx, response, case) -> bool | None:
        meta = case.meta
        if meta is not None and meta.generation.mode.is_positive and response.status_code == 400:
            message = f"a 400 for schema-valid data (an undocumented rule): {response.text[:300]}"
            if name in STATED_RULES:
                raise AssertionError(message)
            if len(seen) < 3:
                seen.append(message)
        return None

    return schema_valid_data_is_not_a_400


@pytest.fixture(scope="module")
def fuzz_namespace() -> Iterator[str]:
    """This module's Redis namespace (the per-test one is not set yet for module fixtures); emptied at the end."""
    prefix = f"tdfuzz{uuid.uuid4().hex[:10]}:"
    yield prefix
    if TEST_REDIS_URL:
        import redis

        client = redis.Redis.from_url(TEST_REDIS_URL)
        try:
            keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
            for start in range(0, len(keys), 1000):
                client.delete(*keys[start:start + 1000])
        finally:
            client.close()


@pytest.fixture(scope="module")
def fuzz_app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, fuzz_namespace: str):
    """The app on the real PostgreSQL and Redis when they are configured (CI), else on SQLite."""
    if TEST_DATABASE_URL:
        database_url = request.getfixturevalue("pg_url")
    else:
        path = tmp_path_factory.mktemp("fuzz") / f"app-{uuid.uuid4().hex[:8]}.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        database_url = f"sqlite:///{path}"
    config = make_config(RATELIMIT_ENABLED=False, CACHE_KEY_PREFIX=fuzz_namespace, AUTH_REDIS_PREFIX=fuzz_namespace,
                         LIVE_REDIS_PREFIX=f"{fuzz_namespace}live:", JOBS_KEY_PREFIX=f"{fuzz_namespace}jobs:")
    return create_app(config, env=base_env(database_url, TEST_REDIS_URL))


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
    unstated: dict[str, list[str]] = {}
    operations = list(_operations(fuzz_app))
    assert len(operations) >= 35, "every /api/v1 operation is in the document"
    spec = fuzz_app.test_client().get("/api/v1/openapi.json").get_json()
    for operation in operations:
        name = f"{operation.method.upper()} {operation.path}"
        headers = dict(fuzz_user["headers"])
        if operation.path == "/api/v1/auth/refresh":
            headers["Authorization"] = f"Bearer {fuzz_user['refresh_token']}"
        last_failing: list[str] = []
        valid: list[Any] = []
        checks = [*CHECKS, _undocumented_400s(name, unstated.setdefault(name, []))]

        @given(case=operation.as_strategy())
        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        def call(case) -> None:
            try:
                response = case.call_and_validate(headers=headers, checks=checks, excluded_checks=[not_a_server_error])
            except BaseException:
                last_failing[:] = [_describe(case)]
                raise
            if response.status_code < 300 and not valid:
                valid.append(case)

        try:
            call()
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collect all, then report
            found = exc.exceptions if isinstance(exc, BaseExceptionGroup) else (exc,)
            failures[name] = "\n".join([*(str(e)[:1500] for e in found), *last_failing])
        hostile = list(_hostile_failures(fuzz_app, operation, spec, headers, valid[0] if valid else None))
        if hostile:
            failures[name] = "\n".join(filter(None, [failures.get(name), *hostile]))
    report = "\n\n".join(f"== {name}\n{text}" for name, text in failures.items())
    report += "\n\n-- rules the document does not state (not failing):\n" + "\n".join(
        f"{name}: {seen[0]}" for name, seen in unstated.items() if seen)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(report if failures else "no failures\n" + report)
    assert not failures, f"{len(failures)} operations failed: {sorted(failures)}; details in {REPORT}"


def _hostile_failures(app, operation, spec: dict, headers: dict, base) -> Iterator[str]:
    """Send each hostile variant of `base` (a request that succeeded); yield what was not a clean 4xx."""
    client = app.test_client()
    path = operation.path
    path_parameters = dict(getattr(base, "path_parameters", None) or {})
    for key, value in path_parameters.items():
        path = path.replace(f"{{{key}}}", str(value))
    if "{" in path:
        path = _fill_path(operation, path)
    query = dict(getattr(base, "query", None) or {})
    body_schema = _body_schema(operation, spec)
    body = getattr(base, "body", None)
    body = dict(body) if isinstance(body, dict) else ({} if body_schema is not None else None)
    variants: list[tuple[str, dict, bytes | None]] = []
    for param in operation.query:
        for value in _hostile_values(param.definition.get("schema", {}), in_query=True):
            variants.append((f"query {param.name}={value!r:.40}", {**query, param.name: value}, None))
    if body is not None and body_schema is not None:
        for field, field_schema in _properties(body_schema, spec).items():
            for value in _hostile_values(field_schema, in_query=False):
                variants.append((f"body {field}={value!r:.40}", query, _json({**body, field: value})))
        deep = "[" * 1000 + "]" * 1000
        variants.append(("body nested 1,000 levels", query, f'{{"x": {deep}}}'.encode()))
    method = operation.method.upper()
    documented = set(spec["paths"][operation.path][operation.method.lower()]["responses"])
    for label, variant_query, raw in variants:
        response = client.open(path, method=method, query_string=variant_query, headers=headers, data=raw,
                               content_type="application/json" if raw is not None else None)
        status = response.status_code
        problem = None
        computing = status == 503 and response.headers.get("Retry-After") and \
            ((response.get_json(silent=True) or {}).get("error") or {}).get("code") in COMPUTING
        if status >= 500 and not computing:
            problem = "server error"
        elif str(status) not in documented:
            problem = "undocumented status"
        elif status >= 400:
            error = (response.get_json(silent=True) or {}).get("error")
            if not isinstance(error, dict) or not {"code", "message", "details"} <= set(error):
                problem = "not the standard error shape"
        if problem:
            yield f"hostile {label}: {problem} {status} {response.get_data(as_text=True)[:300]}"


def _hostile_values(schema: dict, *, in_query: bool) -> list[Any]:
    kind, fmt = schema.get("type"), schema.get("format")
    if kind == "string" and fmt == "decimal":
        return ["1E+1000000", "1E+999999999999", "-1E+1000000"]
    if kind in ("number", "integer"):
        return ["1E+1000000", "1e308", "9" * 400] if in_query else [1e308, -1e308, HUGE_INT]
    if kind == "string" and not in_query and "enum" not in schema:
        return [LONE_SURROGATE]
    return []


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()  # ensure_ascii: a lone surrogate travels as the escape "\ud800"


def _body_schema(operation, spec: dict) -> dict | None:
    for alternative in operation.body:
        if alternative.media_type == "application/json":
            return _resolve(alternative.definition.get("schema", {}), spec)
    return None


def _properties(schema: dict, spec: dict) -> dict[str, dict]:
    return {name: _resolve(prop, spec) for name, prop in (schema.get("properties") or {}).items()}


def _resolve(schema: dict, spec: dict) -> dict:
    while isinstance(schema, dict) and "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _fill_path(operation, path: str) -> str:
    for param in operation.path_parameters:
        kind = param.definition.get("schema", {}).get("type")
        path = path.replace(f"{{{param.name}}}", "1" if kind == "integer" else "SAP.DE")
    return path


def _describe(case) -> str:
    body = getattr(case, "body", None)
    text = repr(body) if body is not None else ""
    return (f"failing example: {case.method} {case.formatted_path} query={getattr(case, 'query', None)!r:.300} "
            f"body={text[:500]}")
