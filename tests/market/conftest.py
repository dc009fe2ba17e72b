"""Fixtures for the provider tests: a session-wide stub server, reset around each test, and a
helper that runs a provider coroutine in a fresh event loop with its own aiohttp session."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import aiohttp
import pytest

try:  # canonical name, also used by bench/ scripts
    from tests.market.stub_server import StubServer, start_stub_server
except ImportError:  # pytest's rootdir-less import of tests/market (no __init__.py)
    from stub_server import StubServer, start_stub_server

# Recognisable fake keys: tests assert they never show up in an error message, repr or log.
FAKE_FINNHUB_KEY = "fhk-SECRET-7f3a9c1e"
FAKE_ALPHAVANTAGE_KEY = "AVK-SECRET-51d2e8b4"


@pytest.fixture(scope="session")
def stub_server() -> Iterator[StubServer]:
    """One stub server for the whole test session."""
    server = start_stub_server()
    yield server
    server.stop()


@pytest.fixture
def stub(stub_server: StubServer) -> Iterator[StubServer]:
    """The stub server with faults, overrides, latency and stats cleared before and after the test."""
    stub_server.reset()
    yield stub_server
    stub_server.reset()


@pytest.fixture
def fake_keys() -> dict[str, str]:
    """The fake API keys the provider settings carry."""
    return {"FINNHUB_API_KEY": FAKE_FINNHUB_KEY, "ALPHAVANTAGE_API_KEY": FAKE_ALPHAVANTAGE_KEY}


@pytest.fixture
def settings(stub: StubServer, fake_keys: dict[str, str]) -> dict[str, Any]:
    """Settings pointing every provider at the stub, with fake keys and test-friendly limits."""
    fast = {}
    for prefix in ("YAHOO", "FINNHUB", "ALPHAVANTAGE"):
        fast.update({f"{prefix}_RATE_PER_S": 0, f"{prefix}_TIMEOUT_S": 2.0, f"{prefix}_CONCURRENCY": 8})
    return stub.settings(**fake_keys, **fast)


@pytest.fixture
def call() -> Callable[..., Any]:
    """call(ProviderClass, settings, lambda p: p.quotes([...])) runs it in a fresh loop and session."""

    def run(provider_cls: type, settings: dict[str, Any], fn: Callable[[Any], Awaitable[Any]]) -> Any:
        async def main() -> Any:
            async with aiohttp.ClientSession() as session:
                provider = provider_cls(settings, session=session)
                return await fn(provider)

        return asyncio.run(main())

    return run


def assert_no_secret(exc: BaseException, *secrets: str) -> None:
    """Fail if any secret appears in the exception's str/repr or anywhere down its cause chain."""
    seen: BaseException | None = exc
    while seen is not None:
        for text in (str(seen), repr(seen), str(getattr(seen, "args", ""))):
            for secret in secrets:
                assert secret not in text, f"API key leaked in {type(seen).__name__}: {text!r}"
        seen = seen.__cause__ or seen.__context__


@pytest.fixture
def no_secret(fake_keys: dict[str, str]) -> Callable[[BaseException], None]:
    """no_secret(exc) asserts neither fake key appears in exc (str, repr, cause chain)."""
    return lambda exc: assert_no_secret(exc, *fake_keys.values())


FAULTS = ("error", "hang", "cut", "disconnect", "malformed")


def inject_fault(stub: StubServer, fault: str, status: int = 500) -> None:
    """Make the stub's next request fail in the named way (one of FAULTS)."""
    if fault == "error":
        stub.error_next(1, status=status)
    elif fault == "hang":
        stub.hang_next(1, seconds=10)
    elif fault == "malformed":
        stub.malformed_next(1)
    else:
        stub.truncate_next(1, mode=fault)


def single_quote(call: Callable[..., Any], provider_cls: type, settings: dict[str, Any], symbol: str) -> Any:
    """Fetch one quote through `provider_cls`; raise its per-symbol error if there is one."""
    value = call(provider_cls, settings, lambda p: p.quotes([symbol]))[symbol]
    if isinstance(value, Exception):
        raise value
    return value
