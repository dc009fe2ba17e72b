"""The beat schedule: which job runs how often (intervals from the config).

Each family's task decides per run what is due (open or closed exchanges, closed sessions,
rates and profiles past their period), so the beat only needs the fast pace. JOBS_SCHEDULE
names the families that are scheduled, out of `app.config.JOB_FAMILIES`. Importing this
module registers every task, the warm-up on worker start included.
"""
from __future__ import annotations

from typing import Any

from app.jobs import data, delivery, heartbeat, quotes, research, scores, warmup  # noqa: F401 - warmup: its signal

MIN_EXPIRES_S = 10.0  # the filesystem broker is polled once a second: a short interval must not expire in the queue
TASKS = {
    "heartbeat": (heartbeat.beat.name, "JOBS_HEARTBEAT_S"),
    "quotes": (quotes.refresh.name, "JOBS_QUOTES_OPEN_S"),
    "scores": (scores.refresh.name, "JOBS_SCORES_OPEN_S"),
    "sweep": (delivery.sweep_pending.name, "JOBS_SWEEP_S"),  # fires and deliveries a dead worker left behind
    "news": (data.news.name, "JOBS_NEWS_S"),
    "bars": (data.bars.name, "JOBS_BARS_S"),
    "fx": (data.fx.name, "JOBS_FX_S"),
    "profiles": (data.profiles.name, "JOBS_PROFILES_S"),
    "splits": (data.splits.name, "JOBS_SPLITS_S"),
    "forecasts": (research.refresh.name, "JOBS_FORECASTS_S"),  # weekly training, predictions after each close
}


def beat_schedule(cfg: Any) -> dict[str, dict[str, Any]]:
    """Return Celery's `beat_schedule` for the families in JOBS_SCHEDULE."""
    schedule = {}
    for family in cfg["JOBS_SCHEDULE"]:
        task, interval_key = TASKS[family]
        every_s = float(cfg[interval_key])
        # A run that could not start within its interval is dropped: the next one does the same work.
        schedule[family] = {"task": task, "schedule": every_s, "options": {"expires": max(every_s, MIN_EXPIRES_S)}}
    return schedule
