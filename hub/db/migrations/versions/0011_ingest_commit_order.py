"""ingest commit order: completed ingest runs numbered in the order they committed

Incremental linking and referral tracking take what ingest wrote after a watermark. Run ids are handed
out when runs start; on PostgreSQL a run that started first can commit after a later one, and its records
fell below a watermark already past them. ``ingest_runs.committed`` comes from ``ingest_clock``, whose row
a completing run holds locked until it commits. Runs completed before this revision keep their id as
their number, so existing watermarks (ids) stay valid.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 21:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('ingest_runs', sa.Column('committed', sa.BigInteger()))
    op.execute("UPDATE ingest_runs SET committed = id WHERE status = 'completed'")
    clock = op.create_table(
        'ingest_clock',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('value', sa.BigInteger(), nullable=False),
    )
    top = op.get_bind().scalar(sa.text("SELECT COALESCE(MAX(id), 0) FROM ingest_runs"))
    op.bulk_insert(clock, [{'id': 1, 'value': top}])


def downgrade() -> None:
    op.drop_table('ingest_clock')
    with op.batch_alter_table('ingest_runs') as batch:
        batch.drop_column('committed')
