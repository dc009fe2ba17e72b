"""Errors, request ids, security headers and logs."""
from __future__ import annotations

import json
import logging

import pytest

from tests.conftest import PASSWORD, register_api


@pytest.mark.parametrize("method, path, status, code", [
    ("get", "/api/v1/does-not-exist", 404, "not_found"),
    ("put", "/api/v1/me", 405, "method_not_allowed"),
    ("get", "/api/v1/auth/login", 405, "method_not_allowed"),
])
def test_api_errors_use_the_standard_shape(client, method, path, status, code) -> None:
    response = getattr(client, method)(path)
    assert response.status_code == status
    body = response.get_json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert body["error"]["request_id"] == response.headers["X-Request-ID"]


def test_405_names_the_allowed_methods(client) -> None:
    assert "POST" in client.get("/api/v1/auth/login").headers["Allow"]


def test_oversize_body_is_413(make_app) -> None:
    client = make_app(MAX_CONTENT_LENGTH=1024).test_client()
    response = client.post("/api/v1/auth/register", data="x" * 4096, content_type="application/json")
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"


def test_pages_get_html_error_pages(client) -> None:
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "Back to the dashboard" in response.get_data(as_text=True)


def test_unexpected_exception_is_a_500_in_the_standard_shape(app, client) -> None:
    @app.get("/api/v1/boom")
    def boom():
        raise RuntimeError("secret internals")

    response = client.get("/api/v1/boom")
    assert response.status_code == 500
    error = response.get_json()["error"]
    assert error["code"] == "internal_error" and "secret internals" not in error["message"]


def test_request_id_is_taken_from_the_header_or_generated(client) -> None:
    assert client.get("/health", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    generated = client.get("/health", headers={"X-Request-ID": "bad id with spaces"}).headers["X-Request-ID"]
    assert generated != "bad id with spaces" and len(generated) == 32


def test_security_headers_on_every_response(client) -> None:
    for path in ("/", "/login", "/health", "/api/v1/nope", "/static/css/app.css"):
        headers = client.get(path).headers
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"]
        assert "Strict-Transport-Security" not in headers  # only in production


def test_pages_load_no_third_party_assets(client) -> None:
    html = client.get("/login").get_data(as_text=True)
    assert "http://" not in html and "https://" not in html and "<script>" not in html


def test_logs_carry_the_request_id_and_never_secrets(make_app, capfd) -> None:
    app = make_app(LOG_LEVEL="INFO")
    from app.ops.logging import configure_logging

    configure_logging("INFO", json=True)
    client = app.test_client()
    user = register_api(client, password=PASSWORD)
    client.get("/api/v1/me", headers={**user["headers"], "X-Request-ID": "req-42"})
    logging.getLogger("probe").info("calling https://example.test/q?apikey=SECRETKEY123&token=abc")
    err = capfd.readouterr().err
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any(line.get("request_id") == "req-42" and line.get("path") == "/api/v1/me" for line in lines)
    assert PASSWORD not in err and user["access_token"] not in err
    assert "SECRETKEY123" not in err and "apikey=***" in err
