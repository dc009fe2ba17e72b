"""Market-data providers; importing this package registers every built-in one."""
from app.market.providers.base import Limits, Provider, provider_class, register, registered
from app.market.providers import demo, yahoo, finnhub, alphavantage  # noqa: E402,F401 - register them

__all__ = ["Limits", "Provider", "provider_class", "register", "registered"]
