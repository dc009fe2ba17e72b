"""Renaming a watchlist to a name the user already has is a 409, whatever else the same PATCH changes.

With a `position` (or an `order`) in the same PATCH, the query that re-reads the lists flushed the
new name early: the unique constraint failed outside the commit that answers with a 409, so it
was a 500, and the logged traceback quoted the SQL parameters.
"""
from __future__ import annotations

import pytest

from tests.conftest import needs_postgres, register_api


def _lists(client, headers) -> list[tuple[str, int, list[str]]]:
    body = client.get("/api/v1/watchlists", headers=headers).get_json()
    return [(w["name"], w["position"], [i["symbol"] for i in w["items"]]) for w in body]


def _check_conflicts(client, capfd) -> None:
    headers = register_api(client)["headers"]
    first = client.post("/api/v1/watchlists", json={"name": "Tech"}, headers=headers).get_json()
    second = client.post("/api/v1/watchlists", json={"name": "Banks"}, headers=headers).get_json()
    for symbol in ("SAP.DE", "SIE.DE"):
        assert client.post(f"/api/v1/watchlists/{second['id']}/items", json={"symbol": symbol},
                           headers=headers).status_code == 201
    before = _lists(client, headers)
    capfd.readouterr()
    for body in ({"name": "Tech", "position": 0}, {"position": 0, "name": "Tech"},
                 {"name": "Tech", "order": ["SIE.DE", "SAP.DE"]},
                 {"order": ["SIE.DE", "SAP.DE"], "position": 5, "name": " Tech "}, {"name": "Tech"}):
        response = client.patch(f"/api/v1/watchlists/{second['id']}", json=body, headers=headers)
        assert response.status_code == 409, (body, response.get_json())
        error = response.get_json()["error"]
        assert set(error) == {"code", "message", "details", "request_id"}
        assert error["code"] == "already_exists" and "Tech" in error["message"]
        assert _lists(client, headers) == before, f"{body}: nothing changed"
    logged = capfd.readouterr().err
    assert "unhandled_error" not in logged and "parameters" not in logged
    moved = client.patch(f"/api/v1/watchlists/{second['id']}", json={"name": "Banks 2", "position": 0},
                         headers=headers)
    assert moved.status_code == 200 and (moved.get_json()["name"], moved.get_json()["position"]) == ("Banks 2", 0)
    assert [name for name, _, _ in _lists(client, headers)][0] == "Banks 2"
    renamed_self = client.patch(f"/api/v1/watchlists/{first['id']}", json={"name": "Tech", "position": 0},
                                headers=headers)
    assert renamed_self.status_code == 200, "its own name is no conflict"


def test_rename_to_a_taken_name_with_a_move_is_a_409(client, capfd) -> None:
    _check_conflicts(client, capfd)


@needs_postgres
@pytest.mark.postgres
def test_rename_to_a_taken_name_with_a_move_is_a_409_on_postgres(pg_app, capfd) -> None:
    _check_conflicts(pg_app.test_client(), capfd)
