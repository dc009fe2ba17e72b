"""YahooProvider against the stub server over real HTTP on 127.0.0.1."""
from __future__ import annotations

import time
from datetime import date, datetime, timedelta, timezone

import pytest

from tests.market.conftest import single_quote

from app.market.providers.base import DIVIDENDS, FX, HISTORY, QUOTES, SEARCH, SPLITS, provider_class
from app.market.providers.yahoo import YahooProvider
from app.market.types import Bar, ProviderError, Quote, RateLimitedError, SymbolNotFoundError

CHART_1D = "yahoo/v8_chart_AAPL_range_1d.json"
CHART_50 = "yahoo/v8_chart_AAPL_1d_50bars_with_split_and_dividend.json"


@pytest.fixture
def settings(settings):
    """The chart API's quotes (one request per symbol), Yahoo's fallback; test_yahoo_v7.py has the batches."""
    return {**settings, "YAHOO_QUOTE_API": "chart"}


def quote_of(call, settings, symbol="AAPL"):
    """Fetch one yahoo quote; raise the per-symbol error if there is one."""
    return single_quote(call, YahooProvider, settings, symbol)


def test_registered_and_declares_capabilities():
    assert provider_class("yahoo") is YahooProvider
    assert YahooProvider.capabilities == {QUOTES, HISTORY, FX, SEARCH, SPLITS, DIVIDENDS}


def test_quote_matches_chart_meta(stub, settings, call):
    meta = stub.fixture_json(CHART_1D)["chart"]["result"][0]["meta"]
    q = quote_of(call, settings)
    assert isinstance(q, Quote)
    assert q.price == meta["regularMarketPrice"] == 244.47
    assert q.previous_close == meta["chartPreviousClose"] == 244.6
    assert q.change == pytest.approx(244.47 - 244.6)
    assert q.change_pct == pytest.approx((244.47 - 244.6) / 244.6 * 100)
    assert q.currency == "USD"
    assert q.volume == meta["regularMarketVolume"] == 48158313
    assert q.ts == datetime.fromtimestamp(1739912400, timezone.utc)
    assert (q.day_high, q.day_low) == (245.18, 241.84)
    assert q.open == 244.14999389648438
    assert q.source == "yahoo"
    assert q.market_state == "closed"  # the recorded trading period is in the past


def test_quote_request_uses_v8_chart(stub, settings, call):
    quote_of(call, settings)
    (req,) = stub.requests
    assert req.path == "/v8/finance/chart/AAPL"
    assert req.params == {"interval": "1d", "range": "1d"}


def test_batch_mixes_quotes_and_unknown_symbol(stub, settings, call):
    result = call(YahooProvider, settings, lambda p: p.quotes(["AAPL", "NONEXIST", "MSFT"]))
    assert set(result) == {"AAPL", "NONEXIST", "MSFT"}
    assert result["AAPL"].price == 244.47
    assert result["MSFT"].price == stub.synthetic_price("MSFT")
    assert result["MSFT"].symbol == "MSFT"
    err = result["NONEXIST"]
    assert isinstance(err, SymbolNotFoundError) and not isinstance(err, ProviderError)
    assert err.symbol == "NONEXIST" and err.provider == "yahoo"


def test_unknown_symbol_alone_is_returned_not_raised(stub, settings, call):
    result = call(YahooProvider, settings, lambda p: p.quotes(["NONEXIST"]))
    assert isinstance(result["NONEXIST"], SymbolNotFoundError)


def test_concurrency_is_bounded_by_limits(stub, settings, call):
    stub.latency_ms = 60
    symbols = [f"SYM{i}" for i in range(12)]
    result = call(YahooProvider, {**settings, "YAHOO_CONCURRENCY": 3}, lambda p: p.quotes(symbols))
    assert all(isinstance(result[s], Quote) for s in symbols)
    assert stub.request_count == 12
    assert 2 <= stub.max_in_flight <= 3


def test_rate_limit_bucket_spaces_requests(stub, settings, call):
    # 10/s with a burst of 10: 14 requests need at least 4 waits of 0.1 s
    started = time.monotonic()
    call(YahooProvider, {**settings, "YAHOO_RATE_PER_S": 10}, lambda p: p.quotes([f"S{i}" for i in range(14)]))
    assert time.monotonic() - started >= 0.35
    assert stub.request_count == 14


def test_history_parses_unadjusted_bars_in_order(stub, settings, call):
    result = stub.fixture_json(CHART_50)["chart"]["result"][0]
    quote = result["indicators"]["quote"][0]
    bars = call(YahooProvider, settings, lambda p: p.history("AAPL", date(2020, 8, 31), date(2020, 11, 6)))
    assert len(bars) == len(result["timestamp"]) == 49
    assert bars[0].date == date(2020, 8, 31) and bars[-1].date == date(2020, 11, 6)
    assert [b.date for b in bars] == sorted(b.date for b in bars)
    for i in (0, 10, 48):
        assert bars[i] == Bar(bars[i].date, quote["open"][i], quote["high"][i], quote["low"][i],
                              quote["close"][i], quote["volume"][i])
    # split day: the split-adjusted (not dividend-adjusted) close, not adjclose
    assert bars[0].close == 129.0399932861328
    assert bars[0].close != result["indicators"]["adjclose"][0]["adjclose"][0]


def test_history_request_pads_the_period(stub, settings, call):
    call(YahooProvider, settings, lambda p: p.history("AAPL", date(2020, 9, 1), date(2020, 9, 30)))
    (req,) = stub.requests
    assert req.path == "/v8/finance/chart/AAPL"
    assert int(req.params["period1"]) <= int(datetime(2020, 9, 1, tzinfo=timezone.utc).timestamp())
    assert int(req.params["period2"]) >= int(datetime(2020, 10, 1, tzinfo=timezone.utc).timestamp())
    assert req.params["interval"] == "1d"


def test_history_filters_to_requested_dates(stub, settings, call):
    bars = call(YahooProvider, settings, lambda p: p.history("AAPL", date(2020, 9, 1), date(2020, 9, 4)))
    assert [b.date for b in bars] == [date(2020, 9, 1), date(2020, 9, 2), date(2020, 9, 3), date(2020, 9, 4)]
    assert bars[0].close == 134.17999267578125


def test_history_skips_null_rows(stub, settings, call):
    data = stub.fixture_json(CHART_50)
    quote = data["chart"]["result"][0]["indicators"]["quote"][0]
    quote["close"][2] = None
    quote["volume"][3] = None
    stub.override("/v8/finance/chart/AAPL", data)
    bars = call(YahooProvider, settings, lambda p: p.history("AAPL", date(2020, 8, 31), date(2020, 11, 6)))
    assert len(bars) == 48
    assert date(2020, 9, 2) not in [b.date for b in bars]
    assert bars[2].date == date(2020, 9, 3) and bars[2].volume is None


def test_history_uses_exchange_local_dates(stub, settings, call):
    data = stub.fixture_json(CHART_50)
    result = data["chart"]["result"][0]
    result["meta"].update(exchangeTimezoneName="Asia/Tokyo", gmtoffset=32400, currency="JPY")
    # 2020-08-31 23:00 UTC is 2020-09-01 08:00 in Tokyo
    result["timestamp"] = [1598914800]
    for key in ("open", "high", "low", "close", "volume"):
        result["indicators"]["quote"][0][key] = result["indicators"]["quote"][0][key][:1]
    stub.override("/v8/finance/chart/7203.T", data)
    bars = call(YahooProvider, settings, lambda p: p.history("7203.T", date(2020, 9, 1), date(2020, 9, 1)))
    assert [b.date for b in bars] == [date(2020, 9, 1)]


def test_history_unknown_symbol_raises(stub, settings, call):
    with pytest.raises(SymbolNotFoundError):
        call(YahooProvider, settings, lambda p: p.history("NONEXIST", date(2020, 9, 1), date(2020, 9, 30)))


def test_history_without_bars_is_empty(stub, settings, call):
    data = stub.fixture_json(CHART_50)
    result = data["chart"]["result"][0]
    del result["timestamp"]
    result["indicators"] = {"quote": [{}], "adjclose": [{}]}
    stub.override("/v8/finance/chart/AAPL", data)
    assert call(YahooProvider, settings, lambda p: p.history("AAPL", date(2021, 1, 1), date(2021, 1, 2))) == []


def test_search_maps_hits_and_skips_non_tickers(stub, settings, call):
    hits = call(YahooProvider, settings, lambda p: p.search("AAPL", limit=10))
    expected = [q for q in stub.fixture_json("yahoo/v1_search_AAPL.json")["quotes"] if q.get("symbol")]
    assert [h.symbol for h in hits] == [q["symbol"] for q in expected]
    first = hits[0]
    assert (first.symbol, first.name, first.exchange, first.kind, first.source) == (
        "AAPL", "Apple Inc.", "NASDAQ", "EQUITY", "yahoo")
    assert stub.requests[0].path == "/v1/finance/search" and stub.requests[0].params["q"] == "AAPL"
    assert len(call(YahooProvider, settings, lambda p: p.search("AAPL", limit=2))) == 2


def test_search_unknown_query_is_empty(stub, settings, call):
    assert call(YahooProvider, settings, lambda p: p.search("NONEXIST")) == []


@pytest.mark.parametrize("retry_after, expected", [(7, 7.0), (None, None)])
def test_429_raises_rate_limited_with_retry_after(stub, settings, call, retry_after, expected):
    stub.rate_limit_next(1, retry_after=retry_after)
    with pytest.raises(RateLimitedError) as info:
        quote_of(call, settings)
    assert info.value.retry_after_s == expected
    assert info.value.provider == "yahoo"


def test_429_retry_after_as_http_date(stub, settings, call):
    stub.rate_limit_next(1, retry_after="Wed, 21 Oct 2015 07:28:00 GMT")  # in the past → 0
    with pytest.raises(RateLimitedError) as info:
        quote_of(call, settings)
    assert info.value.retry_after_s == 0.0


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_raises_provider_error(stub, settings, call, status):
    stub.error_next(1, status=status)
    with pytest.raises(ProviderError) as info:
        quote_of(call, settings)
    assert not isinstance(info.value, (RateLimitedError, SymbolNotFoundError))
    assert str(status) in str(info.value)


def test_one_failure_in_a_batch_stays_per_symbol(stub, settings, call):
    stub.error_next(1, status=500)
    result = call(YahooProvider, {**settings, "YAHOO_CONCURRENCY": 1}, lambda p: p.quotes(["A1", "A2", "A3"]))
    errors = [v for v in result.values() if isinstance(v, Exception)]
    assert len(errors) == 1 and isinstance(errors[0], ProviderError)
    assert sum(isinstance(v, Quote) for v in result.values()) == 2


def test_hang_times_out_within_budget(stub, settings, call):
    stub.hang_next(1, seconds=10)
    started = time.monotonic()
    with pytest.raises(ProviderError, match="timeout") as info:
        quote_of(call, {**settings, "YAHOO_TIMEOUT_S": 0.5})
    assert time.monotonic() - started < 2.0
    assert "?" not in str(info.value)  # no query string in the message


@pytest.mark.parametrize("mode", ["cut", "disconnect"])
def test_truncated_body_raises_provider_error(stub, settings, call, mode):
    stub.truncate_next(1, mode=mode)
    with pytest.raises(ProviderError) as info:
        quote_of(call, settings)
    assert not isinstance(info.value, SymbolNotFoundError)


def test_malformed_body_raises_provider_error(stub, settings, call):
    stub.malformed_next(1)
    with pytest.raises(ProviderError, match="malformed"):
        quote_of(call, settings)


def test_connection_refused_raises_provider_error(call, settings):
    import socket

    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ProviderError, match="connection error"):
        quote_of(call, {**settings, "YAHOO_BASE_URL": f"http://127.0.0.1:{port}"})


def test_limits_from_settings():
    provider = YahooProvider({"YAHOO_TIMEOUT_S": "1.5", "YAHOO_BATCH_SIZE": "4"})
    assert provider.limits.timeout_s == 1.5 and provider.limits.batch_size == 4
    assert YahooProvider().base_url == "https://query2.finance.yahoo.com"
    assert provider.available()


def test_hundreds_of_synthesised_symbols(stub, settings, call):
    symbols = [f"B{i:03d}" for i in range(300)]
    result = call(YahooProvider, {**settings, "YAHOO_CONCURRENCY": 20}, lambda p: p.quotes(symbols))
    assert [result[s].price for s in symbols] == [stub.synthetic_price(s) for s in symbols]
    assert stub.request_count == 300 and stub.max_in_flight <= 20


def test_history_of_synthesised_symbol_outside_the_recordings(stub, settings, call):
    bars = call(YahooProvider, settings, lambda p: p.history("XYZ", date(2024, 1, 1), date(2024, 12, 31)))
    assert len(bars) == 262  # weekdays of 2024
    assert bars[0].date == date(2024, 1, 1) and bars[-1].date == date(2024, 12, 31)
    assert all(b.low <= min(b.open, b.close) <= max(b.open, b.close) <= b.high for b in bars)


# -- exchange rates from the pair charts (EURUSD=X) ---------------------------------------------

FX_START, FX_END = date(2026, 3, 2), date(2026, 3, 15)  # Monday to the second Sunday after


def test_fx_history_is_the_pair_chart(stub, settings, call):
    rates = call(YahooProvider, settings, lambda p: p.fx_history("EUR", "USD", FX_START, FX_END))
    bars = call(YahooProvider, settings, lambda p: p.history("EURUSD=X", FX_START, FX_END))
    assert stub.requests[0].path == "/v8/finance/chart/EURUSD=X"
    assert sorted(rates) == [b.date for b in bars] and len(rates) == 10  # the pair trades on weekdays
    assert all(rates[b.date] == b.close for b in bars)


def test_minor_units_scale_from_their_currency(stub, settings, call):
    gbp = call(YahooProvider, settings, lambda p: p.fx_history("GBP", "USD", FX_START, FX_END))
    pence = call(YahooProvider, settings, lambda p: p.fx_history("GBX", "USD", FX_START, FX_END))
    assert {r.path for r in stub.requests} == {"/v8/finance/chart/GBPUSD=X"}
    assert pence.keys() == gbp.keys() and all(pence[d] == pytest.approx(gbp[d] / 100) for d in gbp)
    usd_gbp = call(YahooProvider, settings, lambda p: p.fx_history("USD", "GBP", FX_START, FX_END))
    usd_pence = call(YahooProvider, settings, lambda p: p.fx_history("USD", "GBX", FX_START, FX_END))
    assert all(usd_pence[d] == pytest.approx(usd_gbp[d] * 100) for d in usd_gbp)
    stub.reset()
    same = call(YahooProvider, settings, lambda p: p.fx_history("GBX", "GBP", FX_START, FX_END))
    assert not stub.requests and len(same) == 14 and set(same.values()) == {0.01}


def test_dated_rate_is_the_last_close_on_or_before_the_day(stub, settings, call):
    from app.market.providers.yahoo import FX_LOOKBACK_DAYS

    window = FX_END - timedelta(days=FX_LOOKBACK_DAYS)  # the stub's walk starts at the window's start
    rates = call(YahooProvider, settings, lambda p: p.fx_history("EUR", "USD", window, FX_END))
    sunday = call(YahooProvider, settings, lambda p: p.fx_rate("EUR", "USD", FX_END))
    friday = max(rates)
    assert friday.weekday() == 4 and sunday.on == friday
    assert (sunday.base, sunday.quote, sunday.rate, sunday.source) == ("EUR", "USD", rates[friday], "yahoo")


def test_latest_rate_is_the_pair_quote(stub, settings, call):
    latest = call(YahooProvider, settings, lambda p: p.fx_rate("EUR", "USD"))
    assert latest.rate == stub.synthetic_price("EURUSD=X") and latest.source == "yahoo"
    assert stub.requests[0].params == {"interval": "1d", "range": "1d"}


def test_unknown_pair_is_an_error(stub, settings, call):
    stub.unknown_symbols.add("EURXXX=X")
    with pytest.raises(SymbolNotFoundError):
        call(YahooProvider, settings, lambda p: p.fx_history("EUR", "XXX", FX_START, FX_END))


def test_a_pair_chart_without_closes_is_an_error_not_an_empty_series(stub, settings, call):
    empty = stub.fixture_json(CHART_1D)
    result = empty["chart"]["result"][0]
    result.pop("timestamp", None)
    result["indicators"] = {"quote": [{}], "adjclose": [{}]}
    stub.override("/v8/finance/chart/EURUSD=X", empty)
    with pytest.raises(SymbolNotFoundError):
        call(YahooProvider, settings, lambda p: p.fx_history("EUR", "USD", FX_START, FX_END))
    with pytest.raises(SymbolNotFoundError):  # a dated rate too: not a provider failure for the breaker
        call(YahooProvider, settings, lambda p: p.fx_rate("EUR", "USD", FX_END))


def test_minor_unit_codes_keep_their_spelling(stub, settings, call):
    rate = call(YahooProvider, settings, lambda p: p.fx_rate("GBp", "GBP", FX_END))
    assert (rate.base, rate.quote, rate.rate) == ("GBp", "GBP", 0.01) and not stub.requests
