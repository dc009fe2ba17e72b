"""The models, one module per aggregate; import from here."""
from app.models.portfolio import ALERT_KINDS, TRANSACTION_KINDS, Alert, Transaction, Watchlist, WatchlistItem
from app.models.notify import AlertChannels, AlertFire, Delivery, NotificationSettings, Webhook
from app.models.stock import IndexMembership, PriceBar, Stock
from app.models.types import Money, UTCDateTime, utcnow
from app.models.user import AuditEvent, LoginSession, User

__all__ = [
    "ALERT_KINDS", "TRANSACTION_KINDS", "Alert", "AlertChannels", "AlertFire", "AuditEvent", "Delivery",
    "IndexMembership", "LoginSession", "Money", "NotificationSettings", "PriceBar",
    "Stock", "Transaction", "UTCDateTime", "User", "Watchlist", "Webhook", "WatchlistItem", "utcnow",
]
