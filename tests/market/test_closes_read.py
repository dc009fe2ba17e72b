"""The stored closes read back for a valuation (research._read_closes), on SQLite and PostgreSQL.

Read as one row per symbol with its days and closes joined by the database (group_concat /
string_agg) and parsed by numpy: each close must come back as the float of the stored decimal,
each day as its ordinal, oldest first, whatever order the bars were stored in.
"""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from flask import Flask
from sqlalchemy import delete

from app.extensions import db
from app.market import bars as market_bars
from app.market import research
from app.market.types import Bar
from app.models import PriceBar

START = date(1995, 1, 2)  # before anything else a test stores (the PostgreSQL database is shared)
CLOSES = {"SAP.DE": ["123.45", "0.1", "1234.5678901234", "99.99", "7"],
          "AAPL": ["0.0001", "250.5", "3.3333333333", "12", "41.75"]}


def _check(app: Flask) -> None:
    with app.app_context():
        try:
            for symbol, closes in CLOSES.items():
                # Stored newest first: the read must order them.
                bars = [Bar(START + timedelta(days=n), float(c), float(c), float(c), float(c), 100)
                        for n, c in enumerate(closes)]
                market_bars.persist(symbol, list(reversed(bars)), source="test")
            out = research._read_closes(["SAP.DE", "AAPL", "MSFT"], START, START + timedelta(days=10))
            for symbol, closes in CLOSES.items():
                assert out[symbol]["d"] == [(START + timedelta(days=n)).toordinal() for n in range(len(closes))]
                assert out[symbol]["c"] == [float(Decimal(c)) for c in closes]
            assert out["MSFT"] == {"d": [], "c": []}  # nothing stored in the range
            narrow = research._read_closes(["AAPL"], START + timedelta(days=1), START + timedelta(days=3))
            assert narrow["AAPL"]["c"] == [250.5, 3.3333333333, 12.0]
        finally:
            db.session.execute(delete(PriceBar).where(PriceBar.day < date(1996, 1, 1)))
            db.session.commit()


def test_closes_read_back_in_order_on_sqlite(app: Flask) -> None:
    _check(app)


@pytest.mark.postgres
def test_closes_read_back_in_order_on_postgresql(pg_app: Flask) -> None:
    _check(pg_app)


def test_filling_many_bars_commits_in_small_transactions(app) -> None:
    """SQLite has one writer: a fill of 20 stocks x 5 years (~25k bars) must not hold the write lock for
    all of them, or a page's write (a theme, a transaction) waits past its timeout and fails."""
    from datetime import timedelta

    from sqlalchemy import event

    from app.extensions import db
    from app.market import research
    from app.market.service import utc_today
    from app.research.services import members, resolve_universe

    with app.app_context():
        symbols = [m["symbol"] for m in members(resolve_universe(index="BEL 20"))]
        sizes, current = [], [0]

        def executed(conn, clauseelement, multiparams, params, execution_options, result) -> None:
            if "price_bars" in str(clauseelement) and str(clauseelement).lstrip().upper().startswith("INSERT"):
                current[0] += max(result.rowcount, 0)

        def committed(conn) -> None:
            if current[0]:
                sizes.append(current[0])
            current[0] = 0

        event.listen(db.engine, "after_execute", executed)
        event.listen(db.engine, "commit", committed)
        try:
            today = utc_today()
            found = research.closes_for(symbols, today - timedelta(days=5 * 365), today)
        finally:
            event.remove(db.engine, "after_execute", executed)
            event.remove(db.engine, "commit", committed)
    assert len(found) == len(symbols)
    assert sum(sizes) > 25_000 and len(sizes) >= 3, sizes  # 20 stocks x ~1,300 closed days
    one_stock = 5 * 262  # a transaction ends at most one stock's five years past 10,000 bars
    assert max(sizes) <= 10_000 + one_stock, sizes
