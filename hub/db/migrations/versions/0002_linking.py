"""linking: candidate keys, link runs, review queue, id redirects

Records ingested before this revision have no candidate keys (the ID variants need the clear ID, which
only ingest sees): ``hub link`` counts them; the source's next delivery of a record fills them in (its
fingerprint changes with them, so it is written again).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 03:42:12.055437
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('link_runs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('ingest_watermark', sa.BigInteger(), nullable=False),
    sa.Column('counts', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('model', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('id_redirects',
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('retired_id', sa.String(length=32), nullable=False),
    sa.Column('current_id', sa.String(length=32), nullable=False),
    sa.Column('run_id', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['link_runs.id'], ),
    sa.PrimaryKeyConstraint('kind', 'retired_id')
    )
    op.create_table('link_reviews',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('source_a', sa.String(length=64), nullable=False),
    sa.Column('record_id_a', sa.Text(), nullable=False),
    sa.Column('source_b', sa.String(length=64), nullable=False),
    sa.Column('record_id_b', sa.Text(), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('match_probability', sa.Float(), nullable=True),
    sa.Column('evidence', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('decided_by', sa.String(length=200), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('basis', sa.Text(), nullable=True),
    sa.Column('created_run_id', sa.BigInteger(), nullable=False),
    sa.Column('seen_run_id', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['created_run_id'], ['link_runs.id'], ),
    sa.ForeignKeyConstraint(['seen_run_id'], ['link_runs.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source_a', 'record_id_a', 'source_b', 'record_id_b', name='uq_link_reviews_pair')
    )
    with op.batch_alter_table('source_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('id_variants', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('first_name_block', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('full_name_block', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('address_block', sa.BigInteger(), nullable=True))
        batch_op.create_index('ix_source_records_first_name_block', ['first_name_block'], unique=False)
        batch_op.create_index('ix_source_records_full_name_block', ['full_name_block'], unique=False)
        batch_op.create_index('ix_source_records_address_block', ['address_block'], unique=False)
        batch_op.create_index('ix_source_records_tambon_year', ['tambon_code', 'birth_year'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('source_records', schema=None) as batch_op:
        batch_op.drop_index('ix_source_records_tambon_year')
        batch_op.drop_index('ix_source_records_address_block')
        batch_op.drop_index('ix_source_records_full_name_block')
        batch_op.drop_index('ix_source_records_first_name_block')
        batch_op.drop_column('address_block')
        batch_op.drop_column('full_name_block')
        batch_op.drop_column('first_name_block')
        batch_op.drop_column('id_variants')

    op.drop_table('link_reviews')
    op.drop_table('id_redirects')
    op.drop_table('link_runs')
