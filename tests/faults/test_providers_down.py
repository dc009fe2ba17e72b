"""Every market-data provider failing, against the real app process and a real HTTP stub.

The app (gunicorn + gevent) runs with MARKET_PROVIDERS=yahoo,finnhub, both base URLs pointing
at the provider stub of tests/market/stub_server.py (recorded Yahoo/Finnhub answers). One
symbol (AAPL) is fetched while the stub answers; once its cache entry has expired, every
request to the stub fails in one way per test: HTTP 5xx, a hang far past the time budget,
malformed (HTML) bodies, or the providers' port refusing connections.

Asserted, for each way: the cached symbol is served from its last good copy (HTTP 200,
`stale: true`, the price that was fetched), an uncached symbol gets a 503 in the standard
error shape with a clear message (code provider_unavailable), a batch mixes the two, and no
request takes longer than the market-data time budget plus a small margin (wall time).

Each way has its own stub and app process (all started together, once): the providers'
circuit breakers open after a few failures, after which a fault of another kind would never
reach a provider.
"""
from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.faults.conftest import assert_error_shape, register, require, start_server
from tests.live.conftest import LiveServer

pytestmark = pytest.mark.slow

# The app's market-data time budget: MARKET_BUDGET_S, 8 s by default (app/market/service.py).
# app/config.py does not read it from the environment, so the process runs with the default.
BUDGET_S = 8.0
# On top of the budget: the app's own hard stop for a market call is the budget + 2 s
# (app.aio.run_sync's timeout in app/market/service.py); a hang would blow far past it.
MARGIN_S = 2.0
CACHE_TTL_S = 1  # CACHE_TTL_QUOTE; the stale grace is one TTL more, after which it is a cache miss
CACHED = "AAPL"
UNCACHED = ("MSFT", "NVDA", "AMZN")
FAKE_FINNHUB_KEY = "fhk-FAULTS-3b9d7e21"
MODES = ("http_5xx", "timeout", "malformed", "refused")


def _stub_module():
    try:
        from tests.market import stub_server
    except ImportError as exc:  # pragma: no cover - aiohttp missing
        require(False, f"the provider stub cannot be imported: {exc}")
    try:
        stub_server.StubServer()  # checks the recorded fixtures are there
    except FileNotFoundError as exc:
        require(False, f"the provider stub has no recorded fixtures: {exc}")
    return stub_server


class Rig:
    """One provider stub and one app process whose providers all point at it."""

    def __init__(self, mode: str, stub: Any, server: LiveServer, user: dict[str, Any]) -> None:
        self.mode, self.stub, self.server, self.user = mode, stub, server, user
        self.warm_price: float | None = None
        self.warmed_at = 0.0

    def get(self, path: str) -> tuple[requests.Response, float]:
        started = time.monotonic()
        response = requests.get(self.server.url + path, headers=self.user["headers"], timeout=BUDGET_S * 3)
        return response, time.monotonic() - started

    def break_providers(self) -> None:
        forever = 10**6
        if self.mode == "http_5xx":
            self.stub.error_next(forever, status=503)
        elif self.mode == "timeout":
            self.stub.hang_next(forever, seconds=60)  # far past the budget and every provider timeout
        elif self.mode == "malformed":
            self.stub.malformed_next(forever)
        elif self.mode == "refused":
            self.stub.stop()  # its port now refuses connections
        else:  # pragma: no cover
            raise ValueError(self.mode)


@dataclass
class Observed:
    """What one mode's requests got: per round, (path, response, wall seconds); provider requests seen."""

    rounds: list[list[tuple[str, requests.Response, float]]]
    provider_requests: int | None  # None: the providers' port refused connections


@pytest.fixture(scope="module")
def observed(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[Rig, Observed]]]:
    """Per mode a stub and an app, all run side by side (the hang costs the budget once, not per mode).

    Each app fetches AAPL while its stub answers; once that entry is past its TTL and stale grace
    the stub is broken and two rounds of concurrent requests are made: the first meets closed
    circuit breakers, the second mostly open ones.
    """
    stub_server = _stub_module()
    stubs = {mode: stub_server.start_stub_server() for mode in MODES}
    rigs: dict[str, Rig] = {}
    lock = threading.Lock()

    def boot(mode: str) -> None:
        stub = stubs[mode]
        server = start_server(
            tmp_path_factory.mktemp(f"providers-{mode}"), sqlite_template,
            REDIS_URL="", MARKET_PROVIDERS="yahoo,finnhub", **stub.settings(),
            FINNHUB_API_KEY=FAKE_FINNHUB_KEY, CACHE_TTL_QUOTE=str(CACHE_TTL_S), LIVE_LOOP="false")
        with lock:
            rigs[mode] = Rig(mode, stub, server, {})
        rigs[mode].user = register(server.url)
        response, _ = rigs[mode].get(f"/api/v1/stocks/{CACHED}/quote")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["stale"] is False and body["symbol"] == CACHED, body
        # It came from the stub, through the yahoo provider (a CI run once saw 0 requests recorded here
        # with a fresh quote: the message shows where the quote came from, if it happens again).
        assert body["source"] == "yahoo" and stub.request_count >= 1, (
            body, stub.request_count, stub.url, server.url, server.log()[-4000:])
        rigs[mode].warm_price, rigs[mode].warmed_at = body["price"], time.monotonic()

    def run(mode: str) -> Observed:
        rig = rigs[mode]
        # Past the TTL and its stale grace: the cached symbol is a cache miss and goes to the providers.
        time.sleep(max(0.0, rig.warmed_at + 2 * CACHE_TTL_S + 0.3 - time.monotonic()))
        rig.break_providers()
        before = rig.stub.request_count
        paths = [f"/api/v1/stocks/{CACHED}/quote"] * 3 + [f"/api/v1/stocks/{s}/quote" for s in UNCACHED] + [
            f"/api/v1/stocks/batch?symbols={CACHED},{','.join(UNCACHED)}"]
        rounds = []
        for _ in range(2):
            with ThreadPoolExecutor(len(paths)) as pool:
                futures = [(p, pool.submit(rig.get, p)) for p in paths]
                rounds.append([(p, *f.result()) for p, f in futures])
        return Observed(rounds, None if mode == "refused" else rig.stub.request_count - before)

    try:
        with ThreadPoolExecutor(len(MODES)) as pool:
            for future in [pool.submit(boot, mode) for mode in MODES]:
                future.result()
            results = dict(zip(MODES, pool.map(run, MODES)))
        yield {mode: (rigs[mode], results[mode]) for mode in MODES}
    finally:
        with ThreadPoolExecutor(len(MODES)) as pool:
            list(pool.map(lambda rig: rig.server.stop(), rigs.values()))
        for stub in stubs.values():
            stub.stop()


@pytest.mark.parametrize("mode", MODES)
def test_every_provider_failing(observed: dict[str, tuple[Rig, Observed]], mode: str) -> None:
    rig, seen = observed[mode]
    rounds = seen.rounds
    statuses = sorted(r.status_code for one in rounds for _, r, _ in one)
    print(f"\n[providers {mode}] {len(statuses)} requests: statuses {dict(Counter(statuses))}; wall time "
          f"round 1 max {max(s for *_, s in rounds[0]):.2f} s, round 2 max {max(s for *_, s in rounds[1]):.2f} s "
          f"(budget {BUDGET_S:g} s); failing provider requests: "
          f"{seen.provider_requests if seen.provider_requests is not None else 'connections refused'}")

    for one in rounds:
        for path, response, elapsed in one:
            # Never a hang past the budget.
            assert elapsed < BUDGET_S + MARGIN_S, f"{path} took {elapsed:.2f} s (budget {BUDGET_S} s)"
            assert FAKE_FINNHUB_KEY not in response.text  # no API key in any answer
            if "/batch" in path:
                assert response.status_code == 200, response.text
                body = response.json()
                assert body["quotes"][CACHED]["stale"] is True
                assert body["quotes"][CACHED]["price"] == rig.warm_price
                assert set(body["errors"]) == set(UNCACHED), body
                for error in body["errors"].values():  # per symbol: why it has no quote
                    assert error["code"] in ("provider_error", "provider_unavailable") and error["message"], body
            elif CACHED in path:
                assert response.status_code == 200, response.text
                body = response.json()
                assert body["stale"] is True, body  # the last good copy, flagged as such
                assert body["price"] == rig.warm_price and body["symbol"] == CACHED
            else:
                error = assert_error_shape(response, 503, "provider_unavailable")
                assert "unavailable" in error["message"].lower() and "provider" in error["message"].lower()
    if mode != "refused":
        assert seen.provider_requests, "the faulty stub was never asked: the test did not exercise the providers"
    if mode == "timeout":
        # The first round really waited on the hung providers, and gave up at the budget.
        assert max(s for *_, s in rounds[0]) > 3.0
    assert rig.server.proc.poll() is None, "the app process died"
