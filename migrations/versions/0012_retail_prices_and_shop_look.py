"""Retail prices in the channel policy and the shops' look: policy_rules.section also takes the
three storefront prices (official, outlet, employee); storefront_settings holds a brand's shop
title, two colours and an optional logo.

Reviewed by hand: the section CHECK is dropped and made again with the wider list (on SQLite by
the batch copy of policy_rules, which keeps its other constraints and indexes). A colour is
'#rrggbb': the CHECK holds the shape on both backends (no regular expressions on SQLite); the
service checks the hex digits, and the stylesheet route writes only colours that pass. One
settings row per brand, so brand_id is the key.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03

"""
from alembic import op
import sqlalchemy as sa

import portal.core.db


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

OLD_SECTIONS = "section IN ('price', 'order', 'floor', 'exclude')"
NEW_SECTIONS = (
    "section IN ('price', 'order', 'floor', 'exclude', 'official', 'outlet', 'employee')"
)


def _sections(condition):
    with op.batch_alter_table('policy_rules', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_policy_rules_section'), type_='check')
        batch_op.create_check_constraint(op.f('ck_policy_rules_section'), condition)


def upgrade():
    _sections(NEW_SECTIONS)
    op.create_table('storefront_settings',
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=120), nullable=False),
    sa.Column('primary_color', sa.String(length=7), nullable=False),
    sa.Column('accent_color', sa.String(length=7), nullable=False),
    sa.Column('logo_path', sa.String(length=255), nullable=True),
    sa.Column('created_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("length(accent_color) = 7 AND substr(accent_color, 1, 1) = '#'", name=op.f('ck_storefront_settings_accent_color')),
    sa.CheckConstraint("length(primary_color) = 7 AND substr(primary_color, 1, 1) = '#'", name=op.f('ck_storefront_settings_primary_color')),
    sa.ForeignKeyConstraint(['brand_id'], ['organizations.id'], name=op.f('fk_storefront_settings_brand_id_organizations')),
    sa.PrimaryKeyConstraint('brand_id', name=op.f('pk_storefront_settings'))
    )


def downgrade():
    op.drop_table('storefront_settings')
    op.execute(
        "DELETE FROM policy_rules WHERE section IN ('official', 'outlet', 'employee')"
    )
    _sections(OLD_SECTIONS)
