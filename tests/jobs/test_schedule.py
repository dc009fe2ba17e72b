"""The beat schedule: every family by default, at its configured pace; unknown names refused."""
from __future__ import annotations

import pytest

from app.config import ConfigError, load_config
from app.jobs.schedule import beat_schedule


def test_the_default_schedule_runs_every_family_at_its_pace(tmp_path) -> None:
    cfg = load_config(env={"SECRET_KEY": "s" * 40}, instance_dir=tmp_path)
    schedule = beat_schedule(cfg)
    assert {name: (entry["task"], entry["schedule"]) for name, entry in schedule.items()} == {
        "heartbeat": ("jobs.heartbeat", 15.0), "quotes": ("jobs.quotes.refresh", 60.0),
        "scores": ("jobs.scores.refresh", 300.0), "sweep": ("delivery.sweep", 60.0),
        "news": ("jobs.data.news", 900.0), "bars": ("jobs.data.bars", 900.0),
        "fx": ("jobs.data.fx", 3600.0), "profiles": ("jobs.data.profiles", 3600.0),
        "splits": ("jobs.data.splits", 21600.0), "forecasts": ("jobs.research.refresh", 3600.0)}


def test_an_unknown_job_name_is_a_config_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match="unknown jobs: nope"):
        load_config(env={"SECRET_KEY": "s" * 40, "JOBS_SCHEDULE": "quotes,nope"}, instance_dir=tmp_path)
