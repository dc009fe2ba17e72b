"""The shared provider budget (app.market.budget): real OS processes against the stub provider server,
sharing one budget in the real Redis or, without Redis, in one SQLite file on the host.

Expected counts come from the providers' limits by hand:
- Finnhub "60/minute;30/second": within a few seconds 30 go out in the first second, 30 in the
  next, then the minute is spent: 60 in all, never more than 30 in one second.
- Alpha Vantage "5/minute;25/day", BUDGET_BACKGROUND_SHARE 0.8: background work may fill
  floor(0.8 × 5) = 4 of a minute and floor(0.8 × 25) = 20 of a day; users the rest.
"""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis

from app.config import ConfigError, load_config
from app.market.budget import BACKGROUND, ProviderBudget, background_priority, parse_budget, priority
from app.market.budget_store import HostWindows, SharedWindows
from app.market.client import ClientSettings, MarketClient
from app.market.providers.finnhub import FinnhubProvider
from app.market.types import BudgetExhaustedError

CHILD = Path(__file__).with_name("budget_child.py")
ROOT = Path(__file__).resolve().parents[2]
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL")
needs_redis = pytest.mark.skipif(not TEST_REDIS_URL, reason="TEST_REDIS_URL not set: shared-budget Redis tests skipped")


@pytest.fixture
def budget_prefix() -> Any:
    """A Redis key prefix of this test's own; every key under it is deleted afterwards."""
    prefix = f"tdtest:{uuid.uuid4().hex[:12]}:budget"
    yield prefix
    if TEST_REDIS_URL:
        client = redis.Redis.from_url(TEST_REDIS_URL)
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture(params=["redis", "sqlite"])
def store_settings(request, budget_prefix, tmp_path) -> dict[str, Any]:
    """Where the processes keep the budget: the real Redis, or (no Redis) one SQLite file on the host."""
    if request.param == "redis":
        if not TEST_REDIS_URL:
            pytest.skip("TEST_REDIS_URL not set: the Redis-shared budget needs a real Redis")
        return {"REDIS_URL": TEST_REDIS_URL, "BUDGET_KEY_PREFIX": budget_prefix,
                "BUDGET_SQLITE_PATH": str(tmp_path / "fallback.sqlite3")}
    return {"BUDGET_SQLITE_PATH": str(tmp_path / "provider_budget.sqlite3")}


def run_processes(*jobs: dict[str, Any], start_in_s: float = 2.5) -> list[dict[str, Any]]:
    """Run each job in its own Python process, all starting to fetch at the same instant; return their outputs."""
    start_at = time.time() + start_in_s
    procs = [subprocess.Popen([sys.executable, str(CHILD), json.dumps({**job, "start_at": start_at})],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for job in jobs]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err[-3000:]
        outputs.append(json.loads(out.strip().splitlines()[-1]))
    return outputs


def most_in_any_window(stamps: list[float], window_s: float) -> int:
    """The largest number of stamps inside one window of `window_s` seconds."""
    stamps = sorted(stamps)
    best, lo = 0, 0
    for hi, at in enumerate(stamps):
        while at - stamps[lo] >= window_s:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def unlimited_locally(prefix: str) -> dict[str, Any]:
    """Settings that switch the per-process smoothing off, so only the shared budget limits."""
    return {f"{prefix}_RATE_PER_S": 0, f"{prefix}_CONCURRENCY": 50, f"{prefix}_TIMEOUT_S": 2.0}


# -- across processes --------------------------------------------------------------------------


def test_two_processes_never_exceed_finnhubs_limits_together(stub, fake_keys, store_settings) -> None:
    settings = stub.settings(**fake_keys, **unlimited_locally("FINNHUB"), **store_settings)
    job = {"provider": "finnhub", "settings": settings, "priority": "user", "budget_s": 3.0}
    one, two = run_processes({**job, "symbols": [f"A{i}" for i in range(50)]},
                             {**job, "symbols": [f"B{i}" for i in range(50)]})
    # Each alone could have had 50 (a budget per process would let 100 through); together: 60.
    assert one["quotes"] + two["quotes"] == 60, (one, two)
    # The other 40 never went out: refused by the budget, or (on a loaded machine) out of time first.
    assert one["refused"] + two["refused"] + len(one["other"]) + len(two["other"]) == 40, (one, two)
    assert sum(r.path == "/api/v1/quote" for r in stub.requests) == 60
    # 30/second, judged where the app decides: the moments the shared budget let each request go.
    # (The stub's arrival stamps also carry the host's scheduling: on a loaded CI machine a stalled
    # stub thread once stamped all 60 within 2 ms.) A grant is stamped just after the budget's
    # check, so a window 50 ms short of the second must never hold more than 30.
    granted = one["granted"] + two["granted"]
    assert len(granted) == 60
    assert most_in_any_window(granted, 0.95) <= 30
    # And the second 30 really waited for the first second to pass.
    assert max(granted) - min(granted) >= 0.95


def test_background_cannot_take_the_users_part_of_a_window(stub, fake_keys, store_settings) -> None:
    settings = stub.settings(**fake_keys, **unlimited_locally("ALPHAVANTAGE"), **store_settings)
    # A roomy time budget: a loaded machine (CI) must not turn a slow SQLite lock into a refusal.
    job = {"provider": "alphavantage", "settings": settings, "budget_s": 3.0}
    # Two pipeline processes at once: 4 of the minute's 5 between them, then no more.
    bg1, bg2 = run_processes({**job, "priority": "background", "symbols": [f"P{i}" for i in range(4)]},
                             {**job, "priority": "background", "symbols": [f"Q{i}" for i in range(4)]})
    # The other 4 never went out: refused, or (on a loaded machine) out of time first (CI saw 3 + 1).
    assert bg1["quotes"] + bg2["quotes"] == 4
    assert bg1["refused"] + bg2["refused"] + len(bg1["other"]) + len(bg2["other"]) == 4, (bg1, bg2)
    # A user still finds the fifth; then the minute is spent for everyone.
    (user,) = run_processes({**job, "priority": "user", "symbols": ["U1", "U2"]}, start_in_s=3.5)
    assert (user["quotes"], user["refused"], user["other"]) == (1, 1, [])
    assert sum(r.path == "/query" for r in stub.requests) == 5


def test_alpha_vantages_day_budget_holds_across_processes(stub, fake_keys, store_settings) -> None:
    # A minute roomy enough that the day's 25 is what binds.
    settings = stub.settings(**fake_keys, **unlimited_locally("ALPHAVANTAGE"), **store_settings,
                             ALPHAVANTAGE_BUDGET="100/minute;25/day")
    job = {"provider": "alphavantage", "settings": settings, "budget_s": 1.5}
    bg1, bg2 = run_processes({**job, "priority": "background", "symbols": [f"P{i}" for i in range(15)]},
                             {**job, "priority": "background", "symbols": [f"Q{i}" for i in range(15)]})
    assert bg1["quotes"] + bg2["quotes"] == 20  # floor(0.8 × 25)
    user1, user2 = run_processes({**job, "priority": "user", "symbols": [f"U{i}" for i in range(4)]},
                                 {**job, "priority": "user", "symbols": [f"V{i}" for i in range(4)]})
    assert user1["quotes"] + user2["quotes"] == 5 and user1["refused"] + user2["refused"] == 3
    (late,) = run_processes({**job, "priority": "user", "symbols": ["W1"]}, start_in_s=1.5)
    assert late["quotes"] == 0 and late["refused"] == 1
    assert sum(r.path == "/query" for r in stub.requests) == 25


# -- in one process --------------------------------------------------------------------------------


def test_a_user_call_never_waits_behind_the_background_share(tmp_path) -> None:
    budget = ProviderBudget("alphavantage", parse_budget("5/minute"), HostWindows(tmp_path / "b.sqlite3"), 0.8)

    async def main() -> None:
        with background_priority():
            for _ in range(4):
                assert await budget.take() is None
            wait_s, _ = await budget.take()
            assert 59 < wait_s <= 60  # background waits for the oldest of its 4 to leave the minute
        started = time.monotonic()
        assert await budget.take() is None  # the user's fifth: at once
        assert time.monotonic() - started < 0.5
        assert (await budget.take())[0] > 59

    asyncio.run(main())


def test_a_spent_budget_fails_over_without_opening_the_circuit(stub, fake_keys, tmp_path) -> None:
    settings = stub.settings(**fake_keys, **unlimited_locally("FINNHUB"), FINNHUB_BUDGET="2/minute",
                             BUDGET_SQLITE_PATH=str(tmp_path / "b.sqlite3"))

    async def main():
        async with aiohttp.ClientSession() as session:
            client = MarketClient([FinnhubProvider(settings, session=session)],
                                  ClientSettings(budget_s=1.0, breaker_threshold=1))
            result = await client.fetch_quotes(["A", "B", "C", "D"])
            await client.aclose()
            return result, client.circuit_states()

    started = time.monotonic()
    result, circuits = asyncio.run(main())
    assert len(result.quotes) == 2 and len(result.errors) == 2
    refusal = next(iter(result.errors.values()))
    assert isinstance(refusal, BudgetExhaustedError) and refusal.retry_after_s > 50
    assert circuits == {"finnhub": "closed"}
    assert time.monotonic() - started < 1.0  # a minute away: refused at once, not after the deadline
    assert stub.request_count == 2


@needs_redis
def test_keys_live_under_the_prefix_and_never_hold_the_api_key(stub, fake_keys, budget_prefix, tmp_path) -> None:
    settings = stub.settings(**fake_keys, **unlimited_locally("FINNHUB"), REDIS_URL=TEST_REDIS_URL,
                             BUDGET_KEY_PREFIX=budget_prefix, BUDGET_SQLITE_PATH=str(tmp_path / "b.sqlite3"))

    async def main() -> None:
        async with aiohttp.ClientSession() as session:
            provider = FinnhubProvider(settings, session=session)
            await provider.quotes(["AAPL"])
            await provider.aclose()

    asyncio.run(main())
    client = redis.Redis.from_url(TEST_REDIS_URL)
    keys = sorted(k.decode() for k in client.scan_iter(match=budget_prefix + "*"))
    client.close()
    assert len(keys) == 2 and all(k.startswith(budget_prefix + ":LIMITER/finnhub/") for k in keys)
    assert not any(fake_keys["FINNHUB_API_KEY"] in k for k in keys)
    assert not (tmp_path / "b.sqlite3").exists()  # Redis answered: the host file was never needed


def test_without_redis_the_budget_falls_back_to_the_host_file(tmp_path) -> None:
    # Nothing listens on port 1: Redis is down from the start.
    store = SharedWindows("redis://127.0.0.1:1/0", "tdtest:nowhere", fallback=HostWindows(tmp_path / "b.sqlite3"))

    async def main() -> list[bool]:
        taken = [await store.acquire_entry("k", 2, 60) for _ in range(3)]
        await store.aclose()
        return taken

    assert asyncio.run(main()) == [True, True, False]
    assert store.breaker.is_open and store.breaker.outages == 1


def test_priority_defaults_to_user_and_is_restored() -> None:
    assert priority.get() == "user"
    with background_priority():
        assert priority.get() == BACKGROUND
    assert priority.get() == "user"


def test_settings_are_validated() -> None:
    base = {"TICKERDESK_ENV": "testing", "SECRET_KEY": "x" * 40}
    assert load_config(base)["BUDGET_BACKGROUND_SHARE"] == 0.8
    assert load_config({**base, "FINNHUB_BUDGET": "30/minute"})["FINNHUB_BUDGET"] == "30/minute"
    with pytest.raises(ConfigError, match="BUDGET_BACKGROUND_SHARE"):
        load_config({**base, "BUDGET_BACKGROUND_SHARE": "1.5"})
    with pytest.raises(ConfigError, match="FINNHUB_BUDGET"):
        load_config({**base, "FINNHUB_BUDGET": "lots"})


def test_the_app_shares_the_budget_through_its_redis_or_jobs_dir(make_app) -> None:
    from app.market.service import chain_settings

    app = make_app()
    _, settings = chain_settings(app.config)
    assert settings["BUDGET_SQLITE_PATH"] == os.path.join(app.config["JOBS_DIR"], "provider_budget.sqlite3")
    assert settings["BUDGET_KEY_PREFIX"] == app.config["CACHE_KEY_PREFIX"] + "budget"
    assert settings["BUDGET_BACKGROUND_SHARE"] == 0.8
