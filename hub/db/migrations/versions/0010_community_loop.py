"""community loop: households verified by their community's stewards, and referrals to agencies with
every status they took

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 17:30:00
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_Json = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        'household_verifications',
        sa.Column('id', _BigId, primary_key=True, autoincrement=True),
        sa.Column('household_id', sa.String(32), nullable=False),
        sa.Column('community', sa.String(9), nullable=False),
        sa.Column('status', sa.String(16), nullable=False),
        sa.Column('steward_id', _BigId, sa.ForeignKey('community_stewards.id'), nullable=False),
        sa.Column('evidence', _Json, nullable=False),
        sa.Column('verified_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('recorded_by', sa.String(200), nullable=False),
    )
    op.create_index('ix_household_verifications_household_id', 'household_verifications', ['household_id'])
    op.create_table(
        'referrals',
        sa.Column('id', _BigId, primary_key=True, autoincrement=True),
        sa.Column('origin', sa.String(32), nullable=False),
        sa.Column('origin_ref', sa.String(64), nullable=False),
        sa.Column('household_id', sa.String(32), nullable=False),
        sa.Column('agency', sa.String(32), nullable=False),
        sa.Column('need', sa.String(64), nullable=False),
        sa.Column('status', sa.String(12), nullable=False),
        sa.Column('referred_on', sa.Date, nullable=False),
        sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('origin', 'origin_ref', name='uq_referrals_origin'),
        sqlite_autoincrement=True,
    )
    op.create_index('ix_referrals_household_id', 'referrals', ['household_id'])
    op.create_table(
        'referral_changes',
        sa.Column('id', _BigId, primary_key=True, autoincrement=True),
        sa.Column('referral_id', _BigId, sa.ForeignKey('referrals.id'), nullable=False),
        sa.Column('old_status', sa.String(12)),
        sa.Column('new_status', sa.String(12), nullable=False),
        sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('changed_by', sa.String(200), nullable=False),
        sa.Column('note', sa.Text, nullable=False),
    )
    op.create_index('ix_referral_changes_referral_id', 'referral_changes', ['referral_id'])


def downgrade() -> None:
    op.drop_index('ix_referral_changes_referral_id', 'referral_changes')
    op.drop_table('referral_changes')
    op.drop_index('ix_referrals_household_id', 'referrals')
    op.drop_table('referrals')
    op.drop_index('ix_household_verifications_household_id', 'household_verifications')
    op.drop_table('household_verifications')
