"""Catalog (categories, products, variants, imports) and channel policy (policies, versions,
audiences, rules, notifications).

Reviewed by hand: every table carries brand_id; rules and audiences go with their version
(ON DELETE CASCADE, though published versions are never deleted); notifications are unique per
(version, org), which is what makes a repeated fan-out add nothing.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

"""
from alembic import op
import sqlalchemy as sa

import portal.core.db


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('catalog_imports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('stored_path', sa.String(length=255), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('total_rows', sa.Integer(), nullable=False),
    sa.Column('error_count', sa.Integer(), nullable=False),
    sa.Column('errors', sa.JSON(), nullable=False),
    sa.Column('summary', sa.JSON(), nullable=False),
    sa.Column('job_id', sa.String(length=160), nullable=True),
    sa.Column('applied_at', portal.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('validating', 'invalid', 'ready', 'applying', 'applied', 'failed')", name=op.f('ck_catalog_imports_status')),
    sa.ForeignKeyConstraint(['brand_id'], ['organizations.id'], name=op.f('fk_catalog_imports_brand_id_organizations')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_catalog_imports_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_catalog_imports'))
    )
    with op.batch_alter_table('catalog_imports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_catalog_imports_brand_id'), ['brand_id'], unique=False)

    op.create_table('categories',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('created_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['brand_id'], ['organizations.id'], name=op.f('fk_categories_brand_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_categories')),
    sa.UniqueConstraint('brand_id', 'code', name=op.f('uq_categories_brand_id_code'))
    )
    op.create_table('policies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['brand_id'], ['organizations.id'], name=op.f('fk_policies_brand_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_policies')),
    sa.UniqueConstraint('brand_id', 'code', name=op.f('uq_policies_brand_id_code'))
    )
    op.create_table('policy_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('policy_id', sa.Integer(), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('audience_kind', sa.String(length=20), nullable=False),
    sa.Column('effective_from', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('effective_to', portal.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('min_order_cents', sa.BigInteger(), nullable=True),
    sa.Column('order_window_start', portal.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('order_window_end', portal.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('credit_limit_cents', sa.BigInteger(), nullable=True),
    sa.Column('payment_terms_days', sa.Integer(), nullable=True),
    sa.Column('outlet_discount_bp', sa.Integer(), nullable=True),
    sa.Column('outlet_after_days', sa.Integer(), nullable=True),
    sa.Column('employee_discount_bp', sa.Integer(), nullable=True),
    sa.Column('per_person_limit', sa.Integer(), nullable=True),
    sa.Column('rebates', sa.JSON(), nullable=False),
    sa.Column('created_by_user_id', sa.Integer(), nullable=True),
    sa.Column('published_at', portal.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('published_by_user_id', sa.Integer(), nullable=True),
    sa.Column('targeted_count', sa.Integer(), nullable=False),
    sa.Column('fanout_job_id', sa.String(length=160), nullable=True),
    sa.Column('created_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("audience_kind IN ('all', 'level', 'region', 'orgs')", name=op.f('ck_policy_versions_audience_kind')),
    sa.CheckConstraint("status IN ('draft', 'scheduled', 'active', 'expired')", name=op.f('ck_policy_versions_status')),
    sa.CheckConstraint('credit_limit_cents IS NULL OR credit_limit_cents >= 0', name=op.f('ck_policy_versions_credit')),
    sa.CheckConstraint('employee_discount_bp IS NULL OR employee_discount_bp BETWEEN 0 AND 10000', name=op.f('ck_policy_versions_employee_discount')),
    sa.CheckConstraint('min_order_cents IS NULL OR min_order_cents >= 0', name=op.f('ck_policy_versions_min_order')),
    sa.CheckConstraint('outlet_discount_bp IS NULL OR outlet_discount_bp BETWEEN 0 AND 10000', name=op.f('ck_policy_versions_outlet_discount')),
    sa.CheckConstraint('payment_terms_days IS NULL OR payment_terms_days >= 0', name=op.f('ck_policy_versions_terms')),
    sa.ForeignKeyConstraint(['brand_id'], ['organizations.id'], name=op.f('fk_policy_versions_brand_id_organizations')),
    sa.ForeignKeyConstraint(['created_by_user_id'], ['users.id'], name=op.f('fk_policy_versions_created_by_user_id_users')),
    sa.ForeignKeyConstraint(['policy_id'], ['policies.id'], name=op.f('fk_policy_versions_policy_id_policies')),
    sa.ForeignKeyConstraint(['published_by_user_id'], ['users.id'], name=op.f('fk_policy_versions_published_by_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_policy_versions')),
    sa.UniqueConstraint('policy_id', 'number', name=op.f('uq_policy_versions_policy_id_number'))
    )
    with op.batch_alter_table('policy_versions', schema=None) as batch_op:
        batch_op.create_index('ix_policy_versions_brand_id_status', ['brand_id', 'status'], unique=False)

    op.create_table('products',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('category_id', sa.Integer(), nullable=False),
    sa.Column('season', sa.String(length=20), nullable=False),
    sa.Column('launch_date', sa.Date(), nullable=True),
    sa.Column('msrp_cents', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('image_path', sa.String(length=255), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('created_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('active', 'retired')", name=op.f('ck_products_status')),
    sa.CheckConstraint('msrp_cents >= 0', name=op.f('ck_products_msrp_not_negative')),
    sa.ForeignKeyConstraint(['brand_id'], ['organizations.id'], name=op.f('fk_products_brand_id_organizations')),
    sa.ForeignKeyConstraint(['category_id'], ['categories.id'], name=op.f('fk_products_category_id_categories')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_products')),
    sa.UniqueConstraint('brand_id', 'code', name=op.f('uq_products_brand_id_code'))
    )
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.create_index('ix_products_brand_id_category_id', ['brand_id', 'category_id'], unique=False)
        batch_op.create_index('ix_products_brand_id_season', ['brand_id', 'season'], unique=False)

    op.create_table('notifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('read_at', portal.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('read_by_user_id', sa.Integer(), nullable=True),
    sa.Column('acknowledged_at', portal.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_by_user_id', sa.Integer(), nullable=True),
    sa.Column('emailed_at', portal.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reminded_at', portal.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('remind_count', sa.Integer(), nullable=False),
    sa.Column('created_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['acknowledged_by_user_id'], ['users.id'], name=op.f('fk_notifications_acknowledged_by_user_id_users')),
    sa.ForeignKeyConstraint(['brand_id'], ['organizations.id'], name=op.f('fk_notifications_brand_id_organizations')),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_notifications_org_id_organizations')),
    sa.ForeignKeyConstraint(['read_by_user_id'], ['users.id'], name=op.f('fk_notifications_read_by_user_id_users')),
    sa.ForeignKeyConstraint(['version_id'], ['policy_versions.id'], name=op.f('fk_notifications_version_id_policy_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications')),
    sa.UniqueConstraint('version_id', 'org_id', name=op.f('uq_notifications_version_id_org_id'))
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_org_id_created_at', ['org_id', 'created_at'], unique=False)

    op.create_table('policy_audiences',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('value', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['brand_id'], ['organizations.id'], name=op.f('fk_policy_audiences_brand_id_organizations')),
    sa.ForeignKeyConstraint(['version_id'], ['policy_versions.id'], name=op.f('fk_policy_audiences_version_id_policy_versions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_policy_audiences')),
    sa.UniqueConstraint('version_id', 'value', name=op.f('uq_policy_audiences_version_id_value'))
    )
    with op.batch_alter_table('policy_audiences', schema=None) as batch_op:
        batch_op.create_index('ix_policy_audiences_brand_id_kind_value', ['brand_id', 'kind', 'value'], unique=False)

    op.create_table('variants',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('color', sa.String(length=40), nullable=False),
    sa.Column('size', sa.String(length=20), nullable=False),
    sa.Column('barcode', sa.String(length=32), nullable=False),
    sa.Column('case_pack', sa.Integer(), nullable=False),
    sa.Column('created_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('case_pack >= 1', name=op.f('ck_variants_case_pack_positive')),
    sa.ForeignKeyConstraint(['brand_id'], ['organizations.id'], name=op.f('fk_variants_brand_id_organizations')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_variants_product_id_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_variants')),
    sa.UniqueConstraint('brand_id', 'sku', name=op.f('uq_variants_brand_id_sku')),
    sa.UniqueConstraint('product_id', 'color', 'size', name=op.f('uq_variants_product_id_color_size'))
    )
    with op.batch_alter_table('variants', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_variants_product_id'), ['product_id'], unique=False)

    op.create_table('policy_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('section', sa.String(length=20), nullable=False),
    sa.Column('scope', sa.String(length=20), nullable=False),
    sa.Column('variant_id', sa.Integer(), nullable=True),
    sa.Column('product_id', sa.Integer(), nullable=True),
    sa.Column('category_id', sa.Integer(), nullable=True),
    sa.Column('price_cents', sa.BigInteger(), nullable=True),
    sa.Column('percent_bp', sa.Integer(), nullable=True),
    sa.Column('moq', sa.Integer(), nullable=True),
    sa.Column('multiple', sa.Integer(), nullable=True),
    sa.CheckConstraint("scope IN ('sku', 'product', 'category', 'all')", name=op.f('ck_policy_rules_scope')),
    sa.CheckConstraint("section IN ('price', 'order', 'floor', 'exclude')", name=op.f('ck_policy_rules_section')),
    sa.CheckConstraint('moq IS NULL OR moq >= 1', name=op.f('ck_policy_rules_moq_positive')),
    sa.CheckConstraint('multiple IS NULL OR multiple >= 1', name=op.f('ck_policy_rules_multiple_positive')),
    sa.CheckConstraint('percent_bp IS NULL OR percent_bp > 0', name=op.f('ck_policy_rules_percent_positive')),
    sa.CheckConstraint('price_cents IS NULL OR price_cents >= 0', name=op.f('ck_policy_rules_price_not_negative')),
    sa.ForeignKeyConstraint(['brand_id'], ['organizations.id'], name=op.f('fk_policy_rules_brand_id_organizations')),
    sa.ForeignKeyConstraint(['category_id'], ['categories.id'], name=op.f('fk_policy_rules_category_id_categories')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_policy_rules_product_id_products')),
    sa.ForeignKeyConstraint(['variant_id'], ['variants.id'], name=op.f('fk_policy_rules_variant_id_variants')),
    sa.ForeignKeyConstraint(['version_id'], ['policy_versions.id'], name=op.f('fk_policy_rules_version_id_policy_versions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_policy_rules'))
    )
    with op.batch_alter_table('policy_rules', schema=None) as batch_op:
        batch_op.create_index('ix_policy_rules_version_id_category_id', ['version_id', 'category_id'], unique=False)
        batch_op.create_index('ix_policy_rules_version_id_product_id', ['version_id', 'product_id'], unique=False)
        batch_op.create_index('ix_policy_rules_version_id_variant_id', ['version_id', 'variant_id'], unique=False)



def downgrade():
    with op.batch_alter_table('policy_rules', schema=None) as batch_op:
        batch_op.drop_index('ix_policy_rules_version_id_variant_id')
        batch_op.drop_index('ix_policy_rules_version_id_product_id')
        batch_op.drop_index('ix_policy_rules_version_id_category_id')

    op.drop_table('policy_rules')
    with op.batch_alter_table('variants', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_variants_product_id'))

    op.drop_table('variants')
    with op.batch_alter_table('policy_audiences', schema=None) as batch_op:
        batch_op.drop_index('ix_policy_audiences_brand_id_kind_value')

    op.drop_table('policy_audiences')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_org_id_created_at')

    op.drop_table('notifications')
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_index('ix_products_brand_id_season')
        batch_op.drop_index('ix_products_brand_id_category_id')

    op.drop_table('products')
    with op.batch_alter_table('policy_versions', schema=None) as batch_op:
        batch_op.drop_index('ix_policy_versions_brand_id_status')

    op.drop_table('policy_versions')
    op.drop_table('policies')
    op.drop_table('categories')
    with op.batch_alter_table('catalog_imports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_catalog_imports_brand_id'))

    op.drop_table('catalog_imports')
