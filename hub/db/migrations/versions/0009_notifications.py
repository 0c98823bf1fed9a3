"""notifications: the outbox of signed partner webhooks and the partners' registered endpoints

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 09:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        'notifications',
        sa.Column('id', _BigId, primary_key=True, autoincrement=True),
        sa.Column('partner', sa.String(64), nullable=False),
        sa.Column('kind', sa.String(32), nullable=False),
        sa.Column('idempotency_key', sa.String(32), nullable=False, unique=True),
        sa.Column('body', sa.Text, nullable=False),
        sa.Column('state', sa.String(16), nullable=False),
        sa.Column('attempts', sa.Integer, nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_error', sa.Text),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('delivered_at', sa.DateTime(timezone=True)),
        sqlite_autoincrement=True,
    )
    op.create_index('ix_notifications_state_next_attempt', 'notifications', ['state', 'next_attempt_at'])
    op.create_table(
        'webhook_endpoints',
        sa.Column('partner', sa.String(64), primary_key=True),
        sa.Column('url', sa.Text, nullable=False),
        sa.Column('registered_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('registered_by', sa.String(96), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('webhook_endpoints')
    op.drop_index('ix_notifications_state_next_attempt', 'notifications')
    op.drop_table('notifications')
