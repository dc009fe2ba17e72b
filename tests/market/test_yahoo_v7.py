"""Yahoo's batched quotes (v7 with a cookie and a crumb) against the stub server over real HTTP.

Expected values are read by hand from the recorded body `yahoo/v7_quote_AAPL_BABA.json`
(AAPL: regularMarketPrice 244.6, previous close 241.53, change 3.0700073 = 1.2710667 %,
volume 40896227, time 1739566800, marketState CLOSED).
"""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone

import aiohttp
import pytest

from app.market.client import ClientSettings, MarketClient
from app.market.providers.yahoo import YahooProvider, cookie_header
from app.market.types import ProviderError, Quote, RateLimitedError, SymbolNotFoundError

V7 = "/v7/finance/quote"


def paths(stub) -> list[str]:
    return [r.path for r in stub.requests]


def test_one_request_quotes_a_whole_batch(stub, settings, call):
    result = call(YahooProvider, settings, lambda p: p.quotes(["AAPL", "BABA", "NONEXIST", "MSFT"]))
    # a cookie, a crumb, then one request for all four
    assert paths(stub) == ["/fc", "/v1/test/getcrumb", V7]
    assert stub.requests[-1].params == {"symbols": "AAPL,BABA,NONEXIST,MSFT", "crumb": "***"}
    aapl = result["AAPL"]
    assert isinstance(aapl, Quote)
    assert (aapl.price, aapl.previous_close, aapl.currency) == (244.6, 241.53, "USD")
    assert aapl.change == pytest.approx(3.0700073) and aapl.change_pct == pytest.approx(1.2710667)
    assert (aapl.open, aapl.day_high, aapl.day_low, aapl.volume) == (241.07, 245.41, 241.0, 40896227)
    assert aapl.ts == datetime.fromtimestamp(1739566800, timezone.utc)
    assert aapl.market_state == "closed" and aapl.source == "yahoo"
    baba = stub.fixture_json("yahoo/v7_quote_AAPL_BABA.json")["quoteResponse"]["result"][1]
    assert result["BABA"].price == baba["regularMarketPrice"]
    assert result["MSFT"].price == stub.synthetic_price("MSFT") and result["MSFT"].symbol == "MSFT"
    assert isinstance(result["NONEXIST"], SymbolNotFoundError)


def test_the_crumb_is_kept_and_renewed_once_when_yahoo_refuses_it(stub, settings, call):
    async def body(p: YahooProvider):
        first = await p.quotes(["AAPL"])
        again = await p.quotes(["MSFT"])
        stub.expire_crumb()
        renewed = await p.quotes(["AAPL", "MSFT"])
        return first, again, renewed

    first, again, renewed = call(YahooProvider, settings, body)
    assert paths(stub) == ["/fc", "/v1/test/getcrumb", V7, V7,  # kept for the second call
                           V7, "/fc", "/v1/test/getcrumb", V7]  # 401 "Invalid Crumb": renewed, asked again
    assert first["AAPL"].price == renewed["AAPL"].price == 244.6
    assert renewed["MSFT"].price == stub.synthetic_price("MSFT")


def test_concurrent_batches_fetch_one_crumb(stub, settings, call):
    async def body(p: YahooProvider):
        return await asyncio.gather(*(p.quotes([f"S{i}A", f"S{i}B"]) for i in range(6)))

    answers = call(YahooProvider, settings, body)
    assert all(isinstance(q, Quote) for a in answers for q in a.values())
    assert paths(stub).count("/fc") == 1 and paths(stub).count("/v1/test/getcrumb") == 1
    assert paths(stub).count(V7) == 6


def test_without_a_crumb_quotes_come_from_the_chart_and_v7_rests(stub, settings, call):
    stub.override("/v1/test/getcrumb", "<html>Too Many Requests</html>", status=429, content_type="text/html")

    async def body(p: YahooProvider):
        first = await p.quotes(["AAPL", "MSFT"])
        second = await p.quotes(["AAPL"])
        return first, second

    with pytest.raises(RateLimitedError):  # a throttled crumb is a throttled provider: the client backs off
        call(YahooProvider, settings, lambda p: p.quotes(["AAPL"]))
    stub.reset()
    stub.override("/v1/test/getcrumb", "", status=403, content_type="text/plain")  # no crumb handed out
    first, second = call(YahooProvider, settings, body)
    assert sorted(paths(stub)) == sorted(["/fc", "/v1/test/getcrumb", "/v8/finance/chart/AAPL",
                                          "/v8/finance/chart/MSFT", "/v8/finance/chart/AAPL"])
    assert first["AAPL"].price == second["AAPL"].price == 244.47  # the chart fixture's price
    assert first["MSFT"].price == stub.synthetic_price("MSFT")


def test_chart_setting_never_asks_for_a_crumb(stub, settings, call):
    call(YahooProvider, {**settings, "YAHOO_QUOTE_API": "chart"}, lambda p: p.quotes(["AAPL", "MSFT"]))
    assert sorted(paths(stub)) == ["/v8/finance/chart/AAPL", "/v8/finance/chart/MSFT"]


@pytest.mark.parametrize("status", [500, 503])
def test_a_failing_batch_is_a_provider_error_without_the_crumb(stub, settings, call, status, caplog):
    stub.inject("error", path=V7, status=status)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ProviderError) as info:
        call(YahooProvider, settings, lambda p: p.quotes(["AAPL", "MSFT"]))
    assert str(status) in str(info.value)
    assert stub.crumb not in str(info.value) and stub.crumb not in caplog.text
    assert "AQABBstub" not in caplog.text  # nor the cookie


def test_a_quote_round_of_2000_symbols_is_42_requests(stub, settings):
    symbols = [f"R{i:04d}" for i in range(2000)]

    async def main():
        async with aiohttp.ClientSession() as session:
            client = MarketClient([YahooProvider({**settings, "YAHOO_CONCURRENCY": 5}, session=session)],
                                  ClientSettings(budget_s=20.0))
            try:
                return await client.fetch_quotes(symbols)
            finally:
                await client.aclose()

    result = asyncio.run(main())
    assert len(result.quotes) == 2000 and not result.errors
    assert result.quotes["R1234"].price == stub.synthetic_price("R1234")
    # ceil(2000 / 50) batches plus one cookie and one crumb, where the chart API would need 2,000.
    assert paths(stub).count(V7) == 40 and len(stub.requests) == 42


def test_cookie_header_sends_back_every_cookie():
    headers = ["A3=d=AQAB&S=AQAA; Expires=Sun, 07 Dec 2027 12:00:00 GMT; Path=/; Domain=.yahoo.com; Secure",
               "A1=x1; Path=/", "not a cookie;;;"]
    assert cookie_header(headers) == "A3=d=AQAB&S=AQAA; A1=x1"
    assert cookie_header([]) == ""
