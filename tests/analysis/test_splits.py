"""Splits applied on read (app.analysis.portfolio): hand-computed reference cases.

Every expected number below is worked out by hand in the comment above it; each case fails
on a replay that ignores splits (the last test shows the 75 % "loss" that it reports).
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from app.analysis import portfolio as pm
from app.analysis import returns as rm

SPLIT_4_1 = pm.Split("AAPL", date(2020, 8, 31), D(4))
REVERSE_1_10 = pm.Split("XYZ", date(2021, 3, 1), D("0.1"))


def txn(id_: int, kind: str, day: date, qty: str, price: str, symbol: str = "AAPL", fee: str = "0",
        currency: str = "USD", fx: str = "1") -> pm.Txn:
    return pm.Txn(id_, symbol, kind, day, D(qty), D(price), D(fee), currency, D(fx))


def test_buy_split_sell_keeps_fifo_lots_across_the_split() -> None:
    txns = [txn(1, "buy", date(2020, 8, 3), "10", "500", fee="5"),   # lot 1: cost 10*500+5 = 5005
            txn(2, "buy", date(2020, 8, 20), "5", "520"),            # lot 2: cost 2600
            # 4:1 on 2020-08-31: lot 1 is 40 shares (5005), lot 2 is 20 (2600)
            txn(3, "sell", date(2020, 9, 15), "45", "130", fee="4.5")]
    pos = pm.replay(txns, [SPLIT_4_1])["AAPL"]
    # The sell takes lot 1 whole (5005) and 5 of lot 2's 20: 2600 * 5/20 = 650 -> cost 5655.
    # Proceeds 45 * 130 - 4.5 = 5845.5; realised 5845.5 - 5655 = 190.5.
    assert pos.realised_local == D("190.5")
    # Left: 15 of lot 2 at 2600 - 650 = 1950, i.e. 130 a share.
    assert pos.quantity == 15 and pos.cost_basis_local == 1950 and pos.avg_cost == 130
    assert [(lot.day, lot.quantity, lot.cost_local) for lot in pos.lots] == [(date(2020, 8, 20), 15, 1950)]
    # Without the split the sell of 45 meets only 15 shares.
    with pytest.raises(pm.OversellError):
        pm.replay(txns)


def test_a_trade_on_the_ex_date_is_in_post_split_shares() -> None:
    txns = [txn(1, "buy", date(2020, 8, 3), "10", "500"),
            txn(2, "sell", date(2020, 8, 31), "40", "125")]  # the whole holding, sold on the ex-date
    pos = pm.replay(txns, [SPLIT_4_1])["AAPL"]
    assert pos.quantity == 0 and pos.realised_local == 0  # 40 * 125 - 5000


def test_a_reverse_split_books_cash_in_lieu_of_the_fraction() -> None:
    txns = [txn(1, "buy", date(2021, 1, 4), "25", "2", symbol="XYZ")]  # cost 50
    # 25 shares 1:10 are 2.5: 2 stay, 0.5 is paid at the ex-date's price as traded, 21.
    booked = pm.cash_in_lieu(txns, [REVERSE_1_10], lambda symbol, day: D(21))
    assert [(t.kind, t.day, t.quantity, t.price, t.cash_in_lieu) for t in booked] == [
        ("sell", date(2021, 3, 1), D("0.5"), D(21), True)]
    pos = pm.replay(txns + booked, [REVERSE_1_10])["XYZ"]
    # The lot of 2.5 costs 50: 0.5 of it 10, sold for 0.5 * 21 = 10.5 -> realised 0.5.
    assert pos.realised_local == D("0.5")
    assert pos.quantity == 2 and pos.cost_basis_local == 40 and pos.avg_cost == 20


def test_a_holding_that_was_fractional_keeps_its_fraction_and_whole_results_book_nothing() -> None:
    fractional = [txn(1, "buy", date(2021, 1, 4), "25.5", "2", symbol="XYZ")]
    assert pm.cash_in_lieu(fractional, [REVERSE_1_10], lambda s, d: D(21)) == []
    assert pm.replay(fractional, [REVERSE_1_10])["XYZ"].quantity == D("2.55")
    whole = [txn(1, "buy", date(2021, 1, 4), "30", "2", symbol="XYZ")]  # 30 -> 3, no fraction
    assert pm.cash_in_lieu(whole, [REVERSE_1_10], lambda s, d: D(21)) == []
    # No price for the ex-date: the fraction stays held rather than being booked at a guess.
    assert pm.cash_in_lieu([txn(1, "buy", date(2021, 1, 4), "25", "2", symbol="XYZ")], [REVERSE_1_10],
                           lambda s, d: None) == []


def test_restate_puts_trades_in_todays_shares_and_keeps_the_cash() -> None:
    txns = [txn(1, "buy", date(2020, 8, 3), "10", "500"), txn(2, "buy", date(2020, 9, 1), "4", "130"),
            txn(3, "dividend", date(2020, 8, 10), "1", "8.2")]
    out = pm.restate(txns, [SPLIT_4_1, pm.Split("AAPL", date(2021, 1, 4), D("0.5"))])  # then 1:2 back
    # Before both splits: x 4 x 0.5 = x 2 (20 at 250); between them: x 0.5 (2 at 260); cash rows as they are.
    assert [(t.quantity, t.price, t.amount) for t in out] == [(20, 250, 5000), (2, 260, 520), (1, D("8.2"), D("8.2"))]
    assert pm.factor_after([SPLIT_4_1], "AAPL", date(2020, 8, 30)) == 4
    assert pm.factor_after([SPLIT_4_1], "AAPL", date(2020, 8, 31)) == 1  # the ex-date is already split


def test_twr_and_mwr_across_a_split_match_the_unsplit_equivalent() -> None:
    # Split-adjusted closes (today's shares), as Yahoo serves them.
    closes = {"AAPL": {date(2020, 8, 27): D(125), date(2020, 8, 28): D(130), date(2020, 8, 31): D(135),
                       date(2020, 9, 1): D(140)}}
    start, end = date(2020, 8, 27), date(2020, 9, 1)
    split = [txn(1, "buy", date(2020, 8, 27), "10", "500"), txn(2, "sell", date(2020, 9, 1), "20", "140")]
    unsplit = [txn(1, "buy", date(2020, 8, 27), "40", "125"), txn(2, "sell", date(2020, 9, 1), "20", "140")]
    a = rm.daily_value_series(pm.restate(split, [SPLIT_4_1]), closes, {}, start, end, "USD")
    b = rm.daily_value_series(unsplit, closes, {}, start, end, "USD")
    # 40 * (125, 130, 135) then 20 * 140 after selling 20: the same every day.
    assert [p.value for p in a] == [p.value for p in b] == [5000, 5200, 5400, 2800]
    assert rm.twr(a) == rm.twr(b) == pytest.approx(140 / 125 - 1)
    flows = lambda s: [(p.day, -float(p.flow)) for p in s] + [(s[-1].day, float(s[-1].value))]  # noqa: E731
    assert rm.xirr(flows(a)) == pytest.approx(rm.xirr(flows(b)))
    # Ignoring the split, the same ledger reads as a 75 % loss on the first day: 10 * 125 for 5000.
    wrong = rm.daily_value_series(split, closes, {}, start, end, "USD")
    assert wrong[0].value == 1250


def test_two_currencies_across_a_split() -> None:
    # A EUR investor: 10 AAPL at 500 USD when 1 USD = 0.9 EUR (base cost 4500), 4:1, sell 20 at 130 USD
    # when 1 USD = 0.8 EUR. Lot: 40 shares, cost 5000 USD / 4500 EUR; half sold: cost 2500 / 2250.
    txns = [txn(1, "buy", date(2020, 8, 3), "10", "500", fx="0.9"), txn(2, "sell", date(2020, 9, 15), "20", "130", fx="0.8")]
    pos = pm.replay(txns, [SPLIT_4_1])["AAPL"]
    assert pos.realised_local == 20 * 130 - 2500 == 100
    assert pos.realised_base == D("0.8") * 2600 - 2250 == -170  # the dollar's fall outweighs the gain
    valued = pm.value_holding(pos, D(140), D("0.85"))
    # 20 * 140 = 2800 USD = 2380 EUR against 2250: +130 EUR, of which price (2800-2500)*0.9 = 270, FX -140.
    assert valued["unrealised_base"] == 130 and valued["price_effect_base"] == 270 and valued["fx_effect_base"] == -140
