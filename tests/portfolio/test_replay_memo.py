"""The in-process memo of replayed ledgers never serves a portfolio older than its transactions."""
from __future__ import annotations

from datetime import date, timedelta

from tests.conftest import needs_postgres, register_api
from tests.portfolio.conftest import STABLE_QUOTES
from tests.portfolio.helpers import TXN, holdings, ok_txn, txn

DAY = (date.today() - timedelta(days=20)).isoformat()
LATER = (date.today() - timedelta(days=10)).isoformat()


def test_every_kind_of_write_shows_in_the_next_read(app, client) -> None:
    user = register_api(client)
    h = user["headers"]
    first = ok_txn(client, h, "buy", "SAP.DE", 10, 100, DAY)
    assert holdings(client, h)["SAP.DE"]["quantity"] == "10"
    assert holdings(client, h)["SAP.DE"]["quantity"] == "10"  # served from the memo

    ok_txn(client, h, "buy", "SAP.DE", 5, 110, LATER)
    assert holdings(client, h)["SAP.DE"]["quantity"] == "15"

    edited = client.put(f"{TXN}/{first['id']}", headers=h,
                        json={"symbol": "SAP.DE", "kind": "buy", "quantity": "12", "price": "100", "date": DAY})
    assert edited.status_code == 200, edited.get_json()
    assert holdings(client, h)["SAP.DE"]["quantity"] == "17"

    csv = f"date,symbol,kind,quantity,price,fee,currency,note\n{LATER},SIE.DE,buy,3,150,0,EUR,\n"
    imported = client.post("/api/v1/portfolio/import", headers=h, data=csv, content_type="text/csv")
    assert imported.status_code in (200, 201), imported.get_json()
    assert holdings(client, h)["SIE.DE"]["quantity"] == "3"

    assert client.delete(f"{TXN}/{first['id']}", headers=h).status_code == 204
    assert holdings(client, h)["SAP.DE"]["quantity"] == "5"


def test_a_refused_write_changes_nothing(app, client) -> None:
    user = register_api(client)
    h = user["headers"]
    ok_txn(client, h, "buy", "SAP.DE", 10, 100, DAY)
    before = holdings(client, h)
    assert txn(client, h, "sell", "SAP.DE", 50, 100, LATER).status_code == 422
    assert holdings(client, h) == before


def test_a_write_through_another_process_shows_here(make_app, tmp_path) -> None:
    # Two app instances on one database, as two gunicorn workers: each has its own memo.
    first = make_app(**STABLE_QUOTES)
    url = first.config["SQLALCHEMY_DATABASE_URI"]
    second = make_app(database_url=url, **STABLE_QUOTES)
    a, b = first.test_client(), second.test_client()
    user = register_api(a)
    h = user["headers"]
    ok_txn(a, h, "buy", "SAP.DE", 10, 100, DAY)
    assert holdings(a, h)["SAP.DE"]["quantity"] == "10"
    ok_txn(b, h, "sell", "SAP.DE", 4, 120, LATER)
    assert holdings(a, h)["SAP.DE"]["quantity"] == "6"


def _buy_sell_buy_through_the_form(app) -> tuple:
    from tests.conftest import csrf_token, login_page
    client = app.test_client()
    user = register_api(client)
    login_page(client, user["email"])
    token = csrf_token(client, "/portfolio")

    def form(kind: str, quantity: int):
        return client.post("/portfolio/transactions", data={
            "csrf_token": token, "date": DAY, "symbol": "SAP.DE", "kind": kind, "quantity": str(quantity),
            "price": "100", "fee": "", "note": ""})

    assert form("buy", 10).status_code == 302
    assert holdings(client, user["headers"])["SAP.DE"]["quantity"] == "10"
    assert client.get("/portfolio").status_code == 200  # as after the redirect: quotes and closes now cached
    refused = form("sell", 50)  # re-renders the page (holdings read) inside the refused request
    assert refused.status_code == 422 and "only 10 held" in refused.get_data(as_text=True)
    assert form("buy", 5).status_code == 302
    return client, user


def _assert_fifteen_everywhere(client, user) -> None:
    assert holdings(client, user["headers"])["SAP.DE"]["quantity"] == "15"
    page = client.get("/portfolio").get_data(as_text=True)
    assert 'data-live-symbol="SAP.DE" data-holding data-quantity="15"' in page


def test_a_refused_form_write_does_not_leave_a_stale_replay_behind(app) -> None:
    # Issue 13 item 8: the refused sell's re-rendered page replayed the ledger under the version its
    # own (then rolled back) bump had set; the next buy committed that same version, so the memo hit.
    _assert_fifteen_everywhere(*_buy_sell_buy_through_the_form(app))


def test_a_refused_api_write_then_a_buy_shows_the_buy(app, client) -> None:
    user = register_api(client)
    h = user["headers"]
    ok_txn(client, h, "buy", "SAP.DE", 10, 100, DAY)
    assert holdings(client, h)["SAP.DE"]["quantity"] == "10"
    assert txn(client, h, "sell", "SAP.DE", 50, 100, LATER).status_code == 422
    assert holdings(client, h)["SAP.DE"]["quantity"] == "10"
    ok_txn(client, h, "buy", "SAP.DE", 5, 100, LATER)
    assert holdings(client, h)["SAP.DE"]["quantity"] == "15"


@needs_postgres
def test_a_refused_form_write_does_not_leave_a_stale_replay_behind_on_postgres(make_app, pg_url) -> None:
    from tests.conftest import TEST_REDIS_URL
    app = make_app(database_url=pg_url, redis_url=TEST_REDIS_URL, **STABLE_QUOTES)
    _assert_fifteen_everywhere(*_buy_sell_buy_through_the_form(app))
