"""Data jobs: news and sentiment, daily bars, FX rates and company profiles, into the cache the pages read.

* `jobs.data.news` (every JOBS_NEWS_S): the headlines of every tracked symbol (held, watched or
  alerted by anyone) and of the next JOBS_NEWS_ROTATION index constituents -- a rotation that
  goes round all of them in ceil(N / JOBS_NEWS_ROTATION) runs, then starts again.
* `jobs.data.bars` (every JOBS_BARS_S): once per exchange and trading session, after its close, the
  closes that scores read for the tracked symbols and the exchange's constituents, and the tracked
  symbols' chart history.
* `jobs.data.fx` (every JOBS_FX_S): the latest rate of every stock currency to every base currency
  (the users', BASE_CURRENCY and USD) not refreshed for JOBS_FX_PERIOD_S.
* `jobs.data.profiles` (every JOBS_PROFILES_S): the fundamentals of the next JOBS_PROFILES_ROTATION
  symbols; one pass over the tracked symbols and constituents per JOBS_PROFILES_PERIOD_S at most.

Each writes the entries the readers use (`app.market.research`), for as long as it takes the job to
come back to them (never shorter than the reader's own TTL), so a page between two runs is a hit.
News and profiles never go to Alpha Vantage (25 calls a day: the pages' fallback needs them) and
spread their Finnhub calls at JOBS_PROVIDER_CALLS_PER_MIN, half its free tier, so users keep the rest.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

import structlog
from celery import shared_task
from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.jobs import state
from app.jobs.quotes import tracked_symbols
from app.market.types import MarketError, ProviderUnavailableError

log = structlog.get_logger(__name__)
DAILY_CAPPED = ("alphavantage",)  # 25 calls a day on the free tier: left to the pages' own fallback
PER_MINUTE_METERED = ("finnhub",)  # 60 calls a minute on the free tier (every process together)
MAX_PER_CORE_CALL = 200  # symbols per core call when the provider is not rate limited (the demo market)
BUDGET_SHARE = 0.6  # of MARKET_BUDGET_S a core call's requests may need at the provider's rate
TTL_SLACK = 1.25  # an entry outlives the job's next visit by a quarter period (beat's pace, run length)
DEADLINE_SHARE = 0.8  # of the soft time limit: stop starting new calls after it, keep what is done
CHART_RANGE = "1y"
SPLITS_OF_MAX = 50  # symbols per splits_of task  # the stock page's and the portfolio's default range
LIMITS_S = {"news": (600, 660), "bars": (600, 660), "fx": (120, 150), "profiles": (600, 660), "splits": (600, 660)}


def _task(family: str) -> Callable[[Callable[..., Any]], Any]:
    soft, hard = LIMITS_S[family]
    return shared_task(name=f"jobs.data.{family}", bind=True, acks_late=True, soft_time_limit=soft, time_limit=hard,
                       autoretry_for=(ProviderUnavailableError,), retry_backoff=5, retry_backoff_max=300,
                       retry_jitter=True, max_retries=3)


@_task("news")
def news(self: Any) -> dict[str, Any]:
    """Refresh the tracked symbols' headlines and the next slice of constituents'; skip if a run is going."""
    return _locked(self, "news", refresh_news)


@_task("bars")
def bars(self: Any) -> dict[str, Any]:
    """Refresh the daily history of each exchange whose session closed since its last run; skip if one is going."""
    return _locked(self, "bars", refresh_bars)


@_task("fx")
def fx(self: Any) -> dict[str, Any]:
    """Refresh the exchange rates past their period; skip if a run is going."""
    return _locked(self, "fx", refresh_fx)


@_task("profiles")
def profiles(self: Any) -> dict[str, Any]:
    """Refresh the next slice of profiles, one pass per period; skip if a run is going."""
    return _locked(self, "profiles", refresh_profiles)


@_task("splits")
def splits(self: Any) -> dict[str, Any]:
    """Fetch the splits, then the dividends, of every held or alerted stock and store them; skip if a run is going."""
    return _locked(self, "splits", refresh_splits)


@shared_task(name="jobs.data.splits_of", acks_late=True, ignore_result=True, soft_time_limit=120, time_limit=150,
             autoretry_for=(ProviderUnavailableError,), retry_backoff=5, retry_backoff_max=120, max_retries=3)
def splits_of(symbols: list[str]) -> dict[str, Any]:
    """Check the splits of the symbols a ledger just gained (the web enqueues this; it never fetches)."""
    from app.market import research  # noqa: PLC0415

    wanted = sorted({str(s) for s in symbols})[:SPLITS_OF_MAX]
    result = research.refresh_splits(wanted)
    paid = research.refresh_dividends(wanted)  # after the splits: amounts are stored in the ex-date's shares
    return {"fetched": len(result["fetched"]), "failed": len(result["failed"]),
            "dividends_fetched": len(paid["fetched"])}


def refresh_splits() -> dict[str, Any]:
    """One splits run: every symbol anyone holds or has an alert on (a split changes both); return counts."""
    from app.market import research  # noqa: PLC0415
    from app.market.providers.base import DIVIDENDS, SPLITS  # noqa: PLC0415

    started = time.perf_counter()
    chain = job_chain(SPLITS)
    if not chain.names:
        return _nothing("splits", "no split provider without a daily cap")
    symbols = held_or_alerted()
    deadline = time.monotonic() + LIMITS_S["splits"][0] * DEADLINE_SHARE
    counts = Pacer(chain, calls_per_symbol=1).run(
        symbols, lambda chunk: research.refresh_splits(chunk, chain.names), deadline)
    counts.raise_if_all_failed()
    paying = job_chain(DIVIDENDS)
    paid = Pacer(paying, calls_per_symbol=1).run(
        symbols, lambda chunk: research.refresh_dividends(chunk, paying.names), deadline) if paying.names else None
    return _done("splits", started, counts, symbols=len(symbols),
                 dividends_fetched=paid.fetched if paid else 0, dividends_failed=paid.failed if paid else 0)


def held_or_alerted() -> list[str]:
    """Every symbol in anyone's transactions or active alerts, sorted."""
    from sqlalchemy import union  # noqa: PLC0415

    from app.models import Alert, Transaction  # noqa: PLC0415

    query = union(select(Transaction.symbol), select(Alert.symbol).where(Alert.active.is_(True)))
    return sorted(set(db.session.scalars(query)))


def refresh_news(now: float | None = None) -> dict[str, Any]:
    """One news run: the rotation's slice, then every tracked symbol; return counts."""
    from app.market import research  # noqa: PLC0415
    from app.market.providers.base import NEWS  # noqa: PLC0415

    cfg, started = current_app.config, time.perf_counter()
    chain = job_chain(NEWS)
    if not chain.names:
        return _nothing("news", "no news provider without a daily cap")
    interval = float(cfg["JOBS_NEWS_S"])
    tracked = tracked_symbols()
    rotation = Rotation("news", constituents(), int(cfg["JOBS_NEWS_ROTATION"]))
    turn = rotation.take(time.time() if now is None else now)
    pass_s = rotation.runs_per_pass * interval
    deadline = time.monotonic() + LIMITS_S["news"][0] * DEADLINE_SHARE
    pacer = Pacer(chain, calls_per_symbol=1)
    rest = [s for s in turn if s not in set(tracked)]  # a tracked symbol comes back next run: short TTL
    counts = pacer.run(rest, lambda chunk: research.refresh_news(chunk, chain.names, entry_ttl("news", pass_s)),
                       deadline)
    counts.add(pacer.run(tracked, lambda chunk: research.refresh_news(chunk, chain.names,
                                                                      entry_ttl("news", interval)), deadline))
    counts.raise_if_all_failed()
    rotation.advance()
    return _done("news", started, counts, tracked=len(tracked), rotation=len(turn), cursor=rotation.cursor,
                 of=len(rotation.universe))


def refresh_bars(now: datetime | None = None) -> dict[str, Any]:
    """Refresh the history of each exchange whose last session closed after its last refresh; return counts."""
    from app.market.hours import CALENDARS  # noqa: PLC0415
    from app.market import research  # noqa: PLC0415
    from app.market.service import utc_today  # noqa: PLC0415
    from app.models import Stock  # noqa: PLC0415
    from app.research.services import HISTORY_DAYS  # noqa: PLC0415

    now, started = now or datetime.now(timezone.utc), time.perf_counter()
    tracked = set(tracked_symbols())
    wanted = tracked | set(constituents())
    by_code: dict[str, list[str]] = {}
    for symbol, exchange in db.session.execute(select(Stock.symbol, Stock.exchange).order_by(Stock.symbol)):
        if symbol in wanted and exchange in CALENDARS:
            by_code.setdefault(CALENDARS[exchange], []).append(symbol)
    today = utc_today()
    size = job_chain_for_history().per_core_call
    counts, sessions = Counts(), {}
    for code, symbols in sorted(by_code.items()):
        session = last_closed_session(code, now)
        done = state.last(f"bars:{code}")
        if session is None or (done is not None and done >= session.toordinal()):
            continue
        mine = Counts()
        for start in range(0, len(symbols), size):
            mine.add(Counts.of(research.refresh_closes(symbols[start:start + size], today - timedelta(
                days=HISTORY_DAYS), today, ttl_s=seconds_to_utc_midnight(now))))
        mine.add(warm_charts([s for s in symbols if s in tracked]))
        counts.add(mine)
        if mine.fetched or not symbols:
            state.mark(f"bars:{code}", at=float(session.toordinal()))  # this session is done
            sessions[code] = session.isoformat()
    counts.raise_if_all_failed()
    return _done("bars", started, counts, exchanges=len(sessions), sessions=sessions)


def refresh_fx(now: float | None = None) -> dict[str, Any]:
    """Refresh each stock currency's rate to each base currency not refreshed for JOBS_FX_PERIOD_S; return counts."""
    from app.market import research  # noqa: PLC0415
    from app.models import Stock, User  # noqa: PLC0415

    cfg, started = current_app.config, time.perf_counter()
    now = time.time() if now is None else now
    period = float(cfg["JOBS_FX_PERIOD_S"])
    currencies = sorted(c for c in db.session.scalars(select(Stock.currency).distinct()) if c)
    bases = sorted({b for b in db.session.scalars(select(User.base_currency).distinct()) if b}
                   | {cfg["BASE_CURRENCY"], "USD"})
    counts = Counts()
    for quote in bases:
        due = [c for c in currencies if c != quote and not _seen_within(f"fx:{c}-{quote}", period, now)]
        if not due:
            continue
        result = research.refresh_fx(due, quote, entry_ttl("history", period))
        counts.add(Counts.of(result))
        for currency in result["fetched"]:
            state.mark(f"fx:{currency}-{quote}", at=now)  # a file name without Redis: no slash
    counts.raise_if_all_failed()
    return _done("fx", started, counts, currencies=len(currencies), bases=len(bases))


def refresh_profiles(now: float | None = None) -> dict[str, Any]:
    """One profiles run: the rotation's next slice of tracked symbols and constituents; return counts."""
    from app.market import research  # noqa: PLC0415
    from app.market.providers.base import PROFILE  # noqa: PLC0415

    cfg, started = current_app.config, time.perf_counter()
    chain = job_chain(PROFILE)
    if not chain.names:
        return _nothing("profiles", "no profile provider without a daily cap")
    period = float(cfg["JOBS_PROFILES_PERIOD_S"])
    rotation = Rotation("profiles", sorted(set(tracked_symbols()) | set(constituents())),
                        int(cfg["JOBS_PROFILES_ROTATION"]), period_s=period)
    turn = rotation.take(time.time() if now is None else now)
    deadline = time.monotonic() + LIMITS_S["profiles"][0] * DEADLINE_SHARE
    # Finnhub's profile is two calls (profile2 and metric).
    counts = Pacer(chain, calls_per_symbol=2).run(
        turn, lambda chunk: research.refresh_profiles(chunk, chain.names, entry_ttl("profile", period)), deadline)
    counts.raise_if_all_failed()
    if turn:
        rotation.advance()
    return _done("profiles", started, counts, rotation=len(turn), cursor=rotation.cursor, of=len(rotation.universe))


def warm_charts(symbols: list[str]) -> Counts:
    """Fill the stock page chart's history of each symbol: the default range and its indicators' warm-up."""
    from app.analysis.periods import FIRST_DAY, range_start  # noqa: PLC0415
    from app.market.bars import history_for  # noqa: PLC0415
    from app.market.service import utc_today  # noqa: PLC0415
    from app.stocks.services import WARMUP_DAYS  # noqa: PLC0415

    today = utc_today()
    start = range_start(CHART_RANGE, today)
    ranges = ((start, today), (max(start - timedelta(days=WARMUP_DAYS), FIRST_DAY), today))
    counts = Counts()
    for symbol in symbols:
        try:
            for first, last in ranges:
                history_for(symbol, first, last)
        except MarketError:
            counts.failed += 1
        else:
            counts.fetched += 1
    return counts


def constituents() -> list[str]:
    """Return every member of every index, sorted."""
    from app.models import IndexMembership, Stock  # noqa: PLC0415

    return sorted(set(db.session.scalars(select(Stock.symbol).join(IndexMembership))))


def last_closed_session(code: str, now: datetime) -> date | None:
    """Return the last session of exchange `code` that closed before `now` (None past its calendar)."""
    import exchange_calendars  # noqa: PLC0415 - slow to import; the library keeps each calendar it builds
    import pandas as pd  # noqa: PLC0415

    try:
        calendar = exchange_calendars.get_calendar(code)
        return calendar.minute_to_past_session(pd.Timestamp(now).floor("min")).date()
    except (ValueError, KeyError, exchange_calendars.errors.CalendarError) as exc:
        log.warning("jobs_calendar_failed", exchange=code, error=type(exc).__name__)
        return None


def seconds_to_utc_midnight(now: datetime) -> float:
    """Return the seconds until the next UTC day, when the closes' cache keys (ending today) roll over."""
    tomorrow = datetime.combine(now.astimezone(timezone.utc).date() + timedelta(days=1), datetime.min.time(),
                                tzinfo=timezone.utc)
    return max(60.0, (tomorrow - now).total_seconds())


def entry_ttl(ttl_class: str, revisit_s: float) -> float:
    """Return how long an entry the job writes stays fresh: until its next visit, never less than the readers'."""
    from app.market.service import market_cache  # noqa: PLC0415

    return max(market_cache().ttl_s(ttl_class), revisit_s * TTL_SLACK)


# -- rotation, chains and pacing -------------------------------------------------------

class Rotation:
    """A cursor going round `universe` in slices of `size`, kept in the pipeline's state.

    A pass starts again once the last slice is taken, or, with `period_s`, only once the
    pass before started that long ago (so no symbol is fetched twice within the period).
    The state lives under `rotation:<name>:*` (Redis or JOBS_DIR/state; Redis keeps it 7 days).
    """

    def __init__(self, name: str, universe: list[str], size: int, period_s: float = 0.0) -> None:
        self.name, self.universe, self.size, self.period_s = name, universe, max(1, size), period_s
        self.cursor, self.turn, self._pass_started = 0, [], None

    @property
    def runs_per_pass(self) -> int:
        """Return how many runs one pass over the universe takes."""
        return max(1, math.ceil(len(self.universe) / self.size))

    def take(self, now: float) -> list[str]:
        """Return this run's slice (empty while a finished pass waits for its period)."""
        cursor = int(state.last(f"rotation:{self.name}:cursor") or 0)
        if cursor >= len(self.universe):
            began = state.last(f"rotation:{self.name}:pass")
            if self.period_s and began is not None and now - began < self.period_s:
                self.cursor, self.turn = cursor, []
                return []
            cursor = 0
        if cursor == 0:
            self._pass_started = now
        self.turn = self.universe[cursor:cursor + self.size]
        self.cursor = cursor + len(self.turn)
        return self.turn

    def advance(self) -> None:
        """Record that this run's slice is done: the next run takes the one after it."""
        if self._pass_started is not None:
            state.mark(f"rotation:{self.name}:pass", at=self._pass_started)
        state.mark(f"rotation:{self.name}:cursor", at=float(self.cursor))


@dataclass(frozen=True)
class JobChain:
    """The providers a job asks for one capability, and how hard it may drive them."""

    names: tuple[str, ...]
    per_core_call: int  # requests the first of them answers inside the core's time budget
    metered: bool  # one of them counts calls per minute: the job spreads its calls


def job_chain(capability: str, skip_daily_capped: bool = True) -> JobChain:
    """Return MARKET_PROVIDERS' providers with `capability`, without the daily-capped ones by default."""
    from app.market.providers import provider_class  # noqa: PLC0415
    from app.market.service import chain_settings  # noqa: PLC0415

    names, settings = chain_settings()
    capable = [provider_class(name)(settings) for name in names
               if not (skip_daily_capped and name in DAILY_CAPPED)]
    capable = [p for p in capable if capability in p.capabilities]
    if not capable:
        return JobChain((), 1, False)
    rate = float(capable[0].limits.rate_per_s or 0)
    fits = MAX_PER_CORE_CALL if rate <= 0 else int(settings["MARKET_BUDGET_S"] * BUDGET_SHARE * rate)
    return JobChain(tuple(p.name for p in capable), max(1, min(MAX_PER_CORE_CALL, fits)),
                    any(p.name in PER_MINUTE_METERED for p in capable))


def job_chain_for_history() -> JobChain:
    """Return the history chain as the closes use it (every provider: Yahoo has no daily cap)."""
    from app.market.providers.base import HISTORY  # noqa: PLC0415

    return job_chain(HISTORY, skip_daily_capped=False)


class Pacer:
    """Sends symbols to a refresh in core calls the chain answers in time, spread per minute when metered."""

    def __init__(self, chain: JobChain, calls_per_symbol: int) -> None:
        self.chain, self.calls_per_symbol = chain, calls_per_symbol
        self.per_min = float(current_app.config["JOBS_PROVIDER_CALLS_PER_MIN"])
        self.size = max(1, chain.per_core_call // calls_per_symbol)

    def run(self, symbols: list[str], refresh: Callable[[list[str]], dict[str, list[str]]],
            deadline: float) -> Counts:
        """Refresh the symbols chunk by chunk until done or past `deadline` (monotonic); return counts."""
        counts, began, calls = Counts(), time.monotonic(), 0
        for start in range(0, len(symbols), self.size):
            wait = began + calls * 60.0 / self.per_min - time.monotonic() if self.chain.metered else 0.0
            if time.monotonic() + max(0.0, wait) > deadline:
                counts.left += len(symbols) - start
                break
            if wait > 0:
                time.sleep(wait)
            chunk = symbols[start:start + self.size]
            counts.add(Counts.of(refresh(chunk)))
            calls += len(chunk) * self.calls_per_symbol
        return counts


@dataclass
class Counts:
    """What a run fetched, what failed (served from the last good copy, or not at all), what it left."""

    fetched: int = 0
    failed: int = 0
    left: int = 0

    @classmethod
    def of(cls, result: dict[str, list[str]]) -> Counts:
        """Return the counts of a `research.refresh_*` answer."""
        return cls(len(result["fetched"]), len(result["failed"]))

    def add(self, other: Counts) -> None:
        """Add another part's counts."""
        self.fetched, self.failed, self.left = self.fetched + other.fetched, self.failed + other.failed, \
            self.left + other.left

    def raise_if_all_failed(self) -> None:
        """Raise ProviderUnavailableError (retried with backoff) when nothing was fetched and something failed."""
        if self.failed and not self.fetched:
            raise ProviderUnavailableError("no provider answered for any symbol")


def _locked(task: Any, family: str, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    with state.run_lock(family, ttl_s=LIMITS_S[family][1]) as got:
        if not got:
            state.retry_if_redelivered(task)  # a dead worker's run is redone once its lease lapses
            log.info(f"jobs_{family}_skipped", reason="a run is in progress")
            return {"skipped": True}
        result = run()
        state.mark(family)
        return result


def _seen_within(name: str, period_s: float, now: float) -> bool:
    at = state.last(name)
    return at is not None and now - at < period_s


def _done(family: str, started: float, counts: Counts, **extra: Any) -> dict[str, Any]:
    result = {"fetched": counts.fetched, "failed": counts.failed, "left": counts.left, **extra,
              "seconds": round(time.perf_counter() - started, 3)}
    log.info(f"jobs_{family}_done", **result)
    return result


def _nothing(family: str, reason: str) -> dict[str, Any]:
    log.info(f"jobs_{family}_skipped", reason=reason)
    return {"skipped": True, "reason": reason}
