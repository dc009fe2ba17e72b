"""Implausible transaction dates (issue 13 item 12): refused on every path, harmless when already stored."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from app.extensions import db
from app.market.service import utc_today
from app.models import Transaction
from tests.conftest import csrf_token
from tests.portfolio.helpers import TXN, error, ok_txn, transactions, txn

BOUND = "Must be on or after 1970-01-01."


@pytest.mark.parametrize("day", ["0001-01-01", "1950-01-01", "1969-12-31"])
def test_the_api_refuses_dates_before_1970_naming_the_field(client, auth, day) -> None:
    h = auth["headers"]
    response = txn(client, h, "buy", "SAP.DE", 1, 50, day)
    assert response.status_code == 400
    assert error(response)["details"]["fields"] == {"date": [BOUND]}
    stored = ok_txn(client, h, "buy", "SAP.DE", 1, 50, "1970-01-01")  # the bound itself is fine
    edit = client.put(f"{TXN}/{stored['id']}", headers=h,
                      json={"symbol": "SAP.DE", "kind": "buy", "quantity": "1", "price": "50", "date": day})
    assert edit.status_code == 400 and error(edit)["details"]["fields"] == {"date": [BOUND]}
    assert transactions(client, h) == [stored]


def test_the_api_refuses_a_future_date(client, auth) -> None:
    tomorrow = (utc_today() + timedelta(days=1)).isoformat()
    response = txn(client, auth["headers"], "buy", "SAP.DE", 1, 50, tomorrow)
    assert response.status_code == 400
    assert error(response)["details"]["fields"] == {"date": ["Must not be in the future."]}


def test_the_form_shows_the_bound_next_to_the_date(client, page_user) -> None:
    token = csrf_token(client, "/portfolio")
    response = client.post("/portfolio/transactions", data={
        "csrf_token": token, "date": "1950-01-01", "symbol": "SAP.DE", "kind": "buy", "quantity": "1",
        "price": "50", "fee": "", "note": ""})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert f'aria-invalid="true">\n          <small class="field-error">{BOUND}</small>' in page
    assert transactions(client, page_user["headers"]) == []


def test_the_csv_import_names_the_line(client, auth) -> None:
    csv = ("date,symbol,kind,quantity,price,fee,currency,note\n2024-03-01,SAP.DE,buy,1,50,0,EUR,\n"
           "0001-01-01,SAP.DE,buy,1,50,0,EUR,\n")
    response = client.post("/api/v1/portfolio/import", headers=auth["headers"], data=csv, content_type="text/csv")
    assert response.status_code == 400
    assert error(response)["details"]["rows"] == {"3": {"date": [BOUND]}}
    assert transactions(client, auth["headers"]) == []


def test_absurd_dates_already_stored_do_not_break_any_read(app, client, page_user) -> None:
    # Rows stored before the check (or by hand): 0001-01-01 made every read an OverflowError (a 500).
    h = page_user["headers"]
    with app.app_context():
        for day in (date(1, 1, 1), date(9999, 12, 31)):
            db.session.add(Transaction(user_id=page_user["id"], symbol="SAP.DE", kind="buy", quantity=Decimal(2),
                                       price=Decimal(50), fee=Decimal(0), currency="EUR", day=day))
        db.session.commit()
    for path in ("/api/v1/portfolio", "/api/v1/portfolio/performance?range=max",
                 "/api/v1/portfolio/performance?range=1y", "/api/v1/portfolio/allocation"):
        response = client.get(path, headers=h)
        assert response.status_code == 200, (path, response.get_json())
    assert client.get("/api/v1/portfolio", headers=h).get_json()["holdings"][0]["quantity"] == "4"
    performance = client.get("/api/v1/portfolio/performance?range=max", headers=h).get_json()
    assert min(performance["monthly"]) == "1970"  # valued from the bound, not 2,000 years of rows
    assert performance["series"][0]["date"] == "1970-01-01"
    page = client.get("/portfolio")
    assert page.status_code == 200 and "0001-01-01" in page.get_data(as_text=True)  # shown as stored
    assert [t["date"] for t in transactions(client, h)] == ["0001-01-01", "9999-12-31"]
