"""Price alerts: creation (a price or a % from cost), validation, firing once, re-arming, evaluate()."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from app.alerts.services import evaluate
from tests.conftest import register_api
from tests.portfolio.helpers import error, ok_txn, quote_price

ALERTS = "/api/v1/alerts"
D = Decimal


def _create(client, headers, **body):
    return client.post(ALERTS, json=body, headers=headers)


def _ok(client, headers, **body) -> dict:
    response = _create(client, headers, **body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _list(client, headers) -> dict[int, dict]:
    response = client.get(ALERTS, headers=headers)
    assert response.status_code == 200
    return {a["id"]: a for a in response.get_json()}


def test_endpoints_need_a_token(client) -> None:
    assert client.get(ALERTS).status_code == 401
    assert client.post(ALERTS, json={"symbol": "SAP.DE", "kind": "above", "threshold": "1"}).status_code == 401


def test_create_each_kind_at_a_price(client, auth) -> None:
    h = auth["headers"]
    # Thresholds far from any demo price, so none of them fires while the list is read.
    made = [_ok(client, h, symbol="sap.de", kind="above", threshold="100000"),
            _ok(client, h, symbol="SAP.DE", kind="below", threshold="0.5"),
            _ok(client, h, symbol="ADS.DE", kind="stop_loss", threshold="0.25"),
            _ok(client, h, symbol="AAPL", kind="take_profit", threshold="99999.12345")]
    assert [(a["symbol"], a["kind"], a["active"], a["triggered_at"]) for a in made] == [
        ("SAP.DE", "above", True, None), ("SAP.DE", "below", True, None), ("ADS.DE", "stop_loss", True, None),
        ("AAPL", "take_profit", True, None)]
    # Thresholds are kept to 4 decimal places: 99999.12345 -> 99999.1234 (half-even).
    assert [D(a["threshold"]) for a in made] == [D("100000"), D("0.5"), D("0.25"), D("99999.1234")]
    listed = client.get(ALERTS, headers=h).get_json()
    assert [a["id"] for a in listed] == [a["id"] for a in reversed(made)]  # newest first
    assert all(a["active"] for a in listed)


def test_percent_from_cost(client, auth) -> None:
    h = auth["headers"]
    ok_txn(client, h, "buy", "SAP.DE", 10, 100, "2025-03-03", fee=5)
    # Average cost = (10 * 100 + 5) / 10 = 100.50.
    stop = _ok(client, h, symbol="SAP.DE", kind="stop_loss", threshold_pct="10")
    # stop-loss 10 % below cost: 100.50 * (1 - 10/100) = 100.50 * 0.9 = 90.45
    assert D(stop["threshold"]) == D("90.45") and D(stop["threshold_pct"]) == 10
    take = _ok(client, h, symbol="SAP.DE", kind="take_profit", threshold_pct="25")
    # take-profit 25 % above cost: 100.50 * 1.25 = 125.625
    assert D(take["threshold"]) == D("125.625")
    ok_txn(client, h, "buy", "ADS.DE", 3, 100, "2025-03-03", fee=1)
    # Average cost = 301 / 3 = 100.3333...; 7.5 % below: 100.3333... * 0.925 = 92.808333... -> 92.8083 (4 places)
    odd = _ok(client, h, symbol="ADS.DE", kind="stop_loss", threshold_pct="7.5")
    assert D(odd["threshold"]) == D("92.8083")
    # Take-profit may go up to 1000 %: 100.50 * (1 + 1000/100) = 1105.5
    assert D(_ok(client, h, symbol="SAP.DE", kind="take_profit", threshold_pct="1000")["threshold"]) == D("1105.5")


def test_percent_from_cost_needs_a_holding(client, auth) -> None:
    h = auth["headers"]
    none = _create(client, h, symbol="SAP.DE", kind="stop_loss", threshold_pct="10")
    assert none.status_code == 422 and error(none)["code"] == "no_holding"
    # Sold out is no holding either.
    ok_txn(client, h, "buy", "SAP.DE", 2, 100, "2025-03-03")
    ok_txn(client, h, "sell", "SAP.DE", 2, 110, "2025-03-04")
    gone = _create(client, h, symbol="SAP.DE", kind="take_profit", threshold_pct="10")
    assert gone.status_code == 422 and error(gone)["code"] == "no_holding"
    assert client.get(ALERTS, headers=h).get_json() == []


INVALID = [
    ({"kind": "above", "threshold": "10", "threshold_pct": "5"}, 400, "threshold"),        # both
    ({"kind": "above"}, 400, "threshold"),                                                  # neither
    ({"kind": "above", "threshold_pct": "5"}, 400, "threshold_pct"),                        # % is for SL/TP only
    ({"kind": "below", "threshold_pct": "5"}, 400, "threshold_pct"),
    ({"kind": "stop_loss", "threshold_pct": "100"}, 400, "threshold_pct"),                  # a stop-loss < 100 %
    ({"kind": "stop_loss", "threshold_pct": "0"}, 400, "threshold_pct"),
    ({"kind": "take_profit", "threshold_pct": "1000.01"}, 400, "threshold_pct"),
    ({"kind": "sideways", "threshold": "10"}, 400, "kind"),
    ({"kind": "above", "threshold": "0"}, 400, "threshold"),
    ({"kind": "above", "threshold": "-3"}, 400, "threshold"),
    ({"kind": "above", "threshold": "ten"}, 400, "threshold"),
    ({"kind": "above", "threshold": "NaN"}, 400, "threshold"),
    ({"kind": "above", "threshold": "10", "symbol": "NOPE.XX"}, 404, None),
    ({"kind": "above", "threshold": "10", "symbol": ""}, 400, "symbol"),
]


def test_invalid_alerts(client, auth) -> None:
    h = auth["headers"]
    ok_txn(client, h, "buy", "SAP.DE", 10, 100, "2025-03-03")  # so a % from cost would be computable
    for body, status, field in INVALID:
        response = _create(client, h, **{"symbol": "SAP.DE", **body})
        assert response.status_code == status, (body, response.get_json())
        err = error(response)
        if field:
            assert err["code"] == "validation_error" and field in err["details"]["fields"], (body, err)
        else:
            assert err["code"] == "symbol_not_found"
    assert client.get(ALERTS, headers=h).get_json() == []
    # The same stop-loss with a valid % is accepted (the cases above fail for their own reason only).
    assert _create(client, h, symbol="SAP.DE", kind="stop_loss", threshold_pct="5").status_code == 201


def test_an_alert_met_by_the_quote_fires_once_and_can_be_rearmed(client, auth) -> None:
    h = auth["headers"]
    price = quote_price(client, h, "SAP.DE")
    met = _ok(client, h, symbol="SAP.DE", kind="above", threshold=str(price / 2))      # price >= price/2
    exact = _ok(client, h, symbol="SAP.DE", kind="below", threshold=str(price))       # price <= price: met
    unmet = _ok(client, h, symbol="SAP.DE", kind="below", threshold=str(price / 2))   # price > price/2
    listed = _list(client, h)
    for alert in (listed[met["id"]], listed[exact["id"]]):
        assert alert["active"] is False and alert["triggered_at"] is not None
        assert D(alert["triggered_price"]) == price
    assert listed[unmet["id"]]["active"] is True and listed[unmet["id"]]["triggered_at"] is None
    # Reading again does not fire it a second time: the first firing's time and price stay.
    again = _list(client, h)
    assert again[met["id"]]["triggered_at"] == listed[met["id"]]["triggered_at"]
    assert again[exact["id"]] == listed[exact["id"]]
    # Re-arming makes it active again, with the firing cleared ...
    rearmed = client.post(f"{ALERTS}/{met['id']}/rearm", headers=h)
    assert rearmed.status_code == 200
    assert {k: rearmed.get_json()[k] for k in ("active", "triggered_at", "triggered_price")} == {
        "active": True, "triggered_at": None, "triggered_price": None}
    # ... and since the price still meets it, the next check fires it anew.
    fired_again = _list(client, h)[met["id"]]
    assert fired_again["active"] is False and D(fired_again["triggered_price"]) == price
    first_fired = datetime.fromisoformat(listed[met["id"]]["triggered_at"])
    assert datetime.fromisoformat(fired_again["triggered_at"]) >= first_fired
    assert client.post(f"{ALERTS}/999999/rearm", headers=h).status_code == 404


def test_delete(client, auth) -> None:
    h = auth["headers"]
    alert = _ok(client, h, symbol="SAP.DE", kind="above", threshold="100000")
    assert client.delete(f"{ALERTS}/{alert['id']}", headers=h).status_code == 204
    assert client.get(ALERTS, headers=h).get_json() == []
    assert client.delete(f"{ALERTS}/{alert['id']}", headers=h).status_code == 404


def test_evaluate_fires_only_matching_alerts_once(app, client, auth) -> None:
    user_b = register_api(client)
    h, b = auth["headers"], user_b["headers"]
    # Thresholds no live demo quote reaches, so only evaluate() can fire them.
    a_above = _ok(client, h, symbol="SAP.DE", kind="above", threshold="100000")
    a_below = _ok(client, h, symbol="SAP.DE", kind="below", threshold="0.5")
    a_other = _ok(client, h, symbol="ALV.DE", kind="above", threshold="100000")
    b_stop = _ok(client, b, symbol="SAP.DE", kind="stop_loss", threshold="0.6")
    b_take = _ok(client, b, symbol="ADS.DE", kind="take_profit", threshold="100000")
    with app.app_context():
        assert evaluate({}) == []
        # SAP.DE at 100000 meets only "above 100000" (at or above); ALV.DE has no price here.
        fired = evaluate({"SAP.DE": 100000})
        assert [(f["id"], f["symbol"], f["kind"], f["threshold"], f["triggered_price"]) for f in fired] == [
            (a_above["id"], "SAP.DE", "above", "100000", "100000")]
        assert evaluate({"SAP.DE": 100000}) == []  # already fired
        # 0.55 is at or below B's stop at 0.6 but above A's 0.5; restricted to user B's alerts anyway.
        fired = evaluate({"SAP.DE": "0.55", "ADS.DE": 1}, user_id=user_b["id"])
        assert [f["id"] for f in fired] == [b_stop["id"]]
        fired = evaluate({"SAP.DE": "0.4", "ADS.DE": "100000"})
        assert sorted(f["id"] for f in fired) == sorted([a_below["id"], b_take["id"]])
        assert evaluate({"SAP.DE": "0.4", "ADS.DE": "100000", "ALV.DE": 1}) == []
    mine = _list(client, h)
    assert [mine[a["id"]]["active"] for a in (a_above, a_below, a_other)] == [False, False, True]
    assert D(mine[a_above["id"]]["triggered_price"]) == 100000 and D(mine[a_below["id"]]["triggered_price"]) == D("0.4")


def test_a_threshold_that_rounds_to_zero_is_refused(client, auth) -> None:
    response = _create(client, auth["headers"], symbol="SAP.DE", kind="above", threshold="0.00001")
    assert response.status_code == 400 and "threshold" in error(response)["details"]["fields"]


def test_a_threshold_too_large_is_400_not_500(client, auth) -> None:
    response = _create(client, auth["headers"], symbol="SAP.DE", kind="above", threshold="1e30")
    assert response.status_code == 400 and "threshold" in error(response)["details"]["fields"]
