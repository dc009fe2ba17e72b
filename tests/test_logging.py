"""The log pipeline: structlog's fast path, reconfigurable after first use, redacting, and cookie-free API requests."""
from __future__ import annotations

import io
import json
import logging
import sys

import pytest
import structlog

from app.ops.logging import configure_logging
from tests.conftest import register_api


class Stderr:
    """sys.stderr swapped for a buffer inside the test (pytest restores its own capture between phases)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.buffer = io.StringIO()
        monkeypatch.setattr(sys, "stderr", self.buffer)

    def getvalue(self) -> str:
        return self.buffer.getvalue()


@pytest.fixture
def stderr(monkeypatch: pytest.MonkeyPatch):
    """Call it in the test: the final logger must look sys.stderr up per line, not hold an old one."""
    yield lambda: Stderr(monkeypatch)
    configure_logging("INFO", json=False)  # the root logger's handler held the buffer


def test_cached_loggers_follow_a_later_configuration(stderr) -> None:
    out = stderr()
    log = structlog.get_logger("tickerdesk.test.reconfigure")
    configure_logging("INFO", json=True)
    log.info("first", n=1)  # the proxy caches its bound logger here
    log.debug("below the level")
    configure_logging("WARNING", json=False)
    log.info("now below the level")
    log.warning("second %s", "formatted")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2, lines
    first = json.loads(lines[0])
    assert first["event"] == "first" and first["n"] == 1 and first["level"] == "info"
    assert first["logger"] == "tickerdesk.test.reconfigure" and first["timestamp"].endswith("Z")
    assert not lines[1].startswith("{") and "second formatted" in lines[1] and "warning" in lines[1]


def test_stdlib_lines_share_the_renderer_and_the_redaction(stderr) -> None:
    out = stderr()
    configure_logging("INFO", json=True)
    structlog.contextvars.bind_contextvars(request_id="req-7")
    try:
        logging.getLogger("tickerdesk.test.stdlib").warning("GET %s", "https://x.test/q?apikey=SECRET1&s=AAPL")
        structlog.get_logger("tickerdesk.test.native").error(
            "provider failed", url="https://x.test/q?token=SECRET2", api_key="SECRET3",
            headers={"Authorization": "Bearer abc.def.ghi"}, token_version=3, note="sent bEaReR abc.def.jkl")
    finally:
        structlog.contextvars.clear_contextvars()
    text = out.getvalue()
    assert "SECRET" not in text and "abc.def" not in text
    stdlib, native = (json.loads(line) for line in text.splitlines())
    assert stdlib["event"] == "GET https://x.test/q?apikey=***&s=AAPL" and stdlib["request_id"] == "req-7"
    assert native["api_key"] == "***" and native["headers"] == {"Authorization": "***"}
    assert native["note"] == "sent Bearer ***"
    assert native["token_version"] == 3 and native["request_id"] == "req-7" and native["level"] == "error"


def test_exceptions_are_rendered_into_the_line(stderr) -> None:
    out = stderr()
    configure_logging("INFO", json=True)
    try:
        raise ValueError("boom")
    except ValueError:
        structlog.get_logger("tickerdesk.test.exc").exception("failed")
    line = json.loads(out.getvalue())
    assert line["level"] == "error" and "ValueError: boom" in line["exception"]


def test_api_requests_without_a_cookie_build_no_session_serializer(app, client, monkeypatch) -> None:
    user = register_api(client)

    def refuse(*_args):
        raise AssertionError("a request without a session cookie built the cookie serializer")

    monkeypatch.setattr(type(app.session_interface), "get_signing_serializer", refuse)
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {user['access_token']}"})
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers


def test_page_sessions_still_round_trip(client) -> None:
    from tests.conftest import PASSWORD, login_page

    register_api(client, email="pages@example.com")
    login_page(client, "pages@example.com", PASSWORD)
    assert client.get_cookie(client.application.config.get("SESSION_COOKIE_NAME", "session")) is not None
    assert client.get("/account").status_code == 200  # the signed cookie was written and read back


def _duplicate_watchlist_route(app) -> None:
    """A view whose INSERT breaks a unique constraint: an unexpected error, logged with its traceback."""
    from app.extensions import db
    from app.models import Watchlist

    @app.get("/api/v1/test-duplicate/<int:user_id>")
    def duplicate(user_id: int):
        for _ in range(2):
            db.session.add(Watchlist(user_id=user_id, name="leak-me-4711", position=9))
            db.session.flush()
        return "unreachable"


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_logged_database_error_carries_no_values(request, make_app, stderr, database) -> None:
    from tests.conftest import TEST_DATABASE_URL

    if database == "postgres":
        if not TEST_DATABASE_URL:
            pytest.skip("TEST_DATABASE_URL not set: PostgreSQL tests skipped (CI sets it)")
        app = make_app(database_url=request.getfixturevalue("pg_url"))
    else:
        app = make_app()
    _duplicate_watchlist_route(app)
    client = app.test_client()
    user = register_api(client)
    out = stderr()
    configure_logging("INFO", json=True)
    response = client.get(f"/api/v1/test-duplicate/{user['id']}")
    assert response.status_code == 500 and "leak-me" not in response.get_data(as_text=True)
    lines = [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]
    error = next(line for line in lines if line["event"] == "unhandled_error")
    assert "IntegrityError" in error["exception"], "the traceback is still logged"
    assert "leak-me-4711" not in out.getvalue(), "no bound value (nor the database's quote of it) in any line"


def test_redaction_drops_sql_parameters_and_quoted_values() -> None:
    from app.ops.logging import redact_text

    text = ('(psycopg.errors.UniqueViolation) duplicate key value violates unique constraint "uq"\n'
            "DETAIL:  Key (user_id, name)=(7, Tech stocks) already exists.\n"
            "[SQL: INSERT INTO watchlists (user_id, name) VALUES (%(user_id)s, %(name)s)]\n"
            "[parameters: {'user_id': 7, 'name': 'Tech stocks'}]\n(Background on this error at: ...)")
    redacted = redact_text(text)
    assert "Tech stocks" not in redacted
    assert "Key (user_id, name)=(redacted)" in redacted and "[parameters: redacted]" in redacted
    assert "[SQL: INSERT INTO watchlists" in redacted and "Background on this error" in redacted
    failing = redact_text('violates check constraint "ck"\nDETAIL:  Failing row contains (7, secret@example.com).')
    assert "secret@" not in failing and "Failing row contains (redacted)" in failing
