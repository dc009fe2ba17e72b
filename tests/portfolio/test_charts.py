"""The allocation doughnut's geometry, drawn on the server (checked against the circle by hand)."""
from __future__ import annotations

import re

import pytest

from app.portfolio.charts import INNER, OUTER, SIZE, doughnut


def _points(path: str) -> list[tuple[float, float]]:
    numbers = [float(n) for n in re.findall(r"-?\d+\.\d+", path)]
    return list(zip(numbers[0::2], numbers[1::2]))


def test_slices_start_at_twelve_and_turn_clockwise_by_their_share():
    slices = doughnut([{"key": "A", "value": "1"}, {"key": "B", "value": "1"}, {"key": "C", "value": "2"}])
    assert [s["key"] for s in slices] == ["A", "B", "C"]
    assert [s["weight"] for s in slices] == pytest.approx([0.25, 0.25, 0.5])
    c = SIZE / 2
    # A: a quarter, from twelve o'clock (c, c - R) to three o'clock (c + R, c) on the outer circle.
    a = _points(slices[0]["path"])
    assert a[0] == pytest.approx((c, c - OUTER)) and a[1] == pytest.approx((c + OUTER, c))
    assert a[2] == pytest.approx((c + INNER, c)) and a[3] == pytest.approx((c, c - INNER))
    # B: three to six o'clock.
    b = _points(slices[1]["path"])
    assert b[0] == pytest.approx((c + OUTER, c)) and b[1] == pytest.approx((c, c + OUTER))
    assert len({s["color"] for s in slices}) == 3


def test_a_single_holding_is_a_whole_ring_and_empty_parts_are_left_out():
    (whole,) = doughnut([{"key": "SAP.DE", "value": "500"}, {"key": "X", "value": "0"}])
    assert whole["weight"] == 1.0 and whole["path"].count("M ") == 2  # two half rings
    assert doughnut([]) == [] and doughnut([{"key": "X", "value": None}]) == []
