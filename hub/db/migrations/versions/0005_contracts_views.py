"""contracts and views: contract versions seen, view versions, aggregate cells, microdata rows

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 12:10:00
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        'contracts',
        sa.Column('contract_id', sa.String(64), primary_key=True),
        sa.Column('sha256', sa.String(64), primary_key=True),
        sa.Column('version', sa.Text, nullable=False),
        sa.Column('body', sa.Text, nullable=False),
        sa.Column('first_seen_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        'view_versions',
        sa.Column('id', BigId, primary_key=True, autoincrement=True),
        sa.Column('view', sa.String(64), nullable=False),
        sa.Column('contract_id', sa.String(64), nullable=False),
        sa.Column('contract_sha256', sa.String(64), nullable=False),
        sa.Column('level', sa.String(16), nullable=False),
        sa.Column('status', sa.String(16), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('published_at', sa.DateTime(timezone=True)),
        sa.Column('rows', sa.Integer, nullable=False),
        sa.Column('epsilon', sa.Float),
        sa.Column('report', Json, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index('ix_view_versions_view_status', 'view_versions', ['view', 'status'])
    op.create_table(
        'view_cells',
        sa.Column('version_id', sa.BigInteger, sa.ForeignKey('view_versions.id'), primary_key=True),
        sa.Column('area', sa.String(16), primary_key=True),
        sa.Column('level', sa.String(8), nullable=False),
        sa.Column('parent', sa.String(16)),
        sa.Column('figures', Json, nullable=False),
    )
    op.create_table(
        'view_rows',
        sa.Column('version_id', sa.BigInteger, sa.ForeignKey('view_versions.id'), primary_key=True),
        sa.Column('row_key', sa.String(64), primary_key=True),
        sa.Column('area', sa.String(16), nullable=False),
        sa.Column('fields', Json, nullable=False),
    )


def downgrade() -> None:
    op.drop_table('view_rows')
    op.drop_table('view_cells')
    op.drop_index('ix_view_versions_view_status', table_name='view_versions')
    op.drop_table('view_versions')
    op.drop_table('contracts')
