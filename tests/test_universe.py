"""Tests of app.universe against the real pytickersymbols==1.17.10 data.

With that version 64 raw entries are skipped for lack of a usable symbol:
48 of the CAC Mid 60 (no symbol, or only a Frankfurt/OTC/LSE code that is not the Paris
ticker) and 16 of the SDAX (no symbol, no Frankfurt listing, no "FWB :" in traded_as).
"""
from __future__ import annotations

import dataclasses
import re
import time
from collections import Counter

import pytest
from pytickersymbols import PyTickerSymbols

from app.universe import (
    INDEX_HOME,
    INDEX_NAMES,
    RAW_INDEX_NAMES,
    SECTORS,
    StockRecord,
    _canonical_symbol,
    display_index_name,
    load_universe,
    search_key,
    skipped_entries,
)

YAHOO_SYMBOL = re.compile(r"^[A-Z0-9]+(?:-[A-Z0-9]+)?(?:\.(?:DE|PA|AS|BR|MC|MI|HE|ST|SW|L|T))?$")


@pytest.fixture(scope="module")
def universe() -> list[StockRecord]:
    return load_universe()


@pytest.fixture(scope="module")
def by_symbol(universe) -> dict[str, StockRecord]:
    return {record.symbol: record for record in universe}


def raw_entries(raw_index: str) -> list[dict]:
    return list(PyTickerSymbols().get_stocks_by_index(raw_index))


def members(universe, index: str) -> list[StockRecord]:
    return [record for record in universe if index in record.indices]


def test_record_count_is_in_the_expected_range(universe):
    assert 1750 <= len(universe) <= 1850


def test_symbols_are_unique_sorted_and_yahoo_style(universe):
    symbols = [record.symbol for record in universe]
    assert len(set(symbols)) == len(symbols)
    assert symbols == sorted(symbols)
    bad = [s for s in symbols if not YAHOO_SYMBOL.match(s)]
    assert bad == []


def test_adidas(by_symbol):
    ads = by_symbol["ADS.DE"]
    assert ads.name == "Adidas"
    assert (ads.country, ads.exchange, ads.currency) == ("Germany", "XETRA", "EUR")
    assert "DAX" in ads.indices and "EURO STOXX 50" in ads.indices
    assert ads.isin == "DE000A1EWWW0"
    assert ads.sector == "Consumer Cyclical"


def test_apple(by_symbol):
    aapl = by_symbol["AAPL"]
    assert (aapl.currency, aapl.country, aapl.exchange) == ("USD", "United States", "NASDAQ")
    assert {"NASDAQ 100", "S&P 500"} <= set(aapl.indices)
    assert aapl.sector == "Technology"


def test_airbus_dax_entry_is_merged_into_the_paris_listing(by_symbol):
    airbus = by_symbol["AIR.PA"]
    assert {"DAX", "CAC 40", "EURO STOXX 50"} <= set(airbus.indices)
    assert airbus.exchange == "Euronext Paris"
    assert airbus.country == "Netherlands"  # the stated (legal) country wins over the listing
    assert "AIR.PA.DE" not in by_symbol and "AIR.DE" not in by_symbol


@pytest.mark.parametrize("raw, canonical", [("BRK.B", "BRK-B"), ("BF.B", "BF-B"),
                                            ("CWEN.A", "CWEN-A"), ("MOG.A", "MOG-A")])
def test_us_share_classes_use_a_dash(by_symbol, raw, canonical):
    assert canonical in by_symbol and raw not in by_symbol
    assert by_symbol[canonical].currency == "USD"


def test_sp600_city_country_becomes_united_states(by_symbol):
    raw = {s["symbol"]: s for s in raw_entries("S&P 600")}
    assert raw["AAT"]["country"] == "San Diego, California"  # guards the premise
    assert by_symbol["AAT"].country == "United States"
    cities = [sym for sym, s in raw.items() if "," in (s.get("country") or "")
              and s["country"].rsplit(",", 1)[1].strip() in ("Texas", "California", "New York")]
    assert len(cities) > 100
    assert {by_symbol[sym.replace(".", "-")].country for sym in cities} == {"United States"}


def test_countries_are_clean(universe):
    assert all(record.country for record in universe)
    assert [r.symbol for r in universe if "," in r.country] == []
    assert "Bermuda" in {r.country for r in universe}  # "Hamilton, Bermuda" keeps the country


def test_wrong_stated_country_is_fixed_when_isin_listing_and_index_agree(by_symbol):
    raw = {s["symbol"]: s for s in raw_entries("NIKKEI 225")}
    assert raw["7751.T"]["country"] == "United Kingdom"  # Canon, upstream data error
    assert by_symbol["7751.T"].country == "Japan"
    assert by_symbol["DTE.DE"].country == "Germany"  # upstream says "Russian Federation"


def test_sectors(universe):
    assert len(set(SECTORS)) == len(SECTORS) == 11
    counts = Counter(record.sector for record in universe)
    assert set(counts) == set(SECTORS)  # every record valid, and every sector in use
    assert max(counts.values()) < len(universe) / 4  # not everything fell to the default


@pytest.mark.parametrize("symbol, sector", [
    ("JPM", "Financials"), ("XOM", "Energy"), ("DUK", "Utilities"), ("PFE", "Healthcare"),
    ("GOOGL", "Communication Services"), ("KO", "Consumer Defensive"), ("LIN", "Basic Materials"),
    ("SPG", "Real Estate"), ("SAP.DE", "Technology"), ("AC.PA", "Consumer Cyclical"),
    ("ITP.PA", "Consumer Defensive"), ("PSM.DE", "Communication Services"),
])
def test_sector_mapping_examples(by_symbol, symbol, sector):
    assert by_symbol[symbol].sector == sector


def test_exchange_and_currency_follow_the_suffix(universe):
    expected = {"DE": ("XETRA", "EUR"), "PA": ("Euronext Paris", "EUR"), "L": ("LSE", "GBP"),
                "T": ("TSE", "JPY"), "ST": ("Nasdaq Stockholm", "SEK"), "SW": ("SIX", "CHF")}
    for record in universe:
        suffix = record.symbol.partition(".")[2]
        if suffix in expected:
            assert (record.exchange, record.currency) == expected[suffix], record
        elif not suffix:
            assert record.exchange in ("NASDAQ", "NYSE") and record.currency == "USD", record


def test_otc_google_prefix_is_ignored_for_us_exchange(by_symbol):
    # pytickersymbols gives "OTCMKTS:KO"; traded_as says "NYSE : KO".
    assert by_symbol["KO"].exchange == "NYSE"
    assert by_symbol["MSFT"].exchange == "NASDAQ"


def test_index_sizes(universe):
    assert len(members(universe, "DAX")) == 40
    assert len(members(universe, "MDAX")) == 50
    assert len(members(universe, "Dow Jones")) == 30
    raw_sdax = len(raw_entries("SDAX"))
    skipped_sdax = sum(index == "SDAX" for index, _ in skipped_entries())
    assert 0 < skipped_sdax < 20
    assert len(members(universe, "SDAX")) == raw_sdax - skipped_sdax


def test_every_index_has_a_display_name_a_home_and_members(universe):
    assert set(INDEX_NAMES) == set(INDEX_HOME)
    assert RAW_INDEX_NAMES["CAC_40"] == "CAC 40" and RAW_INDEX_NAMES["DOW JONES"] == "Dow Jones"
    assert {display_index_name(i) for i in PyTickerSymbols().get_all_indices()} == set(INDEX_NAMES)
    used = {index for record in universe for index in record.indices}
    assert used == set(INDEX_NAMES)
    assert INDEX_HOME["DAX"] == ("Germany", "EUR")
    assert INDEX_HOME["S&P 500"] == ("United States", "USD")
    assert display_index_name("NEW_INDEX") == "NEW INDEX"


def test_german_bare_and_missing_symbols_are_derived(by_symbol):
    assert set(by_symbol["1U1.DE"].indices) >= {"SDAX", "TecDAX"}  # bare "1U1"
    assert by_symbol["ADN1.DE"].name == "Adesso SE"  # "0N5I" is an LSE code -> ADN1.F
    assert "0N5I.DE" not in by_symbol
    assert by_symbol["HYQ.DE"].name == "Hypoport"  # symbol None, HYQ.F listed
    assert by_symbol["DEQ.DE"].name == "Deutsche EuroShop"  # symbol None, "FWB : DEQ"


def test_cac_mid_60_foreign_codes_do_not_become_paris_symbols(by_symbol):
    assert by_symbol["ELIS.PA"].indices == ("CAC Mid 60",)
    assert by_symbol["APAM.AS"].name == "Aperam"  # listed in Amsterdam, not Paris
    for fake in ("AN3.PA", "BOIVF.PA", "KO2.PA", "PNU.PA"):  # Frankfurt / OTC codes
        assert fake not in by_symbol
    assert ("CAC Mid 60", "ALTEN") in skipped_entries()


def test_records_are_immutable_with_sorted_indices(universe):
    with pytest.raises(dataclasses.FrozenInstanceError):
        universe[0].symbol = "X"  # type: ignore[misc]
    assert all(list(r.indices) == sorted(r.indices) and r.indices for r in universe)


def test_isin_and_industry_optional_but_filled_for_most(universe):
    assert sum(r.isin is not None for r in universe) > len(universe) / 2
    assert sum(r.industry is not None for r in universe) > 0.9 * len(universe)


def test_search_key():
    assert search_key("Müller Straße É") == "muller strasse e"
    assert search_key("  L'ORÉAL\t SA ") == "l'oreal sa"
    assert search_key("Nestlé") == search_key("NESTLE")


def test_load_universe_is_cached_and_fast():
    load_universe()
    start = time.perf_counter()
    first = load_universe()
    second = load_universe()
    assert time.perf_counter() - start < 0.05
    first.clear()  # callers get their own list: the cache cannot be corrupted
    assert second and len(load_universe()) == len(second)


@pytest.mark.parametrize("stock, index, expected", [
    ({"symbol": "AIR.PA.DE"}, "DAX", "AIR.PA"),
    ({"symbol": "BRK.B"}, "S&P 500", "BRK-B"),
    ({"symbol": "SAP.DE"}, "DAX", "SAP.DE"),
    ({"symbol": "XYZ", "symbols": [{"yahoo": "XYZ.F"}]}, "SDAX", "XYZ.DE"),
    ({"symbol": None, "symbols": [{"yahoo": "ABC.F"}]}, "SDAX", "ABC.DE"),
    ({"symbol": None, "symbols": []}, "SDAX", None),
    ({"symbol": "ABC", "symbols": [{"yahoo": "ABC.F"}]}, "CAC Mid 60", None),
    ({"symbol": "ELIS", "symbols": [{"yahoo": "7EL.F"}]}, "CAC Mid 60", "ELIS.PA"),
    ({"symbol": None, "metadata": {"traded_as": "Euronext Paris : AYV"}}, "CAC Mid 60", "AYV.PA"),
    ({"symbol": "AAPL"}, "NASDAQ 100", "AAPL"),
    ({"symbol": None}, "S&P 500", None),
])
def test_canonical_symbol_rules(stock, index, expected):
    assert _canonical_symbol(stock, index) == expected
