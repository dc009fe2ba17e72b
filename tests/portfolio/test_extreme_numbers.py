"""Extreme decimals (issue 13 item 13): huge exponents, NaN, Infinity, "-0", long digit strings.

Every path that reads an amount (API POST and PUT of a transaction, alert thresholds, the
page forms, the CSV import) answers 400 naming the field, and stores nothing. Before the
shared parser, "1E+1000000" reached `abs()` and raised decimal.Overflow: a 500.
"""
from __future__ import annotations

from decimal import Decimal

import pytest

from app.portfolio.amounts import LIMITS, AmountError, fits, parse_amount
from tests.conftest import csrf_token
from tests.portfolio.helpers import TXN, error, ok_txn, transactions, txn

DAY = "2025-03-03"
HUGE = ("1E+1000000", "1e999999999999", "9" * 400, "1" + "0" * 20, "NaN", "sNaN", "Infinity", "-inf", "1_000",
        "١٢", "0x10", "1E+99999")


@pytest.mark.parametrize("text", HUGE)
def test_the_parser_refuses_what_is_not_a_storable_amount(text) -> None:
    with pytest.raises(AmountError):
        parse_amount(text)


def test_the_parser_reads_plain_amounts_and_bounds_them() -> None:
    assert parse_amount(" 12.50 ") == Decimal("12.50")
    assert parse_amount("1e3") == Decimal(1000) and parse_amount(2) == Decimal(2) and parse_amount(0.5) == Decimal("0.5")
    assert str(parse_amount("-0")) == "0" and str(parse_amount("-0.00")) == "0.00"  # no negative zero stored
    assert parse_amount("999999999999999.9999999999") == Decimal("999999999999999.9999999999")  # 15 + 10 digits
    assert parse_amount("1.50000000000000") == Decimal("1.5")  # extra places that are zeros
    for text in ("1000000000000000", "0.00000000001", "1E-1000000"):
        with pytest.raises(AmountError, match="At most 15 digits"):
            parse_amount(text)
    with pytest.raises(AmountError):
        parse_amount(True)
    # fits() never consults the decimal context: a huge exponent is False, not decimal.Overflow.
    assert not fits(Decimal("1E+1000000")) and not fits(Decimal("1E-1000000")) and not fits(Decimal("NaN"))


@pytest.mark.parametrize("field", ["quantity", "price", "fee"])
@pytest.mark.parametrize("value", ["1E+1000000", "1e999999999999", "NaN", "Infinity", "9" * 400])
def test_api_post_and_put_name_the_field_and_store_nothing(client, auth, field, value) -> None:
    h = auth["headers"]
    stored = ok_txn(client, h, "buy", "SAP.DE", 2, 50, DAY)
    body = {"symbol": "SAP.DE", "kind": "buy", "quantity": "1", "price": "50", "fee": "0", "date": DAY, field: value}
    for response in (client.post(TXN, json=body, headers=h), client.put(f"{TXN}/{stored['id']}", json=body, headers=h)):
        assert response.status_code == 400, response.get_json()
        assert field in error(response)["details"]["fields"]
    assert transactions(client, h) == [stored]


def test_a_json_number_too_big_for_a_float_is_a_400(client, auth) -> None:
    h = auth["headers"]
    raw = '{"symbol": "SAP.DE", "kind": "buy", "quantity": 1E+999999999999, "price": "50", "date": "%s"}' % DAY
    response = client.post(TXN, data=raw, content_type="application/json", headers=h)
    assert response.status_code == 400 and "quantity" in error(response)["details"]["fields"]
    assert transactions(client, h) == []


@pytest.mark.parametrize("body", [
    {"kind": "above", "threshold": "1E+999999999999"}, {"kind": "below", "threshold": "1E+1000000"},
    {"kind": "above", "threshold": "NaN"}, {"kind": "take_profit", "threshold_pct": "1E+999999999999"},
    {"kind": "stop_loss", "threshold_pct": "Infinity"}, {"kind": "stop_loss", "threshold_pct": "1E-1000000"}])
def test_alert_thresholds_name_the_field_and_store_nothing(client, auth, body) -> None:
    h = auth["headers"]
    ok_txn(client, h, "buy", "SAP.DE", 2, 50, DAY)
    response = client.post("/api/v1/alerts", json={"symbol": "SAP.DE", **body}, headers=h)
    assert response.status_code == 400, response.get_json()
    field = "threshold" if "threshold" in body else "threshold_pct"
    assert field in error(response)["details"]["fields"]
    assert client.get("/api/v1/alerts", headers=h).get_json() == []


@pytest.mark.parametrize("field", ["quantity", "price", "fee"])
def test_the_transaction_form_shows_the_message_and_stores_nothing(client, page_user, field) -> None:
    token = csrf_token(client, "/portfolio")
    form = {"csrf_token": token, "date": DAY, "symbol": "SAP.DE", "kind": "buy", "quantity": "1", "price": "50",
            "fee": "", "note": "", field: "1E+1000000"}
    response = client.post("/portfolio/transactions", data=form)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert str(LIMITS) in page and 'aria-invalid="true"' in page
    assert transactions(client, page_user["headers"]) == []


@pytest.mark.parametrize("field", ["threshold", "threshold_pct"])
def test_the_alert_form_shows_the_message_and_stores_nothing(client, page_user, field) -> None:
    ok_txn(client, page_user["headers"], "buy", "SAP.DE", 2, 50, DAY)
    token = csrf_token(client, "/alerts")
    form = {"csrf_token": token, "symbol": "SAP.DE", "kind": "stop_loss", "threshold": "", "threshold_pct": "",
            field: "1E+999999999999"}
    page = client.post("/alerts", data=form, follow_redirects=True).get_data(as_text=True)
    assert f"{ {'threshold': 'Price', 'threshold_pct': '% from cost'}[field]}: {LIMITS}" in page  # the form's labels
    assert client.get("/api/v1/alerts", headers=page_user["headers"]).get_json() == []


@pytest.mark.parametrize("column", ["quantity", "price", "fee"])
def test_the_csv_import_names_the_line_and_the_field(client, auth, column) -> None:
    h = auth["headers"]
    values = {"quantity": "1", "price": "50", "fee": "0", column: "1E+1000000"}
    csv = ("date,symbol,kind,quantity,price,fee,currency,note\n"
           f"{DAY},SAP.DE,buy,1,50,0,EUR,fine\n"
           f"{DAY},SAP.DE,buy,{values['quantity']},{values['price']},{values['fee']},EUR,\n")
    response = client.post("/api/v1/portfolio/import", headers=h, data=csv, content_type="text/csv")
    assert response.status_code == 400, response.get_json()
    assert error(response)["details"]["rows"] == {"3": {column: [str(LIMITS)]}}
    assert transactions(client, h) == []
