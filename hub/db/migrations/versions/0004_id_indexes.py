"""id indexes: source_records by person_id, household_id and run_id (ids now sort by creation)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 10:05:00
"""
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_source_records_person', 'source_records', ['person_id'])
    op.create_index('ix_source_records_household_id', 'source_records', ['household_id'])
    op.create_index('ix_source_records_run', 'source_records', ['run_id'])


def downgrade() -> None:
    op.drop_index('ix_source_records_run', table_name='source_records')
    op.drop_index('ix_source_records_household_id', table_name='source_records')
    op.drop_index('ix_source_records_person', table_name='source_records')
