"""Recording transactions: validation, selling only what is held on the day, edit and delete, exact decimals."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from tests.conftest import needs_postgres, register_api
from tests.portfolio.helpers import TXN, error, holdings, ok_txn, transactions, txn

GOOD = {"symbol": "SAP.DE", "kind": "buy", "quantity": "10", "price": "100", "date": "2025-03-03"}


def test_endpoints_need_a_token(client) -> None:
    assert client.get(TXN).status_code == 401
    assert client.post(TXN, json=GOOD).status_code == 401
    assert client.get("/api/v1/portfolio").status_code == 401


def test_a_buy_is_stored_with_the_stocks_currency(client, auth) -> None:
    stored = ok_txn(client, auth["headers"], "buy", "sap.de", "10", "100.5", "2025-03-03", fee="4.90", note="first")
    assert {k: stored[k] for k in ("symbol", "kind", "quantity", "price", "fee", "currency", "date", "note")} == {
        "symbol": "SAP.DE", "kind": "buy", "quantity": "10", "price": "100.5", "fee": "4.9", "currency": "EUR",
        "date": "2025-03-03", "note": "first"}
    assert transactions(client, auth["headers"]) == [stored]
    # An explicit currency is accepted when it is the stock's own (in any case).
    assert ok_txn(client, auth["headers"], "buy", "AAPL", "1", "150", "2025-03-03", currency="usd")["currency"] == "USD"


TOMORROW = (date.today() + timedelta(days=2)).isoformat()


INVALID = [
    ({"quantity": "0"}, "quantity"),
    ({"quantity": "-5"}, "quantity"),
    ({"price": "0"}, "price"),
    ({"price": "-1"}, "price"),
    ({"fee": "-0.01"}, "fee"),
    ({"date": TOMORROW}, "date"),
    ({"date": "2025-02-30"}, "date"),
    ({"symbol": "NOPE.XX"}, "symbol"),
    ({"currency": "USD"}, "currency"),  # SAP.DE trades in EUR
    ({"currency": "EURO"}, "currency"),
    ({"kind": "gift"}, "kind"),
    ({"quantity": "ten"}, "quantity"),
    ({"price": "1,5"}, "price"),
    ({"quantity": "NaN"}, "quantity"),
    ({"price": "Infinity"}, "price"),
    ({"quantity": None}, "quantity"),
]


def test_invalid_transactions_are_400_naming_the_field(client, auth) -> None:
    # One user for every case (cheaper than one app per case); each case changes one field of GOOD.
    for change, field in INVALID:
        body = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
        response = client.post(TXN, json=body, headers=auth["headers"])
        assert response.status_code == 400, (change, response.get_json())
        err = error(response)
        assert err["code"] == "validation_error" and field in err["details"]["fields"], (change, err)
    assert transactions(client, auth["headers"]) == []
    assert client.post(TXN, json=GOOD, headers=auth["headers"]).status_code == 201  # GOOD itself is valid


def test_oversell_says_how_many_are_held_on_that_date(client, auth) -> None:
    h = auth["headers"]
    ok_txn(client, h, "buy", "SAP.DE", 10, 100, "2025-03-03")
    # A sell dated BEFORE the buy: on 2025-02-03 nothing was held yet, so even 5 is too many.
    early = txn(client, h, "sell", "SAP.DE", 5, 110, "2025-02-03")
    assert early.status_code == 422
    err = error(early)
    assert err["code"] == "oversell"
    assert err["details"] == {"symbol": "SAP.DE", "date": "2025-02-03", "held": "0", "requested": "5"}
    assert "only 0 held" in err["message"]
    # After the buy, 10 are held: 11 is one too many, 10 is fine.
    late = txn(client, h, "sell", "SAP.DE", 11, 110, "2025-03-04")
    assert late.status_code == 422 and error(late)["details"]["held"] == "10"
    assert "only 10 held" in error(late)["message"]
    ok_txn(client, h, "sell", "SAP.DE", 10, 110, "2025-03-04")
    again = txn(client, h, "sell", "SAP.DE", "0.5", 110, "2025-03-05")
    assert again.status_code == 422 and error(again)["details"]["held"] == "0"
    # Selling a stock never bought at all.
    none = txn(client, h, "sell", "ADS.DE", 1, 200, "2025-03-05")
    assert none.status_code == 422 and error(none)["details"] == {
        "symbol": "ADS.DE", "date": "2025-03-05", "held": "0", "requested": "1"}
    assert len(transactions(client, h)) == 2  # only the buy and the valid sell were stored


def test_a_sell_in_the_past_counts_only_what_was_held_then(client, auth) -> None:
    h = auth["headers"]
    ok_txn(client, h, "buy", "SAP.DE", 5, 100, "2025-03-03")
    ok_txn(client, h, "buy", "SAP.DE", 20, 100, "2025-06-02")
    # 25 are held today, but on 2025-04-01 only the first 5 were: selling 6 then is an oversell.
    response = txn(client, h, "sell", "SAP.DE", 6, 120, "2025-04-01")
    assert response.status_code == 422 and error(response)["details"]["held"] == "5"
    ok_txn(client, h, "sell", "SAP.DE", 5, 120, "2025-04-01")
    assert holdings(client, h)["SAP.DE"]["quantity"] == "20"


def test_deleting_a_buy_a_later_sell_needs_is_422_and_deletes_nothing(client, auth) -> None:
    h = auth["headers"]
    first = ok_txn(client, h, "buy", "SAP.DE", 10, 100, "2025-03-03")
    second = ok_txn(client, h, "buy", "SAP.DE", 10, 110, "2025-04-01")
    ok_txn(client, h, "sell", "SAP.DE", 15, 120, "2025-05-02")
    before = transactions(client, h)
    # Without the first buy only 10 would be held on 2025-05-02 for a sell of 15.
    response = client.delete(f"{TXN}/{first['id']}", headers=h)
    assert response.status_code == 422
    err = error(response)
    assert err["code"] == "oversell" and err["details"]["held"] == "10" and err["details"]["requested"] == "15"
    assert err["message"].startswith("Deleting it would leave a later sell without the shares it sold")
    assert transactions(client, h) == before
    assert client.delete(f"{TXN}/{second['id']}", headers=h).status_code == 422
    assert transactions(client, h) == before
    assert client.delete(f"{TXN}/999999", headers=h).status_code == 404


def test_deleting_is_allowed_when_nothing_depends_on_it(client, auth) -> None:
    h = auth["headers"]
    ok_txn(client, h, "buy", "SAP.DE", 10, 100, "2025-03-03")
    extra = ok_txn(client, h, "buy", "SAP.DE", 5, 110, "2025-04-01")
    ok_txn(client, h, "sell", "SAP.DE", 10, 120, "2025-05-02")
    assert client.delete(f"{TXN}/{extra['id']}", headers=h).status_code == 204
    assert len(transactions(client, h)) == 2 and extra["id"] not in [t["id"] for t in transactions(client, h)]
    # 10 bought, 10 sold: nothing is held any more.
    assert holdings(client, h) == {}


def test_put_replaces_a_transaction_and_the_holdings_follow(client, auth) -> None:
    h = auth["headers"]
    buy = ok_txn(client, h, "buy", "SAP.DE", 10, 100, "2025-03-03")
    assert holdings(client, h)["SAP.DE"]["quantity"] == "10"
    body = {"symbol": "SAP.DE", "kind": "buy", "quantity": "12", "price": "90", "fee": "3", "date": "2025-03-04",
            "note": "fixed"}
    replaced = client.put(f"{TXN}/{buy['id']}", json=body, headers=h)
    assert replaced.status_code == 200, replaced.get_json()
    assert replaced.get_json() == {**buy, "quantity": "12", "price": "90", "fee": "3", "date": "2025-03-04",
                                   "note": "fixed"}
    held = holdings(client, h)["SAP.DE"]
    # One lot of 12 shares costing 12 * 90 + 3 = 1083 -> avg cost 1083 / 12 = 90.25.
    assert held["quantity"] == "12" and held["cost_basis"] == "1083.00" and held["avg_cost"] == "90.2500"
    # It can even become another stock.
    moved = client.put(f"{TXN}/{buy['id']}", json={**body, "symbol": "ADS.DE"}, headers=h)
    assert moved.status_code == 200
    assert set(holdings(client, h)) == {"ADS.DE"}
    assert len(transactions(client, h)) == 1


def test_put_that_would_break_a_later_sell_is_422_and_changes_nothing(client, auth) -> None:
    h = auth["headers"]
    buy = ok_txn(client, h, "buy", "SAP.DE", 10, 100, "2025-03-03")
    ok_txn(client, h, "sell", "SAP.DE", 8, 120, "2025-05-02")
    before = transactions(client, h)
    body = {"symbol": "SAP.DE", "kind": "buy", "quantity": "10", "price": "100", "date": "2025-03-03"}
    # Fewer shares than the sell needs.
    smaller = client.put(f"{TXN}/{buy['id']}", json={**body, "quantity": "7"}, headers=h)
    assert smaller.status_code == 422 and error(smaller)["details"]["held"] == "7"
    # Moved after the sell: on 2025-05-02 nothing would be held.
    later = client.put(f"{TXN}/{buy['id']}", json={**body, "date": "2025-06-02"}, headers=h)
    assert later.status_code == 422 and error(later)["details"] == {
        "symbol": "SAP.DE", "date": "2025-05-02", "held": "0", "requested": "8"}
    # Invalid fields are 400 before anything is replayed.
    bad = client.put(f"{TXN}/{buy['id']}", json={**body, "price": "-1"}, headers=h)
    assert bad.status_code == 400 and "price" in error(bad)["details"]["fields"]
    assert transactions(client, h) == before
    assert holdings(client, h)["SAP.DE"]["quantity"] == "2"
    assert client.put(f"{TXN}/999999", json=body, headers=h).status_code == 404


def test_decimal_quantities_add_up_exactly(client, auth) -> None:
    h = auth["headers"]
    for _ in range(3):
        ok_txn(client, h, "buy", "SAP.DE", "0.1", "100.10", "2025-03-03")
    held = holdings(client, h)["SAP.DE"]
    # 0.1 + 0.1 + 0.1 in binary floating point is 0.30000000000000004; in Decimal it is 0.3.
    assert held["quantity"] == "0.3"
    # Cost 3 * (0.1 * 100.10) = 30.03; avg cost 30.03 / 0.3 = 100.1.
    assert held["cost_basis"] == "30.03" and held["avg_cost"] == "100.1000"
    ok_txn(client, h, "sell", "SAP.DE", "0.3", "120", "2025-03-04")
    assert holdings(client, h) == {}


@needs_postgres
@pytest.mark.postgres
def test_decimal_quantities_add_up_exactly_on_postgres(pg_app) -> None:
    client = pg_app.test_client()
    h = register_api(client)["headers"]
    for _ in range(3):
        ok_txn(client, h, "buy", "SAP.DE", "0.1", "100.10", "2025-03-03")
    # NUMERIC(28, 10) pads to 0.1000000000; the API still shows the plain 0.1 + 0.1 + 0.1 = 0.3.
    assert [t["quantity"] for t in transactions(client, h)] == ["0.1"] * 3
    assert holdings(client, h)["SAP.DE"]["quantity"] == "0.3"


@needs_postgres
@pytest.mark.postgres
def test_a_quantity_too_fine_for_the_database_never_breaks_the_portfolio(pg_app) -> None:
    client = pg_app.test_client()
    h = register_api(client)["headers"]
    response = txn(client, h, "buy", "SAP.DE", "0.00000000001", "100", "2025-03-03")
    # Either refused as a 400 naming the field, or stored exactly as given: never a zero-share buy.
    if response.status_code == 400:
        assert "quantity" in error(response)["details"]["fields"]
    else:
        assert response.status_code == 201 and [t["quantity"] for t in transactions(client, h)] == ["0.00000000001"]
    assert client.get("/api/v1/portfolio", headers=h).status_code == 200
    assert txn(client, h, "buy", "SAP.DE", "1", "100", "2025-03-04").status_code == 201


def test_an_amount_too_large_to_store_is_400_not_500(client, auth) -> None:
    response = txn(client, auth["headers"], "buy", "SAP.DE", "1e30", "1", "2025-03-03")
    assert response.status_code == 400 and "quantity" in error(response)["details"]["fields"]
