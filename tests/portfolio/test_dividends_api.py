"""The dividend inbox and calendar through the API, against hand-computed amounts.

AAPL: 10 bought before the 4:1 split of 2020-08-31 are 40 after it. A dividend of 0.82 a
share (Yahoo reports it as 0.205 in today's shares) with ex-date 2020-08-07 pays 10 x 0.82 =
8.20; the one of 0.205 on 2020-11-06 pays 40 x 0.205 = 8.20 too.
"""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from app.market import corporate, research
from app.market.providers.demo import DemoProvider
from app.market.service import utc_today
from app.market.types import DividendEvent
from tests.portfolio.helpers import error, holdings, ok_txn, transactions

DIVIDENDS = "/api/v1/portfolio/dividends"
OURS = {"2020-08-07", "2020-11-06", "2024-05-17", "2025-05-16", "2024-05-16"}


def _inbox(client, headers) -> list[dict]:
    """The proposals of the events these tests store (a buy also has a worker fetch the demo market's own)."""
    return [p for p in client.get(DIVIDENDS, headers=headers).get_json()["inbox"] if p["ex_date"] in OURS]


def _store(app, splits=(), dividends=()) -> None:
    with app.app_context():
        corporate.store_events(splits)
        corporate.store_dividends(dividends)


@pytest.fixture
def aapl(app, client, auth):
    h = auth["headers"]
    assert client.patch("/api/v1/me", json={"base_currency": "USD"}, headers=h).status_code == 200
    _store(app, [("AAPL", date(2020, 8, 31), 1, 4, "yahoo")],
           [DividendEvent("AAPL", date(2020, 8, 7), 0.205, "USD", "yahoo", date(2020, 8, 13), adjusted=True),
            DividendEvent("AAPL", date(2020, 11, 6), 0.205, "USD", "yahoo", date(2020, 11, 12), adjusted=True)])
    ok_txn(client, h, "buy", "AAPL", "10", "500", "2020-08-03")
    return h


def test_each_dividend_is_proposed_on_the_shares_held_that_day_and_booked_only_when_accepted(client, aapl) -> None:
    inbox = _inbox(client, aapl)
    assert [(p["ex_date"], p["quantity"], p["amount_per_share"], p["amount"]) for p in inbox] == [
        ("2020-11-06", "40", "0.205", "8.20"), ("2020-08-07", "10", "0.82", "8.20")]
    assert inbox[0]["pay_date"] == "2020-11-12"
    assert len(transactions(client, aapl)) == 1  # nothing is booked without consent
    accepted = client.post(f"{DIVIDENDS}/accept", headers=aapl, json={"symbol": "AAPL", "ex_date": "2020-08-07"})
    assert accepted.status_code == 201, accepted.get_json()
    row = accepted.get_json()
    assert (row["kind"], row["quantity"], row["price"], row["date"], row["currency"]) == (
        "dividend", "10", "0.82", "2020-08-13", "USD")
    # Edited to what the statement says: 0.20 a share less 1.23 withheld.
    edited = client.post(f"{DIVIDENDS}/accept", headers=aapl, json={
        "symbol": "AAPL", "ex_date": "2020-11-06", "amount_per_share": "0.20", "fee": "1.23"})
    assert edited.status_code == 201 and (edited.get_json()["quantity"], edited.get_json()["price"]) == ("40", "0.2")
    assert Decimal(holdings(client, aapl)["AAPL"]["dividends_base"]) == Decimal("16.20")
    assert _inbox(client, aapl) == []
    again = client.post(f"{DIVIDENDS}/accept", headers=aapl, json={"symbol": "AAPL", "ex_date": "2020-08-07"})
    assert again.status_code == 404 and error(again)["code"] == "not_found"
    assert len(transactions(client, aapl)) == 3


def test_a_dismissed_dividend_never_comes_back(app, client, aapl) -> None:
    gone = client.post(f"{DIVIDENDS}/dismiss", headers=aapl, json={"symbol": "aapl", "ex_date": "2020-08-07"})
    assert gone.status_code == 204
    ok_txn(client, aapl, "buy", "AAPL", "1", "120", "2020-09-01")  # the ledger changes
    _store(app, dividends=[DividendEvent("AAPL", date(2020, 8, 7), 0.205, "USD", "yahoo", date(2020, 8, 13),
                                         adjusted=True)])  # and the provider reports it again
    assert [p["ex_date"] for p in _inbox(client, aapl)] == ["2020-11-06"]
    assert client.post(f"{DIVIDENDS}/dismiss", headers=aapl,
                       json={"symbol": "AAPL", "ex_date": "2020-08-07"}).status_code == 404


def test_no_proposal_without_shares_at_the_ex_date_or_when_booked_by_hand(app, client, auth) -> None:
    h = auth["headers"]
    _store(app, dividends=[DividendEvent("SAP.DE", date(2024, 5, 17), 2.2, "EUR", "demo", date(2024, 5, 21)),
                           DividendEvent("SAP.DE", date(2025, 5, 16), 2.35, "EUR", "demo", date(2025, 5, 20)),
                           DividendEvent("BMW.DE", date(2024, 5, 16), 6.0, "EUR", "demo", date(2024, 5, 20))])
    ok_txn(client, h, "buy", "SAP.DE", "10", "150", "2024-05-17")  # bought on the ex-date: not entitled
    ok_txn(client, h, "dividend", "SAP.DE", "1", "23.50", "2025-05-21")  # booked by hand after the pay date
    ok_txn(client, h, "buy", "BMW.DE", "5", "90", "2024-01-02")
    ok_txn(client, h, "sell", "BMW.DE", "5", "95", "2024-05-15")  # sold before the ex-date
    assert _inbox(client, h) == []


def test_the_calendar_shows_upcoming_dividends_and_yield_on_cost(app, client, auth) -> None:
    h, today = auth["headers"], utc_today()
    ok_txn(client, h, "buy", "SAP.DE", "10", "100", (today - timedelta(days=200)).isoformat())
    ok_txn(client, h, "dividend", "SAP.DE", "1", "25", (today - timedelta(days=100)).isoformat())
    _store(app, dividends=[DividendEvent("SAP.DE", today + timedelta(days=10), 2.0, "EUR", "demo",
                                         today + timedelta(days=13))])
    data = client.get(DIVIDENDS, headers=h).get_json()
    assert [(u["symbol"], u["quantity"], u["amount"]) for u in data["upcoming"]] == [("SAP.DE", "10", "20.00")]
    assert [(r["symbol"], r["amount"]) for r in data["received"]] == [("SAP.DE", "25.00")]
    assert data["yield_on_cost"][0]["yield_on_cost"] == pytest.approx(25 / 1000)
    assert data["total"]["yield_on_cost"] == pytest.approx(0.025)


def test_decisions_are_per_user_and_input_is_checked(client, aapl, other) -> None:
    before = client.get(DIVIDENDS, headers=aapl).get_json()["inbox_total"]
    theirs = other["client"].post(f"{DIVIDENDS}/accept", headers=other["headers"],
                                  json={"symbol": "AAPL", "ex_date": "2020-08-07"})
    assert theirs.status_code == 404  # they held no AAPL
    for body in ({"symbol": "AAPL"}, {"symbol": "AAPL", "ex_date": "someday"},
                 {"symbol": "AAPL", "ex_date": "2020-08-07", "quantity": "-1"},
                 {"symbol": "AAPL", "ex_date": "2020-08-07", "date": "2999-01-01"}):
        refused = client.post(f"{DIVIDENDS}/accept", headers=aapl, json=body)
        assert refused.status_code in (400, 422), (body, refused.get_json())
    assert client.get(DIVIDENDS, headers=aapl).get_json()["inbox_total"] == before


def test_the_demo_markets_dividends_reach_the_inbox_through_the_refresh(app, client, auth) -> None:
    # HFG.DE: 25 shares through the demo's 1:10 reverse split of 2023-06-12 are 2 (the half share is
    # paid out in cash), so its May 2024 dividend is proposed on 2 shares.
    h = auth["headers"]
    ok_txn(client, h, "buy", "HFG.DE", "25", "5", "2023-01-02")
    with app.app_context():
        research.refresh_splits(["HFG.DE"])
        research.refresh_dividends(["HFG.DE"])
    import asyncio
    expected = asyncio.run(DemoProvider({}).dividends("HFG.DE", date(2024, 5, 1), date(2024, 5, 31)))[0]
    proposal = next(p for p in client.get(DIVIDENDS, headers=h).get_json()["inbox"] if p["ex_date"].startswith("2024"))
    assert proposal["ex_date"] == expected.ex_date.isoformat() and proposal["quantity"] == "2"
    assert Decimal(proposal["amount_per_share"]) == Decimal(str(expected.amount))  # no split after it
