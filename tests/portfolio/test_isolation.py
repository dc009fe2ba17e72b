"""One user never sees or changes another's watchlists, transactions or alerts: API and page forms alike."""
from __future__ import annotations

from app.extensions import db
from app.models import Alert
from tests.conftest import csrf_token
from tests.portfolio.helpers import ok_txn, quote_price, transactions

WL, TXN, ALERTS = "/api/v1/watchlists", "/api/v1/portfolio/transactions", "/api/v1/alerts"


def _owned_by_a(client, h) -> dict:
    watchlist = client.post(WL, json={"name": "A's list"}, headers=h).get_json()
    assert client.post(f"{WL}/{watchlist['id']}/items", json={"symbol": "SAP.DE"}, headers=h).status_code == 201
    buy = ok_txn(client, h, "buy", "SAP.DE", 10, 100, "2025-03-03")
    alert = client.post(ALERTS, json={"symbol": "SAP.DE", "kind": "above", "threshold": "100000"}, headers=h).get_json()
    return {"watchlist": watchlist, "txn": buy, "alert": alert}


def _a_still_has_everything(client, h, owned) -> None:
    watchlist = client.get(f"{WL}/{owned['watchlist']['id']}", headers=h)
    assert watchlist.status_code == 200
    body = watchlist.get_json()
    assert body["name"] == "A's list" and [i["symbol"] for i in body["items"]] == ["SAP.DE"]
    assert transactions(client, h) == [owned["txn"]]
    alerts = client.get(ALERTS, headers=h).get_json()
    assert [(a["id"], a["active"]) for a in alerts] == [(owned["alert"]["id"], True)]


def test_api_is_404_for_another_users_objects(client, auth, other) -> None:
    owned = _owned_by_a(client, auth["headers"])
    b, hb = other["client"], other["headers"]
    w, t, a = owned["watchlist"]["id"], owned["txn"]["id"], owned["alert"]["id"]
    put_body = {"symbol": "SAP.DE", "kind": "buy", "quantity": "1", "price": "1", "date": "2025-03-03"}
    attempts = [
        b.get(f"{WL}/{w}", headers=hb),
        b.patch(f"{WL}/{w}", json={"name": "hacked"}, headers=hb),
        b.patch(f"{WL}/{w}", json={"order": ["SAP.DE"]}, headers=hb),
        b.delete(f"{WL}/{w}", headers=hb),
        b.post(f"{WL}/{w}/items", json={"symbol": "ADS.DE"}, headers=hb),
        b.delete(f"{WL}/{w}/items/SAP.DE", headers=hb),
        b.get(f"{WL}/{w}/quotes", headers=hb),
        b.put(f"{TXN}/{t}", json=put_body, headers=hb),
        b.delete(f"{TXN}/{t}", headers=hb),
        b.delete(f"{ALERTS}/{a}", headers=hb),
        b.post(f"{ALERTS}/{a}/rearm", headers=hb),
    ]
    for response in attempts:
        assert response.status_code == 404, (response.request.method, response.request.path, response.get_json())
        assert response.get_json()["error"]["code"] == "not_found"
    _a_still_has_everything(client, auth["headers"], owned)


def test_lists_never_include_another_users_objects(client, auth, other) -> None:
    owned = _owned_by_a(client, auth["headers"])
    b, hb = other["client"], other["headers"]
    assert [w["name"] for w in b.get(WL, headers=hb).get_json()] == ["My watchlist"]
    assert b.get(TXN, headers=hb).get_json() == []
    assert b.get(ALERTS, headers=hb).get_json() == []
    assert b.get("/api/v1/portfolio", headers=hb).get_json()["holdings"] == []
    assert b.get("/api/v1/portfolio/allocation", headers=hb).get_json()["holding"] == []
    assert b.get("/api/v1/portfolio/performance", headers=hb).get_json()["series"] == []
    assert b.get("/api/v1/portfolio/export.csv", headers=hb).get_data(as_text=True).count("\n") == 1  # header only
    assert b.get("/portfolio/export.csv").get_data(as_text=True).count("\n") == 1
    # B may use the same watchlist name as A: names are unique per user only.
    assert b.post(WL, json={"name": "A's list"}, headers=hb).status_code == 201
    # B's pages show none of A's things.
    for path, status in (("/watchlist", 200), (f"/watchlist?id={owned['watchlist']['id']}", 404),
                         ("/portfolio", 200), ("/alerts", 200)):
        page = b.get(path)
        assert page.status_code == status, path
    assert 'data-testid="transactions"' not in b.get("/portfolio").get_data(as_text=True)
    assert 'data-testid="alerts"' not in b.get("/alerts").get_data(as_text=True)
    selected = b.get(f"/watchlist?id={owned['watchlist']['id']}").get_data(as_text=True)
    assert f'data-watchlist="{owned["watchlist"]["id"]}"' not in selected
    _a_still_has_everything(client, auth["headers"], owned)


def test_page_forms_cannot_touch_another_users_objects(client, auth, other) -> None:
    owned = _owned_by_a(client, auth["headers"])
    b = other["client"]
    token = csrf_token(b, "/account")
    w, t, a = owned["watchlist"]["id"], owned["txn"]["id"], owned["alert"]["id"]
    posts = [
        (f"/watchlist/{w}/delete", {}),
        (f"/watchlist/{w}/rename", {"name": "hacked"}),
        (f"/watchlist/{w}/items", {"symbol": "ADS.DE"}),
        ("/watchlist/add", {"watchlist": str(w), "symbol": "ADS.DE", "back": "stock"}),
        (f"/watchlist/{w}/items/SAP.DE/remove", {}),
        (f"/watchlist/{w}/items/SAP.DE/move", {"direction": "down"}),
        (f"/portfolio/transactions/{t}/delete", {}),
        (f"/alerts/{a}/delete", {}),
        (f"/alerts/{a}/rearm", {}),
    ]
    for path, data in posts:
        response = b.post(path, data={"csrf_token": token, **data}, follow_redirects=True)
        assert response.status_code == 200, path
        assert "flash-error" in response.get_data(as_text=True), path
        assert "No such" in response.get_data(as_text=True), path
    _a_still_has_everything(client, auth["headers"], owned)


def test_checking_alerts_only_fires_ones_own(app, client, auth, other) -> None:
    price = quote_price(client, auth["headers"], "SAP.DE")
    mine = client.post(ALERTS, json={"symbol": "SAP.DE", "kind": "above", "threshold": str(price / 2)},
                       headers=auth["headers"]).get_json()
    # B's list and B's pages check B's alerts against the quotes; A's met alert stays untouched ...
    assert other["client"].get(ALERTS, headers=other["headers"]).get_json() == []
    assert other["client"].get("/alerts").status_code == 200
    with app.app_context():
        assert db.session.get(Alert, mine["id"]).active is True
    # ... until A's own check fires it.
    assert client.get(ALERTS, headers=auth["headers"]).get_json()[0]["active"] is False
