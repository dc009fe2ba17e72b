"""When an alert fires, and the price a stop-loss or take-profit given as a % from cost means."""
from __future__ import annotations

from decimal import Decimal

RISING = ("above", "take_profit")
FALLING = ("below", "stop_loss")


def is_triggered(kind: str, threshold: Decimal, price: Decimal) -> bool:
    """Return whether `price` meets the alert: at or above for above/take-profit, at or below otherwise."""
    if kind in RISING:
        return price >= threshold
    if kind in FALLING:
        return price <= threshold
    raise ValueError(f"unknown alert kind {kind!r}")


def threshold_from_cost(kind: str, avg_cost: Decimal, pct: Decimal) -> Decimal:
    """Return the price `pct` percent below (stop-loss) or above (take-profit) the average cost."""
    if kind == "stop_loss":
        return avg_cost * (1 - pct / 100)
    if kind == "take_profit":
        return avg_cost * (1 + pct / 100)
    raise ValueError(f"a % from cost only applies to stop_loss and take_profit, not {kind!r}")
