"""Per-user bounds the mutation run found untested: 50,000 transactions, and the performance cache key."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import func, insert, select

from app.extensions import db
from app.models import Transaction
from app.portfolio.services import MAX_TRANSACTIONS
from tests.conftest import register_api
from tests.portfolio.helpers import TXN, error, ok_txn, txn

DAY = "2025-03-03"


def _fill(app, user_id: int, count: int) -> None:
    """Store `count` small buys for the user in one bulk insert (not count POSTs)."""
    row = {"user_id": user_id, "symbol": "SAP.DE", "kind": "buy", "quantity": Decimal(1), "price": Decimal(50),
           "fee": Decimal(0), "currency": "EUR", "day": date(2025, 3, 3)}
    with app.app_context():
        db.session.execute(insert(Transaction), [row] * count)
        db.session.commit()


def _count(app, user_id: int) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(Transaction.id)).where(Transaction.user_id == user_id))


def test_the_api_stores_the_fifty_thousandth_transaction_and_refuses_the_next(app, client, auth) -> None:
    _fill(app, auth["id"], MAX_TRANSACTIONS - 1)
    ok_txn(client, auth["headers"], "buy", "SAP.DE", 1, 51, DAY)  # exactly at the limit
    refused = txn(client, auth["headers"], "buy", "SAP.DE", 1, 52, DAY)
    assert refused.status_code == 409 and error(refused)["code"] == "limit_reached"
    assert str(MAX_TRANSACTIONS) in error(refused)["message"]
    assert _count(app, auth["id"]) == MAX_TRANSACTIONS == 50_000


def test_a_csv_import_may_reach_the_limit_but_not_pass_it(app, client, auth) -> None:
    h = auth["headers"]
    _fill(app, auth["id"], MAX_TRANSACTIONS - 2)
    header = "date,symbol,kind,quantity,price,fee,currency,note\n"
    three = header + "".join(f"{DAY},SAP.DE,buy,1,{60 + i},0,EUR,\n" for i in range(3))
    refused = client.post("/api/v1/portfolio/import", headers=h, data=three, content_type="text/csv")
    assert refused.status_code == 409 and error(refused)["code"] == "limit_reached"
    assert _count(app, auth["id"]) == MAX_TRANSACTIONS - 2  # all or nothing
    two = header + "".join(f"{DAY},SAP.DE,buy,1,{60 + i},0,EUR,\n" for i in range(2))
    stored = client.post("/api/v1/portfolio/import", headers=h, data=two, content_type="text/csv")
    assert stored.status_code == 200 and stored.get_json() == {"imported": 2, "skipped": 0}
    assert _count(app, auth["id"]) == MAX_TRANSACTIONS


def test_performance_differs_for_ledgers_that_differ_only_in_quantity(client, auth) -> None:
    # The cache key is a digest of the ledger: the same ids, symbols, dates and prices with another
    # quantity must not be answered from the cached payload of the first.
    h = auth["headers"]
    stored = ok_txn(client, h, "buy", "SAP.DE", 10, 50, DAY)
    before = client.get("/api/v1/portfolio/performance?range=max", headers=h).get_json()
    edited = client.put(f"{TXN}/{stored['id']}", headers=h,
                        json={"symbol": "SAP.DE", "kind": "buy", "quantity": "20", "price": "50", "date": DAY})
    assert edited.status_code == 200, edited.get_json()
    after = client.get("/api/v1/portfolio/performance?range=max", headers=h).get_json()
    # Twice the shares: every day's value and the buy's flow double.
    assert [Decimal(p["value"]) * 2 for p in before["series"]] == [Decimal(p["value"]) for p in after["series"]]
    assert Decimal(after["series"][0]["flow"]) == 2 * Decimal(before["series"][0]["flow"]) == Decimal(1000)
