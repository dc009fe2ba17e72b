"""Dividend events from the recorded Yahoo chart and the demo market, and how they are stored."""
from __future__ import annotations

import asyncio
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

from app.market import corporate
from app.market.providers.demo import DemoProvider, SPLIT_EVENTS
from app.market.providers.yahoo import parse_chart_dividends
from app.market.types import DividendEvent
from app.models import DividendEvent as StoredDividend
from app.extensions import db

FIXTURE = Path(__file__).resolve().parents[3] / "shared/fixtures/providers/yahoo/" \
    "v8_chart_AAPL_1d_50bars_with_split_and_dividend.json"


def test_yahoo_chart_events_give_the_dividend_with_its_exchange_date_and_currency() -> None:
    result = json.loads(FIXTURE.read_text())["chart"]["result"][0]
    # events.dividends {"1604673000": {"amount": 0.205, ...}}: 2020-11-06 09:30 in New York.
    assert parse_chart_dividends(result, "AAPL", date(2020, 8, 1), date(2020, 12, 31)) == [
        DividendEvent("AAPL", date(2020, 11, 6), 0.205, "USD", "yahoo", adjusted=True)]
    assert parse_chart_dividends(result, "AAPL", date(2020, 11, 7), date(2020, 12, 31)) == []


def test_the_demo_market_pays_deterministically_and_its_splitters_pay_too() -> None:
    demo = DemoProvider({})
    first = asyncio.run(demo.dividends("MSFT", date(2020, 1, 1), date(2024, 12, 31)))
    assert first == asyncio.run(DemoProvider({}).dividends("MSFT", date(2020, 1, 1), date(2024, 12, 31)))
    assert [e.ex_date.month for e in first[:4]] == [2, 5, 8, 11]  # US-listed: quarterly
    assert all(e.ex_date.weekday() < 5 and e.pay_date > e.ex_date and e.amount > 0 for e in first)
    for symbol in SPLIT_EVENTS:
        assert asyncio.run(demo.dividends(symbol, date(2020, 1, 1), date(2025, 12, 31)))


def test_amounts_in_todays_shares_are_stored_in_the_ex_dates_shares_and_updated_not_doubled(app) -> None:
    with app.app_context():
        corporate.store_events([("NVDA", date(2024, 6, 10), 1, 4, "demo")])
        event = DividendEvent("NVDA", date(2024, 3, 5), 0.004, "USD", "yahoo", date(2024, 3, 27), adjusted=True)
        assert corporate.store_dividends([event]) == 1
        assert corporate.store_dividends([event]) == 0  # the same again changes nothing
        assert corporate.dividends_for(["NVDA"])[0].amount == Decimal("0.016")  # 4 x 0.004, before the split
        final = DividendEvent("NVDA", date(2024, 3, 5), 0.01, "USD", "finnhub", date(2024, 3, 28))
        assert corporate.store_dividends([final]) == 1
        stored = corporate.dividends_for(["NVDA"])
        assert [(e.amount, e.pay_date) for e in stored] == [(Decimal("0.01"), date(2024, 3, 28))]
        assert corporate.store_dividends([DividendEvent("NVDA", date(2024, 9, 1), -1.0, "USD", "x")]) == 0
        db.session.query(StoredDividend).delete()
        db.session.commit()
