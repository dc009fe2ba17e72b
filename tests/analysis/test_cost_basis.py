"""Moving-average cost beside FIFO, realised gains by year, and the price/dividends/FX split: by hand."""
from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from app.analysis.portfolio import Split, Txn, realised_by_year, replay, return_breakdown, value_holding


def t(n: int, kind: str, day: date, qty: str, price: str, fx: str = "1", symbol: str = "SAP.DE",
      currency: str = "EUR") -> Txn:
    return Txn(n, symbol, kind, day, D(qty), D(price), D(0), currency, D(fx))


LEDGER = [t(1, "buy", date(2024, 1, 2), "10", "100"), t(2, "buy", date(2024, 2, 1), "10", "130"),
          t(3, "sell", date(2024, 3, 1), "10", "150")]


def test_fifo_sells_the_oldest_lot_first() -> None:
    pos = replay(LEDGER)["SAP.DE"]
    assert pos.realised_local == D(1500 - 1000) and pos.cost_basis_local == D(1300) and pos.avg_cost == D(130)


def test_moving_average_sells_at_the_average_cost_and_keeps_it() -> None:
    pos = replay(LEDGER, method="average")["SAP.DE"]
    # Average cost (1000 + 1300) / 20 = 115: the sale costs 1150, the 10 left keep 115 each.
    assert pos.realised_local == D(1500 - 1150) and pos.cost_basis_local == D(1150) and pos.avg_cost == D(115)
    assert pos.quantity == D(10)


def test_average_cost_across_a_split_and_a_partial_sale_of_three() -> None:
    ledger = [t(1, "buy", date(2024, 1, 2), "10", "100"), t(2, "buy", date(2024, 5, 2), "10", "60"),
              t(3, "sell", date(2024, 6, 3), "15", "70"), t(4, "sell", date(2024, 7, 1), "5", "80")]
    split = [Split("SAP.DE", date(2024, 4, 2), D(2))]
    fifo = replay(ledger, split)["SAP.DE"]
    average = replay(ledger, split, "average")["SAP.DE"]
    # After the split: 20 shares costing 1000 and 10 costing 600 -> 30 at 53.33.
    # FIFO: the 15 sold cost 750 (first lot), the next 5 cost 250 (rest of it): left 10 at 60.
    assert fifo.realised_local == D(1050 - 750) + D(400 - 250) and fifo.cost_basis_local == D(600)
    # Average: the 15 cost half of 1600 = 800; then 5 of the 15 left cost a third of 800.
    assert average.quantity == D(10)
    assert average.realised_local == pytest.approx(D(1050 - 800) + D(400) - D(800) / 3)
    assert average.cost_basis_local == pytest.approx(D(1600) - D(800) - D(800) / 3)
    assert sum(lot.quantity for lot in average.lots) == D(10)  # exactly, not 9.999...


def test_an_unknown_method_is_refused() -> None:
    with pytest.raises(ValueError, match="cost basis method"):
        replay(LEDGER, method="lifo")


def test_realised_gains_are_grouped_by_calendar_year_in_the_base_currency() -> None:
    ledger = [t(1, "buy", date(2023, 3, 1), "10", "100", "0.9", "AAPL", "USD"),
              t(2, "sell", date(2023, 12, 29), "4", "110", "0.8", "AAPL", "USD"),
              t(3, "sell", date(2024, 1, 2), "6", "90", "0.95", "AAPL", "USD")]
    years = realised_by_year(replay(ledger).values())
    # 2023: 4 x 110 x 0.8 = 352 for shares that cost 4 x 100 x 0.9 = 360; 2024: 513 for 540.
    assert years == {2023: {"proceeds": D(352), "cost": D(360), "gain": D(-8)},
                     2024: {"proceeds": D("513.00"), "cost": D(540), "gain": D("-27.00")}}


def test_the_return_splits_into_price_dividends_and_fx() -> None:
    ledger = [t(1, "buy", date(2024, 1, 2), "10", "100", "0.9", "AAPL", "USD"),
              t(2, "sell", date(2024, 6, 3), "5", "120", "0.8", "AAPL", "USD"),
              t(3, "dividend", date(2024, 7, 1), "1", "10", "0.8", "AAPL", "USD")]
    pos = replay(ledger)["AAPL"]
    valued = value_holding(pos, D(110), D("0.85"))
    parts = return_breakdown(pos, valued)
    # Sold: +100 USD at the buy rate 0.9 = 90 price, 30 - 90 = -60 FX (the dollar fell).
    # Held: +50 USD at 0.9 = 45 price; value 467.50 - cost 450 = 17.50, so FX -27.50.
    assert parts == {"price": D(135), "dividends": D(8), "fx": D("-87.5")}
    assert parts["price"] + parts["fx"] + parts["dividends"] == (pos.realised_base + valued["unrealised_base"]
                                                                 + pos.dividends_base)
    assert return_breakdown(pos, None) == {"price": None, "dividends": D(8), "fx": None}  # not priced now
