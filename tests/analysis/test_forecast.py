"""The forecast core: arithmetic against hand calculations, skill found only where it exists, no look-ahead."""
from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest
from scipy.stats import norm

from app.analysis import forecast as F

SMALL = F.Config(folds=3, fold_origins=25, max_iter=40, min_samples_leaf=100)  # quick enough for the suite, same method


def _days(n: int) -> np.ndarray:
    start = date(2015, 1, 5).toordinal()
    return np.arange(start, start + n, dtype=np.int64)


def _random_walk(seed: int, n: int = 20, t: int = 1000, sigma: float = 0.015) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 100.0 * np.exp(np.cumsum(rng.normal(0.0, sigma, (n, t)), axis=1))


def _planted(seed: int, n: int = 20, t: int = 1000, strength: float = 0.25) -> np.ndarray:
    """A walk whose next day drifts with the sign of its last 20 days' move: momentum a model can learn."""
    rng = np.random.default_rng(seed)
    shocks = rng.normal(0.0, 0.015, (n, t))
    logp = np.zeros((n, t))
    for k in range(1, t):
        past = logp[:, k - 1] - logp[:, max(0, k - 21)]
        logp[:, k] = logp[:, k - 1] + shocks[:, k] + strength * 0.015 * np.tanh(past / 0.05)
    return 100.0 * np.exp(logp)


SECTORS = ["Tech"] * 10 + ["Energy"] * 10


def test_pinball_loss_by_hand():
    # y = 1 against quantiles (0, 0.5, 2): tau 0.1 -> 0.1 x 1 = 0.1; tau 0.5 -> 0.5 x 0.5 = 0.25;
    # tau 0.9 -> (0.9 - 1) x (1 - 2) = 0.1; mean 0.45 / 3 = 0.15.
    assert F.pinball(np.array([1.0]), np.array([[0.0, 0.5, 2.0]]))[0] == pytest.approx(0.15)
    # A perfect median and a band containing y: only the tails' slack counts.
    # y = 0, q = (-1, 0, 1): tau 0.1 -> 0.1 x 1 = 0.1, 0, tau 0.9 -> 0.1 x 1 = 0.1 -> 0.2 / 3.
    assert F.pinball(np.array([0.0]), np.array([[-1.0, 0.0, 1.0]]))[0] == pytest.approx(0.2 / 3)


def test_coverage_of_a_known_distribution():
    rng = np.random.default_rng(7)
    y = rng.normal(0.0, 1.0, 400_000)
    z10, z90 = norm.ppf(0.1), norm.ppf(0.9)
    assert F.coverage(y, np.full_like(y, z10), np.full_like(y, z90)) == pytest.approx(0.8, abs=0.003)
    # A band of +-1 sigma covers 68.27 %.
    assert F.coverage(y, np.full_like(y, -1.0), np.full_like(y, 1.0)) == pytest.approx(0.6827, abs=0.003)


def test_naive_forecast_of_a_gaussian_walk_covers_80_percent():
    """The naive band (zero drift, the 60-day volatility) holds 80 % of a constant-volatility walk's 20-day returns."""
    closes = _random_walk(3, n=40, t=1200)
    feats = F.features(closes, ["X"] * 40)
    y = F.targets(closes)
    cols = F.origins(closes.shape[1], 5, last=closes.shape[1] - 1 - F.HORIZON)
    _, scale, col, stock = F.design(feats, cols)
    q = F.naive(scale)
    got = F.coverage(y[stock, col], q[:, 0], q[:, 2])
    # The volatility is estimated from 60 days, so the band is a little noisy; 80 % within 2 points.
    assert got == pytest.approx(0.8, abs=0.02)
    # Its median is zero drift, its spread the true one: sigma_daily x sqrt(20).
    assert np.nanmedian(scale) == pytest.approx(0.015 * math.sqrt(20), rel=0.05)


def test_sentiment_known_on_a_day_is_the_mean_of_the_weeks_headlines():
    days = np.arange(5, 25)
    out = F.sentiment_matrix(days, [[(10, 0.5), (12, -0.1)], []], window_days=7)
    by_day = dict(zip(days.tolist(), out[0].tolist()))
    assert math.isnan(by_day[9])  # before any headline
    assert by_day[10] == pytest.approx(0.5)
    assert by_day[12] == pytest.approx(0.2)  # (0.5 - 0.1) / 2
    assert by_day[16] == pytest.approx(0.2)  # both still inside 10..16
    assert by_day[17] == pytest.approx(-0.1)  # day 10 has left the week 11..17
    assert math.isnan(by_day[19])
    assert np.isnan(out[1]).all()


def test_newey_west_t_by_hand():
    x = np.array([1.0, 2.0, 4.0, 3.0])
    d = x - x.mean()  # mean 2.5: -1.5, -0.5, 1.5, 0.5
    gamma0 = (d @ d) / 4  # 5 / 4
    gamma1 = (d[1:] @ d[:-1]) / 4  # (0.75 - 0.75 + 0.75) / 4
    # lag 1: Bartlett weight 1 - 1/2.
    expected = 2.5 / math.sqrt((gamma0 + 2 * 0.5 * gamma1) / 4)
    assert F.newey_west_t(x, 1) == pytest.approx(expected)
    assert F.newey_west_t(x, 0) == pytest.approx(2.5 / math.sqrt(gamma0 / 4))


def test_a_random_walk_shows_no_skill():
    closes = _random_walk(11)
    trained = F.train(_days(closes.shape[1]), closes, SECTORS, [f"S{i}" for i in range(20)], config=SMALL)
    record = trained.record
    assert record["beats_naive"] is False
    assert record["pinball_loss"] >= record["naive_pinball_loss"] * 0.995
    assert record["origins"] == 3 * 25


def test_a_planted_signal_is_found():
    closes = _planted(11)
    trained = F.train(_days(closes.shape[1]), closes, SECTORS, [f"S{i}" for i in range(20)], config=SMALL)
    record = trained.record
    assert record["beats_naive"] is True
    assert record["skill"] > 0.05
    assert record["hit_rate"] > 0.6


def test_training_is_deterministic():
    closes = _planted(5, n=20, t=1000)
    days = _days(closes.shape[1])
    one = F.train(days, closes, SECTORS[:20], [f"S{i}" for i in range(20)], config=SMALL)
    two = F.train(days, closes, SECTORS[:20], [f"S{i}" for i in range(20)], config=SMALL)
    assert one.record == two.record and one.symbol_records == two.symbol_records
    assert F.forecast_last(one, closes, SECTORS[:20]) == F.forecast_last(two, closes, SECTORS[:20])


def test_changing_data_after_t_changes_nothing_made_at_t():
    closes = _planted(8, n=20, t=1000)
    t_col = 850
    changed = closes.copy()
    rng = np.random.default_rng(99)
    changed[:, t_col + 1:] *= rng.uniform(0.5, 1.5, changed[:, t_col + 1:].shape)
    a, b = F.features(closes, SECTORS[:20]), F.features(changed, SECTORS[:20])
    for name in F.FEATURES + ("scale",):
        np.testing.assert_array_equal(a[name][:, :t_col + 1], b[name][:, :t_col + 1], err_msg=name)
    assert not np.allclose(a["return_20d"][:, t_col + 30], b["return_20d"][:, t_col + 30], equal_nan=True)
    oos_a, _ = F.walk_forward(closes, SECTORS[:20], config=SMALL)
    oos_b, _ = F.walk_forward(changed, SECTORS[:20], config=SMALL)
    made_by_t = oos_a.cols <= t_col
    assert made_by_t.sum() > 50
    # Every forecast made at an origin up to T (by a model trained on targets that ended before its fold).
    np.testing.assert_array_equal(oos_a.model[made_by_t], oos_b.model[oos_b.cols <= t_col])
    np.testing.assert_array_equal(oos_a.naive[made_by_t], oos_b.naive[oos_b.cols <= t_col])


def test_folds_are_purged():
    """No training target overlaps a fold: a fold's models see only rows whose 20 days had ended."""
    closes = _random_walk(2, n=10, t=1000)
    oos, (x, y, scale, col) = F.walk_forward(closes, ["X"] * 10, config=SMALL)
    first_test = oos.cols.min()
    # The last origin any fold could train on ends its target no later than the first test origin.
    assert (col[col + F.HORIZON <= first_test]).max() + F.HORIZON <= first_test
    assert len(np.unique(oos.cols)) == 3 * 25


def test_forecast_quantiles_are_ordered_and_priced():
    closes = _planted(4, n=20, t=1000)
    trained = F.train(_days(closes.shape[1]), closes, SECTORS[:20], [f"S{i}" for i in range(20)], config=SMALL)
    for i, item in enumerate(F.forecast_last(trained, closes, SECTORS[:20])):
        q = item["quantiles"]
        assert q["p10"] <= q["p50"] <= q["p90"]
        assert item["band"]["p50"] == pytest.approx(closes[i, -1] * (1 + q["p50"]), rel=1e-5)
        assert item["naive"]["p50"] == 0.0
        path = F.fan(item["price"], item["log_quantiles"])
        assert path[0]["p10"] == pytest.approx(item["price"]) and path[-1]["p90"] == pytest.approx(item["band"]["p90"], rel=1e-4)


def test_too_short_a_history_is_refused():
    closes = _random_walk(1, n=5, t=400)
    with pytest.raises(ValueError, match="too little history"):
        F.train(_days(400), closes, ["X"] * 5, list("ABCDE"), config=SMALL)
