"""/metrics: prometheus_client in multiprocess mode under two gunicorn workers, behind a token."""
from __future__ import annotations

import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.live.conftest import Listener, api_user

pytestmark = pytest.mark.slow
TOKEN = "metrics-token-for-tests"


def scrape(server) -> dict[tuple[str, tuple], float]:
    response = requests.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text) for sample in family.samples}


def total(samples, name: str, **labels: str) -> float:
    return sum(value for (n, got), value in samples.items()
               if n == name and all(dict(got).get(k) == v for k, v in labels.items()))


def test_series_add_up_across_workers(cluster, listeners, tmp_path) -> None:
    metrics_dir = tmp_path / "prometheus"
    server = cluster.start(WEB_CONCURRENCY="2", METRICS_TOKEN=TOKEN, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
    user = api_user(server)
    assert requests.get(f"{server.url}/metrics", timeout=10).status_code == 401
    wrong = requests.get(f"{server.url}/metrics", headers={"Authorization": "Bearer nope"}, timeout=10)
    assert wrong.status_code == 401

    n = 40
    for _ in range(n):  # new connections each time: the kernel spreads them over both workers
        assert requests.get(f"{server.url}/api/v1/stocks/SAP.DE/quote", headers=user["headers"],
                            timeout=10).status_code == 200
    assert requests.get(f"{server.url}/api/v1/stocks/NOPE.XX/quote", headers=user["headers"],
                        timeout=10).status_code == 404
    writers = {path.name.rsplit("_", 1)[1] for path in metrics_dir.glob("counter_*.db")}
    assert len(writers) >= 2, f"both workers wrote samples: {writers}"

    listener = Listener().connect(server, token=user["token"])
    listeners.append(listener)
    assert listener.call("subscribe", {"symbols": ["7203.T"]})["subscribed"] == ["7203.T"]
    listener.wait_for("quote", 15)
    time.sleep(6)  # let every worker publish its cache counts (every 5 s, with its next request)
    for _ in range(4):
        requests.get(f"{server.url}/api/v1/stocks/SAP.DE/quote", headers=user["headers"], timeout=10)

    samples = scrape(server)
    assert total(samples, "tickerdesk_http_requests_total", endpoint="stocks_api.quote", status="200") == n + 4
    assert total(samples, "tickerdesk_http_requests_total", endpoint="stocks_api.quote", status="404") == 1
    assert total(samples, "tickerdesk_http_request_duration_seconds_count", endpoint="stocks_api.quote") == n + 5
    assert total(samples, "tickerdesk_cache_requests_total", result="hit") > 0
    assert total(samples, "tickerdesk_cache_requests_total", result="miss") > 0
    assert total(samples, "tickerdesk_provider_calls_total", provider="demo", outcome="ok") > 0
    assert total(samples, "tickerdesk_provider_latency_seconds_count", provider="demo") > 0
    assert ("tickerdesk_provider_circuit_state", (("provider", "demo"),)) in samples
    assert total(samples, "tickerdesk_provider_circuit_state", provider="demo") == 0
    assert total(samples, "tickerdesk_websocket_connections") == 1
    assert total(samples, "tickerdesk_websocket_connects_total", result="accepted") == 1
    assert total(samples, "tickerdesk_streamer_ticks_total") > 0
    assert total(samples, "tickerdesk_streamer_events_total", event="quote") > 0

    listener.close()
    deadline = time.monotonic() + 10
    while total(scrape(server), "tickerdesk_websocket_connections") != 0:
        assert time.monotonic() < deadline, "the connection gauge goes back down on disconnect"
        time.sleep(0.2)


def test_metrics_need_the_token_and_are_off_in_production_without_one(make_app) -> None:
    dev = make_app(METRICS_TOKEN=None).test_client()
    assert dev.get("/metrics").status_code == 200  # development without a token: open
    prod = make_app(METRICS_TOKEN=None, PRODUCTION=True).test_client()
    off = prod.get("/metrics")
    assert off.status_code == 404 and b"METRICS_TOKEN" in off.data
    guarded = make_app(METRICS_TOKEN="s3cret", PRODUCTION=True).test_client()
    refused = guarded.get("/metrics", headers={"Authorization": "Bearer wrong"})
    assert refused.status_code == 401 and b"s3cret" not in refused.data
    assert guarded.get("/metrics", headers={"Authorization": "Bearer s3cret"}).status_code == 200
