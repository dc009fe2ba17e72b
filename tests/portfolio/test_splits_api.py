"""Splits through the API: a pre-split buy, a post-split sell, holdings, P/L, alerts, CSV and isolation.

Hand-computed: 10 AAPL bought at 500 (cost 5000) before a 4:1 split on 2020-08-31 are 40
shares at 125; selling 20 at 130 realises 20*130 - 2500 = 100 and leaves 20 at 125 a share.
"""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import update

from app.alerts.services import evaluate
from app.extensions import db
from app.models import Alert
from tests.portfolio.helpers import error, holdings, ok_txn, txn

SPLITS = "/api/v1/portfolio/splits"
SPLIT = {"symbol": "AAPL", "ex_date": "2020-08-31", "from": 1, "to": 4}


def test_a_split_the_user_enters_carries_a_pre_split_buy_into_post_split_shares(client, auth, other) -> None:
    headers = auth["headers"]
    assert client.patch("/api/v1/me", json={"base_currency": "USD"}, headers=headers).status_code == 200
    ok_txn(client, headers, "buy", "AAPL", "10", "500", "2020-08-03")
    # Without the split, 20 is more than the 10 held.
    refused = txn(client, headers, "sell", "AAPL", "20", "130", "2020-09-15")
    assert refused.status_code == 422 and error(refused)["code"] == "oversell"
    created = client.post(SPLITS, json=SPLIT, headers=headers)
    assert created.status_code == 201, created.get_json()
    split = created.get_json()
    assert (split["ratio"], split["source"], split["entered_by_you"]) == ("4:1", "user", True)
    ok_txn(client, headers, "sell", "AAPL", "20", "130", "2020-09-15")
    aapl = holdings(client, headers)["AAPL"]
    assert Decimal(aapl["quantity"]) == 20 and Decimal(aapl["avg_cost"]) == 125
    assert Decimal(aapl["cost_basis"]) == 2500 and Decimal(aapl["realised_base"]) == 100
    # The ledger and its CSV keep what the user entered.
    csv = client.get("/api/v1/portfolio/export.csv", headers=headers).get_data(as_text=True)
    lines = csv.splitlines()
    assert any(line.startswith("2020-08-03,AAPL,buy,10,500,") for line in lines), lines
    assert any(line.startswith("2020-09-15,AAPL,sell,20,130,") for line in lines), lines
    assert [s["id"] for s in client.get(SPLITS, headers=headers).get_json()["items"]] == [split["id"]]
    # Deleting the split would leave the sell of 20 without its shares: refused, and kept.
    kept = client.delete(f"{SPLITS}/{split['id']}", headers=headers)
    assert kept.status_code == 422 and error(kept)["code"] == "oversell"
    assert "Without that split" in error(kept)["message"]
    assert len(client.get(SPLITS, headers=headers).get_json()["items"]) == 1
    # Another user's reads never see it: their 10 stay 10, and they cannot delete it.
    other_client, other_headers = other["client"], other["headers"]
    ok_txn(other_client, other_headers, "buy", "AAPL", "10", "500", "2020-08-03")
    assert Decimal(holdings(other_client, other_headers)["AAPL"]["quantity"]) == 10
    assert other_client.get(SPLITS, headers=other_headers).get_json()["items"] == []
    assert other_client.delete(f"{SPLITS}/{split['id']}", headers=other_headers).status_code == 404


def test_a_split_that_would_break_the_ledger_is_refused_and_nothing_is_stored(client, auth) -> None:
    headers = auth["headers"]
    ok_txn(client, headers, "buy", "SAP.DE", "10", "100", "2021-01-04")
    ok_txn(client, headers, "sell", "SAP.DE", "10", "110", "2021-06-01")
    # A 1:10 reverse split in between leaves 1 share: the sell of 10 would be an oversell.
    refused = client.post(SPLITS, json={"symbol": "SAP.DE", "ex_date": "2021-03-01", "from": 10, "to": 1},
                          headers=headers)
    assert refused.status_code == 422 and "With that split" in error(refused)["message"]
    assert client.get(SPLITS, headers=headers).get_json()["items"] == []


def test_bad_splits_get_clear_errors(client, auth) -> None:
    headers = auth["headers"]
    for body, field in ((dict(SPLIT, to=1), "ratio"), (dict(SPLIT, **{"from": 0}), "from"),
                        (dict(SPLIT, to="4"), "to"), (dict(SPLIT, ex_date="31.08.2020"), "ex_date"),
                        ({"symbol": "AAPL"}, "ex_date")):
        response = client.post(SPLITS, json=body, headers=headers)
        assert response.status_code == 400, (body, response.get_json())
        assert field in error(response)["details"]["fields"], (body, error(response))
    unknown = client.post(SPLITS, json=dict(SPLIT, symbol="NOPE.XX"), headers=headers)
    assert unknown.status_code == 404 and error(unknown)["code"] == "symbol_not_found"
    assert client.post(SPLITS, json=SPLIT, headers=headers).status_code == 201
    twice = client.post(SPLITS, json=SPLIT, headers=headers)
    assert twice.status_code == 409 and error(twice)["code"] == "conflict"


def test_an_alert_threshold_set_before_a_split_is_read_in_post_split_prices(app, client, auth) -> None:
    headers = auth["headers"]
    created = client.post("/api/v1/alerts", json={"symbol": "AAPL", "kind": "below", "threshold": "150"},
                          headers=headers)
    assert created.status_code == 201, created.get_json()
    alert_id = created.get_json()["id"]
    with app.app_context():  # set long before the split
        db.session.execute(update(Alert).where(Alert.id == alert_id)
                           .values(created_at=datetime(2020, 8, 1, tzinfo=timezone.utc)))
        db.session.commit()
        assert evaluate({"AAPL": "140"}, auth["id"]) != []  # without a split 140 is below 150
        db.session.execute(update(Alert).where(Alert.id == alert_id).values(active=True, triggered_at=None,
                                                                              triggered_price=None))
        db.session.commit()
    assert client.post(SPLITS, json=SPLIT, headers=headers).status_code == 201
    with app.app_context():
        # After 4:1 the stop at 150 is a stop at 37.5: 40 (a 160 before the split) does not fire it.
        assert evaluate({"AAPL": "40"}, auth["id"]) == []
        [fired] = evaluate({"AAPL": "37.5"}, auth["id"])
        assert fired["id"] == alert_id and fired["triggered_price"] == "37.5"
