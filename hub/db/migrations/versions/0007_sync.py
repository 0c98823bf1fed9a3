"""sync: pull cursors, scheduled job runs (unique per job and fire time) and the scheduler's lease

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 10:40:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        'source_cursors',
        sa.Column('source', sa.String(64), primary_key=True),
        sa.Column('since', sa.Text),
        sa.Column('token', sa.Text),
        sa.Column('walk_high', sa.Text),
        sa.Column('pages', sa.BigInteger, nullable=False),
        sa.Column('items', sa.BigInteger, nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        'job_runs',
        sa.Column('id', _BigId, primary_key=True, autoincrement=True),
        sa.Column('job', sa.String(96), nullable=False),
        sa.Column('fire_time', sa.DateTime(timezone=True), nullable=False),
        sa.Column('status', sa.String(16), nullable=False),
        sa.Column('holder', sa.String(96), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True)),
        sa.Column('detail', sa.Text),
        sa.UniqueConstraint('job', 'fire_time', name='uq_job_runs_job_fire_time'),
    )
    op.create_index('ix_job_runs_job_status', 'job_runs', ['job', 'status'])
    op.create_table(
        'scheduler_lease',
        sa.Column('name', sa.String(32), primary_key=True),
        sa.Column('holder', sa.String(96), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('scheduler_lease')
    op.drop_index('ix_job_runs_job_status', 'job_runs')
    op.drop_table('job_runs')
    op.drop_table('source_cursors')
