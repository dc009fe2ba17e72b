"""The models, one module per aggregate; import from here."""
from app.models.portfolio import (ALERT_KINDS, DIVIDEND_DECISIONS, TRANSACTION_KINDS, Alert, DividendDecision, Transaction,
                                  Watchlist, WatchlistItem)
from app.models.jobs import JOB_RUN_STATES, ComputedResult, JobRun
from app.models.notify import AlertChannels, AlertFire, Delivery, NotificationSettings, Webhook
from app.models.stock import DividendEvent, IndexMembership, PriceBar, Stock, StockSplit
from app.models.types import Money, UTCDateTime, utcnow
from app.models.user import AuditEvent, LoginSession, User

__all__ = [
    "ALERT_KINDS", "DIVIDEND_DECISIONS", "DividendDecision", "DividendEvent", "JOB_RUN_STATES", "TRANSACTION_KINDS", "Alert", "AlertChannels", "AlertFire", "AuditEvent",
    "ComputedResult", "Delivery", "JobRun",
    "IndexMembership", "LoginSession", "Money", "NotificationSettings", "PriceBar",
    "Stock", "StockSplit", "Transaction", "UTCDateTime", "User", "Watchlist", "Webhook", "WatchlistItem", "utcnow",
]
