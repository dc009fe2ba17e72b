"""corporate actions: stock splits (provider events and splits users enter)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 13:30:00

"""
from alembic import op
import sqlalchemy as sa

from app.models.types import UTCDateTime


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'stock_splits',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('symbol', sa.String(length=24), nullable=False),
        sa.Column('ex_date', sa.Date(), nullable=False),
        sa.Column('ratio_from', sa.Integer(), nullable=False),
        sa.Column('ratio_to', sa.Integer(), nullable=False),
        sa.Column('source', sa.String(length=20), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('owner', sa.Integer(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.CheckConstraint('ratio_from > 0 AND ratio_to > 0 AND ratio_from <> ratio_to', name='ck_split_ratio'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_stock_splits_symbol', 'stock_splits', ['symbol'])
    op.create_index('ix_stock_splits_user_id', 'stock_splits', ['user_id'])
    op.create_index('uq_stock_split', 'stock_splits', ['symbol', 'ex_date', 'owner'], unique=True)


def downgrade():
    op.drop_index('uq_stock_split', table_name='stock_splits')
    op.drop_index('ix_stock_splits_user_id', table_name='stock_splits')
    op.drop_index('ix_stock_splits_symbol', table_name='stock_splits')
    op.drop_table('stock_splits')
