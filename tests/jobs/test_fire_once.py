"""Two runs evaluating the same alerts at the same moment (what two workers without the run lock
would do) fire each alert once: `evaluate`'s conditional UPDATE, on the real PostgreSQL."""
from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from app.alerts.services import evaluate
from app.extensions import db
from app.models import Alert
from tests.conftest import needs_postgres, register_api


@needs_postgres
@pytest.mark.postgres
def test_concurrent_evaluations_fire_each_alert_once(pg_app) -> None:
    users = [register_api(pg_app.test_client())["id"] for _ in range(4)]
    with pg_app.app_context():
        alerts = [Alert(user_id=u, symbol=s, kind="above", threshold=Decimal("1"))
                  for u in users for s in ("SAP.DE", "AAPL", "MSFT", "ADS.DE", "BMW.DE")]
        db.session.add_all(alerts)
        db.session.commit()
        ids = {a.id for a in alerts}
    barrier = threading.Barrier(4)
    fired: list[list[int]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with pg_app.app_context():
                barrier.wait(10)
                fired.append([f["id"] for f in evaluate({s: "100" for s in ("SAP.DE", "AAPL", "MSFT", "ADS.DE",
                                                                             "BMW.DE")})])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    every = [i for run_ids in fired for i in run_ids]
    assert len(every) == len(set(every)) and set(every) >= ids, fired
