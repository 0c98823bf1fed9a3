"""review decisions applied: which link run applied each settled review pair

An incremental run re-links the records of decisions no run has applied yet, instead of those decided
after the last run started: a decision whose transaction committed while a run was under way carries a
time before that run's start, yet the run never saw it. Decisions older than the newest completed run's
start count as applied by it; the others wait for the next run.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 21:40:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('link_reviews') as batch:
        batch.add_column(sa.Column('applied_run_id', sa.BigInteger(), nullable=True))
        batch.create_foreign_key('fk_link_reviews_applied_run_id_link_runs', 'link_runs', ['applied_run_id'], ['id'])
    op.execute("UPDATE link_reviews SET applied_run_id = (SELECT MAX(r.id) FROM link_runs r WHERE r.status = "
               "'completed' AND r.started_at > link_reviews.decided_at) WHERE status IN ('same', 'different')")


def downgrade() -> None:
    with op.batch_alter_table('link_reviews') as batch:
        batch.drop_constraint('fk_link_reviews_applied_run_id_link_runs', type_='foreignkey')
        batch.drop_column('applied_run_id')
