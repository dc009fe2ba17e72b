"""FinnhubProvider against the stub server over real HTTP on 127.0.0.1."""
from __future__ import annotations

import logging
import time
from datetime import date, datetime, timezone

import pytest

from tests.market.conftest import FAULTS, inject_fault, single_quote

from app.market.providers.base import HISTORY, NEWS, PROFILE, QUOTES, SPLITS, provider_class
from app.market.providers.finnhub import FinnhubProvider
from app.market.types import (
    Bar,
    ProviderError,
    ProviderUnavailableError,
    RateLimitedError,
    SymbolNotFoundError,
)

QUOTE = "/api/v1/quote"


def quote_of(call, settings, symbol="AAPL"):
    """Fetch one finnhub quote; raise the per-symbol error if there is one."""
    return single_quote(call, FinnhubProvider, settings, symbol)


def test_registered_with_free_tier_defaults():
    assert provider_class("finnhub") is FinnhubProvider
    provider = FinnhubProvider({"FINNHUB_API_KEY": "k"})
    assert provider.capabilities == {QUOTES, PROFILE, NEWS, SPLITS}
    assert provider.limits.rate_per_s == 1.0 and provider.limits.batch_size == 1
    assert provider.base_url == "https://finnhub.io/api/v1"
    premium = FinnhubProvider({"FINNHUB_API_KEY": "k", "FINNHUB_PREMIUM": "true", "FINNHUB_RATE_PER_S": "30"})
    assert HISTORY in premium.capabilities and premium.limits.rate_per_s == 30.0


def test_quote_without_d_dp(stub, settings, call):
    raw = stub.fixture_json("finnhub/quote_AAPL.json")
    assert "d" not in raw and "dp" not in raw
    q = quote_of(call, settings)
    assert q.price == raw["c"] == 261.74
    assert q.previous_close == raw["pc"] == 259.45
    assert (q.open, q.day_high, q.day_low) == (raw["o"], raw["h"], raw["l"])
    assert q.change == pytest.approx(261.74 - 259.45)
    assert q.change_pct == pytest.approx((261.74 - 259.45) / 259.45 * 100)
    assert q.ts == datetime.fromtimestamp(raw["t"], timezone.utc)
    assert q.volume is None and q.currency == "USD" and q.source == "finnhub"


def test_quote_with_d_dp_uses_them(stub, settings, call):
    raw = {**stub.fixture_json("finnhub/quote_AAPL.json"), "d": 2.3, "dp": 0.8865}
    stub.override(QUOTE, raw)
    q = quote_of(call, settings)
    assert (q.change, q.change_pct) == (2.3, 0.8865)


def test_synthesised_symbol(stub, settings, call):
    assert quote_of(call, settings, "MSFT").price == stub.synthetic_price("MSFT")


def test_all_zero_quote_is_unknown_symbol(stub, settings, call):
    result = call(FinnhubProvider, settings, lambda p: p.quotes(["NONEXIST"]))
    assert isinstance(result["NONEXIST"], SymbolNotFoundError)
    stub.override(QUOTE, {**stub.fixture_json("finnhub/quote_unknown_symbol.json"), "d": None, "dp": None})
    with pytest.raises(SymbolNotFoundError):
        quote_of(call, settings, "ZZZZ")


def test_token_goes_in_header_not_query(stub, settings, call, fake_keys):
    quote_of(call, settings)
    (req,) = stub.requests
    assert req.path == QUOTE and req.params == {"symbol": "AAPL"}
    assert req.auth == "header"
    assert fake_keys["FINNHUB_API_KEY"] not in repr(stub.requests)


def test_profile_merges_profile2_and_metric(stub, settings, call):
    raw = stub.fixture_json("finnhub/stock_profile2_AAPL.json")
    prof = call(FinnhubProvider, settings, lambda p: p.profile("AAPL"))
    assert prof.name == raw["name"] == "Apple Inc"
    assert prof.market_cap == raw["marketCapitalization"] * 1_000_000 == 1_415_993_000_000
    assert (prof.currency, prof.country, prof.industry, prof.sector) == ("USD", "US", "Technology", None)
    assert prof.source == "finnhub" and prof.symbol == "AAPL"
    # the recorded metric sample holds none of the fundamentals keys
    assert (prof.pe_ratio, prof.pb_ratio, prof.roe, prof.dividend_yield, prof.revenue_growth) == (None,) * 5
    paths = sorted(r.path for r in stub.requests)
    assert paths == ["/api/v1/stock/metric", "/api/v1/stock/profile2"]
    metric_req = next(r for r in stub.requests if r.path.endswith("metric"))
    assert metric_req.params == {"symbol": "AAPL", "metric": "all"}


def test_profile_metric_units(stub, settings, call):
    body = stub.fixture_json("finnhub/stock_metric_all_AAPL.json")
    body["metric"].update({
        "peTTM": 35.1, "pbQuarterly": 48.2, "roeTTM": 25.3, "dividendYieldIndicatedAnnual": 0.44,
        "revenueGrowthTTMYoy": 6.07, "totalDebt/totalEquityQuarterly": 1.87,
    })
    stub.override("/api/v1/stock/metric", body)
    prof = call(FinnhubProvider, settings, lambda p: p.profile("AAPL"))
    assert prof.pe_ratio == 35.1 and prof.pb_ratio == 48.2 and prof.debt_to_equity == 1.87
    assert prof.roe == pytest.approx(0.253)
    assert prof.dividend_yield == pytest.approx(0.0044)
    assert prof.revenue_growth == pytest.approx(0.0607)


def test_profile_unknown_symbol(stub, settings, call):
    with pytest.raises(SymbolNotFoundError):
        call(FinnhubProvider, settings, lambda p: p.profile("NONEXIST"))


def test_news(stub, settings, call):
    raw = stub.fixture_json("finnhub/company_news_AAPL.json")[0]
    items = call(FinnhubProvider, settings, lambda p: p.news("AAPL", limit=5))
    assert len(items) == 1
    item = items[0]
    assert item.headline == raw["headline"] and item.url == raw["url"] and item.summary == raw["summary"]
    assert item.published_at == datetime.fromtimestamp(1569550360, timezone.utc)
    assert item.publisher == "The Economic Times India" and item.source == "finnhub" and item.symbol == "AAPL"
    params = stub.requests[0].params
    assert params["symbol"] == "AAPL" and date.fromisoformat(params["from"]) < date.fromisoformat(params["to"])


def test_news_unknown_symbol_is_empty(stub, settings, call):
    assert call(FinnhubProvider, settings, lambda p: p.news("NONEXIST")) == []


def test_candles(stub, settings, call):
    raw = stub.fixture_json("finnhub/stock_candle_AAPL_D.json")
    bars = call(FinnhubProvider, settings, lambda p: p.history("AAPL", date(2019, 9, 24), date(2019, 9, 26)))
    assert bars == [
        Bar(date(2019, 9, 24 + i), raw["o"][i], raw["h"][i], raw["l"][i], raw["c"][i], raw["v"][i]) for i in range(3)
    ]
    req = stub.requests[0]
    assert req.path == "/api/v1/stock/candle" and req.params["resolution"] == "D"


def test_candles_no_data_is_empty(stub, settings, call):
    assert call(FinnhubProvider, settings, lambda p: p.history("AAPL", date(2024, 1, 1), date(2024, 1, 31))) == []


def test_candles_forbidden_on_free_plan(stub, settings, call):
    stub.override("/api/v1/stock/candle", stub.fixture("finnhub/stock_candle_forbidden_403.json"), status=403)
    with pytest.raises(ProviderError, match="paid") as info:
        call(FinnhubProvider, settings, lambda p: p.history("AAPL", date(2019, 9, 24), date(2019, 9, 26)))
    assert not isinstance(info.value, (RateLimitedError, SymbolNotFoundError))


def test_invalid_key_401(stub, settings, call, no_secret):
    stub.override(QUOTE, {"error": "Invalid API key"}, status=401)
    with pytest.raises(ProviderError, match="401") as info:
        quote_of(call, settings)
    no_secret(info.value)


def test_429_with_retry_after(stub, settings, call, no_secret):
    stub.rate_limit_next(1, retry_after=30)
    with pytest.raises(RateLimitedError) as info:
        quote_of(call, settings)
    assert info.value.retry_after_s == 30.0
    no_secret(info.value)


def test_missing_key_means_unavailable(stub, settings, call):
    keyless = {k: v for k, v in settings.items() if k != "FINNHUB_API_KEY"}
    assert not FinnhubProvider(keyless).available()
    assert FinnhubProvider(settings).available()
    for fn in (lambda p: p.quotes(["AAPL"]), lambda p: p.profile("AAPL"), lambda p: p.news("AAPL")):
        with pytest.raises(ProviderUnavailableError, match="FINNHUB_API_KEY is not set"):
            call(FinnhubProvider, keyless, fn)
    assert stub.request_count == 0


@pytest.mark.parametrize("fault", FAULTS)
def test_faults_raise_provider_error_without_key(stub, settings, call, no_secret, fault, caplog):
    inject_fault(stub, fault, status=503)
    caplog.set_level(logging.DEBUG)
    started = time.monotonic()
    with pytest.raises(ProviderError) as info:
        call(FinnhubProvider, {**settings, "FINNHUB_TIMEOUT_S": 0.5}, lambda p: p.profile("AAPL"))
    assert time.monotonic() - started < 2.5
    assert not isinstance(info.value, (RateLimitedError, SymbolNotFoundError))
    no_secret(info.value)
    assert settings["FINNHUB_API_KEY"] not in caplog.text


def test_repr_hides_key(settings):
    provider = FinnhubProvider(settings)
    assert settings["FINNHUB_API_KEY"] not in repr(provider) and "key=set" in repr(provider)


def test_synthesised_symbol_endpoints(stub, settings, call):
    prof = call(FinnhubProvider, settings, lambda p: p.profile("MSFT"))
    assert prof.name == "MSFT Synthetic Corp" and prof.symbol == "MSFT"
    assert len(call(FinnhubProvider, settings, lambda p: p.news("MSFT"))) == 1
    bars = call(FinnhubProvider, settings, lambda p: p.history("MSFT", date(2019, 9, 24), date(2019, 9, 26)))
    assert len(bars) == 3 and bars[-1].close == stub.synthetic_price("MSFT")
