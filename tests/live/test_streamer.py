"""The streamer's own rules, in process: calendars, tick pace, emitting changes only."""
from __future__ import annotations

from datetime import datetime, timezone

from app.extensions import socketio
from app.live import live_state
from app.live.streamer import exchange_status
from tests.conftest import register_api


def test_exchange_status_follows_the_trading_calendar() -> None:
    saturday = exchange_status("XETR", datetime(2026, 11, 21, 12, tzinfo=timezone.utc))
    assert saturday == {"exchange": "XETR", "open": False, "next_change": "2026-11-23T08:00:00+00:00"}
    monday = exchange_status("XETR", datetime(2026, 11, 23, 10, tzinfo=timezone.utc))
    assert monday["open"] is True and monday["next_change"] == "2026-11-23T16:30:00+00:00"
    christmas = exchange_status("XNYS", datetime(2026, 12, 25, 16, tzinfo=timezone.utc))
    assert christmas["open"] is False


def _connected(make_app, **config):
    app = make_app(LIVE_LOOP=False, **config)
    user = register_api(app.test_client())
    client = socketio.test_client(app, namespace="/live", auth={"token": user["access_token"]})
    assert client.is_connected("/live")
    return app, client


def test_quotes_only_on_change_and_market_status_once_per_change(make_app) -> None:
    # An hour per demo tick: two ticks a moment apart see the same price.
    app, client = _connected(make_app, DEMO_TICK_S=3600.0)
    client.emit("subscribe", {"symbols": ["SAP.DE", "AAPL"]}, namespace="/live")
    streamer = live_state(app).loop.streamer
    streamer.tick()
    first = client.get_received("/live")
    assert sorted(m["args"][0]["symbol"] for m in first if m["name"] == "quote") == ["AAPL", "SAP.DE"]
    assert sorted(m["args"][0]["exchange"] for m in first if m["name"] == "market_status") == ["XETR", "XNAS"]
    streamer.tick()
    assert client.get_received("/live") == []
    # A changed price is emitted again, to that symbol's room only.
    streamer.last_prices["SAP.DE"] = -1.0
    streamer.tick()
    assert [(m["name"], m["args"][0]["symbol"]) for m in client.get_received("/live")] == [("quote", "SAP.DE")]


def test_tick_pace_follows_the_market(make_app) -> None:
    app, client = _connected(make_app, DEMO_ALWAYS_OPEN=False, LIVE_TICK_OPEN_S=0.5, LIVE_TICK_CLOSED_S=30)
    client.emit("subscribe", {"symbols": ["SAP.DE"]}, namespace="/live")
    streamer = live_state(app).loop.streamer
    wait = streamer.tick()
    assert wait == (0.5 if streamer.market["XETR"] else 30)
    app.config["DEMO_ALWAYS_OPEN"] = True  # the demo replays a session: always the fast pace
    assert streamer.tick() == 0.5
