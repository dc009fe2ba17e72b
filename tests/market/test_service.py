"""The sync entry points: cache first, the bridge only for misses, stale data when providers fail,
and persisted daily bars."""
from __future__ import annotations

import time
from datetime import date

import pytest
from sqlalchemy import func, select

from app import aio
from app.extensions import db
from app.market import bars, service
from app.market.types import ProviderUnavailableError
from app.models import PriceBar
from tests.conftest import TEST_REDIS_URL, needs_redis


@pytest.fixture
def bridge_calls(monkeypatch):
    """Count the calls that enter the event loop (the real bridge still runs them)."""
    calls: list[int] = []
    real = aio.run_sync

    def counting(coro, *args, **kwargs):
        calls.append(1)
        return real(coro, *args, **kwargs)

    monkeypatch.setattr(aio, "run_sync", counting)
    return calls


def test_a_fully_cached_batch_never_enters_the_event_loop(app, bridge_calls) -> None:
    with app.app_context():
        first = service.quotes_for(["ADS.DE", "AAPL", "SAP.DE"])
        assert len(first["quotes"]) == 3 and not first["errors"] and len(bridge_calls) == 1
        again = service.quotes_for(["AAPL", "ADS.DE", "SAP.DE", "aapl"])
        assert len(bridge_calls) == 1, "a cached batch must not enter the bridge"
        assert again["quotes"]["AAPL"]["price"] == first["quotes"]["AAPL"]["price"]
        assert list(again["quotes"]) == ["AAPL", "ADS.DE", "SAP.DE"]
        service.quotes_for(["AAPL", "MSFT"])
        assert len(bridge_calls) == 2  # only the miss is fetched


def test_quote_payload_has_the_contract_fields(app) -> None:
    with app.app_context():
        quote = service.quotes_for(["ADS.DE"])["quotes"]["ADS.DE"]
    assert {"symbol", "price", "change", "change_pct", "currency", "volume", "ts", "source", "stale"} <= set(quote)
    assert quote["source"] == "demo" and quote["currency"] == "EUR" and quote["stale"] is False


def test_unknown_symbols_are_reported_per_symbol(app) -> None:
    with app.app_context():
        batch = service.quotes_for(["AAPL", "NOPE.XX"])
    assert "AAPL" in batch["quotes"]
    assert batch["errors"]["NOPE.XX"]["code"] == "symbol_not_found"


def test_last_good_quote_is_served_stale_when_every_provider_fails(make_app) -> None:
    app = make_app(CACHE_TTL_QUOTE=1, CACHE_STALE_GRACE=0, MARKET_BUDGET_S=2.0)
    with app.app_context():
        good = service.quotes_for(["AAPL"])["quotes"]["AAPL"]
        time.sleep(1.1)
        app.config["DEMO_FAILURE_RATE"] = 1.0  # every demo call now fails
        started = time.monotonic()
        batch = service.quotes_for(["AAPL", "MSFT"])
        assert time.monotonic() - started < 4
    assert batch["quotes"]["AAPL"]["stale"] is True and batch["quotes"]["AAPL"]["price"] == good["price"]
    assert batch["errors"]["MSFT"]["code"] in ("provider_error", "provider_unavailable")


def test_stale_within_grace_is_served_and_refreshed_once(make_app, bridge_calls) -> None:
    app = make_app(CACHE_TTL_QUOTE=1, CACHE_STALE_GRACE=30)
    with app.app_context():
        service.quotes_for(["AAPL"])
        time.sleep(1.1)
        stale = service.quotes_for(["AAPL"])
        service.quotes_for(["AAPL"])  # still stale, but its refresh is already running
        assert stale["quotes"]["AAPL"]["stale"] is True
        for _ in range(50):
            if not service.quotes_for(["AAPL"])["quotes"]["AAPL"]["stale"]:
                break
            time.sleep(0.05)
        assert service.quotes_for(["AAPL"])["quotes"]["AAPL"]["stale"] is False
    assert len(bridge_calls) == 2  # the first fetch and exactly one refresh


def _bar_count(symbol: str) -> int:
    return db.session.scalar(select(func.count(PriceBar.id)).where(PriceBar.symbol == symbol))


def test_daily_bars_are_persisted_and_only_missing_ranges_fetched(app, bridge_calls) -> None:
    with app.app_context():
        first = bars.history_for("SAP.DE", date(2024, 3, 1), date(2024, 6, 28))
        stored = _bar_count("SAP.DE")
        assert stored == len(first["bars"]) > 80 and first["source"] == "demo"
        dates = [b["date"] for b in first["bars"]]
        assert dates == sorted(dates) and len(set(dates)) == len(dates)
        bars.history_for("SAP.DE", date(2024, 1, 2), date(2024, 6, 28))  # extends to the left only
        assert _bar_count("SAP.DE") > stored and len(bridge_calls) == 2
        market_cache = service.market_cache()
        market_cache.invalidate("history:*")
        app.config["DEMO_FAILURE_RATE"] = 1.0  # providers down: the covered range comes from the database
        again = bars.history_for("SAP.DE", date(2024, 2, 1), date(2024, 5, 31))
        assert len(bridge_calls) == 2 and again["bars"][0]["date"] >= "2024-02-01"
        with pytest.raises(ProviderUnavailableError):
            bars.history_for("SAP.DE", date(2019, 1, 1), date(2019, 2, 1))


def test_missing_ranges_keep_coverage_contiguous() -> None:
    covered = (date(2024, 3, 1), date(2024, 6, 30))
    assert bars.missing_ranges(None, date(2024, 1, 1), date(2024, 2, 1)) == [(date(2024, 1, 1), date(2024, 2, 1))]
    assert bars.missing_ranges(covered, date(2024, 4, 1), date(2024, 5, 1)) == []
    assert bars.missing_ranges(covered, date(2024, 1, 1), date(2024, 7, 10)) == [
        (date(2024, 1, 1), date(2024, 2, 29)), (date(2024, 7, 1), date(2024, 7, 10))]
    assert bars.missing_ranges(covered, date(2024, 9, 1), date(2024, 9, 30)) == [(date(2024, 7, 1), date(2024, 9, 30))]
    assert bars.missing_ranges(covered, date(2023, 1, 1), date(2023, 1, 31)) == [(date(2023, 1, 1), date(2024, 2, 29))]


@needs_redis
@pytest.mark.redis
def test_quotes_are_shared_through_redis(make_app, bridge_calls) -> None:
    one = make_app(redis_url=TEST_REDIS_URL)
    with one.app_context():
        service.market_cache().invalidate("quote:*")
        service.quotes_for(["ALV.DE", "BAS.DE"])
    two = make_app(redis_url=TEST_REDIS_URL)
    two.extensions["tickerdesk_cache"].l1.clear()
    with two.app_context():
        batch = service.quotes_for(["ALV.DE", "BAS.DE"])
    assert len(bridge_calls) == 1 and set(batch["quotes"]) == {"ALV.DE", "BAS.DE"}
