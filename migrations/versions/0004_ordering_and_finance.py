"""Ordering and finance: carts, orders and their lines, events, shipments and returns; quotas
(allocations); accounts per channel link with their append-only ledger; idempotency keys;
stock uploads.

Reviewed by hand: the CHECK constraints on order_lines (shipped <= qty, received <= shipped,
returned <= received) and on accounts (committed_cents >= 0) back the conditional updates in
the services; account_entries' amount_sign ties each kind to its sign. idempotency_keys is
unique per (org, key), which makes a replayed request find the first answer. order_events and
account_entries are append-only: the same triggers as portal.core.db.make_append_only creates
for create_all databases, written out here so this migration never changes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22

"""
from alembic import op
import sqlalchemy as sa

import portal.core.db


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

LEDGERS = ("order_events", "account_entries")


def _append_only(table):
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE FUNCTION {table}_append_only() RETURNS trigger AS $$ BEGIN "
            f"RAISE EXCEPTION '{table} is append-only'; END $$ LANGUAGE plpgsql"
        )
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )


def upgrade():
    op.create_table('carts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('buyer_org_id', sa.Integer(), nullable=False),
    sa.Column('supplier_org_id', sa.Integer(), nullable=False),
    sa.Column('po_number', sa.String(length=64), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=False),
    sa.Column('created_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['brand_id'], ['organizations.id'], name=op.f('fk_carts_brand_id_organizations')),
    sa.ForeignKeyConstraint(['buyer_org_id'], ['organizations.id'], name=op.f('fk_carts_buyer_org_id_organizations')),
    sa.ForeignKeyConstraint(['supplier_org_id'], ['organizations.id'], name=op.f('fk_carts_supplier_org_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_carts')),
    sa.UniqueConstraint('buyer_org_id', 'brand_id', 'supplier_org_id', name=op.f('uq_carts_buyer_org_id_brand_id_supplier_org_id'))
    )
    op.create_table('order_templates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('buyer_org_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('lines', sa.JSON(), nullable=False),
    sa.Column('created_by_user_id', sa.Integer(), nullable=True),
    sa.Column('created_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['brand_id'], ['organizations.id'], name=op.f('fk_order_templates_brand_id_organizations')),
    sa.ForeignKeyConstraint(['buyer_org_id'], ['organizations.id'], name=op.f('fk_order_templates_buyer_org_id_organizations')),
    sa.ForeignKeyConstraint(['created_by_user_id'], ['users.id'], name=op.f('fk_order_templates_created_by_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_templates')),
    sa.UniqueConstraint('buyer_org_id', 'brand_id', 'name', name=op.f('uq_order_templates_buyer_org_id_brand_id_name'))
    )
    with op.batch_alter_table('order_templates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_templates_buyer_org_id'), ['buyer_org_id'], unique=False)

    op.create_table('purchasing_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('approval_above_cents', sa.BigInteger(), nullable=True),
    sa.Column('monthly_limit_cents', sa.BigInteger(), nullable=True),
    sa.Column('created_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('approval_above_cents IS NULL OR approval_above_cents >= 0', name=op.f('ck_purchasing_rules_above')),
    sa.CheckConstraint('monthly_limit_cents IS NULL OR monthly_limit_cents >= 0', name=op.f('ck_purchasing_rules_limit')),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_purchasing_rules_org_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_purchasing_rules')),
    sa.UniqueConstraint('org_id', name=op.f('uq_purchasing_rules_org_id'))
    )
    op.create_table('accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('link_id', sa.Integer(), nullable=False),
    sa.Column('buyer_org_id', sa.Integer(), nullable=False),
    sa.Column('supplier_org_id', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('committed_cents', sa.BigInteger(), nullable=False),
    sa.Column('created_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('committed_cents >= 0', name=op.f('ck_accounts_committed_not_negative')),
    sa.ForeignKeyConstraint(['brand_id'], ['organizations.id'], name=op.f('fk_accounts_brand_id_organizations')),
    sa.ForeignKeyConstraint(['buyer_org_id'], ['organizations.id'], name=op.f('fk_accounts_buyer_org_id_organizations')),
    sa.ForeignKeyConstraint(['link_id'], ['channel_links.id'], name=op.f('fk_accounts_link_id_channel_links')),
    sa.ForeignKeyConstraint(['supplier_org_id'], ['organizations.id'], name=op.f('fk_accounts_supplier_org_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_accounts')),
    sa.UniqueConstraint('link_id', name=op.f('uq_accounts_link_id'))
    )
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_accounts_buyer_org_id'), ['buyer_org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_accounts_supplier_org_id'), ['supplier_org_id'], unique=False)

    op.create_table('stock_uploads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
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
    sa.CheckConstraint("status IN ('validating', 'invalid', 'ready', 'applying', 'applied', 'failed')", name=op.f('ck_stock_uploads_status')),
    sa.ForeignKeyConstraint(['location_id'], ['locations.id'], name=op.f('fk_stock_uploads_location_id_locations')),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_stock_uploads_org_id_organizations')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_stock_uploads_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_uploads'))
    )
    with op.batch_alter_table('stock_uploads', schema=None) as batch_op:
        batch_op.create_index('ix_stock_uploads_location_id_id', ['location_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_stock_uploads_org_id'), ['org_id'], unique=False)

    op.create_table('orders',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('buyer_org_id', sa.Integer(), nullable=False),
    sa.Column('supplier_org_id', sa.Integer(), nullable=False),
    sa.Column('link_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=30), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('total_cents', sa.BigInteger(), nullable=False),
    sa.Column('total_qty', sa.Integer(), nullable=False),
    sa.Column('policy_version_id', sa.Integer(), nullable=True),
    sa.Column('source_location_id', sa.Integer(), nullable=False),
    sa.Column('destination_location_id', sa.Integer(), nullable=False),
    sa.Column('po_number', sa.String(length=64), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=False),
    sa.Column('hold_reason', sa.String(length=30), nullable=False),
    sa.Column('placed_by_user_id', sa.Integer(), nullable=True),
    sa.Column('submitted_at', portal.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('confirmed_at', portal.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_at', portal.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('b2b', 'push', 'replenishment', 'consumer')", name=op.f('ck_orders_kind')),
    sa.CheckConstraint("status IN ('pending_buyer_approval', 'submitted', 'awaiting_approval', 'confirmed', 'partially_shipped', 'shipped', 'completed', 'cancelled', 'rejected')", name=op.f('ck_orders_status')),
    sa.ForeignKeyConstraint(['brand_id'], ['organizations.id'], name=op.f('fk_orders_brand_id_organizations')),
    sa.ForeignKeyConstraint(['buyer_org_id'], ['organizations.id'], name=op.f('fk_orders_buyer_org_id_organizations')),
    sa.ForeignKeyConstraint(['destination_location_id'], ['locations.id'], name=op.f('fk_orders_destination_location_id_locations')),
    sa.ForeignKeyConstraint(['link_id'], ['channel_links.id'], name=op.f('fk_orders_link_id_channel_links')),
    sa.ForeignKeyConstraint(['placed_by_user_id'], ['users.id'], name=op.f('fk_orders_placed_by_user_id_users')),
    sa.ForeignKeyConstraint(['policy_version_id'], ['policy_versions.id'], name=op.f('fk_orders_policy_version_id_policy_versions')),
    sa.ForeignKeyConstraint(['source_location_id'], ['locations.id'], name=op.f('fk_orders_source_location_id_locations')),
    sa.ForeignKeyConstraint(['supplier_org_id'], ['organizations.id'], name=op.f('fk_orders_supplier_org_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_orders')),
    sa.UniqueConstraint('number', name=op.f('uq_orders_number'))
    )
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index('ix_orders_brand_id_id', ['brand_id', 'id'], unique=False)
        batch_op.create_index('ix_orders_buyer_org_id_id', ['buyer_org_id', 'id'], unique=False)
        batch_op.create_index('ix_orders_supplier_org_id_status_id', ['supplier_org_id', 'status', 'id'], unique=False)

    op.create_table('account_entries',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('reference', sa.String(length=80), nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('note', sa.String(length=500), nullable=False),
    sa.Column('due_at', portal.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('actor_user_id', sa.Integer(), nullable=True),
    sa.Column('actor_org_id', sa.Integer(), nullable=True),
    sa.Column('created_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("(kind = 'invoice' AND amount_cents > 0) OR (kind IN ('payment', 'credit_note') AND amount_cents < 0) OR (kind = 'adjustment' AND amount_cents <> 0)", name=op.f('ck_account_entries_amount_sign')),
    sa.CheckConstraint("kind IN ('invoice', 'payment', 'credit_note', 'adjustment')", name=op.f('ck_account_entries_kind')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_account_entries_account_id_accounts')),
    sa.ForeignKeyConstraint(['actor_org_id'], ['organizations.id'], name=op.f('fk_account_entries_actor_org_id_organizations')),
    sa.ForeignKeyConstraint(['actor_user_id'], ['users.id'], name=op.f('fk_account_entries_actor_user_id_users')),
    sa.ForeignKeyConstraint(['brand_id'], ['organizations.id'], name=op.f('fk_account_entries_brand_id_organizations')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_account_entries_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_account_entries'))
    )
    with op.batch_alter_table('account_entries', schema=None) as batch_op:
        batch_op.create_index('ix_account_entries_account_id_id', ['account_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_account_entries_order_id'), ['order_id'], unique=False)
        batch_op.create_index('ix_account_entries_reference', ['reference'], unique=False)
        batch_op.create_index('uq_account_entries_payment_reference', ['account_id', 'reference'], unique=True, postgresql_where=sa.text("kind = 'payment'"), sqlite_where=sa.text("kind = 'payment'"))

    op.create_table('allocations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('recipient_org_id', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('variant_id', sa.Integer(), nullable=False),
    sa.Column('qty', sa.BigInteger(), nullable=False),
    sa.Column('used_qty', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('expires_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reference', sa.String(length=80), nullable=False),
    sa.Column('created_by_user_id', sa.Integer(), nullable=True),
    sa.Column('created_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('active', 'expired', 'cancelled')", name=op.f('ck_allocations_status')),
    sa.CheckConstraint('qty > 0', name=op.f('ck_allocations_qty_positive')),
    sa.CheckConstraint('used_qty >= 0 AND used_qty <= qty', name=op.f('ck_allocations_used_within_qty')),
    sa.ForeignKeyConstraint(['brand_id'], ['organizations.id'], name=op.f('fk_allocations_brand_id_organizations')),
    sa.ForeignKeyConstraint(['created_by_user_id'], ['users.id'], name=op.f('fk_allocations_created_by_user_id_users')),
    sa.ForeignKeyConstraint(['location_id'], ['locations.id'], name=op.f('fk_allocations_location_id_locations')),
    sa.ForeignKeyConstraint(['recipient_org_id'], ['organizations.id'], name=op.f('fk_allocations_recipient_org_id_organizations')),
    sa.ForeignKeyConstraint(['variant_id'], ['variants.id'], name=op.f('fk_allocations_variant_id_variants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_allocations'))
    )
    with op.batch_alter_table('allocations', schema=None) as batch_op:
        batch_op.create_index('ix_allocations_recipient_org_id_variant_id', ['recipient_org_id', 'variant_id'], unique=False)
        batch_op.create_index('ix_allocations_status_expires_at', ['status', 'expires_at'], unique=False)

    op.create_table('cart_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cart_id', sa.Integer(), nullable=False),
    sa.Column('variant_id', sa.Integer(), nullable=False),
    sa.Column('qty', sa.Integer(), nullable=False),
    sa.CheckConstraint('qty > 0', name=op.f('ck_cart_lines_qty_positive')),
    sa.ForeignKeyConstraint(['cart_id'], ['carts.id'], name=op.f('fk_cart_lines_cart_id_carts')),
    sa.ForeignKeyConstraint(['variant_id'], ['variants.id'], name=op.f('fk_cart_lines_variant_id_variants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cart_lines')),
    sa.UniqueConstraint('cart_id', 'variant_id', name=op.f('uq_cart_lines_cart_id_variant_id'))
    )
    op.create_table('idempotency_keys',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('response_status', sa.Integer(), nullable=False),
    sa.Column('response_body', sa.JSON(), nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_idempotency_keys_order_id_orders')),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_idempotency_keys_org_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotency_keys')),
    sa.UniqueConstraint('org_id', 'key', name=op.f('uq_idempotency_keys_org_id_key'))
    )
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.create_index('ix_idempotency_keys_created_at', ['created_at'], unique=False)

    op.create_table('order_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('from_status', sa.String(length=30), nullable=False),
    sa.Column('to_status', sa.String(length=30), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('actor_user_id', sa.Integer(), nullable=True),
    sa.Column('actor_org_id', sa.Integer(), nullable=True),
    sa.Column('created_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_org_id'], ['organizations.id'], name=op.f('fk_order_events_actor_org_id_organizations')),
    sa.ForeignKeyConstraint(['actor_user_id'], ['users.id'], name=op.f('fk_order_events_actor_user_id_users')),
    sa.ForeignKeyConstraint(['brand_id'], ['organizations.id'], name=op.f('fk_order_events_brand_id_organizations')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_order_events_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_events'))
    )
    with op.batch_alter_table('order_events', schema=None) as batch_op:
        batch_op.create_index('ix_order_events_order_id_id', ['order_id', 'id'], unique=False)

    op.create_table('return_requests',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('requested_by_user_id', sa.Integer(), nullable=True),
    sa.Column('credit_cents', sa.BigInteger(), nullable=False),
    sa.Column('created_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('requested', 'approved', 'rejected', 'received')", name=op.f('ck_return_requests_status')),
    sa.ForeignKeyConstraint(['brand_id'], ['organizations.id'], name=op.f('fk_return_requests_brand_id_organizations')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_return_requests_order_id_orders')),
    sa.ForeignKeyConstraint(['requested_by_user_id'], ['users.id'], name=op.f('fk_return_requests_requested_by_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_return_requests')),
    sa.UniqueConstraint('order_id', 'seq', name=op.f('uq_return_requests_order_id_seq'))
    )
    with op.batch_alter_table('return_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_return_requests_order_id'), ['order_id'], unique=False)

    op.create_table('shipments',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('carrier', sa.String(length=60), nullable=False),
    sa.Column('tracking_number', sa.String(length=80), nullable=False),
    sa.Column('shipped_by_user_id', sa.Integer(), nullable=True),
    sa.Column('received_at', portal.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('received_by_user_id', sa.Integer(), nullable=True),
    sa.Column('discrepancy_note', sa.String(length=500), nullable=False),
    sa.Column('created_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('shipped', 'received')", name=op.f('ck_shipments_status')),
    sa.ForeignKeyConstraint(['brand_id'], ['organizations.id'], name=op.f('fk_shipments_brand_id_organizations')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_shipments_order_id_orders')),
    sa.ForeignKeyConstraint(['received_by_user_id'], ['users.id'], name=op.f('fk_shipments_received_by_user_id_users')),
    sa.ForeignKeyConstraint(['shipped_by_user_id'], ['users.id'], name=op.f('fk_shipments_shipped_by_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shipments')),
    sa.UniqueConstraint('order_id', 'seq', name=op.f('uq_shipments_order_id_seq'))
    )
    with op.batch_alter_table('shipments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shipments_order_id'), ['order_id'], unique=False)

    op.create_table('order_lines',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('variant_id', sa.Integer(), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('qty', sa.Integer(), nullable=False),
    sa.Column('unit_price_cents', sa.BigInteger(), nullable=False),
    sa.Column('msrp_cents', sa.BigInteger(), nullable=False),
    sa.Column('line_total_cents', sa.BigInteger(), nullable=False),
    sa.Column('policy_version_id', sa.Integer(), nullable=True),
    sa.Column('quota_id', sa.Integer(), nullable=True),
    sa.Column('shipped_qty', sa.Integer(), nullable=False),
    sa.Column('received_qty', sa.Integer(), nullable=False),
    sa.Column('returned_qty', sa.Integer(), nullable=False),
    sa.CheckConstraint('qty > 0', name=op.f('ck_order_lines_qty_positive')),
    sa.CheckConstraint('received_qty >= 0 AND received_qty <= shipped_qty', name=op.f('ck_order_lines_received_within_shipped')),
    sa.CheckConstraint('returned_qty >= 0 AND returned_qty <= received_qty', name=op.f('ck_order_lines_returned_within_received')),
    sa.CheckConstraint('shipped_qty >= 0 AND shipped_qty <= qty', name=op.f('ck_order_lines_shipped_within_qty')),
    sa.ForeignKeyConstraint(['brand_id'], ['organizations.id'], name=op.f('fk_order_lines_brand_id_organizations')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_order_lines_order_id_orders')),
    sa.ForeignKeyConstraint(['policy_version_id'], ['policy_versions.id'], name=op.f('fk_order_lines_policy_version_id_policy_versions')),
    sa.ForeignKeyConstraint(['quota_id'], ['allocations.id'], name=op.f('fk_order_lines_quota_id_allocations')),
    sa.ForeignKeyConstraint(['variant_id'], ['variants.id'], name=op.f('fk_order_lines_variant_id_variants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_lines')),
    sa.UniqueConstraint('order_id', 'variant_id', name=op.f('uq_order_lines_order_id_variant_id'))
    )
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.create_index('ix_order_lines_variant_id', ['variant_id'], unique=False)

    op.create_table('return_lines',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('return_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_line_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('qty', sa.Integer(), nullable=False),
    sa.CheckConstraint('qty > 0', name=op.f('ck_return_lines_qty_positive')),
    sa.ForeignKeyConstraint(['order_line_id'], ['order_lines.id'], name=op.f('fk_return_lines_order_line_id_order_lines')),
    sa.ForeignKeyConstraint(['return_id'], ['return_requests.id'], name=op.f('fk_return_lines_return_id_return_requests')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_return_lines')),
    sa.UniqueConstraint('return_id', 'order_line_id', name=op.f('uq_return_lines_return_id_order_line_id'))
    )
    op.create_table('shipment_lines',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('shipment_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_line_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('qty', sa.Integer(), nullable=False),
    sa.Column('received_qty', sa.Integer(), nullable=False),
    sa.CheckConstraint('qty > 0', name=op.f('ck_shipment_lines_qty_positive')),
    sa.CheckConstraint('received_qty >= 0 AND received_qty <= qty', name=op.f('ck_shipment_lines_received_within_qty')),
    sa.ForeignKeyConstraint(['order_line_id'], ['order_lines.id'], name=op.f('fk_shipment_lines_order_line_id_order_lines')),
    sa.ForeignKeyConstraint(['shipment_id'], ['shipments.id'], name=op.f('fk_shipment_lines_shipment_id_shipments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shipment_lines')),
    sa.UniqueConstraint('shipment_id', 'order_line_id', name=op.f('uq_shipment_lines_shipment_id_order_line_id'))
    )
    for table in LEDGERS:
        _append_only(table)



def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table in LEDGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {table}_append_only()")
    op.drop_table('shipment_lines')
    op.drop_table('return_lines')
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.drop_index('ix_order_lines_variant_id')

    op.drop_table('order_lines')
    with op.batch_alter_table('shipments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shipments_order_id'))

    op.drop_table('shipments')
    with op.batch_alter_table('return_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_return_requests_order_id'))

    op.drop_table('return_requests')
    with op.batch_alter_table('order_events', schema=None) as batch_op:
        batch_op.drop_index('ix_order_events_order_id_id')

    op.drop_table('order_events')
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.drop_index('ix_idempotency_keys_created_at')

    op.drop_table('idempotency_keys')
    op.drop_table('cart_lines')
    with op.batch_alter_table('allocations', schema=None) as batch_op:
        batch_op.drop_index('ix_allocations_status_expires_at')
        batch_op.drop_index('ix_allocations_recipient_org_id_variant_id')

    op.drop_table('allocations')
    with op.batch_alter_table('account_entries', schema=None) as batch_op:
        batch_op.drop_index('uq_account_entries_payment_reference', postgresql_where=sa.text("kind = 'payment'"), sqlite_where=sa.text("kind = 'payment'"))
        batch_op.drop_index('ix_account_entries_reference')
        batch_op.drop_index(batch_op.f('ix_account_entries_order_id'))
        batch_op.drop_index('ix_account_entries_account_id_id')

    op.drop_table('account_entries')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('ix_orders_supplier_org_id_status_id')
        batch_op.drop_index('ix_orders_buyer_org_id_id')
        batch_op.drop_index('ix_orders_brand_id_id')

    op.drop_table('orders')
    with op.batch_alter_table('stock_uploads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stock_uploads_org_id'))
        batch_op.drop_index('ix_stock_uploads_location_id_id')

    op.drop_table('stock_uploads')
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_accounts_supplier_org_id'))
        batch_op.drop_index(batch_op.f('ix_accounts_buyer_org_id'))

    op.drop_table('accounts')
    op.drop_table('purchasing_rules')
    with op.batch_alter_table('order_templates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_templates_buyer_org_id'))

    op.drop_table('order_templates')
    op.drop_table('carts')
