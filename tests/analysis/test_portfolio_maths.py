"""Lots, holdings, realised P/L, the price/FX split and allocation, checked against hand arithmetic."""
from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from app.analysis.portfolio import Lot, OversellError, Txn, allocation, held_on, replay, value_holding


def txn(id, kind, day, quantity, price, fee="0", symbol="AAPL", currency="USD", fx="1"):
    """Build a Txn from strings so every amount is an exact Decimal."""
    return Txn(id=id, symbol=symbol, kind=kind, day=date.fromisoformat(day), quantity=D(quantity),
               price=D(price), fee=D(fee), currency=currency, fx=D(fx))


def test_fifo_realised_pl_over_two_lots_with_partial_sells():
    txns = [
        txn(1, "buy", "2024-01-02", "10", "100", fee="5"),   # lot 1: 10 sh, cost 1000 + 5 = 1005
        txn(2, "buy", "2024-01-03", "10", "120", fee="5"),   # lot 2: 10 sh, cost 1200 + 5 = 1205
        txn(3, "sell", "2024-01-04", "15", "130", fee="5"),
        txn(4, "sell", "2024-01-05", "2", "110", fee="1"),
    ]
    # Sell 15 @ 130, fee 5: proceeds 1950 - 5 = 1945.
    #   FIFO takes all of lot 1 (1005) and 5 of lot 2's 10 (1205 * 5/10 = 602.5): cost 1607.5.
    #   Realised 1945 - 1607.5 = 337.5. Lot 2 keeps 5 sh costing 602.5.
    # Sell 2 @ 110, fee 1: proceeds 220 - 1 = 219; cost 602.5 * 2/5 = 241; realised -22.
    #   Total realised 337.5 - 22 = 315.5. Lot 2 keeps 3 sh costing 361.5 (120.5 a share).
    pos = replay(txns)["AAPL"]
    assert pos.realised_local == D("315.5")
    assert pos.realised_base == D("315.5")  # fx 1 throughout
    assert pos.quantity == D("3")
    assert pos.lots == [Lot(date(2024, 1, 3), D("3"), D("361.5"), D("361.5"))]
    assert pos.cost_basis_local == D("361.5")
    assert pos.avg_cost == D("120.5")
    assert pos.fees_local == D("16")  # 5 + 5 + 5 + 1 commissions


def test_replay_orders_by_day_then_id_not_by_input_order():
    txns = [txn(2, "sell", "2024-01-03", "4", "50"), txn(1, "buy", "2024-01-03", "10", "40"),
            txn(0, "buy", "2024-01-02", "1", "30")]
    # Order: buy 1 @ 30 (day 2), buy 10 @ 40 (id 1), sell 4 @ 50 (id 2).
    # FIFO: the 1 @ 30 then 3 of the 40s: cost 30 + 120 = 150; proceeds 200; realised 50.
    pos = replay(txns)["AAPL"]
    assert pos.realised_local == D("50")
    assert pos.quantity == D("7")
    assert pos.cost_basis_local == D("280")


def test_oversell_raises_with_the_quantity_held():
    txns = [txn(1, "buy", "2024-02-01", "10", "100"), txn(2, "sell", "2024-03-01", "12", "110")]
    with pytest.raises(OversellError) as caught:
        replay(txns)
    err = caught.value
    assert (err.symbol, err.day, err.held, err.requested) == ("AAPL", date(2024, 3, 1), D("10"), D("12"))
    assert str(err) == "cannot sell 12 AAPL on 2024-03-01: only 10 held"


def test_a_sell_dated_before_its_buy_is_an_oversell():
    txns = [txn(1, "buy", "2024-03-05", "10", "100"), txn(2, "sell", "2024-03-01", "2.50", "110")]
    with pytest.raises(OversellError, match=r"cannot sell 2.5 AAPL on 2024-03-01: only 0 held"):
        replay(txns)


def test_held_on_counts_the_whole_day():
    txns = [txn(1, "buy", "2024-03-01", "10", "100"), txn(2, "sell", "2024-03-04", "4", "100"),
            txn(3, "buy", "2024-03-04", "1", "100"), txn(4, "buy", "2024-03-01", "7", "1", symbol="MSFT")]
    assert held_on(txns, "AAPL", date(2024, 2, 29)) == D("0")
    assert held_on(txns, "AAPL", date(2024, 3, 1)) == D("10")
    assert held_on(txns, "AAPL", date(2024, 3, 4)) == D("7")  # 10 - 4 + 1
    assert held_on(txns, "MSFT", date(2024, 3, 4)) == D("7")


def test_full_exit_keeps_realised_pl_and_a_rebuy_starts_fresh():
    txns = [txn(1, "buy", "2024-01-02", "10", "100"), txn(2, "sell", "2024-01-03", "10", "150")]
    # Realised (150 - 100) * 10 = 500; nothing left.
    exited = replay(txns)["AAPL"]
    assert exited.quantity == D("0")
    assert exited.lots == []
    assert exited.avg_cost is None
    assert exited.cost_basis_local == D("0")
    assert exited.realised_local == D("500")

    # Re-buy 5 @ 200: a single new lot; the old realised P/L stays.
    rebought = replay([*txns, txn(3, "buy", "2024-01-04", "5", "200")])["AAPL"]
    assert rebought.quantity == D("5")
    assert rebought.lots == [Lot(date(2024, 1, 4), D("5"), D("1000"), D("1000"))]
    assert rebought.avg_cost == D("200")
    assert rebought.realised_local == D("500")


def test_dividends_and_fees_in_local_and_base():
    txns = [
        txn(1, "buy", "2024-01-02", "10", "100", fee="2", fx="0.90"),
        txn(2, "dividend", "2024-02-01", "1", "25", fx="0.92"),
        txn(3, "fee", "2024-02-15", "1", "3", fx="0.95"),
    ]
    pos = replay(txns)["AAPL"]
    # Dividend 25 USD at 0.92 = 23 EUR.
    assert (pos.dividends_local, pos.dividends_base) == (D("25"), D("23.00"))
    # Fees: commission 2 @ 0.90 = 1.80, fee row 3 @ 0.95 = 2.85: 5 USD, 4.65 EUR.
    assert (pos.fees_local, pos.fees_base) == (D("5"), D("4.65"))
    # The commission is also in the lot's cost: 1002 USD, 901.80 EUR.
    assert (pos.cost_basis_local, pos.cost_basis_base) == (D("1002"), D("901.80"))
    assert pos.realised_local == D("0")


def test_invalid_transactions_are_rejected():
    with pytest.raises(ValueError, match="unknown transaction kind"):
        replay([txn(1, "split", "2024-01-02", "2", "0")])
    with pytest.raises(ValueError, match="quantity must be positive"):
        replay([txn(1, "buy", "2024-01-02", "0", "10")])
    with pytest.raises(ValueError, match="both USD and EUR"):
        replay([txn(1, "buy", "2024-01-02", "1", "10"), txn(2, "buy", "2024-01-03", "1", "10", currency="EUR")])


# A EUR investor holds a USD stock: two lots bought at different EUR/USD rates.
MULTI = [
    txn(1, "buy", "2024-01-02", "10", "100", fx="0.90"),  # 1000 USD = 900 EUR, lot_fx 0.90
    txn(2, "buy", "2024-02-01", "10", "110", fx="0.80"),  # 1100 USD = 880 EUR, lot_fx 0.80
]


def test_multi_currency_price_and_fx_effects_add_up_to_unrealised():
    pos = replay(MULTI)["AAPL"]
    result = value_holding(pos, price=D("120"), fx_now=D("0.95"), total_value_base=D("4560"))
    # Market value 20 * 120 = 2400 USD; * 0.95 = 2280 EUR.
    assert result["market_value_local"] == D("2400")
    assert result["market_value_base"] == D("2280.00")
    # Unrealised: 2400 - 2100 = 300 USD; 2280 - 1780 = 500 EUR.
    assert result["unrealised_local"] == D("300")
    assert result["unrealised_base"] == D("500.00")
    # Price effect, per lot at its own buy rate: (1200 - 1000) * 0.90 = 180; (1200 - 1100) * 0.80 = 80 -> 260.
    # FX effect, today's local value re-priced: 1200 * (0.95 - 0.90) = 60; 1200 * (0.95 - 0.80) = 180 -> 240.
    assert result["price_effect_base"] == D("260")
    assert result["fx_effect_base"] == D("240")
    assert result["price_effect_base"] + result["fx_effect_base"] == result["unrealised_base"]
    assert result["unrealised_pct"] == pytest.approx(500 / 1780)
    assert result["weight"] == pytest.approx(0.5)  # 2280 / 4560


def test_fx_split_reconciles_exactly_when_the_lot_rate_does_not_terminate():
    # 3 shares @ 1 plus a 0.01 fee at 0.7: lot_fx = 2.107 / 3.01, a repeating decimal.
    pos = replay([txn(1, "buy", "2024-01-02", "3", "1", fee="0.01", fx="0.7")])["AAPL"]
    result = value_holding(pos, price=D("1.37"), fx_now=D("0.6543"))
    assert result["price_effect_base"] + result["fx_effect_base"] == result["unrealised_base"]
    assert result["weight"] is None


def test_multi_currency_realised_base_includes_the_currency_gain():
    # Sell 5 @ 130 USD when EUR/USD is 1.00: proceeds 650 USD = 650 EUR.
    # FIFO cost: 5 of lot 1 = 500 USD = 450 EUR (bought at 0.90).
    # Realised 150 USD, but 200 EUR: the extra 50 EUR is the dollar's rise on the 500 USD of cost.
    pos = replay([*MULTI, txn(3, "sell", "2024-03-01", "5", "130", fx="1.00")])["AAPL"]
    assert pos.realised_local == D("150")
    assert pos.realised_base == D("200.00")
    assert pos.cost_basis_base == D("1330.00")  # 450 left in lot 1 + 880 in lot 2


def test_value_of_a_closed_position():
    pos = replay([txn(1, "buy", "2024-01-02", "1", "10"), txn(2, "sell", "2024-01-03", "1", "12")])["AAPL"]
    result = value_holding(pos, price=D("15"), fx_now=D("1"), total_value_base=D("0"))
    assert result["market_value_base"] == D("0")
    assert result["unrealised_base"] == D("0")
    assert result["unrealised_pct"] is None
    assert result["weight"] is None
    assert result["price_effect_base"] == result["fx_effect_base"] == D("0")


def test_allocation_weights_by_each_dimension():
    rows = [
        {"symbol": "MSFT", "sector": "Tech", "country": "US", "currency": "USD", "value_base": D("300")},
        {"symbol": "AAPL", "sector": "Tech", "country": "US", "currency": "USD", "value_base": D("600")},
        {"symbol": "ALV", "sector": "Financials", "country": "DE", "currency": "EUR", "value_base": D("100")},
        {"symbol": "XYZ", "sector": None, "country": "DE", "currency": "EUR", "value_base": D("0")},
    ]
    # Total 1000: AAPL 60 %, MSFT 30 %, ALV 10 %, XYZ 0 %.
    result = allocation(rows)
    assert [(i["key"], i["value"]) for i in result["holding"]] == [
        ("AAPL", D("600")), ("MSFT", D("300")), ("ALV", D("100")), ("XYZ", D("0"))]
    assert [i["weight"] for i in result["holding"]] == pytest.approx([0.6, 0.3, 0.1, 0.0])
    assert [(i["key"], i["weight"]) for i in result["sector"]] == [
        ("Tech", 0.9), ("Financials", 0.1), ("Unknown", 0.0)]
    assert [(i["key"], i["value"]) for i in result["country"]] == [("US", D("900")), ("DE", D("100"))]
    assert [i["key"] for i in result["currency"]] == ["USD", "EUR"]
    for items in result.values():
        assert sum(i["weight"] for i in items) == pytest.approx(1.0)


def test_allocation_of_nothing_is_empty():
    rows = [{"symbol": "AAPL", "sector": "Tech", "country": "US", "currency": "USD", "value_base": D("0")}]
    assert allocation(rows) == {"holding": [], "sector": [], "country": [], "currency": []}
    assert allocation([]) == {"holding": [], "sector": [], "country": [], "currency": []}
