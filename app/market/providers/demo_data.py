"""What the demo market says besides prices: its tables (sessions, FX levels, sector
fundamentals, headline templates) and the builders of profiles, news and search hits.

Headline wording matters: the sentiment component scores headlines with VADER, so
positive templates stack words VADER rates clearly positive (strong, excellent,
success, profit, growth...) and negative ones clearly negative (weak, losses,
crisis, fraud, worst...); neutral ones avoid both.
"""
from __future__ import annotations

import math
import random
import unicodedata
from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from app.market.types import NewsItem, Profile, SearchHit, SymbolNotFoundError

SOURCE = "demo"

# Fixed holidays (month, day) closing every demo exchange; weekends are closed too.
HOLIDAYS: frozenset[tuple[int, int]] = frozenset({(1, 1), (12, 25), (12, 26)})

# Session = (IANA zone, local open, local close). Looked up by Yahoo suffix, then exchange.
NEW_YORK = ("America/New_York", time(9, 30), time(16, 0))
SESSIONS_BY_SUFFIX: dict[str, tuple[str, time, time]] = {
    "DE": ("Europe/Berlin", time(9, 0), time(17, 30)),
    "F": ("Europe/Berlin", time(8, 0), time(20, 0)),
    "PA": ("Europe/Paris", time(9, 0), time(17, 30)),
    "AS": ("Europe/Amsterdam", time(9, 0), time(17, 30)),
    "BR": ("Europe/Brussels", time(9, 0), time(17, 30)),
    "MC": ("Europe/Madrid", time(9, 0), time(17, 30)),
    "MI": ("Europe/Rome", time(9, 0), time(17, 30)),
    "HE": ("Europe/Helsinki", time(10, 0), time(18, 30)),
    "ST": ("Europe/Stockholm", time(9, 0), time(17, 30)),
    "SW": ("Europe/Zurich", time(9, 0), time(17, 30)),
    "L": ("Europe/London", time(8, 0), time(16, 30)),
    "T": ("Asia/Tokyo", time(9, 0), time(15, 0)),
}
SESSIONS_BY_EXCHANGE: dict[str, tuple[str, time, time]] = {
    "XETRA": SESSIONS_BY_SUFFIX["DE"], "Euronext Paris": SESSIONS_BY_SUFFIX["PA"],
    "Euronext Amsterdam": SESSIONS_BY_SUFFIX["AS"], "Euronext Brussels": SESSIONS_BY_SUFFIX["BR"],
    "BME": SESSIONS_BY_SUFFIX["MC"], "Borsa Italiana": SESSIONS_BY_SUFFIX["MI"],
    "Nasdaq Helsinki": SESSIONS_BY_SUFFIX["HE"], "Nasdaq Stockholm": SESSIONS_BY_SUFFIX["ST"],
    "SIX": SESSIONS_BY_SUFFIX["SW"], "LSE": SESSIONS_BY_SUFFIX["L"], "TSE": SESSIONS_BY_SUFFIX["T"],
    "NYSE": NEW_YORK, "NASDAQ": NEW_YORK,
}

# Units of each currency one euro buys, around 2024; the simulation drifts around these.
FX_PER_EUR: dict[str, float] = {
    "EUR": 1.0, "USD": 1.08, "GBP": 0.86, "JPY": 160.0, "SEK": 11.3, "CHF": 0.95,
    "DKK": 7.46, "NOK": 11.5,
}
# Quote sub-units: pence are 1/100 of a pound.
FX_SUBUNITS: dict[str, tuple[str, float]] = {"GBX": ("GBP", 100.0)}
# Price level multiplier by currency (Japanese shares trade in the thousands of yen).
PRICE_SCALE: dict[str, float] = {"JPY": 100.0, "GBX": 100.0}

# Sector medians: (P/E, P/B, debt/equity, ROE, dividend yield, revenue growth).
SECTOR_FUNDAMENTALS: dict[str, tuple[float, float, float, float, float, float]] = {
    "Technology": (28.0, 7.0, 0.4, 0.22, 0.008, 0.12),
    "Healthcare": (22.0, 4.0, 0.6, 0.16, 0.015, 0.07),
    "Financials": (11.0, 1.2, 2.5, 0.11, 0.040, 0.05),
    "Consumer Cyclical": (18.0, 3.0, 0.9, 0.15, 0.020, 0.07),
    "Consumer Defensive": (20.0, 4.0, 0.8, 0.18, 0.028, 0.04),
    "Industrials": (19.0, 3.2, 0.9, 0.15, 0.020, 0.06),
    "Energy": (10.0, 1.6, 0.6, 0.14, 0.045, 0.03),
    "Utilities": (16.0, 1.8, 1.4, 0.09, 0.040, 0.03),
    "Real Estate": (24.0, 1.1, 1.2, 0.05, 0.040, 0.04),
    "Basic Materials": (14.0, 1.8, 0.5, 0.12, 0.030, 0.04),
    "Communication Services": (18.0, 2.8, 1.0, 0.14, 0.025, 0.06),
}
DEFAULT_FUNDAMENTALS = (17.0, 2.5, 0.9, 0.13, 0.025, 0.05)

# Market-cap range (EUR) by the most prominent index a stock belongs to.
CAP_TIERS: tuple[tuple[frozenset[str], float, float], ...] = (
    (frozenset({"Dow Jones", "S&P 100", "EURO STOXX 50", "NASDAQ 100"}), 40e9, 900e9),
    (frozenset({"DAX", "CAC 40", "FTSE 100", "AEX", "IBEX 35", "Switzerland 20", "S&P 500",
                "OMX Stockholm 30", "BEL 20", "OMX Helsinki 25", "NIKKEI 225"}), 5e9, 150e9),
    (frozenset({"MDAX", "TecDAX", "CAC Mid 60"}), 1.5e9, 15e9),
    (frozenset({"SDAX", "S&P 600"}), 0.3e9, 4e9),
)
DEFAULT_CAP = (1e9, 20e9)

POSITIVE_HEADLINES: tuple[str, ...] = (
    "{name} beats expectations as strong growth lifts profit",
    "{name} reports excellent quarter as profits climb to a new high",
    "Analysts praise {name} for impressive turnaround and confident outlook",
    "{name} wins major contract in a great success for its growth strategy",
    "{name} raises dividend after outstanding profit growth",
    "Investors cheer {name} after successful product launch",
    "{name} upgraded on robust growth and excellent margins",
    "{name} celebrates best year ever with strong gains in every region",
)
NEGATIVE_HEADLINES: tuple[str, ...] = (
    "{name} plunges after earnings warning as weak sales hurt results",
    "{name} slumps as disappointing results fuel fears of losses",
    "{name} cuts outlook amid crisis, worrying investors",
    "{name} hit by fraud scandal as regulators open probe",
    "{name} reports worst quarter in years after bad sales",
    "{name} faces damaging lawsuit after costly product failure",
    "Analysts downgrade {name}, citing poor execution and worsening problems",
    "{name} struggles with heavy losses and weak cash flow",
)
NEUTRAL_HEADLINES: tuple[str, ...] = (
    "{name} to present at industry conference next week",
    "{name} schedules release of quarterly results",
    "{name} announces date of annual general meeting",
    "{name} appoints new chief financial officer",
    "{name} completes previously announced stock buyback",
    "{name} opens new regional headquarters",
    "What to watch as {name} reports this week",
    "{name} files annual report with regulator",
)
PUBLISHERS: tuple[str, ...] = (
    "Demo Market Wire", "Simulated Street Journal", "Tickerdesk Demo News", "Sim Finance Daily",
)
NEWS_SUMMARY = "Simulated headline from the Tickerdesk demo market; not real news."


def build_profile(rec: Any, seed: bytes, price_ratio: float, market_cap: float, now: datetime) -> Profile:
    """Return sector-typical fundamentals for `rec`; P/E, P/B and yield move with `price_ratio`."""
    rng = random.Random(seed + b"profile")
    pe, pb, de, roe, dy, growth = SECTOR_FUNDAMENTALS.get(rec.sector, DEFAULT_FUNDAMENTALS)
    loss_making = rng.random() < 0.06
    spread = [math.exp(rng.gauss(0.0, 0.3)) for _ in range(5)]
    pays = rng.random() > (0.45 if rec.sector == "Technology" else 0.12)
    return Profile(
        symbol=rec.symbol, source=SOURCE, as_of=now, name=rec.name, currency=rec.currency, sector=rec.sector,
        industry=rec.industry, country=rec.country, market_cap=round(market_cap, -3),
        pe_ratio=None if loss_making else round(pe * spread[0] * price_ratio, 2),
        pb_ratio=round(pb * spread[1] * price_ratio, 2), debt_to_equity=round(de * spread[2], 2),
        roe=round(-0.05 * spread[3] if loss_making else roe * spread[3], 4),
        dividend_yield=round(dy * spread[4] / price_ratio, 4) if pays and not loss_making else 0.0,
        revenue_growth=round(growth + rng.gauss(0.0, 0.08), 4),
        description=(f"{rec.name} ({rec.sector}{', ' + rec.industry if rec.industry else ''}) is based in "
                     f"{rec.country} and listed on {rec.exchange}. Figures are simulated by the Tickerdesk "
                     "demo market."))


def build_news(rec: Any, seed: bytes, now: datetime, week_return: Callable[[date], float]) -> list[NewsItem]:
    """Return the headlines of the seven days up to `now`, newest first; the tone follows `week_return`."""
    items = []
    for back in range(7):
        day = now.date() - timedelta(days=back)
        rng = random.Random(seed + day.isoformat().encode())  # each day's items never change
        draw = rng.random()
        count = int(draw > 0.7) if day.weekday() >= 5 else 0 if draw < 0.1 else 1 if draw < 0.6 else 2
        trend = week_return(day) if count else 0.0
        p_pos, p_neg = min(max(0.3 + 4 * trend, 0.05), 0.85), min(max(0.3 - 4 * trend, 0.05), 0.85)
        for _ in range(count):
            mood = rng.random()
            templates = (POSITIVE_HEADLINES if mood < p_pos else NEGATIVE_HEADLINES if mood < p_pos + p_neg
                         else NEUTRAL_HEADLINES)
            published = datetime.combine(day, time(6), timezone.utc) + timedelta(seconds=rng.randrange(54000))
            headline, publisher = rng.choice(templates).format(name=rec.name), rng.choice(PUBLISHERS)
            if published <= now:
                items.append(NewsItem(symbol=rec.symbol, headline=headline, url=None, published_at=published,
                                      source=SOURCE, publisher=publisher, summary=NEWS_SUMMARY))
    return sorted(items, key=lambda item: item.published_at, reverse=True)


def search_rows(records: Iterable[Any]) -> list[tuple[str, str, Any]]:
    """Return the (folded symbol, folded name, record) rows that `search_universe` scans."""
    return [(rec.symbol.casefold(), fold(rec.name), rec) for rec in records]


def search_universe(rows: list[tuple[str, str, Any]], query: str, limit: int) -> list[SearchHit]:
    """Return records whose symbol, name or a word of the name starts with `query`, best first."""
    q = fold(query)[:64]
    if not q:
        return []
    ranked = []
    for sym, name, rec in rows:
        rank = (0 if sym == q else 1 if sym.startswith(q) else 2 if name.startswith(q)
                else 3 if any(w.startswith(q) for w in name.split()) else None)
        if rank is not None:
            ranked.append((rank, rec.symbol, rec))
    ranked.sort(key=lambda item: item[:2])
    return [SearchHit(symbol=r.symbol, name=r.name, exchange=r.exchange, kind="EQUITY", source=SOURCE)
            for _, _, r in ranked[:limit]]


def fold(text: str) -> str:
    """Fold text for case- and accent-insensitive matching."""
    text = unicodedata.normalize("NFKD", text)
    return " ".join("".join(ch for ch in text if not unicodedata.combining(ch)).casefold().split())


def currency_units(code: str) -> tuple[str, float]:
    """Return (ISO currency, units of `code` per unit of it); SymbolNotFoundError if unknown."""
    code = code.upper()
    if code in FX_SUBUNITS:
        return FX_SUBUNITS[code]
    if code not in FX_PER_EUR:
        raise SymbolNotFoundError(f"unknown currency {code!r}", provider=SOURCE, symbol=code)
    return code, 1.0


def fx_base(code: str) -> float:
    """Return the units of `code` per euro at the reference level (1.0 if unknown)."""
    iso, factor = FX_SUBUNITS.get(code.upper(), (code.upper(), 1.0))
    return FX_PER_EUR.get(iso, 1.0) * factor
