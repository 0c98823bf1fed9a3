"""link lookup indexes: keyed citizen ID and house, and the validity of the ID beside the name and area blocks

An incremental link run finds the records sharing a keyed ID or house with a delivery through an index
instead of a scan, and reads whether a block's records hold a valid ID from the block's index alone.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 14:00:00
"""
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_source_records_linkage_key', 'source_records', ['linkage_key'])
    op.create_index('ix_source_records_house_key', 'source_records', ['house_key'])
    op.drop_index('ix_source_records_first_name_block', table_name='source_records')
    op.create_index('ix_source_records_first_name_block', 'source_records', ['first_name_block', 'id_status'])
    op.drop_index('ix_source_records_full_name_block', table_name='source_records')
    op.create_index('ix_source_records_full_name_block', 'source_records', ['full_name_block', 'id_status'])
    op.drop_index('ix_source_records_tambon_year', table_name='source_records')
    op.create_index('ix_source_records_tambon_year', 'source_records', ['tambon_code', 'birth_year', 'id_status'])


def downgrade() -> None:
    op.drop_index('ix_source_records_tambon_year', table_name='source_records')
    op.create_index('ix_source_records_tambon_year', 'source_records', ['tambon_code', 'birth_year'])
    op.drop_index('ix_source_records_full_name_block', table_name='source_records')
    op.create_index('ix_source_records_full_name_block', 'source_records', ['full_name_block'])
    op.drop_index('ix_source_records_first_name_block', table_name='source_records')
    op.create_index('ix_source_records_first_name_block', 'source_records', ['first_name_block'])
    op.drop_index('ix_source_records_house_key', table_name='source_records')
    op.drop_index('ix_source_records_linkage_key', table_name='source_records')
