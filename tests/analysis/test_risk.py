"""Risk figures against hand-computed drawdowns and numpy's standard deviation."""
from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pytest

from app.analysis.risk import PERIODS_PER_YEAR, max_drawdown, risk, sharpe

D0 = date(2025, 1, 6)


def _index(levels: list[float]) -> list[tuple[date, float]]:
    return [(D0 + timedelta(days=i), level) for i, level in enumerate(levels)]


def test_the_deepest_fall_is_found_with_its_peak_trough_and_recovery() -> None:
    # 110 -> 88 is -20 %, back above 110 on day 5; 112 -> 90 later is only -19.6 %.
    found = max_drawdown(_index([100, 110, 99, 88, 105, 112, 90]))
    assert found["depth"] == pytest.approx(88 / 110 - 1) == pytest.approx(-0.2)
    assert (found["peak"], found["trough"], found["recovered"]) == (D0 + timedelta(1), D0 + timedelta(3),
                                                                    D0 + timedelta(5))
    assert found["duration_days"] == 4


def test_an_unrecovered_fall_lasts_until_the_last_day() -> None:
    found = max_drawdown(_index([100, 120, 90, 95, 100]))
    assert found["depth"] == pytest.approx(-0.25) and found["recovered"] is None
    assert found["duration_days"] == 3  # peak on day 1, last day 4


def test_a_rising_index_has_no_drawdown() -> None:
    assert max_drawdown(_index([100, 101, 101, 105])) == {"depth": 0.0, "peak": None, "trough": None,
                                                          "recovered": None, "duration_days": 0}


def test_volatility_and_sharpe_follow_numpy() -> None:
    rng = np.random.default_rng(7)
    levels = list(100 * np.cumprod(1 + rng.normal(0.0005, 0.01, 300)))
    figures = risk(_index(levels))
    day_returns = np.diff(levels) / levels[:-1]
    expected_vol = np.std(day_returns, ddof=1) * math.sqrt(365.25 * 5 / 7)
    assert figures["volatility"] == pytest.approx(expected_vol, rel=1e-12)
    assert figures["mean_return"] == pytest.approx(day_returns.mean() * PERIODS_PER_YEAR, rel=1e-12)
    expected_sharpe = (day_returns.mean() * PERIODS_PER_YEAR - 0.03) / expected_vol
    assert sharpe(figures, 0.03) == pytest.approx(expected_sharpe, rel=1e-12)
    assert figures["days"] == 299


def test_too_short_a_series_has_no_volatility_or_sharpe() -> None:
    figures = risk(_index([100, 101]))
    assert figures["volatility"] is None and sharpe(figures, 0.0) is None
    flat = risk(_index([100, 100, 100]))
    assert flat["volatility"] == 0 and sharpe(flat, 0.0) is None
