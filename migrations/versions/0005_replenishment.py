"""Replenishment: rules (HQ defaults per level and category, per-location overrides), per-location
auto-submit settings, sell-out reports, suggested orders and their lines, outlet marks.

Reviewed by hand: suggestions are unique per (location, brand, business date), which is what
makes a repeated or resumed run write nothing twice; sales_reports are unique per (org, the
report's own id); the two partial unique indexes keep one default per (brand, level, category)
(NULL category counted as one value) and one override per (location, SKU).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23

"""
from alembic import op
import sqlalchemy as sa

import portal.core.db


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('replenishment_settings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('auto_submit', sa.Boolean(), nullable=False),
    sa.Column('created_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['brand_id'], ['organizations.id'], name=op.f('fk_replenishment_settings_brand_id_organizations')),
    sa.ForeignKeyConstraint(['location_id'], ['locations.id'], name=op.f('fk_replenishment_settings_location_id_locations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_replenishment_settings')),
    sa.UniqueConstraint('location_id', 'brand_id', name=op.f('uq_replenishment_settings_location_id_brand_id'))
    )
    op.create_table('sales_reports',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('external_id', sa.String(length=80), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('sold_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('lines', sa.JSON(), nullable=False),
    sa.Column('units', sa.BigInteger(), nullable=False),
    sa.Column('created_by_user_id', sa.Integer(), nullable=True),
    sa.Column('created_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_user_id'], ['users.id'], name=op.f('fk_sales_reports_created_by_user_id_users')),
    sa.ForeignKeyConstraint(['location_id'], ['locations.id'], name=op.f('fk_sales_reports_location_id_locations')),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_sales_reports_org_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sales_reports')),
    sa.UniqueConstraint('org_id', 'external_id', name=op.f('uq_sales_reports_org_id_external_id'))
    )
    op.create_table('outlet_marks',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('variant_id', sa.Integer(), nullable=False),
    sa.Column('grade', sa.String(length=1), nullable=False),
    sa.Column('tier', sa.String(length=20), nullable=False),
    sa.Column('units', sa.BigInteger(), nullable=False),
    sa.Column('marked_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['brand_id'], ['organizations.id'], name=op.f('fk_outlet_marks_brand_id_organizations')),
    sa.ForeignKeyConstraint(['location_id'], ['locations.id'], name=op.f('fk_outlet_marks_location_id_locations')),
    sa.ForeignKeyConstraint(['variant_id'], ['variants.id'], name=op.f('fk_outlet_marks_variant_id_variants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outlet_marks')),
    sa.UniqueConstraint('location_id', 'variant_id', 'grade', 'tier', name=op.f('uq_outlet_marks_location_id_variant_id_grade_tier'))
    )
    op.create_table('replenishment_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('level', sa.String(length=20), nullable=False),
    sa.Column('category_id', sa.Integer(), nullable=True),
    sa.Column('location_id', sa.Integer(), nullable=True),
    sa.Column('variant_id', sa.Integer(), nullable=True),
    sa.Column('min_qty', sa.Integer(), nullable=True),
    sa.Column('max_qty', sa.Integer(), nullable=True),
    sa.Column('cover_days', sa.Integer(), nullable=True),
    sa.Column('lead_days', sa.Integer(), nullable=False),
    sa.Column('safety_qty', sa.Integer(), nullable=False),
    sa.Column('review_days', sa.Integer(), nullable=False),
    sa.Column('owners_may_override', sa.Boolean(), nullable=False),
    sa.Column('updated_by_user_id', sa.Integer(), nullable=True),
    sa.Column('created_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('(location_id IS NULL AND variant_id IS NULL) OR (location_id IS NOT NULL AND variant_id IS NOT NULL)', name=op.f('ck_replenishment_rules_default_or_override')),
    sa.CheckConstraint('(max_qty IS NOT NULL) OR (cover_days IS NOT NULL)', name=op.f('ck_replenishment_rules_has_a_target')),
    sa.CheckConstraint('cover_days IS NULL OR cover_days > 0', name=op.f('ck_replenishment_rules_cover_positive')),
    sa.CheckConstraint('lead_days >= 0', name=op.f('ck_replenishment_rules_lead_not_negative')),
    sa.CheckConstraint('max_qty IS NULL OR max_qty >= 0', name=op.f('ck_replenishment_rules_max_not_negative')),
    sa.CheckConstraint('min_qty IS NULL OR max_qty IS NULL OR max_qty >= min_qty', name=op.f('ck_replenishment_rules_max_not_below_min')),
    sa.CheckConstraint('min_qty IS NULL OR min_qty >= 0', name=op.f('ck_replenishment_rules_min_not_negative')),
    sa.CheckConstraint('review_days > 0', name=op.f('ck_replenishment_rules_review_positive')),
    sa.CheckConstraint('safety_qty >= 0', name=op.f('ck_replenishment_rules_safety_not_negative')),
    sa.ForeignKeyConstraint(['brand_id'], ['organizations.id'], name=op.f('fk_replenishment_rules_brand_id_organizations')),
    sa.ForeignKeyConstraint(['category_id'], ['categories.id'], name=op.f('fk_replenishment_rules_category_id_categories')),
    sa.ForeignKeyConstraint(['location_id'], ['locations.id'], name=op.f('fk_replenishment_rules_location_id_locations')),
    sa.ForeignKeyConstraint(['updated_by_user_id'], ['users.id'], name=op.f('fk_replenishment_rules_updated_by_user_id_users')),
    sa.ForeignKeyConstraint(['variant_id'], ['variants.id'], name=op.f('fk_replenishment_rules_variant_id_variants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_replenishment_rules'))
    )
    with op.batch_alter_table('replenishment_rules', schema=None) as batch_op:
        batch_op.create_index('uq_replenishment_rules_default', ['brand_id', 'level', sa.literal_column('coalesce(category_id, 0)')], unique=True, postgresql_where=sa.text('location_id IS NULL'), sqlite_where=sa.text('location_id IS NULL'))
        batch_op.create_index('uq_replenishment_rules_override', ['location_id', 'variant_id'], unique=True, postgresql_where=sa.text('location_id IS NOT NULL'), sqlite_where=sa.text('location_id IS NOT NULL'))

    op.create_table('suggestions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('buyer_org_id', sa.Integer(), nullable=False),
    sa.Column('supplier_org_id', sa.Integer(), nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('run_id', sa.String(length=160), nullable=True),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('total_cents', sa.BigInteger(), nullable=False),
    sa.Column('auto_submit', sa.Boolean(), nullable=False),
    sa.Column('problem', sa.String(length=500), nullable=False),
    sa.Column('created_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('open', 'submitted', 'dismissed')", name=op.f('ck_suggestions_status')),
    sa.ForeignKeyConstraint(['brand_id'], ['organizations.id'], name=op.f('fk_suggestions_brand_id_organizations')),
    sa.ForeignKeyConstraint(['buyer_org_id'], ['organizations.id'], name=op.f('fk_suggestions_buyer_org_id_organizations')),
    sa.ForeignKeyConstraint(['location_id'], ['locations.id'], name=op.f('fk_suggestions_location_id_locations')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_suggestions_order_id_orders')),
    sa.ForeignKeyConstraint(['supplier_org_id'], ['organizations.id'], name=op.f('fk_suggestions_supplier_org_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_suggestions')),
    sa.UniqueConstraint('location_id', 'brand_id', 'business_date', name=op.f('uq_suggestions_location_id_brand_id_business_date'))
    )
    with op.batch_alter_table('suggestions', schema=None) as batch_op:
        batch_op.create_index('ix_suggestions_brand_id_business_date', ['brand_id', 'business_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_suggestions_buyer_org_id'), ['buyer_org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_suggestions_supplier_org_id'), ['supplier_org_id'], unique=False)

    op.create_table('suggestion_lines',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('suggestion_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('variant_id', sa.Integer(), nullable=False),
    sa.Column('qty', sa.Integer(), nullable=False),
    sa.Column('suggested_qty', sa.Integer(), nullable=False),
    sa.Column('unit_price_cents', sa.BigInteger(), nullable=True),
    sa.Column('reason', sa.JSON(), nullable=False),
    sa.CheckConstraint('qty >= 0', name=op.f('ck_suggestion_lines_qty_not_negative')),
    sa.ForeignKeyConstraint(['suggestion_id'], ['suggestions.id'], name=op.f('fk_suggestion_lines_suggestion_id_suggestions')),
    sa.ForeignKeyConstraint(['variant_id'], ['variants.id'], name=op.f('fk_suggestion_lines_variant_id_variants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_suggestion_lines')),
    sa.UniqueConstraint('suggestion_id', 'variant_id', name=op.f('uq_suggestion_lines_suggestion_id_variant_id'))
    )


def downgrade():
    op.drop_table('suggestion_lines')
    with op.batch_alter_table('suggestions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_suggestions_supplier_org_id'))
        batch_op.drop_index(batch_op.f('ix_suggestions_buyer_org_id'))
        batch_op.drop_index('ix_suggestions_brand_id_business_date')

    op.drop_table('suggestions')
    with op.batch_alter_table('replenishment_rules', schema=None) as batch_op:
        batch_op.drop_index('uq_replenishment_rules_override', postgresql_where=sa.text('location_id IS NOT NULL'), sqlite_where=sa.text('location_id IS NOT NULL'))
        batch_op.drop_index('uq_replenishment_rules_default', postgresql_where=sa.text('location_id IS NULL'), sqlite_where=sa.text('location_id IS NULL'))

    op.drop_table('replenishment_rules')
    op.drop_table('outlet_marks')
    op.drop_table('sales_reports')
    op.drop_table('replenishment_settings')
