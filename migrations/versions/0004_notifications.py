"""notifications: settings, webhooks, per-alert channels, alert fires (the history) and deliveries

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 00:10:00

"""
from alembic import op
import sqlalchemy as sa

from app.models.types import Money, UTCDateTime


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'notification_settings',
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('email_enabled', sa.Boolean(), nullable=False),
        sa.Column('email_address', sa.String(length=254), nullable=True),
        sa.Column('webhook_enabled', sa.Boolean(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('user_id'),
    )
    op.create_table(
        'webhooks',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('url', sa.String(length=2048), nullable=False),
        sa.Column('secret', sa.String(length=128), nullable=False),
        sa.Column('format', sa.String(length=10), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.CheckConstraint("format IN ('json', 'ntfy-text')", name='ck_webhook_format'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_webhooks_user_id', 'webhooks', ['user_id'])
    op.create_table(
        'alert_channels',
        sa.Column('alert_id', sa.Integer(), nullable=False),
        sa.Column('email', sa.Boolean(), nullable=True),
        sa.Column('webhook', sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('alert_id'),
    )
    op.create_table(
        'alert_fires',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('alert_id', sa.Integer(), nullable=True),
        sa.Column('symbol', sa.String(length=24), nullable=False),
        sa.Column('kind', sa.String(length=12), nullable=False),
        sa.Column('threshold', Money(), nullable=False),
        sa.Column('triggered_price', Money(), nullable=False),
        sa.Column('triggered_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('uq_alert_fire', 'alert_fires', ['alert_id', 'triggered_at'], unique=True)
    op.create_index('ix_alert_fires_user_time', 'alert_fires', ['user_id', 'triggered_at'])
    op.create_table(
        'deliveries',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('fire_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('channel', sa.String(length=10), nullable=False),
        sa.Column('target', sa.String(length=2048), nullable=False),
        sa.Column('webhook_id', sa.Integer(), nullable=True),
        sa.Column('idempotency_key', sa.String(length=400), nullable=False),
        sa.Column('status', sa.String(length=8), nullable=False),
        sa.Column('via', sa.String(length=8), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.String(length=500), nullable=True),
        sa.Column('subject', sa.String(length=200), nullable=True),
        sa.Column('body', sa.Text(), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('sent_at', UTCDateTime(), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'sent', 'failed')", name='ck_delivery_status'),
        sa.CheckConstraint("channel IN ('email', 'webhook')", name='ck_delivery_channel'),
        sa.ForeignKeyConstraint(['fire_id'], ['alert_fires.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['webhook_id'], ['webhooks.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('idempotency_key', name='uq_delivery_idempotency_key'),
    )
    op.create_index('ix_deliveries_fire_id', 'deliveries', ['fire_id'])
    op.create_index('ix_deliveries_user_status', 'deliveries', ['user_id', 'status'])


def downgrade():
    op.drop_index('ix_deliveries_user_status', table_name='deliveries')
    op.drop_index('ix_deliveries_fire_id', table_name='deliveries')
    op.drop_table('deliveries')
    op.drop_index('ix_alert_fires_user_time', table_name='alert_fires')
    op.drop_index('uq_alert_fire', table_name='alert_fires')
    op.drop_table('alert_fires')
    op.drop_table('alert_channels')
    op.drop_index('ix_webhooks_user_id', table_name='webhooks')
    op.drop_table('webhooks')
    op.drop_table('notification_settings')
