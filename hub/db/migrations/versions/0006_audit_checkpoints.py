"""audit: searchable columns inside the hash, signed checkpoints, the area-read index, append-only guards,
and the home village of each microdata row (reads are counted by it)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 15:20:00
"""
import sqlalchemy as sa
from alembic import op

from audit.guards import install_guards, remove_guards

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('audit_events') as batch:
        batch.add_column(sa.Column('format', sa.Integer, nullable=False, server_default='1'))
        for name, kind in (('role', sa.String(32)), ('partner', sa.String(64)), ('purpose', sa.String(64)),
                           ('area', sa.String(16)), ('record_count', sa.Integer), ('request_id', sa.String(64))):
            batch.add_column(sa.Column(name, kind))
    op.create_table(
        'audit_checkpoints',
        sa.Column('seq', sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column('head_hash', sa.LargeBinary(32), nullable=False),
        sa.Column('signed_at', sa.String(40), nullable=False),
        sa.Column('jws', sa.Text, nullable=False),
    )
    op.create_table(
        'audit_area_reads',
        sa.Column('seq', sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column('area', sa.String(16), primary_key=True),
        sa.Column('records', sa.Integer, nullable=False),
        sa.Column('action', sa.String(64), nullable=False),
        sa.Column('partner', sa.String(64)),
        sa.Column('purpose', sa.String(64)),
        sa.Column('occurred_at', sa.String(40), nullable=False),
    )
    op.create_index('ix_audit_area_reads_area', 'audit_area_reads', ['area'])
    install_guards(op.get_bind())
    op.add_column('view_rows', sa.Column('home', sa.String(16)))


def downgrade() -> None:
    with op.batch_alter_table('view_rows') as batch:
        batch.drop_column('home')
    remove_guards(op.get_bind())
    op.drop_index('ix_audit_area_reads_area', table_name='audit_area_reads')
    op.drop_table('audit_area_reads')
    op.drop_table('audit_checkpoints')
    with op.batch_alter_table('audit_events') as batch:
        for name in ('request_id', 'record_count', 'area', 'purpose', 'partner', 'role', 'format'):
            batch.drop_column(name)
