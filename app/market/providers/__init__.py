"""Market-data providers; importing this package registers every built-in one."""
from app.market.providers.base import Limits, Provider, provider_class, register, registered

__all__ = ["Limits", "Provider", "provider_class", "register", "registered"]
