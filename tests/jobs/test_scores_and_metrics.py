"""The scores job's pace per index (open or closed exchange), and the per-task Prometheus metrics."""
from __future__ import annotations

import time

from prometheus_client import REGISTRY

from app.jobs import heartbeat, scores, state


def test_scores_rescore_each_index_when_due_by_its_exchange_hours(jobs_app, monkeypatch) -> None:
    app = jobs_app(DEMO_ALWAYS_OPEN=False, JOBS_SCORES_OPEN_S=300, JOBS_SCORES_CLOSED_S=3600)
    scored: list[str] = []
    from app.research import services

    monkeypatch.setattr(services, "refresh_scores", lambda universes: [
        scored.append(u.name) or {"universe": u.label, "count": 0, "seconds": 0.0} for u in universes])
    monkeypatch.setattr(scores, "index_open", lambda universe, hours: universe.name == "DAX")  # only XETRA trades
    with app.app_context():
        from app.universe import INDEX_NAMES

        first = scores.refresh.run()
        assert sorted(first) == sorted(INDEX_NAMES) == sorted(scored)  # never scored: all are due
        scored.clear()
        assert scores.refresh.run() == {}  # just scored: nothing is due
        # Ten minutes later only the open index (DAX here) is due; an hour later the closed ones too.
        for name in INDEX_NAMES:
            state.mark(f"scores:index:{name}", time.time() - 600)
        assert list(scores.refresh.run()) == ["DAX"]
        for name in INDEX_NAMES:
            state.mark(f"scores:index:{name}", time.time() - 3700)
        assert sorted(scores.refresh.run()) == sorted(INDEX_NAMES)


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_task_metrics_count_runs_duration_and_last_success(jobs_app) -> None:
    app = jobs_app()
    from app.jobs import celery_app

    celery_app.flask_app = app
    name = heartbeat.beat.name
    runs = _sample("tickerdesk_task_runs_total", task=name, state="SUCCESS")
    observed = _sample("tickerdesk_task_duration_seconds_count", task=name)
    heartbeat.beat.apply()  # eager: the same signals as in a worker
    assert _sample("tickerdesk_task_runs_total", task=name, state="SUCCESS") == runs + 1
    assert _sample("tickerdesk_task_duration_seconds_count", task=name) == observed + 1
    assert time.time() - _sample("tickerdesk_task_last_success_timestamp_seconds", task=name) < 5
    with app.app_context():
        assert state.last("scheduler") is not None
