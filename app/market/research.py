"""Sync entry points for fundamentals, news and many symbols' closes at once.

Each function serves what the cache holds and sends only the misses to the async core,
all of them in one `run_sync` call that the client fans out under each provider's limits.
A symbol whose fetch fails (or does not finish inside the time budget) is left out of a
bulk answer instead of failing the whole call: the growth score treats it as missing.
The `refresh_*` functions (for the background jobs) fetch now, fresh entries or not, and
write the very entries the readers above read.
"""
from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import asdict
from datetime import date, timedelta
from typing import Any

import numpy as np
import structlog
from sqlalchemy import String, cast, func, select

from app import aio
from app.analysis.sentiment import score_news
from app.extensions import db
from app.market import bars as market_bars
from app.market.service import chain_settings, client_on_loop, market_cache, utc_today
from app.market.types import DividendEvent, MarketError, ProviderUnavailableError
from app.models import PriceBar

log = structlog.get_logger(__name__)
NEWS_LIMIT = 20


def profile_for(symbol: str) -> dict[str, Any]:
    """Return one company's fundamentals (`stale` when served from the last good copy); raises MarketError."""
    found, errors = _bulk("profile", [symbol], _fetch_profile, _profile_payload)
    if symbol in found:
        return found[symbol]
    raise errors[symbol]


def profiles_for(symbols: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Return fundamentals for many symbols; the ones no provider answered are left out."""
    return _bulk("profile", list(symbols), _fetch_profile, _profile_payload)[0]


def news_for(symbol: str) -> dict[str, Any]:
    """Return `{items, sentiment, source, stale}` with a VADER score per headline; raises MarketError."""
    found, errors = _bulk("news", [symbol], _fetch_news, _news_payload)
    if symbol in found:
        return found[symbol]
    raise errors[symbol]


def news_of(symbols: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Return `news_for` of every symbol whose news could be read, in one batch."""
    return _bulk("news", list(symbols), _fetch_news, _news_payload)[0]


def sentiments_for(symbols: Iterable[str]) -> dict[str, float]:
    """Return the aggregate news sentiment (-1..1) of every symbol whose news could be read."""
    found = news_of(symbols)
    return {s: n["sentiment"]["score"] for s, n in found.items() if n["sentiment"]["score"] is not None}


def fx_rates(currencies: Iterable[str], quote: str, on: date | None = None) -> dict[str, float]:
    """Return how many units of `quote` one unit of each currency buys (on a day, or now)."""
    found = _bulk("fx", _fx_pairs(currencies, quote, on), _fetch_fx, _fx_payload, ttl="history")[0]
    rates = {key.split("/")[0]: value["rate"] for key, value in found.items()}
    if quote:
        rates[quote.upper()] = 1.0
    return rates


def fx_history_for(currencies: Iterable[str], quote: str, start: date, end: date) -> dict[str, dict[date, float]]:
    """Return each currency's daily rate to `quote` from start to end (1.0 for `quote` itself).

    Raises MarketError when a rate no provider could give is needed: values in a base
    currency must never be silently wrong.
    """
    quote = quote.upper()
    wanted = [c.upper() for c in dict.fromkeys(currencies) if c and c.upper() != quote]
    end = min(end, utc_today())
    pairs = [f"{c}/{quote}/{start.isoformat()}/{end.isoformat()}" for c in wanted]
    found, errors = _bulk("fxh", pairs, lambda client, pair: client.fetch_fx_history(
        *pair.split("/")[:2], start, end), lambda series: {"d": [d.toordinal() for d in sorted(series)],
                                                          "r": [series[d] for d in sorted(series)]},
        ttl="history")
    if errors:
        raise next(iter(errors.values()))
    out = {pair.split("/")[0]: {date.fromordinal(d): r for d, r in zip(v["d"], v["r"])} for pair, v in found.items()}
    empty = sorted(c for c in wanted if not out.get(c))
    if empty:  # a provider answered with no rates: valuing at 1.0 would be silently wrong
        raise ProviderUnavailableError(f"no exchange rate {empty[0]}->{quote} from {start} to {end}")
    out[quote] = {}
    return out


def closes_for(symbols: Iterable[str], start: date, end: date) -> dict[str, dict[str, list]]:
    """Return `{symbol: {"d": [day ordinals], "c": [closes]}}` of closed days, oldest first.

    Cached per symbol and day; the ranges never fetched are fetched for all symbols in
    one call and persisted as `PriceBar`s, so scoring an index reads the database once.
    """
    return _closes(symbols, start, end)


def refresh_news(symbols: Iterable[str], providers: tuple[str, ...] | None = None,
                 ttl_s: float | None = None) -> dict[str, list[str]]:
    """Fetch the symbols' headlines now into the entries `news_for` and `sentiments_for` read.

    Returns `{"fetched": [...], "failed": [...]}`; `providers` narrows MARKET_PROVIDERS, `ttl_s`
    replaces the news TTL (a job that comes back later keeps its entries fresh until then).
    """
    return _outcome(_bulk("news", list(symbols), _fetch_news, _news_payload, ttl=ttl_s, force=True,
                         providers=providers))


def refresh_profiles(symbols: Iterable[str], providers: tuple[str, ...] | None = None,
                     ttl_s: float | None = None) -> dict[str, list[str]]:
    """Fetch the symbols' fundamentals now into the entries `profile_for` and `profiles_for` read (as refresh_news)."""
    return _outcome(_bulk("profile", list(symbols), _fetch_profile, _profile_payload, ttl=ttl_s, force=True,
                         providers=providers))


def refresh_fx(currencies: Iterable[str], quote: str, ttl_s: float | None = None) -> dict[str, list[str]]:
    """Fetch the currencies' latest rates to `quote` now into the entries `fx_rates` reads; return the currencies."""
    outcome = _outcome(_bulk("fx", _fx_pairs(currencies, quote, None), _fetch_fx, _fx_payload,
                             ttl=ttl_s or "history", force=True))
    return {kind: [pair.split("/")[0] for pair in pairs] for kind, pairs in outcome.items()}


SPLITS_FROM = date(2000, 1, 1)


def refresh_splits(symbols: Iterable[str], providers: tuple[str, ...] | None = None,
                   ttl_s: float | None = None) -> dict[str, list[str]]:
    """Fetch the symbols' split events now and store the new ones (app.market.corporate).

    A symbol that gets a new split has its stored bars and cached histories dropped: they
    were in the old shares, and are fetched again split-adjusted. Returns fetched/failed.
    """
    from app.market import corporate  # noqa: PLC0415 - corporate reads the models only

    found, errors = _bulk("splits", list(symbols), _fetch_splits, _splits_payload, ttl=ttl_s or "history",
                          force=True, providers=providers)
    events = [(symbol, date.fromisoformat(e["ex_date"]), e["from"], e["to"], e["source"])
              for symbol, value in found.items() if not value["stale"] for e in value["items"]]
    for symbol in sorted(set(corporate.store_events(events))):
        dropped = market_bars.forget(symbol)
        log.info("split_stored", symbol=symbol, bars_dropped=dropped)
    return _outcome((found, errors))


UNIX_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
CLOSES_READ = 250  # symbols whose stored closes are read by one query (~780k values at once, ~20 MB of text)
FILL_CHUNK = 50  # symbols whose missing bars are fetched and stored at once
COMMIT_ROWS = 10_000  # bars stored per transaction (~0.1 s of SQLite's write lock; a year is ~252 a stock)
DIVIDEND_AHEAD_DAYS = 60  # announced dividends up to this far ahead (the calendar's "upcoming")


def refresh_dividends(symbols: Iterable[str], providers: tuple[str, ...] | None = None,
                      ttl_s: float | None = None) -> dict[str, list[str]]:
    """Fetch the symbols' cash dividends now and store them (app.market.corporate); return fetched/failed.

    Run after the splits of the same symbols: an amount restated in today's shares is turned
    back into the shares of its ex-date with the splits stored then.
    """
    from app.market import corporate  # noqa: PLC0415 - corporate reads the models only

    found, errors = _bulk("dividends", list(symbols), _fetch_dividends, _dividends_payload, ttl=ttl_s or "history",
                          force=True, providers=providers)
    events = [DividendEvent(symbol, date.fromisoformat(e["ex_date"]), e["amount"], e["currency"], e["source"],
                            date.fromisoformat(e["pay_date"]) if e["pay_date"] else None, e["adjusted"])
              for symbol, value in found.items() if not value["stale"] for e in value["items"]]
    changed = corporate.store_dividends(events)
    if changed:
        log.info("dividends_stored", changed=changed)
    return _outcome((found, errors))


def refresh_closes(symbols: Iterable[str], start: date, end: date,
                   ttl_s: float | None = None) -> dict[str, list[str]]:
    """Reload the symbols' closes (fetching the days never stored) into the entries `closes_for` reads."""
    wanted = list(dict.fromkeys(symbols))
    loaded = _closes(wanted, start, end, force=True, ttl=ttl_s)
    return {"fetched": [s for s in wanted if s in loaded], "failed": [s for s in wanted if s not in loaded]}


# -- helpers ---------------------------------------------------------------------------

def _closes(symbols: Iterable[str], start: date, end: date, force: bool = False,
            ttl: float | None = None) -> dict[str, dict[str, list]]:
    wanted = list(dict.fromkeys(symbols))
    end = min(end, utc_today())
    cache = market_cache()
    keys = {s: f"closes:{s}:{start.isoformat()}:{end.isoformat()}" for s in wanted}
    hits = {} if force else cache.get_many(keys.values())
    out = {s: hits[k].value for s, k in keys.items() if k in hits}
    missing = [s for s in wanted if s not in out]
    if not missing:
        return out
    _fill_gaps(missing, start, end)
    loaded = _read_closes(missing, start, end)
    cache.set_many({keys[s]: loaded[s] for s in missing if loaded[s]["d"]}, ttl or "history")
    out.update({s: loaded[s] for s in missing if loaded[s]["d"]})
    return out


def _bulk(kind: str, symbols: list[str], fetch: Callable[[Any, str], Awaitable[Any]],
          payload: Callable[[Any], dict[str, Any]], ttl: str | float | None = None, force: bool = False,
          providers: tuple[str, ...] | None = None) -> tuple[dict[str, dict[str, Any]], dict[str, MarketError]]:
    # force: fetch even the fresh entries (a job's refresh); providers: a narrower chain than MARKET_PROVIDERS.
    cache = market_cache()
    keys = {s: f"{kind}:{s}" for s in dict.fromkeys(symbols)}
    hits = cache.get_many(keys.values())
    found = {} if force else {s: {**hits[k].value, "stale": False} for s, k in keys.items()
                              if k in hits and not hits[k].stale}
    todo = [s for s in keys if s not in found]
    if not todo:
        return found, {}
    names, settings = chain_settings()
    names = providers or names
    budget = settings["MARKET_BUDGET_S"]
    results = aio.run_sync(_gather_within(budget, names, settings, todo, fetch), timeout=budget + 2)
    fresh = {s: payload(r) for s, r in results.items() if not isinstance(r, BaseException)}
    if fresh:
        cache.set_many({keys[s]: v for s, v in fresh.items()}, ttl or kind, keep_lastgood=True)
    found.update({s: {**v, "stale": False} for s, v in fresh.items()})
    errors: dict[str, MarketError] = {}
    for symbol, result in results.items():
        if not isinstance(result, BaseException):
            continue
        last = hits.get(keys[symbol]) or (None if isinstance(result, MarketError) and
                                          result.code == "symbol_not_found" else cache.lastgood(keys[symbol]))
        if last is not None:
            found[symbol] = {**last.value, "stale": True}
        else:
            errors[symbol] = result if isinstance(result, MarketError) else ProviderUnavailableError(str(result))
    return found, errors


async def _gather_within(budget_s: float, names: tuple[str, ...], settings: Mapping[str, Any],
                         symbols: list[str], fetch: Callable[[Any, str], Awaitable[Any]]) -> dict[str, Any]:
    # One slow symbol must not sink the rest: whatever is unfinished at the budget is dropped.
    client = client_on_loop(names, settings)
    tasks = {s: asyncio.ensure_future(fetch(client, s)) for s in symbols}
    done, pending = await asyncio.wait(tasks.values(), timeout=budget_s)
    for task in pending:
        task.cancel()
    out: dict[str, Any] = {}
    for symbol, task in tasks.items():
        if task in done:
            out[symbol] = task.exception() or task.result()
        else:
            out[symbol] = ProviderUnavailableError("the market-data providers did not answer in time",
                                                   symbol=symbol)
    if pending:
        log.warning("bulk_fetch_over_budget", unfinished=len(pending), of=len(symbols))
    return out


def _outcome(result: tuple[dict[str, dict[str, Any]], dict[str, MarketError]]) -> dict[str, list[str]]:
    found, errors = result  # a failed fetch served from the last good copy is stale: it failed
    return {"fetched": [s for s, v in found.items() if not v["stale"]],
            "failed": [s for s, v in found.items() if v["stale"]] + list(errors)}


def _fetch_news(client: Any, symbol: str) -> Awaitable[Any]:
    return client.fetch_news(symbol, NEWS_LIMIT)


def _fetch_splits(client: Any, symbol: str) -> Awaitable[Any]:
    return client.fetch_splits(symbol, SPLITS_FROM, utc_today())


def _splits_payload(events: list[Any]) -> dict[str, Any]:
    return {"items": [{"ex_date": e.ex_date.isoformat(), "from": e.ratio_from, "to": e.ratio_to, "source": e.source}
                      for e in events]}


def _fetch_dividends(client: Any, symbol: str) -> Awaitable[Any]:
    return client.fetch_dividends(symbol, SPLITS_FROM, utc_today() + timedelta(days=DIVIDEND_AHEAD_DAYS))


def _dividends_payload(events: list[Any]) -> dict[str, Any]:
    return {"items": [{"ex_date": e.ex_date.isoformat(), "amount": e.amount, "currency": e.currency,
                       "source": e.source, "pay_date": e.pay_date.isoformat() if e.pay_date else None,
                       "adjusted": e.adjusted} for e in events]}


def _fetch_profile(client: Any, symbol: str) -> Awaitable[Any]:
    return client.fetch_profile(symbol)


def _fx_pairs(currencies: Iterable[str], quote: str, on: date | None) -> list[str]:
    wanted = [c.upper() for c in dict.fromkeys(currencies) if c and c.upper() != quote.upper()]
    day = on.isoformat() if on else "latest"
    return [f"{c}/{quote.upper()}/{day}" for c in wanted]


def _fetch_fx(client: Any, pair: str) -> Awaitable[Any]:
    base, quote, day = pair.split("/")
    return client.fetch_fx(base, quote, None if day == "latest" else date.fromisoformat(day))


def _fx_payload(rate: Any) -> dict[str, Any]:
    return {"rate": rate.rate, "on": rate.on.isoformat(), "source": rate.source}


def _profile_payload(profile: Any) -> dict[str, Any]:
    out = asdict(profile)
    out["as_of"] = profile.as_of.isoformat()
    return out


def headline_key(headline: str) -> str:
    """A headline as compared for repeats: case, spacing and punctuation aside."""
    return " ".join(re.sub(r"[^\w]+", " ", headline.casefold()).split())


def _web_url(url: str | None) -> bool:
    return bool(url) and url.lower().startswith(("https://", "http://"))


def _news_payload(items: list[Any]) -> dict[str, Any]:
    # Providers (and syndication) repeat a headline; keep its newest telling, once.
    unique, seen = [], set()
    for n in sorted(items, key=lambda n: n.published_at, reverse=True):
        if (key := headline_key(n.headline)) not in seen:
            seen.add(key)
            unique.append(n)
    # A link only to a web page: a provider's "javascript:" or "data:" URL never reaches a page.
    rows = [{"headline": n.headline, "url": n.url if _web_url(n.url) else None, "published_at": n.published_at.isoformat(),
             "publisher": n.publisher, "summary": n.summary} for n in unique]
    scored, aggregate = score_news(rows)
    return {"items": scored, "sentiment": aggregate, "source": items[0].source if items else None}


def _fill_gaps(symbols: list[str], start: date, end: date) -> None:
    coverage = _coverages(symbols)
    gaps = {s: market_bars.missing_ranges(coverage.get(s), start, end) for s in symbols}
    gaps = {s: g for s, g in gaps.items() if g}
    if not gaps:
        return
    names, settings = chain_settings()
    deadline = time.monotonic() + settings["MARKET_BUDGET_S"]

    async def fetch(client: Any, symbol: str) -> list[Any]:
        chunks = await asyncio.gather(*(client.fetch_history(symbol, a, b) for a, b in gaps[symbol]))
        return [bar for chunk in chunks for bar in chunk]

    # FILL_CHUNK symbols at a time, within one budget for all: 250 stocks x 12 years are 778k bars,
    # which held at once (with their insert parameters) cost the process hundreds of MB.
    wanted = list(gaps)
    for first in range(0, len(wanted), FILL_CHUNK):
        budget = deadline - time.monotonic()
        if budget <= 0:
            break  # the rest come back without closes, as after a timeout
        _fill_some(wanted[first:first + FILL_CHUNK], names, settings, budget, fetch, coverage, start, end)


def _fill_some(symbols: list[str], names: tuple[str, ...], settings: Any, budget: float,
               fetch: Callable[[Any, str], Awaitable[Any]], coverage: dict[str, tuple[date, date]],
               start: date, end: date) -> None:
    results = aio.run_sync(_gather_within(budget, names, settings, symbols, fetch), timeout=budget + 2)
    stored = [symbol for symbol, bars in results.items() if not isinstance(bars, BaseException)]
    pending = 0
    for symbol in stored:
        market_bars.persist(symbol, results[symbol], source=names[0] if len(names) == 1 else "chain", commit=False)
        pending += len(results[symbol])
        if pending >= COMMIT_ROWS:  # SQLite has one writer: a page's write must not wait behind 75k rows
            db.session.commit()
            pending = 0
    # Commit before touching the cache: no write lock held across its round trips (under gevent a
    # waiting SQLite writer blocks the whole worker), and no coverage claimed for uncommitted bars.
    db.session.commit()
    del results
    for symbol in stored:
        covered = coverage.get(symbol)
        lo = min([start] + ([covered[0]] if covered else []))
        # Only closed days are stored, so only they count as covered; today is asked for again.
        hi = max([min(end, utc_today() - timedelta(days=1))] + ([covered[1]] if covered else []))
        if lo <= hi:
            market_bars.remember_coverage(symbol, lo, hi)


def _coverages(symbols: list[str]) -> dict[str, tuple[date, date]]:
    found = market_bars.cached_coverages(symbols)
    rest = [s for s in symbols if s not in found]
    for i in range(0, len(rest), 500):
        rows = db.session.execute(select(PriceBar.symbol, func.min(PriceBar.day), func.max(PriceBar.day))
                                  .where(PriceBar.symbol.in_(rest[i:i + 500])).group_by(PriceBar.symbol)).all()
        found.update({symbol: (lo, hi) for symbol, lo, hi in rows})
    return found


def _read_closes(symbols: list[str], start: date, end: date) -> dict[str, dict[str, list]]:
    # The hot path of a cold portfolio computation: 250 stocks x 12 years are 778k bars. One
    # row per symbol with its days and closes as two comma-joined strings (group_concat on
    # SQLite, string_agg on PostgreSQL), parsed by numpy: 778k rows as Python tuples cost seconds
    # (and the garbage collections they set off scan the whole heap); ORM rows are also
    # buffered whole (~360 MB at once). The closes are the stored text or NUMERIC, as floats.
    table = PriceBar.__table__
    out: dict[str, dict[str, list]] = {s: {"d": [], "c": []} for s in symbols}
    for i in range(0, len(symbols), CLOSES_READ):
        ordered = (select(table.c.symbol, cast(table.c.day, String).label("day"),
                          cast(table.c.close, String).label("close"))
                   .where(table.c.symbol.in_(symbols[i:i + CLOSES_READ]), table.c.day >= start, table.c.day <= end)
                   .order_by(table.c.symbol, table.c.day).subquery())
        rows = db.session.execute(select(ordered.c.symbol, func.aggregate_strings(ordered.c.day, ","),
                                         func.aggregate_strings(ordered.c.close, ","))
                                  .group_by(ordered.c.symbol))
        for symbol, days, closes in rows:
            ordinals = np.array(days.split(","), dtype="datetime64[D]").astype(np.int64) + UNIX_EPOCH_ORDINAL
            floats = np.array(closes.split(","), dtype=np.float64)
            if len(ordinals) > 1 and (np.diff(ordinals) <= 0).any():  # an aggregate need not keep the order
                order = np.argsort(ordinals, kind="stable")
                ordinals, floats = ordinals[order], floats[order]
            out[symbol] = {"d": ordinals.tolist(), "c": floats.tolist()}
    return out
