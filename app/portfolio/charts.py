"""The portfolio page's allocation doughnut, drawn on the server as SVG paths (no chart library).

Each slice is an annular sector from the running share of the total; a part that is the whole
is drawn as two half rings (an SVG arc cannot start and end at the same point).
"""
from __future__ import annotations

import math
from typing import Any

PALETTE = ("#0172ad", "#1a7f37", "#bc4c00", "#6f42c1", "#cf222e", "#1b7c83", "#9a6700", "#8250df",
           "#57606a", "#0969da", "#bf3989", "#2da44e")
SIZE, OUTER, INNER = 200, 96, 58  # viewBox side and the ring's radii


def doughnut(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return `{key, weight, color, path}` per part with a positive value, largest first as given."""
    values = [(p["key"], float(p.get("value") or 0)) for p in parts]
    total = sum(v for _, v in values if v > 0)
    if total <= 0:
        return []
    out, start = [], 0.0
    for i, (key, value) in enumerate(v for v in values if v[1] > 0):
        share = value / total
        end = start + share
        path = _ring(start, (start + end) / 2) + " " + _ring((start + end) / 2, end) if share > 0.5 \
            else _ring(start, end)
        out.append({"key": key, "weight": share, "color": PALETTE[i % len(PALETTE)], "path": path})
        start = end
    return out


def _ring(a: float, b: float) -> str:
    """One annular sector from share a to share b (clockwise from twelve o'clock)."""
    c = SIZE / 2

    def point(share: float, radius: float) -> str:
        angle = 2 * math.pi * share - math.pi / 2
        return f"{c + radius * math.cos(angle):.2f} {c + radius * math.sin(angle):.2f}"

    large = 1 if b - a > 0.5 else 0
    return (f"M {point(a, OUTER)} A {OUTER} {OUTER} 0 {large} 1 {point(b, OUTER)} "
            f"L {point(b, INNER)} A {INNER} {INNER} 0 {large} 0 {point(a, INNER)} Z")
