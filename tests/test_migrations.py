"""Migrations: one head, upgrade from empty and downgrade to base on SQLite and PostgreSQL."""
from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from app import create_app
from app.extensions import db
from tests.conftest import TEST_DATABASE_URL, base_env, create_database, drop_database, needs_postgres, make_config

TABLES = {"users", "stocks", "index_memberships", "price_bars", "watchlists", "watchlist_items",
          "transactions", "alerts", "audit_events"}


def test_one_alembic_head() -> None:
    script = ScriptDirectory(str(Path(__file__).resolve().parent.parent / "migrations"))
    assert len(script.get_heads()) == 1


def _round_trip(url: str) -> None:
    app = create_app(make_config(), env=base_env(url))
    with app.app_context():
        upgrade()
        tables = set(inspect(db.engine).get_table_names())
        assert TABLES <= tables
        # The models and the migrations describe the same schema.
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
        assert diff == [], f"models differ from migrations: {diff}"
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        assert TABLES <= set(inspect(db.engine).get_table_names())
        db.engine.dispose()


def test_upgrade_and_downgrade_on_sqlite(tmp_path: Path) -> None:
    _round_trip(f"sqlite:///{tmp_path / 'm.db'}")


@needs_postgres
@pytest.mark.postgres
def test_upgrade_and_downgrade_on_postgres() -> None:
    url = create_database(TEST_DATABASE_URL, "tdmig")
    try:
        _round_trip(url)
    finally:
        drop_database(TEST_DATABASE_URL, url)
