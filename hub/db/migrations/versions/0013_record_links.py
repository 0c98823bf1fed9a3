"""record links: each source record's person and household ids move to a narrow table of their own

A full link run renumbers most of the store. Kept in the wide record rows, that rewrote every page of
the encrypted records (and, on PostgreSQL, added an entry to each of their indexes per row); kept beside
them, it rewrites rows of three columns.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 21:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'record_links',
        sa.Column('id', _ID, sa.ForeignKey('source_records.id', ondelete='CASCADE'), primary_key=True,
                  autoincrement=False),
        sa.Column('person_id', sa.String(32), nullable=False),
        sa.Column('household_id', sa.String(32), nullable=False),
    )
    op.execute("INSERT INTO record_links (id, person_id, household_id) "
               "SELECT id, person_id, household_id FROM source_records")
    op.create_index('ix_record_links_person', 'record_links', ['person_id'])
    op.create_index('ix_record_links_household', 'record_links', ['household_id'])
    op.drop_index('ix_source_records_person', table_name='source_records')
    op.drop_index('ix_source_records_household_id', table_name='source_records')
    op.execute("ALTER TABLE source_records DROP COLUMN person_id")
    op.execute("ALTER TABLE source_records DROP COLUMN household_id")


def downgrade() -> None:
    op.add_column('source_records', sa.Column('person_id', sa.String(32), nullable=True))
    op.add_column('source_records', sa.Column('household_id', sa.String(32), nullable=True))
    op.execute("UPDATE source_records SET person_id = (SELECT l.person_id FROM record_links l "
               "WHERE l.id = source_records.id), household_id = (SELECT l.household_id FROM record_links l "
               "WHERE l.id = source_records.id)")
    with op.batch_alter_table('source_records') as batch:
        batch.alter_column('person_id', nullable=False)
        batch.alter_column('household_id', nullable=False)
    op.create_index('ix_source_records_person', 'source_records', ['person_id'])
    op.create_index('ix_source_records_household_id', 'source_records', ['household_id'])
    op.drop_table('record_links')
