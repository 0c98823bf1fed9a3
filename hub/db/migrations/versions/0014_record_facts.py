"""record facts: what views count of each record, taken out of its attributes into plain columns

A publish read ten values out of the JSON attributes of every record (SQLite parsing each document again
for each value); the facts are now taken out once, at ingest (hub.record_facts), and stored beside the
attributes. Records already stored get theirs here.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 03:45:00
"""
import orjson
import sqlalchemy as sa
from alembic import op

from hub.db.bulk import update_from
from hub.record_facts import record_facts

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

_COLUMNS = ('fact_bits', 'fact_status', 'fact_grade', 'fact_vulnerabilities')
_BATCH = 50_000
_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.add_column('source_records', sa.Column('fact_bits', sa.Integer(), nullable=False, server_default='0'))
    for name in _COLUMNS[1:]:
        op.add_column('source_records', sa.Column(name, sa.Text()))
    conn = op.get_bind()
    table = sa.Table('source_records', sa.MetaData(), sa.Column('id', _ID, primary_key=True),
                     sa.Column('fact_bits', sa.Integer()), *(sa.Column(name, sa.Text()) for name in _COLUMNS[1:]))
    last = 0
    while batch := conn.exec_driver_sql(
            f"SELECT id, attributes FROM source_records WHERE id > {last} ORDER BY id LIMIT {_BATCH}").fetchall():
        last = batch[-1][0]
        rows = [(*facts, pk) for pk, attributes in batch
                if (facts := record_facts(orjson.loads(attributes) if isinstance(attributes, str | bytes)
                                          else attributes)) != (0, None, None, None)]
        if rows:
            update_from(conn, table, _COLUMNS, rows)


def downgrade() -> None:
    for name in reversed(_COLUMNS):
        op.execute(f"ALTER TABLE source_records DROP COLUMN {name}")
