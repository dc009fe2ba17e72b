"""Request text no view can use (lone surrogates, over-deep JSON) is a 400 naming the field, before any view.

Both were a 500: a lone surrogate ("\\ud800", a JSON escape) reached the database, the password
hasher or the log renderer, which cannot encode it; JSON nested a thousand levels deep ended in
a RecursionError while parsing, even on the public log-in route.
"""
from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.ops.inputs import MAX_JSON_DEPTH, max_depth_exceeded
from tests.conftest import PASSWORD, csrf_token, register_api

LONE = "\\ud800"  # as the client sends it: a JSON escape, not a character Python could encode
TRANSACTION = '{"symbol": "SAP.DE", "kind": "buy", "quantity": "1", "price": "10", "date": "2024-01-02"'


def _post(client, path: str, raw: str | bytes, **kwargs):
    return client.post(path, data=raw, content_type="application/json", **kwargs)


def _refused(response, field: str) -> dict:
    assert response.status_code == 400, response.get_data(as_text=True)[:500]
    error = response.get_json()["error"]
    assert error["code"] == "validation_error" and error["request_id"]
    assert field in error["details"]["fields"], error
    return error


def _count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def test_lone_surrogate_in_a_watchlist_name_is_a_400_and_nothing_is_stored(app, client, auth) -> None:
    from app.models import Watchlist

    # The same character as raw UTF-8 bytes: json.loads lets surrogates through (surrogatepass).
    _refused(_post(client, "/api/v1/watchlists", b'{"name": "Tech \xed\xa0\x80"}', headers=auth["headers"]), "name")
    before = _count(app, Watchlist)
    _refused(_post(client, "/api/v1/watchlists", f'{{"name": "Tech {LONE}"}}', headers=auth["headers"]), "name")
    assert _count(app, Watchlist) == before
    names = [w["name"] for w in client.get("/api/v1/watchlists", headers=auth["headers"]).get_json()]
    assert not [n for n in names if n.startswith("Tech")]


def test_lone_surrogate_in_a_transaction_note_is_a_400_and_nothing_is_stored(app, client, auth) -> None:
    from app.models import Transaction

    body = TRANSACTION + f', "note": "bought {LONE}"}}'
    _refused(_post(client, "/api/v1/portfolio/transactions", body, headers=auth["headers"]), "note")
    assert _count(app, Transaction) == 0
    ok = _post(client, "/api/v1/portfolio/transactions", TRANSACTION + ', "note": "bought \\u00e9"}',
               headers=auth["headers"])
    assert ok.status_code == 201 and ok.get_json()["note"] == "bought \u00e9", "other escapes still work"


def test_lone_surrogate_in_the_register_password_is_a_400_and_no_account_is_made(app, client) -> None:
    from app.models import User

    email = f"s-{uuid.uuid4().hex[:6]}@example.com"
    body = f'{{"email": "{email}", "password": "{PASSWORD}{LONE}"}}'
    _refused(_post(client, "/api/v1/auth/register", body), "password")
    assert _count(app, User) == 0


def test_lone_surrogate_in_the_login_password_is_a_400_without_logging_in(client) -> None:
    user = register_api(client)
    for password in (LONE, f"{PASSWORD}{LONE}"):
        response = _post(client, "/api/v1/auth/login", f'{{"email": "{user["email"]}", "password": "{password}"}}')
        error = _refused(response, "password")
        assert "access_token" not in response.get_json() and "surrogate" in error["details"]["fields"]["password"][0]
    # A surrogate in a key is named too (in a form the error body can still encode).
    _refused(_post(client, "/api/v1/auth/login", f'{{"email{LONE}": "x"}}'), "email\ufffd")


def test_lone_surrogate_in_the_login_page_form_is_a_400_page(client) -> None:
    user = register_api(client)
    token = csrf_token(client, "/login")
    # Flask-WTF's forms read a JSON body too (with the CSRF token in its header).
    response = _post(client, "/login", f'{{"email": "{user["email"]}", "password": "{LONE}"}}',
                     headers={"X-CSRFToken": token, "Accept": "text/html"})
    assert response.status_code == 400 and response.mimetype == "text/html"
    assert "Some fields are invalid" in response.get_data(as_text=True)
    assert client.get("/portfolio").status_code == 302, "not logged in"


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("path, wrap", [
    ("/api/v1/auth/login", lambda deep: f'{{"email": "a@example.com", "password": {deep}}}'),
    ("/api/v1/watchlists", lambda deep: f'{{"name": {deep}}}'),
    ("/api/v1/portfolio/transactions", lambda deep: TRANSACTION + f', "note": {deep}}}'),
    ("/api/v1/watchlists", lambda deep: deep),
])
def test_json_nested_a_thousand_levels_is_a_400(client, auth, path, wrap) -> None:
    response = _post(client, path, wrap(_nested(1000)), headers=auth["headers"])
    error = _refused(response, "json")
    assert "nested too deeply" in error["message"]
    objects = '{"a": ' * 1000 + "1" + "}" * 1000
    _refused(_post(client, path, objects, headers=auth["headers"]), "json")


def test_the_bound_is_exact_and_brackets_inside_strings_do_not_count(client, auth) -> None:
    over = _post(client, "/api/v1/watchlists", f'{{"name": {_nested(MAX_JSON_DEPTH)}}}', headers=auth["headers"])
    assert "nested too deeply" in _refused(over, "json")["message"]
    name = "[" * 40 + '\\"{' * 10
    created = _post(client, "/api/v1/watchlists", json.dumps({"name": json.loads(f'"{name}"')}),
                    headers=auth["headers"])
    assert created.status_code == 201, created.get_json()
    at_bound = _post(client, "/api/v1/watchlists", f'{{"name": {_nested(MAX_JSON_DEPTH - 1)}}}',
                     headers=auth["headers"])
    assert at_bound.status_code == 400 and "name" in at_bound.get_json()["error"]["details"]["fields"], \
        "as deep as allowed: the schema answers (a name is no list)"


def test_depth_scan() -> None:
    assert not max_depth_exceeded(_nested(MAX_JSON_DEPTH).encode())
    assert max_depth_exceeded(_nested(MAX_JSON_DEPTH + 1).encode())
    assert not max_depth_exceeded(b'{"a": "' + b"[" * 100 + b'"}')
    assert not max_depth_exceeded(b'[' + b"[], " * 200 + b"[]]"), "wide is not deep"
    assert max_depth_exceeded(b'["\\\\", ' + b"[" * 40 + b"]" * 41), "an escaped backslash ends the string"


def test_a_multipart_part_without_a_name_is_no_500(client, auth) -> None:
    body = (b'--B\r\nContent-Disposition: form-data\r\n\r\nvalue\r\n'
            b'--B\r\nContent-Disposition: form-data; name="file"; filename="t.csv"\r\n\r\n'
            b'date,symbol,kind,quantity,price\r\n--B--\r\n')
    response = client.post("/api/v1/portfolio/import", data=body, content_type="multipart/form-data; boundary=B",
                           headers=auth["headers"])
    assert response.status_code < 500, response.get_data(as_text=True)[:300]
