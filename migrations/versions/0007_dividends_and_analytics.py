"""dividend events and the user's decisions on proposals; risk-free rate and cost basis method per account

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 17:00:00

"""
from alembic import op
import sqlalchemy as sa

from app.models.types import Money, UTCDateTime


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'dividend_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('symbol', sa.String(length=24), nullable=False),
        sa.Column('ex_date', sa.Date(), nullable=False),
        sa.Column('pay_date', sa.Date(), nullable=True),
        sa.Column('amount', Money(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('source', sa.String(length=20), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.CheckConstraint('amount > 0', name='ck_dividend_amount'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('symbol', 'ex_date', name='uq_dividend_event'),
    )
    op.create_index('ix_dividend_events_symbol', 'dividend_events', ['symbol'])
    op.create_table(
        'dividend_decisions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('symbol', sa.String(length=24), nullable=False),
        sa.Column('ex_date', sa.Date(), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('transaction_id', sa.Integer(), nullable=True),
        sa.Column('decided_at', UTCDateTime(), nullable=False),
        sa.CheckConstraint("status IN ('accepted', 'dismissed')", name='ck_dividend_decision'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['transaction_id'], ['transactions.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('user_id', 'symbol', 'ex_date', name='uq_dividend_decision'),
    )
    op.create_index('ix_dividend_decisions_user_id', 'dividend_decisions', ['user_id'])
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('risk_free_rate', Money(), nullable=True))
        batch.add_column(sa.Column('cost_basis_method', sa.String(length=8), nullable=False, server_default='fifo'))


def downgrade():
    with op.batch_alter_table('users') as batch:
        batch.drop_column('cost_basis_method')
        batch.drop_column('risk_free_rate')
    op.drop_index('ix_dividend_decisions_user_id', table_name='dividend_decisions')
    op.drop_table('dividend_decisions')
    op.drop_index('ix_dividend_events_symbol', table_name='dividend_events')
    op.drop_table('dividend_events')
