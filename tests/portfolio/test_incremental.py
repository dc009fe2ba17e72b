"""After one transaction is edited, the performance is recomputed from that transaction's day on only,
and comes out exactly as a computation from scratch."""
from __future__ import annotations

from datetime import date, timedelta

from prometheus_client import REGISTRY

from app.market.service import utc_today
from app.models import User
from app.extensions import db
from app.portfolio import services
from app.portfolio.schemas import PerformanceSchema
from tests.portfolio.helpers import TXN, ok_txn

PERF = "/api/v1/portfolio/performance?range=max"


def _valued() -> float:
    return REGISTRY.get_sample_value("tickerdesk_performance_days_valued_total") or 0.0


def _weekdays(start: date, end: date) -> int:
    return sum(1 for n in range((end - start).days + 1) if (start + timedelta(n)).weekday() < 5)


def test_an_edit_revalues_only_the_days_from_it_and_matches_a_full_computation(app, client, auth) -> None:
    h = auth["headers"]
    ok_txn(client, h, "buy", "SAP.DE", "10", "120", "2021-03-01")
    ok_txn(client, h, "buy", "AAPL", "5", "130", "2022-06-01")
    edited = ok_txn(client, h, "buy", "SAP.DE", "4", "140", "2024-02-05")
    ok_txn(client, h, "sell", "SAP.DE", "3", "160", "2025-01-06")
    assert client.get(PERF, headers=h).get_json()["status"] == "ready"
    before = _valued()
    changed = client.put(f"{TXN}/{edited['id']}", headers=h, json={
        "symbol": "SAP.DE", "kind": "buy", "quantity": "6", "price": "140", "date": "2024-02-05"})
    assert changed.status_code == 200
    incremental = client.get(PERF, headers=h).get_json()
    assert incremental["status"] == "ready"
    # Only 2024-02-05 (a Monday) to today were valued again, not the three years before.
    assert _valued() - before == _weekdays(date(2024, 2, 5), utc_today())
    with app.app_context():
        user = db.session.get(User, auth["id"])
        inputs = services._performance_inputs(user, "max")
        services.forget_series(auth["id"])
        full = services._performance(inputs.rows, inputs.base, inputs.benchmark, "max", inputs.splits)
    shown = PerformanceSchema().dump({**full, "risk": {**full["risk"], "sharpe": incremental["risk"]["sharpe"],
                                                       "risk_free_rate": 0.0}})
    for part in ("series", "returns", "monthly", "twr_index", "risk", "benchmark"):
        assert incremental[part] == shown[part], part


def test_without_a_kept_series_every_day_is_valued(client, auth) -> None:
    h = auth["headers"]
    ok_txn(client, h, "buy", "SAP.DE", "10", "120", "2024-03-04")
    before = _valued()
    assert client.get(PERF, headers=h).get_json()["status"] == "ready"
    assert _valued() - before == _weekdays(date(2024, 3, 4), utc_today())
