"""consent: per-person data keys (subject_keys), erased records counted at ingest, community stewards, decisions found from current ids (id_redirects.current_id), consent decisions, signed receipts, data-subject requests, erasures

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 08:50:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
Json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table('ingest_runs') as batch_op:
        batch_op.add_column(sa.Column('erased', sa.Integer(), nullable=False, server_default='0'))
    op.create_table('subject_keys',
    sa.Column('id', BigId, autoincrement=True, nullable=False),
    sa.Column('anchor', sa.LargeBinary(length=16), nullable=False),
    sa.Column('wrapped', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', When, nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('anchor')
    )
    op.create_index('ix_id_redirects_current', 'id_redirects', ['current_id'])
    op.create_table('community_stewards',
    sa.Column('id', BigId, autoincrement=True, nullable=False),
    sa.Column('community', sa.String(length=9), nullable=False),
    sa.Column('role', sa.String(length=64), nullable=False),
    sa.Column('name_enc', sa.LargeBinary(), nullable=False),
    sa.Column('appointed_by', sa.Text(), nullable=False),
    sa.Column('registered_at', When, nullable=False),
    sa.Column('registered_by', sa.String(length=200), nullable=False),
    sa.Column('ended_at', When, nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_community_stewards_community', 'community_stewards', ['community'])
    op.create_table('consents',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('subject_kind', sa.String(length=12), nullable=False),
    sa.Column('subject_ref', sa.String(length=80), nullable=False),
    sa.Column('purposes', Json, nullable=False),
    sa.Column('recipients', Json, nullable=False),
    sa.Column('sensitive', sa.Boolean(), nullable=False),
    sa.Column('objection', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('grantor', Json, nullable=False),
    sa.Column('evidence', Json, nullable=False),
    sa.Column('decided_at', When, nullable=False),
    sa.Column('expires_at', When, nullable=True),
    sa.Column('changed_at', When, nullable=False),
    sa.Column('recorded_by', sa.String(length=200), nullable=False),
    sa.Column('origin', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('origin')
    )
    op.create_index('ix_consents_subject', 'consents', ['subject_ref'])
    op.create_table('consent_receipts',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('consent_id', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('issued_at', When, nullable=False),
    sa.Column('jws', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['consent_id'], ['consents.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_consent_receipts_consent_id', 'consent_receipts', ['consent_id'])
    op.create_table('subject_requests',
    sa.Column('id', BigId, autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('subject_ref', sa.String(length=80), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('details', Json, nullable=False),
    sa.Column('received_at', When, nullable=False),
    sa.Column('closed_at', When, nullable=True),
    sa.Column('handled_by', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('erased_subjects',
    sa.Column('linkage_key', sa.LargeBinary(length=32), nullable=False),
    sa.Column('request_id', sa.BigInteger(), nullable=False),
    sa.Column('erased_at', When, nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['subject_requests.id'], ),
    sa.PrimaryKeyConstraint('linkage_key')
    )


def downgrade() -> None:
    with op.batch_alter_table('ingest_runs') as batch_op:
        batch_op.drop_column('erased')
    op.drop_index('ix_id_redirects_current', table_name='id_redirects')
    op.drop_table('subject_keys')
    op.drop_table('erased_subjects')
    op.drop_table('subject_requests')
    op.drop_index('ix_consent_receipts_consent_id', table_name='consent_receipts')
    op.drop_table('consent_receipts')
    op.drop_index('ix_consents_subject', table_name='consents')
    op.drop_table('consents')
    op.drop_index('ix_community_stewards_community', table_name='community_stewards')
    op.drop_table('community_stewards')
