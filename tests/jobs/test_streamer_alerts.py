"""The live channel: the streamer emits `alert` for alerts fired since its watermark, whoever fired them."""
from __future__ import annotations

from datetime import timedelta

from app.alerts import services as alert_services
from app.extensions import db, socketio
from app.live import live_state
from app.models import Alert
from app.models.types import utcnow
from tests.conftest import register_api
from tests.jobs.conftest import alert_near_price


def _alerts(client) -> list[dict]:
    return [m["args"][0] for m in client.get_received("/live") if m["name"] == "alert"]


def test_the_streamer_emits_fired_alerts_once_to_their_owner_only(jobs_app) -> None:
    app = jobs_app(LIVE_LOOP=False)
    owner, other = register_api(app.test_client()), register_api(app.test_client())
    mine = socketio.test_client(app, namespace="/live", auth={"token": owner["access_token"]})
    theirs = socketio.test_client(app, namespace="/live", auth={"token": other["access_token"]})
    streamer = live_state(app).loop.streamer
    old_id = alert_near_price(app, owner["headers"])
    with app.app_context():  # fired before the streamer's watermark (the previous lock holder's): not emitted
        alert_services.evaluate({"SAP.DE": "1000000"})
        db.session.get(Alert, old_id).triggered_at = utcnow() - timedelta(minutes=5)
        db.session.commit()
    streamer.tick()
    assert _alerts(mine) == []
    alert_id = alert_near_price(app, owner["headers"])
    with app.app_context():  # fired elsewhere (the quotes job): the streamer never evaluates
        fired = alert_services.evaluate({"SAP.DE": "1000000"})
    assert [f["id"] for f in fired] == [alert_id]
    streamer.tick()
    received = _alerts(mine)
    assert [(a["id"], a["symbol"], a["triggered_price"]) for a in received] == [(alert_id, "SAP.DE", "1000000")]
    assert _alerts(theirs) == []
    streamer.tick()  # the watermark moved on: nothing twice
    assert _alerts(mine) == []


def test_the_streamer_no_longer_fires_alerts(jobs_app) -> None:
    app = jobs_app(LIVE_LOOP=False)
    owner = register_api(app.test_client())
    client = socketio.test_client(app, namespace="/live", auth={"token": owner["access_token"]})
    alert_id = alert_near_price(app, owner["headers"])
    client.emit("subscribe", {"symbols": ["SAP.DE"]}, namespace="/live")
    live_state(app).loop.streamer.tick()
    assert any(m["name"] == "quote" for m in client.get_received("/live"))
    with app.app_context():
        assert db.session.get(Alert, alert_id).active is True
