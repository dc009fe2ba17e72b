"""The splits job: the demo market's split events reach every holder's portfolio, and stored bars go.

Hand-computed (demo market: NVDA 4-for-1 on 2024-06-10, HFG.DE 1-for-10 on 2023-06-12):
- 10 NVDA bought at 400 (cost 4000) are 40 at 100 after the split; 20 sold at 120 realise
  20*120 - 2000 = 400 and leave 20 at 100 a share.
- 25 HFG.DE bought at 5 (cost 125) are 2.5 after the reverse split: 2 stay (cost 100, 50 a
  share) and 0.5 is paid at the ex-date's close C, realising 0.5*C - 25.
"""
from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select

from app.extensions import db
from app.jobs.data import refresh_splits
from app.market.providers.demo import DemoProvider
from app.models import PriceBar, StockSplit
from tests.conftest import register_api
from tests.jobs.conftest import jobs_app  # noqa: F401 - fixture
from tests.portfolio.helpers import error, holdings, ok_txn, txn


def test_split_events_reach_every_holder_and_stored_bars_are_dropped(jobs_app) -> None:  # noqa: F811
    # No inline compute: the split checks the buys ask for wait in the queue, so the job is what runs.
    app = jobs_app(CACHE_TTL_QUOTE=3600, JOBS_INLINE_COMPUTE=False)
    client = app.test_client()
    user = register_api(client)
    headers = user["headers"]
    ok_txn(client, headers, "buy", "NVDA", "10", "400", "2024-01-02")
    ok_txn(client, headers, "buy", "HFG.DE", "25", "5", "2023-01-02")
    early = txn(client, headers, "sell", "NVDA", "20", "120", "2024-07-01")
    assert early.status_code == 422 and error(early)["code"] == "oversell"  # the split is not known yet
    assert client.get("/api/v1/stocks/NVDA/history?range=1y", headers=headers).status_code == 200
    with app.app_context():
        stored_before = db.session.scalar(select(func.count()).select_from(PriceBar).where(PriceBar.symbol == "NVDA"))
        result = refresh_splits()
        assert result["fetched"] == 2 and result["failed"] == 0
        rows = db.session.execute(select(StockSplit.symbol, StockSplit.ex_date, StockSplit.ratio_from,
                                         StockSplit.ratio_to, StockSplit.source, StockSplit.owner)
                                  .order_by(StockSplit.symbol)).all()
        assert [tuple(r) for r in rows] == [("HFG.DE", date(2023, 6, 12), 10, 1, "demo", 0),
                                            ("NVDA", date(2024, 6, 10), 1, 4, "demo", 0)]
        assert stored_before > 0  # the history read stored bars; the new split dropped them
        assert db.session.scalar(select(func.count()).select_from(PriceBar).where(PriceBar.symbol == "NVDA")) == 0
        refresh_splits()  # again: nothing new
        assert db.session.scalar(select(func.count()).select_from(StockSplit)) == 2
    ok_txn(client, headers, "sell", "NVDA", "20", "120", "2024-07-01")
    held = holdings(client, headers)
    nvda, hfg = held["NVDA"], held["HFG.DE"]
    assert Decimal(nvda["quantity"]) == 20 and Decimal(nvda["avg_cost"]) == 100 and Decimal(nvda["cost_basis"]) == 2000
    close = Decimal(str(asyncio.run(DemoProvider({}).history("HFG.DE", date(2023, 6, 12), date(2023, 6, 12)))[0].close))
    assert Decimal(hfg["quantity"]) == 2 and Decimal(hfg["cost_basis"]) == 100 and Decimal(hfg["avg_cost"]) == 50
    assert Decimal(hfg["realised_base"]) == (Decimal("0.5") * close - 25).quantize(Decimal("0.01"))  # EUR stock, EUR base
    listed = client.get("/api/v1/portfolio/splits", headers=headers).get_json()["items"]
    assert [(s["symbol"], s["ratio"], s["source"], s["entered_by_you"]) for s in listed] == [
        ("HFG.DE", "1:10", "demo", False), ("NVDA", "4:1", "demo", False)]
    # The chart says what it shows: split-adjusted prices, and where the splits were.
    chart = client.get("/api/v1/stocks/NVDA/history?range=5y", headers=headers).get_json()
    assert chart["prices"] == "split_adjusted" and chart["splits"] == [{"ex_date": "2024-06-10", "ratio": "4:1"}]
    hfg_chart = client.get("/api/v1/stocks/HFG.DE/history?range=1y", headers=headers).get_json()
    assert hfg_chart["splits"] == [{"ex_date": "2023-06-12", "ratio": "1:10"}]
    # A provider's split is not the user's to delete.
    assert client.delete(f"/api/v1/portfolio/splits/{listed[0]['id']}", headers=headers).status_code == 404


def test_a_buy_asks_a_worker_to_look_up_its_stocks_splits(jobs_app) -> None:  # noqa: F811
    app = jobs_app(CACHE_TTL_QUOTE=3600)  # JOBS_INLINE_COMPUTE: the asked-for task runs at once, as a worker would
    client = app.test_client()
    headers = register_api(client)["headers"]
    ok_txn(client, headers, "buy", "NVDA", "10", "400", "2024-01-02")
    # Known without waiting for the six-hourly job: the pre-split 10 are 40 now.
    assert Decimal(holdings(client, headers)["NVDA"]["quantity"]) == 40
    ok_txn(client, headers, "sell", "NVDA", "40", "120", "2024-07-01")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(StockSplit)) == 1  # NVDA only: looked up once
