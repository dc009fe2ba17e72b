"""Alert services: create, list, delete, re-arm, and evaluate against new quotes.

`evaluate` is the one place alerts fire; page loads call it through `check_user_alerts`
and the live streamer calls it with every batch of new quotes. An alert fires once: the
UPDATE only matches while it is active, so two processes seeing the same quote cannot
both fire it.
"""
from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from flask_babel import gettext
from sqlalchemy import func, select, update

from app.analysis import alerts as rules
from app.analysis import portfolio as pm
from app.extensions import db
from app.market import corporate
from app.market.service import quotes_for
from app.models import Alert
from app.models.types import utcnow
from app.ops.errors import APIError, validation_error
from app.portfolio.amounts import INTEGER_DIGITS, LIMITS, fits
from app.stocks.services import canonical

KINDS = ("above", "below", "stop_loss", "take_profit")
MAX_ALERTS = 200


def alerts(user_id: int) -> list[Alert]:
    """Return the user's alerts, newest first."""
    return list(db.session.scalars(select(Alert).where(Alert.user_id == user_id).order_by(Alert.id.desc())))


def get_alert(user_id: int, alert_id: int) -> Alert:
    """Return one of the user's alerts, or a 404 (also for another user's id)."""
    found = db.session.scalar(select(Alert).where(Alert.id == alert_id, Alert.user_id == user_id))
    if found is None:
        raise APIError(404, gettext("No such alert."), code="not_found")
    return found


def create_alert(user_id: int, symbol: str, kind: str, threshold: Decimal | None = None,
                 threshold_pct: Decimal | None = None) -> Alert:
    """Create an alert at a price, or for stop-loss / take-profit at a % from the holding's average cost."""
    symbol, threshold = alert_threshold(user_id, symbol, kind, threshold, threshold_pct)
    count = db.session.scalar(select(func.count(Alert.id)).where(Alert.user_id == user_id)) or 0
    if count >= MAX_ALERTS:
        raise APIError(409, gettext("At most %(count)s alerts per account.", count=MAX_ALERTS), code="limit_reached")
    alert = Alert(user_id=user_id, symbol=symbol, kind=kind, threshold=threshold,
                  threshold_pct=threshold_pct)
    db.session.add(alert)
    db.session.commit()
    return alert


def alert_threshold(user_id: int, symbol: str, kind: str, threshold: Decimal | None,
                    threshold_pct: Decimal | None) -> tuple[str, Decimal]:
    """Check an alert's input; return its symbol as stored and the price it fires at (nothing is stored)."""
    symbol = canonical(symbol)
    if kind not in KINDS:
        raise validation_error({"kind": [gettext("Must be one of: %(choices)s.", choices=", ".join(KINDS))]})
    if (threshold is None) == (threshold_pct is None):
        # Left English: app/alerts/pages.py looks up this text and the next one (PAGE_MESSAGES) for its form's wording.
        raise validation_error({"threshold": ["Give a price threshold or a threshold_pct (not both)."]})
    if threshold_pct is not None:
        if kind not in ("stop_loss", "take_profit"):
            raise validation_error({"threshold_pct": ["A % from cost only applies to stop_loss and take_profit."]})
        if not fits(threshold_pct) or not (0 < threshold_pct < 100 if kind == "stop_loss"
                                           else 0 < threshold_pct <= 1000):
            raise validation_error({"threshold_pct": [gettext("Must be between 0 and 100 for a stop-loss, "
                                                              "0 and 1000 for a take-profit.")]})
        threshold = rules.threshold_from_cost(kind, _average_cost(user_id, symbol), threshold_pct)
    # A threshold from cost has as many places as the average cost; it is rounded below, so only its size counts.
    if not threshold.is_finite() or (not threshold.is_zero() and threshold.adjusted() >= INTEGER_DIGITS):
        raise validation_error({"threshold": [str(LIMITS)]})  # lazy: made text here
    threshold = threshold.quantize(Decimal("0.0001"))
    if threshold <= 0:
        raise validation_error({"threshold": [gettext("Must be at least 0.0001.")]})
    return symbol, threshold


def delete_alert(user_id: int, alert_id: int) -> None:
    """Delete an alert."""
    db.session.delete(get_alert(user_id, alert_id))
    db.session.commit()


def rearm_alert(user_id: int, alert_id: int) -> Alert:
    """Make a fired alert active again."""
    alert = get_alert(user_id, alert_id)
    alert.active, alert.triggered_at, alert.triggered_price = True, None, None
    db.session.commit()
    return alert


def evaluate(prices: Mapping[str, Any], user_id: int | None = None) -> list[dict[str, Any]]:
    """Fire every active alert (of one user, or everyone's) that the given prices meet; return those fired."""
    if not prices:
        return []
    # Plain rows, not ORM objects: building 10,000 Alert instances cost ~190 ms of a 300 ms evaluation
    # (bench/pipeline.py); the columns compared are all that is needed. Each price is converted once.
    wanted = {symbol: Decimal(str(price)) for symbol, price in prices.items()}
    query = select(Alert.id, Alert.user_id, Alert.symbol, Alert.kind, Alert.threshold, Alert.created_at).where(
        Alert.active.is_(True), Alert.symbol.in_(list(wanted)))
    if user_id is not None:
        query = query.where(Alert.user_id == user_id)
    rising, falling = rules.RISING, rules.FALLING
    # A threshold is in the shares of the day it was set: after a 4:1 split a stop at 150 is a stop at 37.5.
    restated = corporate.threshold_factors(list(wanted))
    rows = list(db.session.execute(query))
    limits = ([row.threshold / restated(row.symbol, row.user_id, row.created_at) for row in rows] if restated
              else [row.threshold for row in rows])
    met = [row for row, limit in zip(rows, limits)
           if (row.kind in rising and wanted[row.symbol] >= limit)
           or (row.kind in falling and wanted[row.symbol] <= limit)
           or (row.kind not in rising and row.kind not in falling and rules.is_triggered(row.kind, limit,
                                                                                         wanted[row.symbol]))]
    fired = []
    for row in met:
        price = wanted[row.symbol]
        now = utcnow()
        # Conditional: of two workers evaluating at once, only one turns the alert off, and only it reports it.
        result = db.session.execute(update(Alert).where(Alert.id == row.id, Alert.active.is_(True))
                                    .values(active=False, triggered_at=now, triggered_price=price))
        if result.rowcount == 1:
            fired.append({"id": row.id, "user_id": row.user_id, "symbol": row.symbol, "kind": row.kind,
                          "threshold": str(row.threshold), "triggered_price": str(price),
                          "triggered_at": now.isoformat()})
    db.session.commit()
    return fired


def check_user_alerts(user_id: int) -> list[dict[str, Any]]:
    """Price the symbols of the user's active alerts (one batch call) and fire what they meet."""
    symbols = list(db.session.scalars(select(Alert.symbol).where(Alert.user_id == user_id,
                                                                 Alert.active.is_(True)).distinct()))
    if not symbols:
        return []
    quotes = quotes_for(symbols)["quotes"]
    return evaluate({s: q["price"] for s, q in quotes.items() if not q.get("stale")}, user_id)


def _average_cost(user_id: int, symbol: str) -> Decimal:
    from app.portfolio.services import transactions, _txns
    position = pm.replay(_txns([t for t in transactions(user_id) if t.symbol == symbol], {}),
                         corporate.splits_for(user_id, [symbol])).get(symbol)
    if position is None or not position.quantity:
        raise APIError(422, gettext("You hold no %(symbol)s: a %(percent)s from cost needs a holding. Give a price "
                                    "instead.", symbol=symbol, percent="%"), code="no_holding")
    return position.avg_cost
