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


def test_rounds_start_one_interval_apart_however_long_a_round_takes(make_app, monkeypatch) -> None:
    """The loop sleeps what is left of the interval after the round: rounds start `interval` apart.

    Reading the clock before the round ran used to subtract its duration twice, so a round of
    0.1 s at a 0.25 s pace started the next one 0.15 s later.
    """
    import threading
    import time as _time

    app, _client = _connected(make_app, LIVE_TICK_OPEN_S=0.25)
    loop = live_state(app).loop
    starts: list[float] = []

    def slow_tick() -> float:
        starts.append(_time.monotonic())
        _time.sleep(0.1)
        if len(starts) >= 6:
            loop.stopped.set()
        return 0.25

    monkeypatch.setattr(loop.streamer, "tick", slow_tick)
    runner = threading.Thread(target=loop.run, daemon=True)
    runner.start()
    runner.join(10)
    assert not runner.is_alive() and len(starts) == 6
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert all(0.23 <= gap <= 0.40 for gap in gaps), gaps


def test_one_users_failing_portfolio_does_not_stop_anyone_elses(make_app, monkeypatch) -> None:
    """A user whose portfolio cannot be valued (here: the valuation raises for them) gets nothing
    this tick; every other connected user still gets their `portfolio` event, and quotes go out."""
    from app.portfolio import services as portfolio_services

    app = make_app(LIVE_LOOP=False, DEMO_TICK_S=3600.0)
    web = app.test_client()
    broken, fine = register_api(web), register_api(web)
    day = "2026-11-02"
    for user in (broken, fine):
        bought = web.post("/api/v1/portfolio/transactions", headers=user["headers"], json={
            "symbol": "SAP.DE", "kind": "buy", "quantity": "2", "price": "100", "date": day})
        assert bought.status_code == 201, bought.get_json()
    clients = {name: socketio.test_client(app, namespace="/live", auth={"token": user["access_token"]})
               for name, user in (("broken", broken), ("fine", fine))}
    real = portfolio_services.portfolio

    def valuation(user, *args, **kwargs):
        if user.id == broken["id"]:
            raise OverflowError("date value out of range")  # what a 0001-01-01 transaction used to raise
        return real(user, *args, **kwargs)

    monkeypatch.setattr(portfolio_services, "portfolio", valuation)
    live_state(app).loop.streamer.tick()
    received = {name: [m["name"] for m in c.get_received("/live")] for name, c in clients.items()}
    assert "portfolio" in received["fine"], received
    assert "portfolio" not in received["broken"], received


def test_the_session_check_disconnects_sockets_whose_session_ended_elsewhere(make_app) -> None:
    """Another process ended the session (here: its row is deleted directly, as that process would):
    this process's loop finds the socket on its next check and disconnects it."""
    from sqlalchemy import delete

    from app.extensions import db
    from app.models import LoginSession

    app = make_app(LIVE_LOOP=False)
    user, other = register_api(app.test_client()), register_api(app.test_client())
    ending = socketio.test_client(app, namespace="/live", auth={"token": user["access_token"]})
    staying = socketio.test_client(app, namespace="/live", auth={"token": other["access_token"]})
    loop = live_state(app).loop
    assert loop.check_sessions() == 0
    with app.app_context():
        db.session.execute(delete(LoginSession).where(LoginSession.user_id == user["id"]))
        db.session.commit()  # bypasses app.auth.sessions: nothing in this process was told
    assert ending.is_connected("/live")
    assert loop.check_sessions() == 1
    assert not ending.is_connected("/live") and staying.is_connected("/live")
    assert len(live_state(app).registry) == 1


def test_market_status_says_when_the_demo_market_replays_a_session(make_app) -> None:
    """With the demo market first in the chain and DEMO_ALWAYS_OPEN, prices move while an exchange is
    closed: its market_status says `simulated`, so the page does not say "markets closed" beside them."""
    for always_open, providers in ((True, ("demo",)), (False, ("demo",)), (True, ("yahoo", "demo"))):
        app, client = _connected(make_app, DEMO_TICK_S=3600.0, DEMO_ALWAYS_OPEN=always_open, MARKET_PROVIDERS=providers)
        client.emit("subscribe", {"symbols": ["SAP.DE"]}, namespace="/live")
        streamer = live_state(app).loop.streamer
        with app.app_context():
            streamer._market_status({"SAP.DE"})
        status = [m["args"][0] for m in client.get_received("/live") if m["name"] == "market_status"]
        assert [s["exchange"] for s in status] == ["XETR"]
        assert status[0]["simulated"] is (always_open and providers[0] == "demo"), (always_open, providers)
        real = exchange_status("XETR", datetime.now(timezone.utc))["open"]
        assert status[0]["open"] is real  # the exchange's own state stays as it is
        client.disconnect(namespace="/live")
