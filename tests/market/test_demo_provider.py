"""The demo provider: deterministic simulated history, live intraday ticks, knobs, FX, news."""
from __future__ import annotations

import asyncio
import itertools
import math
import os
import re
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from app.market.providers import base, demo_data
from app.market.providers.demo import DemoProvider
from app.market.types import Bar, ProviderError, Quote, SymbolNotFoundError
from app.universe import load_universe

UTC = timezone.utc
BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")
WEDNESDAY = date(2024, 6, 12)
REPO = Path(__file__).resolve().parents[2]

# Words of the VADER lexicon (valence in comments) the headline templates rely on.
VADER_POSITIVE = {
    "strong": 2.3, "excellent": 2.7, "impressive": 2.3, "optimism": 2.5, "success": 2.7,
    "successful": 2.8, "win": 2.8, "wins": 2.7, "boost": 1.7, "gain": 2.4, "gains": 1.4, "great": 3.1,
    "outstanding": 3.0, "confident": 2.2, "growth": 1.6, "profit": 1.9, "profits": 1.9, "celebrates": 2.7,
    "praise": 2.6, "cheer": 2.3, "robust": 1.4, "best": 3.2, "good": 1.9, "share": 1.2, "shares": 1.2,
}
VADER_NEGATIVE = {
    "warning": -1.4, "weak": -1.9, "disappointing": -2.2, "losses": -1.7, "fraud": -2.8, "lawsuit": -0.9,
    "failure": -2.3, "worrying": -1.4, "crisis": -3.1, "scandal": -1.9, "fears": -1.8, "bad": -2.5,
    "worst": -3.1, "poor": -2.1, "problems": -1.7, "hurt": -2.4, "struggles": -1.5, "cuts": -1.2,
    "demand": -0.5, "costly": -0.4, "damaging": -2.3, "worsening": -2.0,
}


class Clock:
    """A frozen, movable clock for the provider."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def local(self, day: date, hh: int, mm: int, zone: ZoneInfo, ss: int = 0) -> "Clock":
        self.now = datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=zone).astimezone(UTC)
        return self


def run(coro):
    return asyncio.run(coro)


def make(clock: Clock | None = None, **settings) -> DemoProvider:
    return DemoProvider(settings, now=clock or Clock(datetime(2024, 6, 15, 12, tzinfo=UTC)))


def history(provider: DemoProvider, symbol: str, start: date, end: date) -> list[Bar]:
    return run(provider.history(symbol, start, end))


def quote_at(provider: DemoProvider, clock: Clock, symbol: str, day: date, hh: int, mm: int, zone: ZoneInfo,
             ss: int = 0) -> Quote:
    clock.local(day, hh, mm, zone, ss)
    return run(provider.quotes([symbol]))[symbol]


def log_returns(bars: list[Bar]) -> list[float]:
    return [math.log(b.close / a.close) for a, b in zip(bars, bars[1:])]


@pytest.fixture(scope="module")
def universe():
    return load_universe()


def test_registered_with_capabilities_and_limits():
    cls = base.provider_class("demo")
    assert cls is DemoProvider
    assert cls.capabilities == {base.QUOTES, base.HISTORY, base.PROFILE, base.NEWS, base.FX, base.SEARCH, base.SPLITS,
                                base.DIVIDENDS}
    assert cls.limits.batch_size == 100 and cls.limits.rate_per_s >= 100


def test_history_is_deterministic_across_calls_and_instances():
    first = history(make(), "SAP.DE", date(2019, 1, 1), date(2023, 12, 31))
    assert first == history(make(), "SAP.DE", date(2019, 1, 1), date(2023, 12, 31))
    fresh = DemoProvider({}, now=lambda: datetime(2030, 1, 1, tzinfo=UTC))  # a later clock: same past
    assert history(fresh, "SAP.DE", date(2019, 1, 1), date(2023, 12, 31)) == first
    part = history(make(), "SAP.DE", date(2021, 3, 1), date(2021, 3, 31))  # a sub-range is a slice
    assert part == [b for b in first if date(2021, 3, 1) <= b.date <= date(2021, 3, 31)]


_DIGEST_SCRIPT = """
import asyncio, hashlib
from datetime import date, datetime, timezone
from app.market.providers.demo import DemoProvider

def digest():
    p = DemoProvider({}, now=lambda: datetime(2024, 6, 12, 8, 30, 17, tzinfo=timezone.utc))
    h = hashlib.sha256()
    for s in ("SAP.DE", "AAPL", "7203.T"):
        h.update(repr(asyncio.run(p.history(s, date(2005, 1, 1), date(2024, 6, 1)))).encode())
    h.update(repr(sorted(asyncio.run(p.quotes(["SAP.DE", "AAPL", "7203.T"])).items())).encode())
    h.update(repr(asyncio.run(p.news("SAP.DE"))).encode())
    return h.hexdigest()
"""


def test_same_history_quotes_and_news_in_every_process():
    namespace: dict = {}
    exec(_DIGEST_SCRIPT, namespace)
    here = namespace["digest"]()
    env = dict(os.environ, PYTHONHASHSEED="random")
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", _DIGEST_SCRIPT + "print(digest())"], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=120, check=True)
        assert out.stdout.strip() == here


def test_different_symbols_differ():
    provider = make()
    a = history(provider, "SAP.DE", date(2023, 1, 1), date(2023, 12, 31))
    b = history(provider, "SIE.DE", date(2023, 1, 1), date(2023, 12, 31))
    assert [x.date for x in a] == [x.date for x in b]
    assert [x.close for x in a] != [x.close for x in b]
    assert statistics.correlation(log_returns(a), log_returns(b)) < 0.95


@pytest.mark.parametrize("symbol", ["SAP.DE", "AAPL", "7203.T", "HSBA.L", "NESN.SW", "MC.PA", "BRK-B"])
def test_ohlc_consistent_over_five_years(symbol):
    bars = history(make(), symbol, date(2019, 6, 1), date(2024, 5, 31))
    assert len(bars) > 1200
    for bar in bars:
        assert 0 < bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high, bar
        assert isinstance(bar.volume, int) and bar.volume > 0
    ranges = [(b.high - b.low) / b.close for b in bars]
    assert 0.005 < statistics.median(ranges) < 0.06  # plausible daily ranges
    gaps = [abs(math.log(b.open / a.close)) for a, b in zip(bars, bars[1:])]
    assert max(gaps) > 0.02  # occasional overnight gaps exist


def test_only_trading_days():
    bars = history(make(), "AAPL", date(2015, 1, 1), date(2024, 12, 31))
    days = [b.date for b in bars]
    assert days == sorted(set(days))
    assert all(d.weekday() < 5 for d in days)
    assert not any((d.month, d.day) in demo_data.HOLIDAYS for d in days)
    weekdays = sum(1 for i in range((date(2024, 6, 14) - date(2015, 1, 1)).days + 1)
                   if (date(2015, 1, 1) + timedelta(days=i)).weekday() < 5)
    assert len([d for d in days if d <= date(2024, 6, 14)]) > weekdays - 35


def test_price_levels_in_range(universe):
    provider = make()
    sample = universe[::75]
    assert {r.currency for r in sample} >= {"USD", "EUR", "JPY"}
    for rec in sample:
        bars = history(provider, rec.symbol, date(2000, 1, 1), date(2024, 12, 31))
        assert bars[0].date <= date(2000, 1, 7)
        scale = 100.0 if rec.currency == "JPY" else 1.0
        lows, highs = min(b.low for b in bars) / scale, max(b.high for b in bars) / scale
        assert 5 <= lows and highs <= 800, (rec.symbol, lows, highs)


def test_sector_factor_correlates_returns_within_a_sector(universe):
    provider, by_sector = make(), defaultdict(list)
    for rec in universe:
        by_sector[rec.sector].append(rec.symbol)
    sectors = ["Technology", "Financials", "Energy", "Utilities"]
    returns = {s: [log_returns(history(provider, sym, date(2021, 1, 1), date(2023, 12, 31)))
                   for sym in by_sector[s][:6]] for s in sectors}
    within = [statistics.correlation(a, b) for s in sectors for a, b in itertools.combinations(returns[s], 2)]
    across = [statistics.correlation(a, b) for s, t in itertools.combinations(sectors, 2)
              for a in returns[s] for b in returns[t]]
    print(f"mean return correlation: within sector {statistics.mean(within):.3f}, "
          f"across sectors {statistics.mean(across):.3f}")
    assert statistics.mean(within) > statistics.mean(across) + 0.1
    assert statistics.mean(across) > 0.05  # the market factor links every stock


def test_intraday_price_moves_during_trading_hours():
    clock = Clock(datetime.now(UTC))
    provider = make(clock)
    quotes = [quote_at(provider, clock, "SAP.DE", WEDNESDAY, hh, mm, BERLIN)
              for hh, mm in ((9, 0), (9, 45), (10, 30), (12, 0), (15, 15), (17, 29))]
    assert all(q.market_state == "open" for q in quotes)
    assert len({q.price for q in quotes}) >= 5
    volumes = [q.volume for q in quotes]
    assert volumes == sorted(volumes) and volumes[-1] > 0  # volume grows through the day
    for q in quotes:
        assert q.day_low <= q.price <= q.day_high and q.day_low <= q.open <= q.day_high
        assert q.previous_close == quotes[0].previous_close
    seconds = {quote_at(provider, clock, "SAP.DE", WEDNESDAY, 11, s // 60, BERLIN, s % 60).price
               for s in range(0, 600, 20)}
    assert len(seconds) > 5  # it keeps ticking within minutes


def test_price_stands_still_outside_trading_hours_and_matches_the_close():
    clock = Clock(datetime.now(UTC))
    provider = make(clock)
    still = [quote_at(provider, clock, "SAP.DE", day, hh, mm, BERLIN)
             for day, hh, mm in ((WEDNESDAY, 17, 30), (WEDNESDAY, 18, 0), (WEDNESDAY, 23, 59),
                                 (date(2024, 6, 13), 6, 0), (date(2024, 6, 13), 8, 59))]
    assert {q.market_state for q in still} == {"closed"}
    assert len({(q.price, q.volume, q.ts) for q in still}) == 1
    close_bar = history(provider, "SAP.DE", WEDNESDAY, WEDNESDAY)
    assert close_bar and close_bar[0].close == still[0].price
    assert still[0].ts == datetime(2024, 6, 12, 17, 30, tzinfo=BERLIN)
    sunday = quote_at(provider, clock, "SAP.DE", date(2024, 6, 16), 12, 0, BERLIN)  # Friday's close
    assert sunday.price == history(provider, "SAP.DE", date(2024, 6, 14), date(2024, 6, 14))[0].close


def test_us_and_tokyo_sessions_follow_their_own_zones():
    clock = Clock(datetime.now(UTC))
    provider = make(clock)
    assert quote_at(provider, clock, "AAPL", WEDNESDAY, 9, 29, NEW_YORK).market_state == "closed"
    clock.local(WEDNESDAY, 11, 0, NEW_YORK)  # 17:00 in Berlin, 00:00 in Tokyo
    quotes = run(provider.quotes(["AAPL", "SAP.DE", "7203.T"]))
    assert [quotes[s].market_state for s in ("AAPL", "SAP.DE", "7203.T")] == ["open", "open", "closed"]
    tokyo, london = ZoneInfo("Asia/Tokyo"), ZoneInfo("Europe/London")
    assert quote_at(provider, clock, "7203.T", WEDNESDAY, 10, 0, tokyo).market_state == "open"
    assert quote_at(provider, clock, "7203.T", WEDNESDAY, 15, 1, tokyo).market_state == "closed"
    assert quote_at(provider, clock, "HSBA.L", WEDNESDAY, 8, 5, london).market_state == "open"


def test_quote_payload_and_instances_agree():
    clock = Clock(datetime(2024, 6, 12, 15, 0, 7, tzinfo=UTC))
    one, two = make(clock), DemoProvider({"DEMO_NOW": clock})  # clock by argument or by setting
    q = run(one.quotes(["AAPL"]))["AAPL"]
    assert q == run(two.quotes(["AAPL"]))["AAPL"]
    assert isinstance(q, Quote) and q.source == "demo" and q.currency == "USD"
    assert q.ts.utcoffset() == timedelta(0) and q.ts <= clock.now
    assert q.change == pytest.approx(q.price - q.previous_close, abs=1e-6)
    assert q.change_pct == pytest.approx(100 * q.change / q.previous_close, rel=1e-3)
    assert q.to_dict()["source"] == "demo"


def test_tick_knob_sets_the_bucket():
    clock = Clock(datetime.now(UTC))
    provider = make(clock, DEMO_TICK_S=60)
    prices = {quote_at(provider, clock, "AAPL", WEDNESDAY, 11, 0, NEW_YORK, s).price for s in (0, 15, 59)}
    assert len(prices) == 1
    default = make(clock)  # DEMO_TICK_S defaults to one second
    clock.local(WEDNESDAY, 11, 0, NEW_YORK, 5)
    first = run(default.quotes(["AAPL"]))["AAPL"]
    clock.now += timedelta(milliseconds=900)
    assert run(default.quotes(["AAPL"]))["AAPL"] == first
    minutes = {quote_at(provider, clock, "AAPL", WEDNESDAY, 11, m, NEW_YORK).price for m in range(1, 40, 3)}
    assert len(minutes) > 3


def test_unknown_symbol_fails_alone():
    out = run(make().quotes(["SAP.DE", "NOPE.XX", "aapl"]))
    assert isinstance(out["NOPE.XX"], SymbolNotFoundError) and out["NOPE.XX"].symbol == "NOPE.XX"
    assert isinstance(out["SAP.DE"], Quote) and out["aapl"].symbol == "AAPL"
    with pytest.raises(SymbolNotFoundError):
        history(make(), "NOPE.XX", date(2024, 1, 1), date(2024, 2, 1))


def test_history_holds_only_closed_days():
    clock = Clock(datetime.now(UTC))
    provider = make(clock)
    clock.local(WEDNESDAY, 12, 0, BERLIN)
    assert history(provider, "SAP.DE", date(2024, 6, 1), date(2024, 12, 31))[-1].date == date(2024, 6, 11)
    clock.local(WEDNESDAY, 17, 31, BERLIN)
    assert history(provider, "SAP.DE", date(2024, 6, 1), date(2024, 12, 31))[-1].date == WEDNESDAY
    assert history(provider, "SAP.DE", date(1990, 1, 1), date(1999, 12, 31)) == []


def test_failure_rate_knob_is_repeatable():
    async def failures(provider):
        result = []
        for _ in range(400):
            try:
                await provider.fx_rate("EUR", "USD")
                result.append(False)
            except ProviderError as exc:
                assert exc.provider == "demo"
                result.append(True)
        return result

    def outcomes(rate):
        return run(failures(make(DEMO_FAILURE_RATE=rate, DEMO_SEED=7)))

    failed = outcomes(0.3)
    assert 0.22 < sum(failed) / len(failed) < 0.38
    assert failed == outcomes(0.3)
    assert not any(outcomes(0.0))


def test_latency_knob_delays_each_call():
    provider = make(DEMO_LATENCY_MS=120)
    started = time.perf_counter()
    run(provider.quotes(["SAP.DE"]))
    assert time.perf_counter() - started >= 0.11


def test_fx_levels_cross_rates_and_history():
    provider = make(Clock(datetime(2024, 6, 15, 12, tzinfo=UTC)))
    rate = lambda b, q, on=None: run(provider.fx_rate(b, q, on)).rate  # noqa: E731
    levels = {"USD": 1.08, "GBP": 0.86, "JPY": 160.0, "SEK": 11.3, "CHF": 0.95}
    for ccy, level in levels.items():
        assert 0.7 * level < rate("EUR", ccy) < 1.3 * level
        assert rate(ccy, ccy) == 1.0
    for day in (date(2005, 3, 1), date(2024, 6, 12), None):
        assert rate("USD", "GBP", day) == pytest.approx(rate("EUR", "GBP", day) / rate("EUR", "USD", day))
        assert rate("GBP", "EUR", day) == pytest.approx(1 / rate("EUR", "GBP", day))
    fx = run(provider.fx_rate("EUR", "USD", date(2024, 6, 12)))
    assert fx.source == "demo" and fx.on == date(2024, 6, 12)
    series = run(provider.fx_history("USD", "JPY", date(2024, 1, 1), date(2024, 12, 31)))
    assert list(series) == [date(2024, 1, 1) + timedelta(days=i) for i in range(167)]  # up to "today"
    assert series[date(2024, 6, 8)] == series[date(2024, 6, 7)]  # Saturday keeps Friday's rate
    assert series[date(2024, 6, 10)] != series[date(2024, 6, 7)]
    assert series[date(2024, 6, 12)] == pytest.approx(rate("USD", "JPY", date(2024, 6, 12)))
    with pytest.raises(SymbolNotFoundError):
        rate("EUR", "XYZ")


def test_news_is_deterministic_recent_and_labelled(universe):
    now = datetime(2024, 6, 12, 15, tzinfo=UTC)
    provider = make(Clock(now))
    counts = []
    for rec in universe[::60]:
        items = run(provider.news(rec.symbol))
        assert items == run(make(Clock(now)).news(rec.symbol))
        assert [i.published_at for i in items] == sorted((i.published_at for i in items), reverse=True)
        assert all(now - timedelta(days=7) < i.published_at <= now for i in items)
        assert all(i.source == "demo" and rec.name in i.headline for i in items)
        counts.append(len(items))
    assert 5 <= statistics.mean(counts) <= 10
    later = run(make(Clock(now + timedelta(hours=20))).news("SAP.DE"))  # old items stay the same
    assert [i for i in run(provider.news("SAP.DE")) if i.published_at > now - timedelta(days=5)] == \
        [i for i in later if now - timedelta(days=5) < i.published_at <= now]


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


def test_headline_templates_carry_strong_sentiment():
    for template in demo_data.POSITIVE_HEADLINES:
        words = _words(template.format(name=""))
        assert len([w for w in words if w in VADER_POSITIVE]) >= 2, template
        assert sum(VADER_POSITIVE.get(w, 0) for w in words) >= 3.0, template
        assert not [w for w in words if w in VADER_NEGATIVE], template
    for template in demo_data.NEGATIVE_HEADLINES:
        words = _words(template.format(name=""))
        assert len([w for w in words if w in VADER_NEGATIVE]) >= 2, template
        assert sum(VADER_NEGATIVE.get(w, 0) for w in words) <= -3.0, template
        assert not [w for w in words if w in VADER_POSITIVE], template
    for template in demo_data.NEUTRAL_HEADLINES + (demo_data.NEWS_SUMMARY,):
        words = _words(template.format(name=""))
        assert not [w for w in words if w in VADER_POSITIVE or w in VADER_NEGATIVE], template


def test_news_sentiment_follows_recent_performance(universe):
    now = datetime(2024, 6, 12, 15, tzinfo=UTC)
    provider = make(Clock(now))
    positive, negative = set(demo_data.POSITIVE_HEADLINES), set(demo_data.NEGATIVE_HEADLINES)
    pairs = []
    for rec in universe[::8]:
        bars = history(provider, rec.symbol, date(2024, 5, 20), date(2024, 6, 11))
        week = math.log(bars[-1].close / bars[-7].close)
        tone = 0
        for item in run(provider.news(rec.symbol)):
            template = item.headline.replace(rec.name, "{name}")
            tone += (template in positive) - (template in negative)
        pairs.append((week, tone))
    up = [t for w, t in pairs if w > 0.02]
    down = [t for w, t in pairs if w < -0.02]
    print(f"mean news tone: after a rising week {statistics.mean(up):+.2f}, "
          f"after a falling week {statistics.mean(down):+.2f}")
    assert statistics.mean(up) > statistics.mean(down) + 0.5


def test_profile_is_plausible_and_sector_typical(universe):
    provider = make()
    sap = run(provider.profile("SAP.DE"))
    assert sap == run(make().profile("SAP.DE"))
    assert sap.source == "demo" and sap.name == "SAP" and sap.country == "Germany" and sap.currency == "EUR"
    assert sap.sector == "Technology" and sap.market_cap > 1e8
    pe = defaultdict(list)
    for rec in universe[::5]:
        p = run(provider.profile(rec.symbol))
        assert p.sector == rec.sector and p.industry == rec.industry
        assert p.pe_ratio is None or 2 < p.pe_ratio < 250
        assert 0 < p.pb_ratio < 80 and 0 <= p.dividend_yield < 0.2 and -1 < p.revenue_growth < 1
        assert -1 < p.roe < 1 and p.debt_to_equity > 0
        if p.pe_ratio:
            pe[rec.sector].append(p.pe_ratio)
    assert statistics.median(pe["Technology"]) > statistics.median(pe["Financials"]) * 1.5


def test_search_by_symbol_and_name_prefix():
    provider = make()
    hits = run(provider.search("sap"))
    assert hits[0].symbol == "SAP.DE" and hits[0].source == "demo" and hits[0].kind == "EQUITY"
    assert any(h.symbol == "AAPL" for h in run(provider.search("apple")))
    assert len(run(provider.search("a", limit=5))) == 5
    assert run(provider.search("   ")) == []


def test_ten_years_of_history_is_fast(universe):
    provider = make()
    history(provider, "MSFT", date(2024, 1, 1), date(2024, 1, 10))  # shared factors and calendar warm
    started = time.perf_counter()
    bars = history(provider, "SIE.DE", date(2014, 6, 1), date(2024, 5, 31))
    elapsed = time.perf_counter() - started
    print(f"10 years ({len(bars)} bars) of one symbol in {elapsed * 1000:.1f} ms")
    assert len(bars) > 2500 and elapsed < 0.5
    symbols = [rec.symbol for rec in universe[:100]]
    started = time.perf_counter()
    quotes = run(make(Clock(datetime(2024, 6, 12, 14, 0, tzinfo=UTC))).quotes(symbols))
    elapsed = time.perf_counter() - started
    print(f"a batch of {len(quotes)} quotes in {elapsed * 1000:.1f} ms")
    assert all(isinstance(q, Quote) for q in quotes.values()) and elapsed < 1.0


def test_always_open_replays_the_last_session_while_the_exchange_is_closed() -> None:
    saturday = datetime(2024, 6, 15, 12, tzinfo=UTC)
    clock = Clock(saturday)
    closed = DemoProvider({"DEMO_TICK_S": 1.0}, now=clock)
    replaying = DemoProvider({"DEMO_TICK_S": 1.0, "DEMO_ALWAYS_OPEN": True}, now=clock)
    seen_closed, seen_open = set(), set()
    for _ in range(30):
        q_closed = run(closed.quotes(["SAP.DE"]))["SAP.DE"]
        q_open = run(replaying.quotes(["SAP.DE"]))["SAP.DE"]
        seen_closed.add(q_closed.price)
        seen_open.add(q_open.price)
        assert q_closed.market_state == "closed" and q_open.market_state == "open"
        # The replay stays inside the last session's range and on its day: history is untouched.
        assert q_open.day_low <= q_open.price <= q_open.day_high
        assert q_open.previous_close == q_closed.previous_close
        clock.now += timedelta(seconds=1)
    assert len(seen_closed) == 1, "a closed market does not move"
    assert len(seen_open) > 1, "the replay moves tick by tick"
