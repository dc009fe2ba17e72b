"""One process of the shared-budget tests: fetch quotes through a provider on the app's bridge loop.

    python tests/market/budget_child.py '{"provider": "finnhub", "settings": {...}, "symbols": [...],
                                          "priority": "user", "budget_s": 3.0, "start_at": 1700000000.0}'

Waits until `start_at` (wall clock) so that every process starts fetching at once, fetches under
the given priority the way a Celery task would (the priority set in sync code, `run_sync` carrying
it to the loop), and prints {"quotes": n, "refused": n, "other": [...], "granted": [...]} as JSON:
"granted" holds the wall-clock time of each entry the shared budget let go, the moment the app
controls (the stub's arrival stamps also carry the host's scheduling delays).
"""
from __future__ import annotations

import json
import sys
import time
from contextlib import nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from app import aio  # noqa: E402
from app.market.budget import ProviderBudget, background_priority  # noqa: E402
from app.market.client import ClientSettings, MarketClient  # noqa: E402
from app.market.providers import provider_class  # noqa: E402
from app.market.types import BudgetExhaustedError  # noqa: E402


GRANTED: list[float] = []
_take = ProviderBudget.take


async def _recording_take(self: ProviderBudget):  # noqa: ANN202 - the wrapped method's own result
    refused = await _take(self)
    if refused is None:
        GRANTED.append(time.time())
    return refused


ProviderBudget.take = _recording_take  # type: ignore[method-assign]


async def fetch(args: dict) -> dict:
    """Fetch the symbols once; return what came back."""
    provider = provider_class(args["provider"])(args["settings"])
    client = MarketClient([provider], ClientSettings(budget_s=args["budget_s"], max_attempts=1))
    try:
        result = await client.fetch_quotes(args["symbols"])
    finally:
        await client.aclose()
    refused = [e for e in result.errors.values() if isinstance(e, BudgetExhaustedError)]
    return {"quotes": len(result.quotes), "refused": len(refused),
            "other": [repr(e) for e in result.errors.values() if not isinstance(e, BudgetExhaustedError)],
            "granted": GRANTED}


def main() -> None:
    args = json.loads(sys.argv[1])
    aio.run_sync(_noop(), timeout=10)
    while time.time() < args["start_at"]:
        time.sleep(0.002)
    with background_priority() if args["priority"] == "background" else nullcontext():
        out = aio.run_sync(fetch(args), timeout=args["budget_s"] + 10)
    aio.shutdown()
    print(json.dumps(out))


async def _noop() -> None:
    """Start the bridge loop before the start line, so its start-up does not skew the processes."""


if __name__ == "__main__":
    main()
