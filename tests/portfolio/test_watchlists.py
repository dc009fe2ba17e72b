"""The watchlists API: lists, items, order, quotes, and their bad inputs."""
from __future__ import annotations

from tests.portfolio.helpers import error

WL = "/api/v1/watchlists"


def _create(client, auth, name: str) -> dict:
    response = client.post(WL, json={"name": name}, headers=auth["headers"])
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _add(client, auth, watchlist_id: int, symbol: str):
    return client.post(f"{WL}/{watchlist_id}/items", json={"symbol": symbol}, headers=auth["headers"])


def test_endpoints_need_a_token(client) -> None:
    assert client.get(WL).status_code == 401
    assert client.post(WL, json={"name": "x"}).status_code == 401
    assert client.get(f"{WL}/1/quotes").status_code == 401


def test_default_watchlist_exists_after_register(client, auth) -> None:
    lists = client.get(WL, headers=auth["headers"]).get_json()
    assert [(w["name"], w["position"], w["items"]) for w in lists] == [("My watchlist", 0, [])]


def test_create_duplicate_and_bad_names(client, auth) -> None:
    created = _create(client, auth, "Tech")
    assert created["name"] == "Tech" and created["items"] == [] and created["position"] == 1
    duplicate = client.post(WL, json={"name": "Tech"}, headers=auth["headers"])
    assert duplicate.status_code == 409 and error(duplicate)["code"] == "already_exists"
    # Surrounding blanks are trimmed, so " Tech " is the same name.
    assert client.post(WL, json={"name": "  Tech "}, headers=auth["headers"]).status_code == 409
    for bad in ("", "   ", "x" * 81):
        response = client.post(WL, json={"name": bad}, headers=auth["headers"])
        assert response.status_code == 400, bad
        assert "name" in error(response)["details"]["fields"]
    assert client.post(WL, json={}, headers=auth["headers"]).status_code == 400
    assert _create(client, auth, "y" * 80)["name"] == "y" * 80  # the limit itself is fine
    names = [w["name"] for w in client.get(WL, headers=auth["headers"]).get_json()]
    assert names == ["My watchlist", "Tech", "y" * 80]


def test_rename_to_a_taken_name_is_409_and_changes_nothing(client, auth) -> None:
    first = client.get(WL, headers=auth["headers"]).get_json()[0]
    second = _create(client, auth, "Second")
    renamed = client.patch(f"{WL}/{second['id']}", json={"name": "Renamed"}, headers=auth["headers"])
    assert renamed.status_code == 200 and renamed.get_json()["name"] == "Renamed"
    clash = client.patch(f"{WL}/{second['id']}", json={"name": first["name"]}, headers=auth["headers"])
    assert clash.status_code == 409
    assert client.get(f"{WL}/{second['id']}", headers=auth["headers"]).get_json()["name"] == "Renamed"
    assert client.patch(f"{WL}/{second['id']}", json={"name": ""}, headers=auth["headers"]).status_code == 400


def test_move_a_watchlist(client, auth) -> None:
    default = client.get(WL, headers=auth["headers"]).get_json()[0]
    a, b = _create(client, auth, "A"), _create(client, auth, "B")
    # Move B to the front: the others keep their relative order behind it.
    moved = client.patch(f"{WL}/{b['id']}", json={"position": 0}, headers=auth["headers"])
    assert moved.status_code == 200 and moved.get_json()["position"] == 0
    lists = client.get(WL, headers=auth["headers"]).get_json()
    assert [(w["id"], w["position"]) for w in lists] == [(b["id"], 0), (default["id"], 1), (a["id"], 2)]
    # A position past the end clamps to the end.
    client.patch(f"{WL}/{b['id']}", json={"position": 99}, headers=auth["headers"])
    assert [w["id"] for w in client.get(WL, headers=auth["headers"]).get_json()] == [default["id"], a["id"], b["id"]]
    assert client.patch(f"{WL}/{b['id']}", json={"position": -1}, headers=auth["headers"]).status_code == 400


def test_items_add_remove_and_reorder(client, auth) -> None:
    wl = client.get(WL, headers=auth["headers"]).get_json()[0]
    added = _add(client, auth, wl["id"], "sap.de")  # canonicalised to upper case
    assert added.status_code == 201
    assert [(i["symbol"], i["position"]) for i in added.get_json()["items"]] == [("SAP.DE", 0)]
    for symbol in ("AAPL", "ADS.DE"):
        assert _add(client, auth, wl["id"], symbol).status_code == 201

    unknown = _add(client, auth, wl["id"], "NOPE.XX")
    assert unknown.status_code == 404 and error(unknown)["code"] == "symbol_not_found"
    duplicate = _add(client, auth, wl["id"], "AAPL")
    assert duplicate.status_code == 409 and error(duplicate)["code"] == "already_exists"
    assert _add(client, auth, wl["id"], "").status_code == 400

    reorder = client.patch(f"{WL}/{wl['id']}", json={"order": ["ads.de", "SAP.DE", "AAPL"]}, headers=auth["headers"])
    assert reorder.status_code == 200
    assert [(i["symbol"], i["position"]) for i in reorder.get_json()["items"]] == [
        ("ADS.DE", 0), ("SAP.DE", 1), ("AAPL", 2)]

    # The order must name every symbol of the list exactly once.
    for order in (["ADS.DE", "SAP.DE"], ["ADS.DE", "SAP.DE", "AAPL", "AAPL"], ["ADS.DE", "SAP.DE", "MSFT"], []):
        bad = client.patch(f"{WL}/{wl['id']}", json={"order": order}, headers=auth["headers"])
        assert bad.status_code == 400, order
        assert "order" in error(bad)["details"]["fields"]
    items = client.get(f"{WL}/{wl['id']}", headers=auth["headers"]).get_json()["items"]
    assert [i["symbol"] for i in items] == ["ADS.DE", "SAP.DE", "AAPL"]  # unchanged by the bad orders

    assert client.delete(f"{WL}/{wl['id']}/items/sap.de", headers=auth["headers"]).status_code == 204
    missing = client.delete(f"{WL}/{wl['id']}/items/SAP.DE", headers=auth["headers"])
    assert missing.status_code == 404 and error(missing)["code"] == "not_found"
    items = client.get(f"{WL}/{wl['id']}", headers=auth["headers"]).get_json()["items"]
    # The remaining items close the gap: positions stay 0..n-1.
    assert [(i["symbol"], i["position"]) for i in items] == [("ADS.DE", 0), ("AAPL", 1)]


def test_delete_watchlist(client, auth) -> None:
    wl = _create(client, auth, "Temp")
    assert _add(client, auth, wl["id"], "SAP.DE").status_code == 201
    assert client.delete(f"{WL}/{wl['id']}", headers=auth["headers"]).status_code == 204
    assert client.get(f"{WL}/{wl['id']}", headers=auth["headers"]).status_code == 404
    assert client.delete(f"{WL}/{wl['id']}", headers=auth["headers"]).status_code == 404
    assert [w["name"] for w in client.get(WL, headers=auth["headers"]).get_json()] == ["My watchlist"]
    # The name is free again.
    assert _create(client, auth, "Temp")["items"] == []


def test_quotes_price_every_item_and_carry_scores(client, auth) -> None:
    wl = client.get(WL, headers=auth["headers"]).get_json()[0]
    # DAX and Switzerland 20 members only: scoring is per home index, and the S&P 500's 500 members are slow.
    symbols = ["SAP.DE", "ADS.DE", "NESN.SW", "ALV.DE"]
    for symbol in symbols:
        assert _add(client, auth, wl["id"], symbol).status_code == 201
    body = client.get(f"{WL}/{wl['id']}/quotes", headers=auth["headers"]).get_json()
    assert body["id"] == wl["id"] and body["name"] == "My watchlist"
    assert sorted(body["quotes"]) == sorted(symbols) and body["errors"] == {}
    for symbol, quote in body["quotes"].items():
        assert quote["symbol"] == symbol and quote["price"] > 0
        # Each item's quote is the same one the single-quote endpoint serves (both read the cache).
        single = client.get(f"/api/v1/stocks/{symbol}/quote", headers=auth["headers"]).get_json()
        assert single["price"] == quote["price"] and single["currency"] == quote["currency"]
    assert body["quotes"]["NESN.SW"]["currency"] == "CHF" and body["quotes"]["SAP.DE"]["currency"] == "EUR"
    # Scores: a 0..100 growth score for every item, each scored within its home index (all four have one).
    assert sorted(body["scores"]) == sorted(symbols)
    assert all(0 <= s <= 100 for s in body["scores"].values())


def test_quotes_of_an_empty_list(client, auth) -> None:
    wl = _create(client, auth, "Empty")
    body = client.get(f"{WL}/{wl['id']}/quotes", headers=auth["headers"]).get_json()
    assert body["quotes"] == {} and body["errors"] == {} and body["scores"] == {}


def test_unknown_watchlist_is_404(client, auth) -> None:
    h = auth["headers"]
    for method, path, kwargs in (("get", "", {}), ("patch", "", {"json": {"name": "x"}}), ("delete", "", {}),
                                 ("get", "/quotes", {}), ("post", "/items", {"json": {"symbol": "SAP.DE"}}),
                                 ("delete", "/items/SAP.DE", {})):
        response = getattr(client, method)(f"{WL}/999999{path}", headers=h, **kwargs)
        assert response.status_code == 404 and error(response)["code"] == "not_found", (method, path)
