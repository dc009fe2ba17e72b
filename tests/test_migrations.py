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


def test_upgrading_to_login_sessions_keeps_every_row_and_never_reuses_user_ids(tmp_path: Path) -> None:
    """0003 rebuilds `users` on SQLite (for AUTOINCREMENT): the rows pointing at it must survive."""
    from sqlalchemy import text

    app = create_app(make_config(), env=base_env(f"sqlite:///{tmp_path / 'keep.db'}"))
    with app.app_context():
        upgrade(revision="0002")
        with db.engine.begin() as conn:
            for uid in (1, 2):
                conn.execute(text("INSERT INTO users (id, email, password_hash, is_admin, created_at, token_version, "
                                  "ledger_version) VALUES (:id, :email, 'x', 0, '2026-01-01 00:00:00', 0, 0)"),
                             {"id": uid, "email": f"u{uid}@example.com"})
                conn.execute(text("INSERT INTO watchlists (id, user_id, name, position, created_at) "
                                  "VALUES (:id, :id, 'Mine', 0, '2026-01-01 00:00:00')"), {"id": uid})
                conn.execute(text("INSERT INTO transactions (user_id, symbol, kind, quantity, price, fee, currency, "
                                  "day, created_at) VALUES (:id, 'SAP.DE', 'buy', 1, 100, 0, 'EUR', '2026-01-02', "
                                  "'2026-01-02 00:00:00')"), {"id": uid})
        upgrade()
        with db.engine.begin() as conn:
            ddl = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'users'")).scalar()
            assert "AUTOINCREMENT" in ddl
            assert conn.execute(text("SELECT count(*) FROM watchlists")).scalar() == 2
            assert conn.execute(text("SELECT count(*) FROM transactions")).scalar() == 2
            assert conn.execute(text("PRAGMA foreign_key_check")).fetchall() == []
            conn.execute(text("DELETE FROM transactions WHERE user_id = 2"))
            conn.execute(text("DELETE FROM watchlists WHERE user_id = 2"))
            conn.execute(text("DELETE FROM users WHERE id = 2"))
            conn.execute(text("INSERT INTO users (email, password_hash, is_admin, created_at, token_version, "
                              "ledger_version) VALUES ('new@example.com', 'x', 0, '2026-01-03 00:00:00', 0, 0)"))
            assert conn.execute(text("SELECT id FROM users WHERE email = 'new@example.com'")).scalar() == 3
        downgrade(revision="0002")
        with db.engine.begin() as conn:
            assert conn.execute(text("SELECT count(*) FROM transactions")).scalar() == 1
        db.engine.dispose()
