"""Split events from the providers: Yahoo's chart events (recorded), Finnhub's /stock/split, the demo market."""
from __future__ import annotations

import asyncio
from datetime import date

from app.market.providers.demo import DemoProvider
from app.market.providers.finnhub import FinnhubProvider
from app.market.providers.http import split_ratio
from app.market.providers.yahoo import YahooProvider
from app.market.types import SplitEvent


def test_yahoo_reads_the_recorded_4_for_1_split_from_the_chart_events(stub, settings, call) -> None:
    # v8_chart_AAPL_1d_50bars_with_split_and_dividend.json: events.splits {"1598880600": numerator 4,
    # denominator 1} -- 2020-08-31 13:30 UTC, the New York open of 2020-08-31.
    events = call(YahooProvider, settings, lambda p: p.splits("AAPL", date(2020, 8, 31), date(2020, 11, 6)))
    assert events == [SplitEvent("AAPL", date(2020, 8, 31), 1, 4, "yahoo")]
    (req,) = stub.requests
    assert req.path == "/v8/finance/chart/AAPL" and req.params["events"] == "split"
    # Outside the asked days: nothing.
    assert call(YahooProvider, settings, lambda p: p.splits("AAPL", date(2020, 9, 1), date(2020, 11, 6))) == []


def test_finnhub_reads_stock_split(stub, settings, call) -> None:
    events = call(FinnhubProvider, settings, lambda p: p.splits("AAPL", date(2015, 1, 1), date(2021, 1, 1)))
    assert events == [SplitEvent("AAPL", date(2020, 8, 31), 1, 4, "finnhub")]
    assert stub.requests[0].params == {"symbol": "AAPL", "from": "2015-01-01", "to": "2021-01-01"}


def test_ratios_become_whole_shares() -> None:
    assert split_ratio(1, 4) == (1, 4) and split_ratio(10, 1) == (10, 1)
    assert split_ratio(1, 1.5) == (2, 3)  # 3-for-2
    assert split_ratio(2, 2) is None and split_ratio(0, 4) is None and split_ratio("x", 4) is None


def test_the_demo_market_has_a_split_and_a_reverse_split() -> None:
    demo = DemoProvider({})
    nvda = asyncio.run(demo.splits("NVDA", date(2000, 1, 1), date(2026, 12, 1)))
    hfg = asyncio.run(demo.splits("HFG.DE", date(2000, 1, 1), date(2026, 12, 1)))
    assert nvda == [SplitEvent("NVDA", date(2024, 6, 10), 1, 4, "demo")]
    assert hfg == [SplitEvent("HFG.DE", date(2023, 6, 12), 10, 1, "demo")]
    assert asyncio.run(demo.splits("SAP.DE", date(2000, 1, 1), date(2026, 12, 1))) == []
