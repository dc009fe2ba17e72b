"""AlphaVantageProvider against the stub server over real HTTP on 127.0.0.1."""
from __future__ import annotations

import logging
import time
from datetime import date, datetime, timezone

import pytest

from tests.market.conftest import FAULTS, inject_fault, single_quote

from app.market.providers.alphavantage import AlphaVantageProvider
from app.market.providers.base import HISTORY, NEWS, PROFILE, QUOTES, provider_class
from app.market.types import (
    Bar,
    ProviderError,
    ProviderUnavailableError,
    RateLimitedError,
    SymbolNotFoundError,
)


def quote_of(call, settings, symbol="MSFT"):
    """Fetch one alphavantage quote; raise the per-symbol error if there is one."""
    return single_quote(call, AlphaVantageProvider, settings, symbol)


def test_registered_with_defaults():
    assert provider_class("alphavantage") is AlphaVantageProvider
    provider = AlphaVantageProvider({"ALPHAVANTAGE_API_KEY": "k"})
    assert provider.capabilities == {QUOTES, HISTORY, PROFILE, NEWS}
    assert provider.limits.batch_size == 1
    assert provider.limits.rate_per_s == pytest.approx(5 / 60)
    assert AlphaVantageProvider({"ALPHAVANTAGE_RATE_PER_MIN": 75}).limits.rate_per_s == pytest.approx(1.25)
    assert provider.base_url == "https://www.alphavantage.co"


def test_global_quote(stub, settings, call):
    gq = stub.fixture_json("alphavantage/global_quote_MSFT.json")["Global Quote"]
    q = quote_of(call, settings)
    assert q.price == float(gq["05. price"]) == 112.13
    assert (q.open, q.day_high, q.day_low) == (112.63, 113.17, 110.64)
    assert q.previous_close == 112.79
    assert q.change == -0.66 and q.change_pct == -0.5852
    assert q.volume == 29062853
    assert q.ts == datetime(2018, 10, 5, 20, 0, tzinfo=timezone.utc)  # 16:00 New York (EDT)
    assert q.currency == "USD" and q.source == "alphavantage"


def test_apikey_sent_and_redacted_in_stub_log(stub, settings, call, fake_keys):
    quote_of(call, settings)
    (req,) = stub.requests
    assert req.path == "/query"
    assert req.params == {"function": "GLOBAL_QUOTE", "symbol": "MSFT", "apikey": "***"}
    assert req.auth == "query"
    assert fake_keys["ALPHAVANTAGE_API_KEY"] not in repr(stub.requests)


def test_empty_global_quote_is_unknown_symbol(stub, settings, call):
    result = call(AlphaVantageProvider, settings, lambda p: p.quotes(["NONEXIST"]))
    assert isinstance(result["NONEXIST"], SymbolNotFoundError)


def test_daily_history(stub, settings, call):
    series = stub.fixture_json("alphavantage/time_series_daily_IBM_compact.json")["Time Series (Daily)"]
    bars = call(AlphaVantageProvider, settings, lambda p: p.history("IBM", date(2023, 11, 1), date(2023, 11, 30)))
    assert len(bars) == len(series) == 8
    assert [b.date for b in bars] == sorted(date.fromisoformat(d) for d in series)
    assert bars[0] == Bar(date(2023, 11, 16), 153.0, 153.35, 152.13, 153.06, 3519172)
    assert bars[-1] == Bar(date(2023, 11, 28), 155.44, 155.745, 154.86, 155.65, 2666182)
    params = stub.requests[0].params
    assert params["function"] == "TIME_SERIES_DAILY" and params["outputsize"] == "compact"


def test_daily_history_filters(stub, settings, call):
    bars = call(AlphaVantageProvider, settings, lambda p: p.history("IBM", date(2023, 11, 20), date(2023, 11, 22)))
    assert [b.date for b in bars] == [date(2023, 11, 20), date(2023, 11, 21), date(2023, 11, 22)]


def test_history_error_message_is_unknown_symbol(stub, settings, call):
    with pytest.raises(SymbolNotFoundError):
        call(AlphaVantageProvider, settings, lambda p: p.history("NONEXIST", date(2023, 11, 1), date(2023, 11, 30)))


def test_overview_profile(stub, settings, call):
    prof = call(AlphaVantageProvider, settings, lambda p: p.profile("IBM"))
    assert prof.name == "International Business Machines Corporation"
    assert (prof.currency, prof.country, prof.sector, prof.industry) == (
        "USD", "USA", "Technology", "Information Technology Services")
    assert prof.market_cap == 114234572800
    assert prof.pe_ratio == 14.1327 and prof.pb_ratio == 5.4017
    assert prof.roe == 0.4097 and prof.dividend_yield == 0.0529 and prof.revenue_growth == -0.054
    assert prof.debt_to_equity is None
    assert prof.description.startswith("International Business Machines Corporation operates")
    assert prof.source == "alphavantage"


def test_overview_none_and_dash_become_none(stub, settings, call):
    body = stub.fixture_json("alphavantage/overview_IBM.json")
    body.update(PERatio="None", DividendYield="-", Sector="None", PriceToBookRatio="", Industry="-")
    stub.override("/query", body)
    prof = call(AlphaVantageProvider, settings, lambda p: p.profile("IBM"))
    assert (prof.pe_ratio, prof.dividend_yield, prof.sector, prof.pb_ratio, prof.industry) == (None,) * 5
    assert prof.roe == 0.4097


def test_overview_empty_object_is_unknown_symbol(stub, settings, call):
    with pytest.raises(SymbolNotFoundError):
        call(AlphaVantageProvider, settings, lambda p: p.profile("NONEXIST"))


def test_news_sentiment(stub, settings, call):
    raw = stub.fixture_json("alphavantage/news_sentiment_AAPL.json")["feed"][0]
    items = call(AlphaVantageProvider, settings, lambda p: p.news("AAPL", limit=5))
    assert len(items) == 1
    item = items[0]
    assert item.headline == raw["title"] and item.url == raw["url"] and item.summary == raw["summary"]
    assert item.published_at == datetime(2022, 6, 19, 12, 47, 3, tzinfo=timezone.utc)
    assert item.publisher == "CNBC" and item.source == "alphavantage" and item.symbol == "AAPL"
    params = stub.requests[0].params
    assert params["function"] == "NEWS_SENTIMENT" and params["tickers"] == "AAPL"


def test_news_invalid_inputs_is_unknown_symbol(stub, settings, call):
    with pytest.raises(SymbolNotFoundError):
        call(AlphaVantageProvider, settings, lambda p: p.news("NONEXIST"))


def test_information_daily_cap_is_rate_limited(stub, settings, call, no_secret):
    stub.av_limit_next(1, variant="information")
    with pytest.raises(RateLimitedError) as info:
        quote_of(call, settings)
    assert 0 < info.value.retry_after_s <= 86400  # until the next UTC midnight
    assert "25 requests per day" in str(info.value)
    no_secret(info.value)


def test_note_per_minute_is_rate_limited(stub, settings, call):
    stub.av_limit_next(1, variant="note")
    with pytest.raises(RateLimitedError) as info:
        call(AlphaVantageProvider, settings, lambda p: p.profile("IBM"))
    assert info.value.retry_after_s == 60.0


def test_information_echoing_the_key_is_scrubbed(stub, settings, call, no_secret, fake_keys):
    key = fake_keys["ALPHAVANTAGE_API_KEY"]
    stub.override("/query", {"Information": f"We have detected your API key as {key} and our standard API "
                                            "rate limit is 25 requests per day."})
    with pytest.raises(RateLimitedError) as info:
        quote_of(call, settings)
    assert "***" in str(info.value)
    no_secret(info.value)


def test_invalid_apikey_is_provider_error(stub, settings, call):
    stub.override("/query", {"Error Message": "the parameter apikey is invalid or missing."})
    with pytest.raises(ProviderError) as info:
        quote_of(call, settings)
    assert not isinstance(info.value, (RateLimitedError, SymbolNotFoundError))


def test_missing_key_means_unavailable(stub, settings, call):
    keyless = {k: v for k, v in settings.items() if k != "ALPHAVANTAGE_API_KEY"}
    assert not AlphaVantageProvider(keyless).available()
    with pytest.raises(ProviderUnavailableError, match="ALPHAVANTAGE_API_KEY is not set"):
        call(AlphaVantageProvider, keyless, lambda p: p.quotes(["MSFT"]))
    with pytest.raises(ProviderUnavailableError):
        call(AlphaVantageProvider, keyless, lambda p: p.profile("IBM"))
    assert stub.request_count == 0


def test_429_with_retry_after(stub, settings, call, no_secret):
    stub.rate_limit_next(1, retry_after=12)
    with pytest.raises(RateLimitedError) as info:
        quote_of(call, settings)
    assert info.value.retry_after_s == 12.0
    no_secret(info.value)


@pytest.mark.parametrize("fault", FAULTS)
def test_faults_raise_provider_error_without_key(stub, settings, call, no_secret, fault, caplog):
    inject_fault(stub, fault, status=500)
    caplog.set_level(logging.DEBUG)
    started = time.monotonic()
    with pytest.raises(ProviderError) as info:
        quote_of(call, {**settings, "ALPHAVANTAGE_TIMEOUT_S": 0.5})
    assert time.monotonic() - started < 2.0
    assert not isinstance(info.value, (RateLimitedError, SymbolNotFoundError))
    no_secret(info.value)
    assert settings["ALPHAVANTAGE_API_KEY"] not in caplog.text
    assert "apikey=" not in str(info.value)


def test_rate_bucket_applies_per_minute_setting(stub, settings, call):
    fast = {**settings, "ALPHAVANTAGE_RATE_PER_S": "", "ALPHAVANTAGE_RATE_PER_MIN": 600}  # 10/s, burst 10
    started = time.monotonic()
    call(AlphaVantageProvider, fast, lambda p: p.quotes([f"S{i}" for i in range(13)]))
    assert time.monotonic() - started >= 0.25
    assert stub.request_count == 13


def test_synthesised_symbol_endpoints(stub, settings, call):
    assert quote_of(call, settings, "GOOG").price == stub.synthetic_price("GOOG")
    bars = call(AlphaVantageProvider, settings, lambda p: p.history("GOOG", date(2023, 11, 1), date(2023, 11, 30)))
    assert len(bars) == 8 and bars[-1].close == stub.synthetic_price("GOOG")
    prof = call(AlphaVantageProvider, settings, lambda p: p.profile("GOOG"))
    assert prof.name == "GOOG Synthetic Corp" and prof.symbol == "GOOG"
    assert len(call(AlphaVantageProvider, settings, lambda p: p.news("GOOG"))) == 1
