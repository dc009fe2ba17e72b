"""The market client against the stub providers over real HTTP: fan-out, retries, breakers,
fallback, time budgets and coalescing."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

import aiohttp
import pytest

from app.market.client import ClientSettings, MarketClient
from app.market.providers.demo import DemoProvider
from app.market.providers.finnhub import FinnhubProvider
from app.market.providers.yahoo import YahooProvider
from app.market.types import ProviderUnavailableError, Quote, SymbolNotFoundError


@pytest.fixture
def settings(settings):
    """Yahoo quoting one request per symbol (its chart API), so request counts read per symbol."""
    return {**settings, "YAHOO_QUOTE_API": "chart"}


def run(settings: dict[str, Any], names: tuple[type, ...], body: Callable[[MarketClient], Awaitable[Any]],
        **client_settings: Any) -> Any:
    """Build providers on a fresh session and loop, run `body(client)`, close everything."""

    async def main() -> Any:
        async with aiohttp.ClientSession() as session:
            providers = [cls(settings) if cls is DemoProvider else cls(settings, session=session) for cls in names]
            client = MarketClient(providers, ClientSettings(**client_settings))
            return await body(client)

    return asyncio.run(main())


SYMBOLS = [f"SYM{i}" for i in range(45)]


def test_many_symbols_in_batches_under_the_concurrency_cap(stub, settings) -> None:
    stub.latency_ms = 30
    settings.update(YAHOO_CONCURRENCY=8, YAHOO_BATCH_SIZE=20)
    result = run(settings, (YahooProvider,), lambda c: c.fetch_quotes(SYMBOLS + ["NONEXIST", "SYM1"]))
    assert sorted(result.quotes) == sorted(SYMBOLS)
    assert isinstance(result.errors["NONEXIST"], SymbolNotFoundError)
    assert all(isinstance(q, Quote) and q.source == "yahoo" and q.price > 0 for q in result.quotes.values())
    assert stub.request_count == 46  # duplicates folded, one chart request per symbol
    assert 2 <= stub.max_in_flight <= 8


def test_retries_after_429_honouring_retry_after(stub, settings) -> None:
    stub.rate_limit_next(1, retry_after=0.3, path="/v8")
    started = time.monotonic()
    result = run(settings, (YahooProvider,), lambda c: c.fetch_quotes(["AAPL"]))
    assert result.quotes["AAPL"].price > 0 and not result.errors
    assert time.monotonic() - started >= 0.3
    assert stub.request_count == 2


def test_retries_5xx_with_backoff(stub, settings) -> None:
    stub.error_next(2, status=503, path="/v8")
    result = run(settings, (YahooProvider,), lambda c: c.fetch_quotes(["AAPL"]), backoff_base_s=0.05)
    assert "AAPL" in result.quotes and stub.request_count == 3


def test_next_provider_answers_what_the_first_could_not(stub, settings) -> None:
    stub.error_next(100, status=500, path="/v8")
    result = run(settings, (YahooProvider, FinnhubProvider), lambda c: c.fetch_quotes(["AAPL", "MSFT"]),
                 backoff_base_s=0.01, max_attempts=2)
    assert {q.source for q in result.quotes.values()} == {"finnhub"}
    assert sorted(result.quotes) == ["AAPL", "MSFT"]


def test_circuit_opens_after_repeated_failures_and_probes_later(stub, settings) -> None:
    stub.error_next(1000, status=500, path="/v8")

    async def body(client: MarketClient) -> tuple[Any, ...]:
        for _ in range(3):
            await client.fetch_quotes(["AAPL"])
        opened = client.circuit_states()["yahoo"]
        hits_when_open = stub.request_count
        answer = await client.fetch_quotes(["AAPL"])
        skipped = stub.request_count == hits_when_open
        await asyncio.sleep(0.35)
        stub.reset()
        probe = await client.fetch_quotes(["AAPL"])
        return opened, skipped, answer, probe, client.circuit_states()["yahoo"]

    opened, skipped, answer, probe, closed = run(
        settings, (YahooProvider, DemoProvider), body, breaker_threshold=3, breaker_reset_s=0.3,
        max_attempts=1, backoff_base_s=0.01)
    assert opened == "open" and skipped
    assert answer.quotes["AAPL"].source == "demo"  # the chain carried on while yahoo was cut off
    assert probe.quotes["AAPL"].source == "yahoo" and closed == "closed"


def test_a_hanging_provider_never_outlasts_the_budget(stub, settings) -> None:
    stub.hang_next(50, seconds=20, path="/v8")
    settings["YAHOO_TIMEOUT_S"] = 10
    started = time.monotonic()
    result = run(settings, (YahooProvider,), lambda c: c.fetch_quotes(["AAPL", "MSFT"]), budget_s=1.0)
    elapsed = time.monotonic() - started
    assert elapsed < 2.0, elapsed
    assert set(result.errors) == {"AAPL", "MSFT"} and not result.quotes


def test_every_provider_failing_gives_per_symbol_errors(stub, settings) -> None:
    stub.error_next(1000, status=500)
    result = run(settings, (YahooProvider, FinnhubProvider), lambda c: c.fetch_quotes(["AAPL"]),
                 max_attempts=1, budget_s=2.0)
    assert not result.quotes and result.errors["AAPL"].code in ("provider_error", "provider_unavailable")


def test_identical_in_flight_requests_are_coalesced(stub, settings) -> None:
    stub.latency_ms = 150

    async def body(client: MarketClient) -> Any:
        many = await asyncio.gather(*(client.fetch_quotes(["AAPL"]) for _ in range(10)),
                                    *(client.fetch_history("AAPL", date(2020, 9, 1), date(2020, 10, 30))
                                      for _ in range(5)))
        return many

    answers = run(settings, (YahooProvider,), body)
    assert all(a.quotes["AAPL"].price == answers[0].quotes["AAPL"].price for a in answers[:10])
    assert all(a == answers[10] and len(a) > 30 for a in answers[10:])
    assert stub.request_count == 2  # one quote request and one history request for 15 callers


def test_unknown_symbol_everywhere_is_not_found(stub, settings) -> None:
    async def body(client: MarketClient) -> Any:
        return await client.fetch_profile("NONEXIST")

    try:
        run(settings, (FinnhubProvider,), body)
    except SymbolNotFoundError:
        pass
    else:  # pragma: no cover - the assertion message is the point
        raise AssertionError("expected SymbolNotFoundError")


def test_profile_falls_back_when_the_first_provider_has_no_such_capability(stub, settings) -> None:
    profile = run(settings, (YahooProvider, FinnhubProvider), lambda c: c.fetch_profile("AAPL"))
    assert profile.source == "finnhub" and profile.market_cap and profile.market_cap > 1e9


def test_budget_error_names_the_providers_without_keys(stub, settings, fake_keys) -> None:
    stub.error_next(1000, status=500)

    async def body(client: MarketClient) -> Any:
        return await client.fetch_profile("AAPL")

    try:
        run(settings, (FinnhubProvider,), body, max_attempts=1)
    except ProviderUnavailableError as exc:
        assert "finnhub" in str(exc)
        assert all(key not in str(exc) for key in fake_keys.values())
    else:  # pragma: no cover
        raise AssertionError("expected ProviderUnavailableError")
