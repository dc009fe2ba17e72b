"""Sync entry points to market data for views and services: cache first, then the async core.

A request whose data is all cached never enters the event loop: the cache is checked
here, in sync code, and only the misses go through `app.aio.run_sync` to the client.
When every provider fails, the last good value is served and marked `stale`.
"""
from __future__ import annotations

import asyncio
import os
import threading
import weakref
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timezone
from typing import Any

import structlog
from flask import current_app

from app import aio
from app.cache import get_cache
from app.market.client import ClientSettings, MarketClient
from app.market.providers import provider_class
from app.market.types import MarketError, ProviderUnavailableError, Quote
from app.ops import metrics

log = structlog.get_logger(__name__)

# Settings a provider or the client may read; captured in sync code and handed to the loop.
_PROVIDER_KEYS = ("FINNHUB_API_KEY", "ALPHAVANTAGE_API_KEY", "YAHOO_BASE_URL", "YAHOO_COOKIE_URL", "YAHOO_QUOTE_API",
                  "FINNHUB_BASE_URL",
                  "ALPHAVANTAGE_BASE_URL", "FINNHUB_PREMIUM", "ALPHAVANTAGE_RATE_PER_MIN",
                  "DEMO_LATENCY_MS", "DEMO_FAILURE_RATE", "DEMO_TICK_S", "DEMO_SEED", "DEMO_ALWAYS_OPEN") + tuple(
    f"{prefix}_{knob}" for prefix in ("YAHOO", "FINNHUB", "ALPHAVANTAGE")
    for knob in ("BATCH_SIZE", "RATE_PER_S", "CONCURRENCY", "TIMEOUT_S", "BUDGET")) + (
    "REDIS_URL", "BUDGET_BACKGROUND_SHARE")
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple, MarketClient]] = \
    weakref.WeakKeyDictionary()
_refreshing: set[str] = set()
_refresh_lock = threading.Lock()


class QuoteBatch(dict):
    """`{"quotes": {SYMBOL: quote}, "errors": {SYMBOL: {code, message}}}` as the API returns it."""


def chain_settings(config: Mapping[str, Any] | None = None) -> tuple[tuple[str, ...], dict[str, Any]]:
    """Return the provider chain and the settings it needs, from the app config."""
    config = config if config is not None else current_app.config
    names = tuple(config.get("MARKET_PROVIDERS") or ("demo",))
    settings = {key: config.get(key) for key in _PROVIDER_KEYS if config.get(key) is not None}
    settings["MARKET_BUDGET_S"] = float(config.get("MARKET_BUDGET_S", 8.0))
    # The shared provider budgets: in Redis under the app's key prefix, else in a file that the
    # host's web and worker processes share (beside the embedded broker's, in JOBS_DIR).
    settings["BUDGET_KEY_PREFIX"] = config.get("BUDGET_KEY_PREFIX") or f"{config.get('CACHE_KEY_PREFIX', 'td:')}budget"
    jobs_dir = config.get("JOBS_DIR")
    path = config.get("BUDGET_SQLITE_PATH") or (os.path.join(jobs_dir, "provider_budget.sqlite3") if jobs_dir else None)
    if path:
        settings["BUDGET_SQLITE_PATH"] = str(path)
    return names, settings


def client_on_loop(names: tuple[str, ...], settings: Mapping[str, Any]) -> MarketClient:
    """Return this event loop's client for the chain (one per loop, so a fork gets its own)."""
    loop = asyncio.get_running_loop()
    per_loop = _clients.setdefault(loop, {})
    key = (names, tuple(sorted((k, str(v)) for k, v in settings.items())))
    client = per_loop.get(key)
    if client is None:
        providers = [provider_class(name)(settings) for name in names]

        def on_call(provider: str, operation: str, outcome: str, seconds: float) -> None:
            metrics.provider_call(provider, operation, outcome, seconds, client.circuit_states().get(provider))

        client = MarketClient(providers, ClientSettings(budget_s=float(settings.get("MARKET_BUDGET_S", 8.0))),
                              on_call=on_call)
        per_loop[key] = client
    return client


def quotes_for(symbols: Iterable[str]) -> QuoteBatch:
    """Return quotes for many symbols in one call: cached ones directly, the rest in one fetch."""
    wanted = list(dict.fromkeys(s.upper() for s in symbols))
    cache = market_cache()
    keys = {symbol: f"quote:{symbol}" for symbol in wanted}
    found = cache.get_many(keys.values())
    quotes: dict[str, dict[str, Any]] = {}
    stale: list[str] = []
    for symbol, key in keys.items():
        hit = found.get(key)
        if hit is None:
            continue
        quotes[symbol] = {**hit.value, "stale": hit.stale}
        if hit.stale:
            stale.append(symbol)
    missing = [s for s in wanted if s not in quotes]
    errors: dict[str, dict[str, str]] = {}
    if missing:
        fetched, errors = _fetch_quotes(missing)
        quotes.update(fetched)
    if stale:
        _refresh_in_background(stale)
    return QuoteBatch(quotes={s: quotes[s] for s in wanted if s in quotes}, errors=errors)


def refresh_quotes(symbols: Iterable[str]) -> QuoteBatch:
    """Fetch quotes from the providers now (one batched call), bypassing fresh cache entries.

    For the live streamer, the one poller: the answers refresh the cache that pages read,
    and a symbol whose providers fail is served from its last good copy, flagged stale.
    """
    wanted = list(dict.fromkeys(s.upper() for s in symbols))
    quotes, errors = _fetch_quotes(wanted) if wanted else ({}, {})
    return QuoteBatch(quotes=quotes, errors=errors)


def _fetch_quotes(symbols: list[str]) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, str]]]:
    names, settings = chain_settings()
    cache = market_cache()
    try:
        batch = aio.run_sync(client_on_loop_fetch(names, settings, symbols),
                             timeout=settings["MARKET_BUDGET_S"] + 2)
        found, failures = batch.quotes, dict(batch.errors)
    except (MarketError, TimeoutError) as exc:
        log.warning("quote_fetch_failed", error=type(exc).__name__, symbols=len(symbols))
        found = {}
        failures = {s: exc if isinstance(exc, MarketError) else ProviderUnavailableError(
            "the market-data providers did not answer in time") for s in symbols}
    fresh = {symbol: quote_payload(quote) for symbol, quote in found.items()}
    if fresh:
        cache.set_many({f"quote:{s}": q for s, q in fresh.items()}, "quote", keep_lastgood=True)
    quotes = {s: {**q, "stale": False} for s, q in fresh.items()}
    errors: dict[str, dict[str, str]] = {}
    for symbol, error in failures.items():
        last = None if getattr(error, "code", "") == "symbol_not_found" else cache.lastgood(f"quote:{symbol}")
        if last is not None:
            quotes[symbol] = {**last.value, "stale": True}
        else:
            errors[symbol] = {"code": getattr(error, "code", "provider_error"),
                              "message": getattr(error, "message", str(error))}
    return quotes, errors


async def client_on_loop_fetch(names: tuple[str, ...], settings: Mapping[str, Any], symbols: list[str]):
    """Coroutine: fetch quotes through this loop's client."""
    return await client_on_loop(names, settings).fetch_quotes(symbols)


def quote_payload(quote: Quote) -> dict[str, Any]:
    """Return the cacheable API form of a quote (without the stale flag)."""
    payload = quote.to_dict()
    payload.pop("stale", None)
    return payload


def _refresh_in_background(symbols: list[str]) -> None:
    # One refresh per symbol at a time, in a thread (a greenlet under gevent), with an app context.
    with _refresh_lock:
        todo = [s for s in symbols if s not in _refreshing]
        _refreshing.update(todo)
    if not todo:
        return
    app = current_app._get_current_object()

    def run() -> None:
        try:
            with app.app_context():
                _fetch_quotes(todo)
        finally:
            with _refresh_lock:
                _refreshing.difference_update(todo)

    threading.Thread(target=run, name="quote-refresh", daemon=True).start()


def market_cache():
    """Return the current app's cache (each app has one; tests build several)."""
    return current_app.extensions.get("tickerdesk_cache") or get_cache()


def utc_today() -> date:
    """Return today's date in UTC."""
    return datetime.now(timezone.utc).date()

