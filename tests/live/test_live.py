"""Live updates against real gunicorn + gevent processes and the real Redis (websocket transport)."""
from __future__ import annotations

import time
from datetime import date, timedelta

import pytest
import requests
import socketio

from tests.live.conftest import Listener, api_user, page_cookie

pytestmark = pytest.mark.slow
DAY = (date.today() - timedelta(days=7)).isoformat()
# A tick emits a quote only when the price changed. Yen prices move at (nearly) every demo
# tick; a euro price in cents can stand still for many seconds (CI once waited 10 s in vain).
MOVERS = ["7203.T", "6758.T", "9984.T"]
MOVER = MOVERS[0]


def test_connect_needs_a_session_or_a_valid_token_and_respects_the_connection_limit(cluster, listeners) -> None:
    server = cluster.start(LIVE_MAX_CONNECTIONS="2")
    user = api_user(server)
    for auth in (None, {"token": "not-a-jwt"}, {"token": user["token"][:-3] + "abc"}, "just a string"):
        rejected = Listener()
        with pytest.raises(socketio.exceptions.ConnectionError):
            rejected.connect(server, auth=auth)
        assert rejected.wait_for("connect_error", 5)["data"]["code"] == "unauthorized"
    # An API client's JWT, and a page's session cookie, are both accepted.
    by_token = Listener().connect(server, token=user["token"])
    listeners.append(by_token)
    by_cookie = Listener().connect(server, headers={"Cookie": page_cookie(server, user["email"])})
    listeners.append(by_cookie)
    assert by_token.client.connected and by_cookie.client.connected
    # The third connection to this process is refused politely, with a reason.
    refused = Listener()
    with pytest.raises(socketio.exceptions.ConnectionError) as caught:
        refused.connect(server, token=user["token"])
    assert "/live" in str(caught.value)
    reason = refused.wait_for("connect_error", 5)
    assert reason["data"]["code"] == "too_many_connections" and "limit" in reason["message"]
    # A logged-out token no longer connects.
    by_cookie.close()
    assert requests.post(f"{server.url}/api/v1/auth/logout", headers=user["headers"], timeout=10).status_code == 200
    with pytest.raises(socketio.exceptions.ConnectionError):
        Listener().connect(server, token=user["token"])


def test_bad_subscriptions_get_errors_and_ticks_come_for_subscribed_symbols_only(cluster, listeners) -> None:
    server = cluster.start()
    user = api_user(server)
    client = Listener().connect(server, token=user["token"])
    listeners.append(client)

    ack = client.call("subscribe", {"symbols": "SAP.DE"})
    assert ack["subscribed"] == [] and ack["errors"]
    assert client.wait_for("error", 5)["code"] == "invalid_payload"
    too_many = client.call("subscribe", {"symbols": [f"S{i}" for i in range(101)]})
    assert too_many["subscribed"] == [] and "100" in too_many["errors"]["_"]

    # Yen prices move at (nearly) every demo tick; a euro price in cents can stand still for seconds.
    watched = ["SAP.DE", "7203.T", "6758.T", "9984.T"]
    ack = client.call("subscribe", {"symbols": ["sap.de", "NOPE.XX", *watched]})
    assert ack == {"subscribed": sorted(watched), "errors": {"NOPE.XX": "not in the stock universe"}}
    assert client.wait_for("error", 5, where=lambda e: e["code"] == "unknown_symbols")

    first = client.wait_for("quote", 15)
    time.sleep(4)
    quotes = client.of("quote")
    assert {q["symbol"] for q in quotes} <= set(watched)
    assert len(quotes) >= 3, "the demo market moves: several ticks in 4 s"
    for symbol in watched:
        prices = [q["price"] for q in quotes if q["symbol"] == symbol]
        assert all(a != b for a, b in zip(prices, prices[1:])), "a quote is emitted only when the price changed"
    assert first["source"] == "demo"

    ack = client.call("unsubscribe", {"symbols": watched})
    assert ack["subscribed"] == []
    time.sleep(1.0)  # a tick already on its way may still arrive
    after = time.monotonic()
    time.sleep(2.0)
    assert client.of("quote", since=after) == []


def test_a_client_on_one_process_gets_what_the_streamer_in_another_emits(cluster, listeners) -> None:
    quiet = cluster.start(LIVE_STREAMER="off")   # serves clients, never streams
    streaming = cluster.start()                  # may stream
    user = api_user(quiet)
    # The streaming process starts its loop with its first connection.
    listeners.append(Listener().connect(streaming, token=api_user(streaming)["token"]))
    client = Listener().connect(quiet, token=user["token"])
    listeners.append(client)
    assert client.call("subscribe", {"symbols": [MOVER]})["subscribed"] == [MOVER]
    quote = client.wait_for("quote", 15)
    assert quote["symbol"] == MOVER
    assert streaming.holds_lock() and not quiet.holds_lock()

    # An alert of this user fires (here on a page load of the quiet process; the quotes job fires it the
    # same way) and the streaming process emits it to the client on the quiet one.
    created = requests.post(f"{quiet.url}/api/v1/alerts", headers=user["headers"], timeout=10,
                            json={"symbol": MOVER, "kind": "above", "threshold": "0.01"})
    assert created.status_code == 201, created.text
    requests.get(f"{quiet.url}/api/v1/alerts", headers=user["headers"], timeout=10).raise_for_status()
    alert = client.wait_for("alert", 15)
    assert alert["id"] == created.json()["id"] and alert["symbol"] == MOVER
    stored = requests.get(f"{quiet.url}/api/v1/alerts", headers=user["headers"], timeout=10).json()
    assert [a for a in stored if a["id"] == alert["id"]][0]["active"] is False


def test_when_the_lock_holder_dies_another_process_takes_over_within_the_ttl(cluster, listeners) -> None:
    first = cluster.start()
    user = api_user(first)
    on_first = Listener().connect(first, token=user["token"])
    listeners.append(on_first)
    assert on_first.call("subscribe", {"symbols": MOVERS})["subscribed"] == sorted(MOVERS)
    on_first.wait_for("quote", 15)
    assert first.holds_lock()

    second = cluster.start()
    on_second = Listener().connect(second, token=user["token"])
    listeners.append(on_second)
    assert on_second.call("subscribe", {"symbols": MOVERS})["subscribed"] == sorted(MOVERS)
    on_second.wait_for("quote", 10)  # still streamed by the first process, through Redis
    assert not second.holds_lock()

    first.kill()
    killed = time.monotonic()
    on_second.wait_for("quote", 10, since=killed + 0.5)
    resumed = time.monotonic() - killed
    assert second.holds_lock()
    assert resumed < 2 + 3, f"ticks resumed {resumed:.1f} s after the holder died (TTL 2 s)"


def test_portfolio_and_alert_events_go_to_their_user_only(cluster, listeners) -> None:
    server = cluster.start()
    owner, other = api_user(server), api_user(server)
    bought = requests.post(f"{server.url}/api/v1/portfolio/transactions", headers=owner["headers"], timeout=10,
                           json={"symbol": MOVER, "kind": "buy", "quantity": "3", "price": "2000", "date": DAY})
    assert bought.status_code == 201, bought.text
    mine = Listener().connect(server, token=owner["token"])
    theirs = Listener().connect(server, token=other["token"])
    listeners.extend([mine, theirs])
    for listener in (mine, theirs):
        assert listener.call("subscribe", {"symbols": MOVERS})["subscribed"] == sorted(MOVERS)
    requests.post(f"{server.url}/api/v1/alerts", headers=owner["headers"], timeout=10,
                  json={"symbol": MOVER, "kind": "above", "threshold": "0.01"}).raise_for_status()
    requests.get(f"{server.url}/api/v1/alerts", headers=owner["headers"], timeout=10).raise_for_status()  # fires it

    portfolio = mine.wait_for("portfolio", 15)
    assert portfolio["base_currency"] == "EUR" and set(portfolio["holdings"]) == {MOVER}
    holding = portfolio["holdings"][MOVER]
    assert portfolio["value"] == pytest.approx(holding["market_value_base"], abs=0.02)
    assert 0 < holding["market_value_base"] < 3 * holding["price"], "yen converted to euro"
    assert mine.wait_for("alert", 15)["symbol"] == MOVER
    theirs.wait_for("quote", 10)
    time.sleep(1.5)
    assert theirs.of("portfolio") == [] and theirs.of("alert") == []
