"""pipeline: recent job runs and worker-computed results

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 10:00:00

"""
from alembic import op
import sqlalchemy as sa

from app.models.types import UTCDateTime


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'job_runs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('task', sa.String(length=100), nullable=False),
        sa.Column('task_id', sa.String(length=64), nullable=True),
        sa.Column('state', sa.String(length=10), nullable=False),
        sa.Column('started_at', UTCDateTime(), nullable=False),
        sa.Column('finished_at', UTCDateTime(), nullable=True),
        sa.Column('seconds', sa.Double(), nullable=True),
        sa.Column('summary', sa.String(length=1000), nullable=True),
        sa.Column('error', sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_job_runs_task_started', 'job_runs', ['task', 'started_at'])
    op.create_index('ix_job_runs_started', 'job_runs', ['started_at'])
    op.create_table(
        'computed_results',
        sa.Column('key', sa.String(length=200), nullable=False),
        sa.Column('digest', sa.String(length=64), nullable=False),
        sa.Column('payload', sa.Text(), nullable=False),
        sa.Column('computed_at', UTCDateTime(), nullable=False),
        sa.Column('seconds', sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint('key'),
    )


def downgrade():
    op.drop_table('computed_results')
    op.drop_index('ix_job_runs_started', table_name='job_runs')
    op.drop_index('ix_job_runs_task_started', table_name='job_runs')
    op.drop_table('job_runs')
