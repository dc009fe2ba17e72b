"""Seeding the universe into the database, and the dashboard that reports it."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import IndexMembership, Stock
from app.universe import load_universe
from tests.conftest import needs_postgres


def _counts(app) -> tuple[int, int]:
    with app.app_context():
        return (db.session.scalar(select(func.count(Stock.id))),
                db.session.scalar(select(func.count(IndexMembership.id))))


def _check_seeded(app) -> None:
    stocks, memberships = _counts(app)
    assert stocks == len(load_universe()) and 1700 <= stocks <= 1900
    runner = app.test_cli_runner()
    result = runner.invoke(args=["universe", "seed"])
    assert result.exit_code == 0, result.output
    assert "0 new, 0 updated" in result.output and "+0/-0" in result.output
    assert _counts(app) == (stocks, memberships)
    with app.app_context():
        adidas = db.session.scalar(select(Stock).where(Stock.symbol == "ADS.DE"))
        assert (adidas.currency, adidas.country, adidas.exchange) == ("EUR", "Germany", "XETRA")
        assert "DAX" in adidas.indices and adidas.search_text.startswith("ads.de adidas")
        dax = db.session.scalar(select(func.count(IndexMembership.id)).where(IndexMembership.index_name == "DAX"))
        assert dax == 40


def test_seed_is_idempotent_on_sqlite(app) -> None:
    _check_seeded(app)


@needs_postgres
@pytest.mark.postgres
def test_seed_is_idempotent_on_postgres(pg_app) -> None:
    _check_seeded(pg_app)


def test_seed_repairs_changed_rows(app) -> None:
    with app.app_context():
        stock = db.session.scalar(select(Stock).where(Stock.symbol == "AAPL"))
        stock.name = "Wrong"
        stock.memberships.clear()
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["universe", "seed"])
    assert "1 updated" in result.output
    with app.app_context():
        stock = db.session.scalar(select(Stock).where(Stock.symbol == "AAPL"))
        assert stock.name != "Wrong" and {"NASDAQ 100", "S&P 500"} <= set(stock.indices)


def test_dashboard_says_what_is_there(client) -> None:
    html = client.get("/").get_data(as_text=True)
    assert f"{len(load_universe()):,}" in html
    assert "Simulated data" in html


def test_create_admin_command(app) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "create-admin", "Boss@Example.com", "--password", "long enough pw"])
    assert result.exit_code == 0 and "boss@example.com is an administrator" in result.output
    result = runner.invoke(args=["users", "create-admin", "nobody@example.com"])
    assert result.exit_code != 0 and "pass --password" in result.output
