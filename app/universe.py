"""The stock universe: every constituent of every index shipped with pytickersymbols.

Pure data munging (no Flask, no database, no network). The raw lists are messy, so
each entry goes through the same steps:

* symbol -> canonical Yahoo form (``ADS.DE``, ``AAPL``, ``BRK-B``, ``7203.T``).
  Bare symbols of a European index get the home exchange suffix, but only when they
  are not a code from another venue (an LSE ``0N5I``, an OTC ``BOIVF``, or for
  non-German indices a Frankfurt code such as ALTEN's ``AN3``, which is not its
  Paris ticker). Missing/foreign symbols are derived from a yahoo symbol on the home
  exchange, then (German only) a Frankfurt ``.F`` symbol, then the ``traded_as``
  metadata ("FWB : DEQ", "Euronext Paris : AYV"); entries still without a symbol
  are skipped (see ``skipped_entries``).
* entries with the same canonical symbol are merged into one record holding all
  index memberships (Airbus ``AIR.PA.DE`` in the DAX becomes ``AIR.PA``).
* country: US "City, State" forms -> "United States", other "City, Country" -> Country,
  None -> the index's home; for non-US listings a stated country contradicted by the
  listing, the ISIN prefix and the index home together is replaced by that home.
* exchange/currency from the suffix (bare US: NASDAQ/NYSE from the google prefix, then
  traded_as, else NYSE); sector from a GICS name in an S&P entry, else a keyword vote.
"""
from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from pytickersymbols import PyTickerSymbols

SECTORS: tuple[str, ...] = (
    "Technology", "Healthcare", "Financials", "Consumer Cyclical", "Consumer Defensive",
    "Industrials", "Energy", "Utilities", "Real Estate", "Basic Materials",
    "Communication Services",
)

# pytickersymbols' index name -> display name.
RAW_INDEX_NAMES: dict[str, str] = {
    "AEX": "AEX", "BEL 20": "BEL 20", "CAC_40": "CAC 40", "CAC Mid 60": "CAC Mid 60",
    "DAX": "DAX", "DOW JONES": "Dow Jones", "EURO STOXX 50": "EURO STOXX 50",
    "FTSE 100": "FTSE 100", "IBEX 35": "IBEX 35", "MDAX": "MDAX", "NASDAQ 100": "NASDAQ 100",
    "NIKKEI 225": "NIKKEI 225", "OMX Helsinki 25": "OMX Helsinki 25",
    "OMX Stockholm 30": "OMX Stockholm 30", "SDAX": "SDAX", "S&P 100": "S&P 100",
    "S&P 500": "S&P 500", "S&P 600": "S&P 600", "Switzerland 20": "Switzerland 20",
    "TecDAX": "TecDAX",
}
INDEX_NAMES: tuple[str, ...] = tuple(RAW_INDEX_NAMES.values())

_US = ("United States", "USD")
# Display name -> (home country, currency). The EURO STOXX 50 is multinational; its
# home is Germany, the plurality of its constituents (17 German, 15 French listings).
INDEX_HOME: dict[str, tuple[str, str]] = {
    "AEX": ("Netherlands", "EUR"), "BEL 20": ("Belgium", "EUR"), "CAC 40": ("France", "EUR"),
    "CAC Mid 60": ("France", "EUR"), "DAX": ("Germany", "EUR"), "Dow Jones": _US,
    "EURO STOXX 50": ("Germany", "EUR"), "FTSE 100": ("United Kingdom", "GBP"),
    "IBEX 35": ("Spain", "EUR"), "MDAX": ("Germany", "EUR"), "NASDAQ 100": _US,
    "NIKKEI 225": ("Japan", "JPY"), "OMX Helsinki 25": ("Finland", "EUR"),
    "OMX Stockholm 30": ("Sweden", "SEK"), "SDAX": ("Germany", "EUR"), "S&P 100": _US,
    "S&P 500": _US, "S&P 600": _US, "Switzerland 20": ("Switzerland", "CHF"),
    "TecDAX": ("Germany", "EUR"),
}

# Yahoo suffix -> (exchange, currency, country, ISIN prefix). Bare US symbols are apart.
_SUFFIXES: dict[str, tuple[str, str, str, str]] = {
    "DE": ("XETRA", "EUR", "Germany", "DE"), "PA": ("Euronext Paris", "EUR", "France", "FR"),
    "AS": ("Euronext Amsterdam", "EUR", "Netherlands", "NL"),
    "BR": ("Euronext Brussels", "EUR", "Belgium", "BE"), "MC": ("BME", "EUR", "Spain", "ES"),
    "MI": ("Borsa Italiana", "EUR", "Italy", "IT"),
    "HE": ("Nasdaq Helsinki", "EUR", "Finland", "FI"),
    "ST": ("Nasdaq Stockholm", "SEK", "Sweden", "SE"),
    "SW": ("SIX", "CHF", "Switzerland", "CH"), "L": ("LSE", "GBP", "United Kingdom", "GB"),
    "T": ("TSE", "JPY", "Japan", "JP"),
}
_HOME_SUFFIX = {info[2]: sfx for sfx, info in _SUFFIXES.items()} | {"United States": ""}
_GICS_INDICES = frozenset({"S&P 100", "S&P 500", "S&P 600"})
_EURONEXT = ("PA", "AS", "BR")
# How the Wikipedia "traded_as" field names a home venue, by suffix.
_VENUE_RE = {"DE": r"(?:FWB|ETR|XETRA|Xetra)", "PA": r"Euronext Paris"}
_US_EXCHANGE_RE = re.compile(r"\b(NYSE|Nasdaq|NASDAQ)\b\s*:")

_US_STATES = frozenset(
    "Alabama|Alaska|Arizona|Arkansas|California|Colorado|Connecticut|Delaware|Florida|Georgia|"
    "Hawaii|Idaho|Illinois|Indiana|Iowa|Kansas|Kentucky|Louisiana|Maine|Maryland|Massachusetts|"
    "Michigan|Minnesota|Mississippi|Missouri|Montana|Nebraska|Nevada|New Hampshire|New Jersey|"
    "New Mexico|New York|North Carolina|North Dakota|Ohio|Oklahoma|Oregon|Pennsylvania|"
    "Rhode Island|South Carolina|South Dakota|Tennessee|Texas|Utah|Vermont|Virginia|Washington|"
    "West Virginia|Wisconsin|Wyoming|D.C.|DC|U.S.|US|USA|United States".split("|"))

# Sector names used verbatim by the sources: the GICS sectors (every S&P entry carries one)
# and the Refinitiv TRBC sectors found in most other entries.
# Matched case-sensitively: "Information technology" is free text, not the GICS name.
_GICS_NAMES = {
    "Information Technology": "Technology", "Health Care": "Healthcare",
    "Financials": "Financials", "Consumer Discretionary": "Consumer Cyclical",
    "Consumer Staples": "Consumer Defensive", "Industrials": "Industrials", "Energy": "Energy",
    "Utilities": "Utilities", "Real Estate": "Real Estate", "Materials": "Basic Materials",
    "Communication Services": "Communication Services",
}
_SECTOR_NAMES = _GICS_NAMES | {
    "Technology": "Technology", "Healthcare": "Healthcare",
    "Consumer Cyclicals": "Consumer Cyclical", "Consumer Non-Cyclicals": "Consumer Defensive",
    "Basic Materials": "Basic Materials", "Telecommunications Services": "Communication Services",
}
# Keyword table for the free-text industries (matched on search_key, at word starts).
# Order matters: the first matching rule classifies a string, and it breaks ties.
_SECTOR_RULES: tuple[tuple[str, str], ...] = (
    ("Real Estate", r"real estate|reit|propert|immobilien|wohn"),
    ("Utilities", r"utilit|electric power|electricity|power generation|versorger|"
                  r"renewable|water util"),
    ("Healthcare", r"pharma|health|medic|biotech|hospital(?!ity)|diagnos|life science|clinical|"
                   r"drug|pflege|caregiv|dental|gesundheit"),
    ("Communication Services", r"telecom|telekom|media|medien|broadcast|publish|entertain|"
                               r"video game|advertis|werbung|internet|interactive|satellit"),
    ("Technology", r"software|semiconductor|halbleiter|technolog|computer|electronic|"
                   r"elektronik|it\b|information|data|cyber|cloud"),
    ("Energy", r"oil|gas\b|petrol|erdol|olf|fossil|coal|drilling|pipeline|refin"),
    ("Basic Materials", r"chemi|mining|steel|stahl|metal|material|paper|packag|gold|"
                        r"copper|alumin|cement|zement|glas|forest|fertili|montan"),
    ("Consumer Defensive", r"food|beverage|getrank|brew|drink|tobacco|household|grocer|"
                           r"personal product|cosmetic|parfum|perfum|fragranc|riechstoff|"
                           r"supermarket|agricult|farm|non-cyclical"),
    ("Consumer Cyclical", r"retail|automo|auto\b|apparel|textile|footwear|hotel|hospitality|"
                          r"leisure|freizeit|restaurant|casino|gaming|gluck|lotter|luxury|"
                          r"homebuild|e-commerce|travel|cruise|toy|furnitur|cyclical|"
                          r"consumer service"),
    ("Financials", r"bank|insur|versicher|financ|invest|asset manage|capital market|"
                   r"brokerage|credit|lending|leasing|private equity|beteiligung|payment"),
    ("Industrials", r"machin|aerospace|defen|construct|engineer|transport|logistic|"
                    r"airline|rail|industrial|conglomerate|staffing|consult"),
)
_SECTOR_RES = tuple((sector, re.compile(rf"\b(?:{pattern})")) for sector, pattern in _SECTOR_RULES)
_SECTOR_ORDER = {sector: i for i, (sector, _) in enumerate(_SECTOR_RULES)}


@dataclass(frozen=True, slots=True)
class StockRecord:
    """One stock of the universe, with all the indices it belongs to."""

    symbol: str
    name: str
    country: str
    exchange: str
    currency: str
    sector: str
    industry: str | None
    isin: str | None
    indices: tuple[str, ...]


def search_key(text: str) -> str:
    """Fold text for case- and accent-insensitive search ("Müller Straße" -> "muller strasse")."""
    text = unicodedata.normalize("NFKD", text.replace("ß", "ss").replace("ẞ", "ss"))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(text.casefold().split())


def load_universe() -> list[StockRecord]:
    """Return every stock of every pytickersymbols index, merged per symbol and sorted."""
    return list(_build()[0])


def skipped_entries() -> list[tuple[str, str]]:
    """Return (index, company name) of the raw entries left out for lack of a usable symbol."""
    return list(_build()[1])


def display_index_name(raw: str) -> str:
    """Map a pytickersymbols index name to its display name."""
    return RAW_INDEX_NAMES.get(raw, raw.replace("_", " "))


@cache
def _build() -> tuple[tuple[StockRecord, ...], tuple[tuple[str, str], ...]]:
    pts = PyTickerSymbols()
    groups: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}
    skipped: list[tuple[str, str]] = []
    for raw_index in pts.get_all_indices():
        index = display_index_name(raw_index)
        for stock in pts.get_stocks_by_index(raw_index):
            symbol = _canonical_symbol(stock, index)
            if symbol is None:
                skipped.append((index, str(stock.get("name") or "?")))
            else:
                groups.setdefault(symbol, []).append((index, stock))
    records = tuple(_merge(symbol, entries) for symbol, entries in sorted(groups.items()))
    return records, tuple(skipped)


def _yahoo_symbols(stock: Mapping[str, Any]) -> list[str]:
    return [s["yahoo"].strip().upper() for s in stock.get("symbols") or [] if s.get("yahoo")]


def _split(symbol: str) -> tuple[str, str]:
    base, _, suffix = symbol.partition(".")
    return base, suffix


def _canonical_symbol(stock: Mapping[str, Any], index: str) -> str | None:
    """Return the Yahoo-style symbol of one raw index entry, or None if there is none."""
    home = _HOME_SUFFIX.get(INDEX_HOME.get(index, ("", ""))[0])
    raw = (stock.get("symbol") or "").strip().upper()
    if "." in raw:
        base, *suffixes = raw.split(".")
        for suffix in suffixes:  # "AIR.PA.DE" keeps its first known suffix: AIR.PA
            if suffix in _SUFFIXES:
                return f"{base}.{suffix}"
        if home == "" and len(suffixes) == 1 and len(suffixes[0]) == 1:
            return f"{base}-{suffixes[0]}"  # US share class: BRK.B -> BRK-B
        return None
    if home == "":
        return raw or None
    if home is None:
        return None
    yahoos = _yahoo_symbols(stock)
    if raw and _is_home_code(raw, yahoos, home):
        return f"{raw}.{home}"
    for y in yahoos:  # a foreign code that is also listed on Euronext: Aperam APAM.AS
        if raw and _split(y) in ((raw, sfx) for sfx in _EURONEXT):
            return y
    return _derive_symbol(stock, yahoos, home)


def _is_home_code(code: str, yahoos: list[str], home: str) -> bool:
    """Tell whether a bare symbol is a ticker of the home exchange rather than another venue's."""
    if f"{code}.F" in yahoos:
        return home == "DE"  # German Frankfurt codes equal the XETRA ones; French ones don't
    return not any(_split(y)[0] == code and _split(y)[1] != home for y in yahoos)


def _derive_symbol(stock: Mapping[str, Any], yahoos: list[str], home: str) -> str | None:
    """Derive a home-exchange symbol from the yahoo list or the traded_as metadata."""
    for y in yahoos:
        if _split(y)[1] == home:
            return y
    if home == "DE":
        for y in yahoos:
            if _split(y)[1] == "F":
                return f"{_split(y)[0]}.DE"
    traded_as = (stock.get("metadata") or {}).get("traded_as")
    if isinstance(traded_as, str) and home in _VENUE_RE:
        match = re.search(_VENUE_RE[home] + r"\s*:\s*([A-Z0-9]{1,6})\b", traded_as)
        if match:
            return f"{match.group(1)}.{home}"
    return None


def _normalize_country(country: Any, us_index: bool) -> str | None:
    """Clean one raw country value ("Houston, Texas" -> "United States")."""
    if not isinstance(country, str) or country.strip().lower() in ("", "none"):
        return None
    tail = country.rsplit(",", 1)[-1].strip()
    if tail in _US_STATES and ("," in country or us_index or tail in ("U.S.", "US", "USA")):
        return "United States"
    return tail


def _us_exchange(symbol: str, entries: Iterable[Mapping[str, Any]]) -> str:
    """Pick NASDAQ or NYSE for a US symbol from the google prefix, then traded_as."""
    from_traded_as: str | None = None
    for stock in entries:
        for s in stock.get("symbols") or []:
            prefix, _, ticker = (s.get("google") or "").partition(":")
            if ticker and (s.get("yahoo") or "").upper() == symbol and prefix in ("NASDAQ", "NYSE"):
                return prefix
        match = _US_EXCHANGE_RE.search(str((stock.get("metadata") or {}).get("traded_as") or ""))
        if match and from_traded_as is None:
            from_traded_as = match.group(1).upper()
    return from_traded_as or "NYSE"


def _sector(entries: list[tuple[str, Mapping[str, Any]]]) -> str:
    """Pick one of SECTORS: a GICS sector given by an S&P entry, else a keyword-table vote."""
    votes: Counter[str] = Counter()
    gics: set[str] = set()
    seen: set[str] = set()
    for index, stock in entries:
        for text in stock.get("industries") or []:
            text = str(text).strip()
            if index in _GICS_INDICES and text in _GICS_NAMES:
                gics.add(_GICS_NAMES[text])
            if text in seen:
                continue
            seen.add(text)
            if text in _SECTOR_NAMES:  # a verbatim sector name outweighs a keyword hit
                votes[_SECTOR_NAMES[text]] += 3 if text in _GICS_NAMES else 2
                continue
            key = search_key(text)
            for sector, pattern in _SECTOR_RES:
                if pattern.search(key):
                    votes[sector] += 1
                    break
    candidates = gics or set(votes)
    if not candidates:
        return "Industrials"
    return min(candidates, key=lambda sector: (-votes[sector], _SECTOR_ORDER[sector]))


def _most_common(values: Iterable[str | None]) -> str | None:
    """Return the most frequent non-None value, ties going to the first seen."""
    counts = Counter(v for v in values if v)
    return max(counts, key=counts.__getitem__) if counts else None


def _merge(symbol: str, entries: list[tuple[str, Mapping[str, Any]]]) -> StockRecord:
    """Fold the raw entries of one symbol into a StockRecord."""
    indices = tuple(sorted({index for index, _ in entries}))
    stocks = [stock for _, stock in entries]
    base, suffix = _split(symbol)
    isin = next((str(s["isins"][0]).strip() for s in stocks if s.get("isins")), None) or None
    if suffix:
        exchange, currency, home, isin_prefix = _SUFFIXES[suffix]
    else:
        exchange, currency, home, isin_prefix = _us_exchange(symbol, stocks), "USD", _US[0], "US"
    country = _most_common(_normalize_country(s.get("country"), not suffix) for s in stocks)
    if country is None:
        country = INDEX_HOME.get(entries[0][0], (home,))[0]
    elif (suffix and country != home and isin and isin[:2] == isin_prefix
          and any(INDEX_HOME.get(index, ("",))[0] == home for index in indices)):
        # Listing, ISIN and index all say `home`: the stated country is a data error
        # (e.g. 18 NIKKEI 225 members marked "United Kingdom").
        country = home
    # The industry: the first label that is not a bare sector name, looking first at the
    # shortest S&P list (a clean [GICS sector, sub-industry] pair), then in index order.
    lists = sorted((index not in _GICS_INDICES, len(s["industries"]) if index in _GICS_INDICES
                    else 0, n) for n, (index, s) in enumerate(entries) if s.get("industries"))
    labels = (str(label).strip() for *_, n in lists for label in entries[n][1]["industries"])
    industry = next((label for label in labels if label and label not in _SECTOR_NAMES), None)
    name = _most_common(str(s.get("name") or "").strip() for s in stocks) or base
    return StockRecord(symbol=symbol, name=name, country=country, exchange=exchange,
                       currency=currency, sector=_sector(entries), industry=industry,
                       isin=isin, indices=indices)
