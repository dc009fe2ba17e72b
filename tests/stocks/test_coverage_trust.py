"""The record of which days' bars are stored lives in the (shared) cache; the database may not match it."""
from __future__ import annotations

import pytest

from tests.conftest import TEST_REDIS_URL, needs_redis, register_api


@needs_redis
@pytest.mark.redis
def test_a_fresh_database_next_to_an_older_redis_fetches_its_bars_again(make_app) -> None:
    # Both apps share the test's cache namespace (conftest), which is emptied when the test ends.
    first = make_app(redis_url=TEST_REDIS_URL)
    client = first.test_client()
    bars = client.get("/api/v1/stocks/SAP.DE/history?range=1y", headers=register_api(client)["headers"])
    assert bars.status_code == 200 and len(bars.get_json()["bars"]) > 200

    # Same Redis (which remembers that SAP.DE's year is stored), a new empty database: as after a
    # restore, or a second deployment sharing a Redis. Its history must come back whole, not empty.
    second = make_app(redis_url=TEST_REDIS_URL)
    client = second.test_client()
    headers = register_api(client)["headers"]
    for key in ("history:*", "closes:*", "lastgood:*"):  # only the coverage record stays behind
        client.application.extensions["tickerdesk_cache"].invalidate(key)
    again = client.get("/api/v1/stocks/SAP.DE/history?range=1y", headers=headers)
    assert again.status_code == 200
    assert len(again.get_json()["bars"]) == len(bars.get_json()["bars"])
