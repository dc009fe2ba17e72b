"""PATCH /api/v1/me: the base currency and the benchmark index, as on the account page."""
from __future__ import annotations

import pytest

from tests.conftest import register_api


def test_settings_change_and_the_portfolio_follows(client, auth) -> None:
    headers = auth["headers"]
    assert client.get("/api/v1/me", headers=headers).get_json()["base_currency"] is None  # BASE_CURRENCY
    assert client.get("/api/v1/portfolio", headers=headers).get_json()["base_currency"] == "EUR"
    response = client.patch("/api/v1/me", json={"base_currency": " usd ", "benchmark": "DAX"}, headers=headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["base_currency"], body["benchmark"]) == ("USD", "DAX")
    me = client.get("/api/v1/me", headers=headers).get_json()
    assert (me["base_currency"], me["benchmark"]) == ("USD", "DAX")
    assert client.get("/api/v1/portfolio", headers=headers).get_json()["base_currency"] == "USD"
    # one field alone leaves the other as it was
    assert client.patch("/api/v1/me", json={"base_currency": "CHF"}, headers=headers).get_json()["benchmark"] == "DAX"
    # null goes back to the defaults
    body = client.patch("/api/v1/me", json={"base_currency": None, "benchmark": None}, headers=headers).get_json()
    assert (body["base_currency"], body["benchmark"]) == (None, None)
    assert client.get("/api/v1/portfolio", headers=headers).get_json()["base_currency"] == "EUR"


@pytest.mark.parametrize("body, field", [
    ({}, "_schema"),
    ({"base_currency": "XYZ"}, "base_currency"),
    ({"base_currency": 978}, "base_currency"),
    ({"benchmark": "Not An Index"}, "benchmark"),
    ({"base_currency": ""}, "base_currency"),
    ({"base_currency": "USD", "email": "other@example.com"}, "email"),
])
def test_bad_settings_are_refused_and_nothing_changes(client, auth, body, field) -> None:
    headers = auth["headers"]
    response = client.patch("/api/v1/me", json=body, headers=headers)
    assert response.status_code in (400, 422), response.get_json()
    error = response.get_json()["error"]
    assert field in error["details"]["fields"], error
    me = client.get("/api/v1/me", headers=headers).get_json()
    assert (me["base_currency"], me["benchmark"], me["email"]) == (None, None, auth["email"])


def test_settings_need_a_token(client) -> None:
    assert client.patch("/api/v1/me", json={"base_currency": "USD"}).status_code == 401


def test_one_users_settings_leave_another_alone(client, auth) -> None:
    other = register_api(client)
    client.patch("/api/v1/me", json={"base_currency": "JPY"}, headers=auth["headers"])
    assert client.get("/api/v1/me", headers=other["headers"]).get_json()["base_currency"] is None
