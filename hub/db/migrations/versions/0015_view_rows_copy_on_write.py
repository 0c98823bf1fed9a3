"""view rows copy-on-write: a microdata row is stored once for every version of its view that has it

Each kept version held its own copy of every row (three copies of nearly the same rows, all rewritten by
each publish). A row is now keyed by its view, its key and the version that wrote it, and belongs to that
view's versions up to the one that changed or dropped it (hub.views.row_versions). The copies already
stored stay as they are, each in its own version only; a row's digest is left empty, so the next publish
writes it once more and shares it from then on.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 07:00:00
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), 'postgresql')


def _rename(old: str, new: str) -> None:
    op.rename_table(old, new)
    if op.get_bind().dialect.name == 'postgresql':  # the primary key's index keeps its name, which the new table needs
        op.execute(f"ALTER INDEX {old}_pkey RENAME TO {new}_pkey")


def upgrade() -> None:
    _rename('view_rows', 'view_rows_by_version')
    op.create_table(
        'view_rows',
        sa.Column('view', sa.String(64), primary_key=True),
        sa.Column('area', sa.String(16), primary_key=True),
        sa.Column('row_key', sa.String(64), primary_key=True),
        sa.Column('from_version', sa.BigInteger, primary_key=True),
        sa.Column('to_version', sa.BigInteger),
        sa.Column('fields', Json, nullable=False),
        sa.Column('home', sa.String(16)),
        sa.Column('digest', sa.BigInteger),
        sqlite_with_rowid=False,
    )
    op.execute("INSERT INTO view_rows (view, area, row_key, from_version, to_version, fields, home) "
               "SELECT v.view, r.area, r.row_key, r.version_id, "
               "(SELECT MIN(n.id) FROM view_versions n WHERE n.view = v.view AND n.id > v.id), "
               "r.fields, r.home "
               "FROM view_rows_by_version r JOIN view_versions v ON v.id = r.version_id")
    op.drop_table('view_rows_by_version')
    op.create_index('ix_view_rows_closed', 'view_rows', ['view', 'to_version'],
                    sqlite_where=sa.text('to_version IS NOT NULL'), postgresql_where=sa.text('to_version IS NOT NULL'))


def downgrade() -> None:
    op.drop_index('ix_view_rows_closed', table_name='view_rows')
    _rename('view_rows', 'view_rows_shared')
    op.create_table(
        'view_rows',
        sa.Column('version_id', sa.BigInteger, sa.ForeignKey('view_versions.id'), primary_key=True),
        sa.Column('row_key', sa.String(64), primary_key=True),
        sa.Column('area', sa.String(16), nullable=False),
        sa.Column('fields', Json, nullable=False),
        sa.Column('home', sa.String(16)),
    )
    op.execute("INSERT INTO view_rows (version_id, row_key, area, fields, home) "
               "SELECT v.id, r.row_key, r.area, r.fields, r.home FROM view_rows_shared r "
               "JOIN view_versions v ON v.view = r.view AND v.id >= r.from_version "
               "AND (r.to_version IS NULL OR v.id < r.to_version)")
    op.drop_table('view_rows_shared')
