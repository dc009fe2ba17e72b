"""login_sessions: every log-in's random id, which cookies, tokens and sockets carry;
users ids never reused on SQLite (AUTOINCREMENT)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 23:10:00

"""
from alembic import op
import sqlalchemy as sa

from app.models.types import UTCDateTime


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'login_sessions',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=8), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('expires_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_login_sessions_user_id', 'login_sessions', ['user_id'])
    _users_autoincrement(True)


def downgrade():
    _users_autoincrement(False)
    op.drop_index('ix_login_sessions_user_id', table_name='login_sessions')
    op.drop_table('login_sessions')


def _users_autoincrement(on: bool) -> None:
    """SQLite only: rebuild `users` with (or without) AUTOINCREMENT, keeping every row.

    PostgreSQL's sequences never hand out an id twice. SQLite's plain INTEGER PRIMARY KEY
    gives a deleted maximum id to the next row; AUTOINCREMENT remembers the highest id ever
    used. The rebuild copies the rows; migrations/env.py turns foreign-key enforcement off
    for SQLite, so dropping the old table deletes nothing that points at it.
    """
    if op.get_bind().dialect.name != 'sqlite':
        return
    with op.batch_alter_table('users', recreate='always', table_kwargs={'sqlite_autoincrement': on}):
        pass
