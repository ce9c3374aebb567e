"""The consumer side: SKU tiers with their history, the locations that sell online, consumers
with their addresses, sign-in codes and sessions, consumer carts, and consumer orders with their
lines, timeline and routing history.

Reviewed by hand: sku_tier_moves and consumer_order_events are append-only (the same triggers as
portal.core.db.make_append_only creates for create_all databases, written out here so this
migration never changes); sku_tiers holds each SKU's latest move, one row per SKU. Consumers are
unique per brand by phone and by e-mail (NULLs allowed: a consumer may have only one of them).
consumer_orders: one per (consumer, checkout_token), so a retried checkout places one order;
pickup codes unique per brand; consumer_id is nullable so an erased person's orders stay without
them. No foreign key points from payments to consumer_orders (payments.payable_id names either a
consumer order or a wallet top-up, see 0010); consumer_orders.payment_id points the other way.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03

"""
from alembic import op
import sqlalchemy as sa

import portal.core.db


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


LEDGERS = ("sku_tier_moves", "consumer_order_events")


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
    op.create_table('consumer_sign_in_codes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('code_hash', sa.String(length=128), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', portal.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('requested_from', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['brand_id'], ['organizations.id'], name=op.f('fk_consumer_sign_in_codes_brand_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consumer_sign_in_codes'))
    )
    with op.batch_alter_table('consumer_sign_in_codes', schema=None) as batch_op:
        batch_op.create_index('ix_consumer_sign_in_codes_brand_id_phone', ['brand_id', 'phone', 'id'], unique=False)

    op.create_table('consumers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('password_hash', sa.String(length=255), nullable=True),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('locale', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('last_sign_in_at', portal.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('deleted_at', portal.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('active', 'deleted')", name=op.f('ck_consumers_status')),
    sa.ForeignKeyConstraint(['brand_id'], ['organizations.id'], name=op.f('fk_consumers_brand_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consumers')),
    sa.UniqueConstraint('brand_id', 'email', name=op.f('uq_consumers_brand_id_email')),
    sa.UniqueConstraint('brand_id', 'phone', name=op.f('uq_consumers_brand_id_phone'))
    )
    op.create_table('consumer_addresses',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('consumer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('recipient', sa.String(length=120), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('province', sa.String(length=40), nullable=False),
    sa.Column('city', sa.String(length=40), nullable=False),
    sa.Column('district', sa.String(length=40), nullable=False),
    sa.Column('line', sa.String(length=255), nullable=False),
    sa.Column('latitude', sa.Float(), nullable=True),
    sa.Column('longitude', sa.Float(), nullable=True),
    sa.Column('is_default', sa.Boolean(), nullable=False),
    sa.Column('created_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('latitude IS NULL OR latitude BETWEEN -90 AND 90', name=op.f('ck_consumer_addresses_latitude')),
    sa.CheckConstraint('longitude IS NULL OR longitude BETWEEN -180 AND 180', name=op.f('ck_consumer_addresses_longitude')),
    sa.ForeignKeyConstraint(['brand_id'], ['organizations.id'], name=op.f('fk_consumer_addresses_brand_id_organizations')),
    sa.ForeignKeyConstraint(['consumer_id'], ['consumers.id'], name=op.f('fk_consumer_addresses_consumer_id_consumers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consumer_addresses'))
    )
    with op.batch_alter_table('consumer_addresses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consumer_addresses_consumer_id'), ['consumer_id'], unique=False)

    op.create_table('consumer_carts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('consumer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('tier', sa.String(length=20), nullable=False),
    sa.Column('created_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("tier IN ('official', 'outlet', 'employee')", name=op.f('ck_consumer_carts_tier')),
    sa.ForeignKeyConstraint(['brand_id'], ['organizations.id'], name=op.f('fk_consumer_carts_brand_id_organizations')),
    sa.ForeignKeyConstraint(['consumer_id'], ['consumers.id'], name=op.f('fk_consumer_carts_consumer_id_consumers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consumer_carts')),
    sa.UniqueConstraint('consumer_id', 'tier', name=op.f('uq_consumer_carts_consumer_id_tier'))
    )
    op.create_table('consumer_orders',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('consumer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('tier', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=30), nullable=False),
    sa.Column('fulfilment', sa.String(length=20), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('checkout_token', sa.String(length=64), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('goods_cents', sa.BigInteger(), nullable=False),
    sa.Column('delivery_cents', sa.BigInteger(), nullable=False),
    sa.Column('total_cents', sa.BigInteger(), nullable=False),
    sa.Column('total_qty', sa.Integer(), nullable=False),
    sa.Column('contact_name', sa.String(length=120), nullable=False),
    sa.Column('contact_phone', sa.String(length=20), nullable=False),
    sa.Column('address', sa.JSON(), nullable=False),
    sa.Column('latitude', sa.Float(), nullable=True),
    sa.Column('longitude', sa.Float(), nullable=True),
    sa.Column('pickup_code', sa.String(length=12), nullable=True),
    sa.Column('payment_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('expires_at', portal.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('paid_at', portal.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('accepted_at', portal.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ready_at', portal.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('shipped_at', portal.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('completed_at', portal.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('cancelled_at', portal.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('cancel_reason', sa.String(length=200), nullable=False),
    sa.Column('carrier', sa.String(length=60), nullable=False),
    sa.Column('tracking_number', sa.String(length=60), nullable=False),
    sa.Column('created_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("fulfilment IN ('pickup', 'delivery')", name=op.f('ck_consumer_orders_fulfilment')),
    sa.CheckConstraint("status IN ('awaiting_payment', 'paid', 'preparing', 'ready_for_pickup', 'shipped', 'completed', 'cancelled', 'refunded')", name=op.f('ck_consumer_orders_status')),
    sa.CheckConstraint("tier IN ('official', 'outlet', 'employee')", name=op.f('ck_consumer_orders_tier')),
    sa.ForeignKeyConstraint(['brand_id'], ['organizations.id'], name=op.f('fk_consumer_orders_brand_id_organizations')),
    sa.ForeignKeyConstraint(['consumer_id'], ['consumers.id'], name=op.f('fk_consumer_orders_consumer_id_consumers')),
    sa.ForeignKeyConstraint(['location_id'], ['locations.id'], name=op.f('fk_consumer_orders_location_id_locations')),
    sa.ForeignKeyConstraint(['payment_id'], ['payments.id'], name=op.f('fk_consumer_orders_payment_id_payments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consumer_orders')),
    sa.UniqueConstraint('brand_id', 'pickup_code', name=op.f('uq_consumer_orders_brand_id_pickup_code')),
    sa.UniqueConstraint('consumer_id', 'checkout_token', name=op.f('uq_consumer_orders_consumer_id_checkout_token')),
    sa.UniqueConstraint('number', name=op.f('uq_consumer_orders_number'))
    )
    with op.batch_alter_table('consumer_orders', schema=None) as batch_op:
        batch_op.create_index('ix_consumer_orders_consumer_id_id', ['consumer_id', 'id'], unique=False)
        batch_op.create_index('ix_consumer_orders_location_id_status', ['location_id', 'status'], unique=False)
        batch_op.create_index('ix_consumer_orders_status_expires_at', ['status', 'expires_at'], unique=False)

    op.create_table('consumer_sessions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('consumer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('secret_hash', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('created_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', portal.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['brand_id'], ['organizations.id'], name=op.f('fk_consumer_sessions_brand_id_organizations')),
    sa.ForeignKeyConstraint(['consumer_id'], ['consumers.id'], name=op.f('fk_consumer_sessions_consumer_id_consumers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consumer_sessions')),
    sa.UniqueConstraint('secret_hash', name=op.f('uq_consumer_sessions_secret_hash'))
    )
    with op.batch_alter_table('consumer_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consumer_sessions_consumer_id'), ['consumer_id'], unique=False)

    op.create_table('online_locations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('pickup', sa.Boolean(), nullable=False),
    sa.Column('delivery', sa.Boolean(), nullable=False),
    sa.Column('safety_stock', sa.Integer(), nullable=False),
    sa.Column('is_enabled', sa.Boolean(), nullable=False),
    sa.Column('enabled_by_user_id', sa.Integer(), nullable=True),
    sa.Column('created_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('safety_stock >= 0', name=op.f('ck_online_locations_safety_stock')),
    sa.ForeignKeyConstraint(['brand_id'], ['organizations.id'], name=op.f('fk_online_locations_brand_id_organizations')),
    sa.ForeignKeyConstraint(['enabled_by_user_id'], ['users.id'], name=op.f('fk_online_locations_enabled_by_user_id_users')),
    sa.ForeignKeyConstraint(['location_id'], ['locations.id'], name=op.f('fk_online_locations_location_id_locations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_online_locations')),
    sa.UniqueConstraint('brand_id', 'location_id', name=op.f('uq_online_locations_brand_id_location_id'))
    )
    op.create_table('consumer_order_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('from_status', sa.String(length=30), nullable=False),
    sa.Column('to_status', sa.String(length=30), nullable=False),
    sa.Column('actor_user_id', sa.Integer(), nullable=True),
    sa.Column('by_consumer', sa.Boolean(), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('created_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_user_id'], ['users.id'], name=op.f('fk_consumer_order_events_actor_user_id_users')),
    sa.ForeignKeyConstraint(['brand_id'], ['organizations.id'], name=op.f('fk_consumer_order_events_brand_id_organizations')),
    sa.ForeignKeyConstraint(['order_id'], ['consumer_orders.id'], name=op.f('fk_consumer_order_events_order_id_consumer_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consumer_order_events'))
    )
    with op.batch_alter_table('consumer_order_events', schema=None) as batch_op:
        batch_op.create_index('ix_consumer_order_events_order_id_id', ['order_id', 'id'], unique=False)

    op.create_table('consumer_order_routes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('distance_km', sa.Float(), nullable=True),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('offered_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_at', portal.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("outcome IN ('offered', 'accepted', 'declined', 'timed_out')", name=op.f('ck_consumer_order_routes_outcome')),
    sa.ForeignKeyConstraint(['brand_id'], ['organizations.id'], name=op.f('fk_consumer_order_routes_brand_id_organizations')),
    sa.ForeignKeyConstraint(['location_id'], ['locations.id'], name=op.f('fk_consumer_order_routes_location_id_locations')),
    sa.ForeignKeyConstraint(['order_id'], ['consumer_orders.id'], name=op.f('fk_consumer_order_routes_order_id_consumer_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consumer_order_routes'))
    )
    with op.batch_alter_table('consumer_order_routes', schema=None) as batch_op:
        batch_op.create_index('ix_consumer_order_routes_order_id_id', ['order_id', 'id'], unique=False)

    op.create_table('consumer_cart_lines',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('cart_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('variant_id', sa.Integer(), nullable=False),
    sa.Column('grade', sa.String(length=1), nullable=False),
    sa.Column('qty', sa.Integer(), nullable=False),
    sa.CheckConstraint('qty > 0', name=op.f('ck_consumer_cart_lines_qty')),
    sa.ForeignKeyConstraint(['cart_id'], ['consumer_carts.id'], name=op.f('fk_consumer_cart_lines_cart_id_consumer_carts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['variant_id'], ['variants.id'], name=op.f('fk_consumer_cart_lines_variant_id_variants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consumer_cart_lines')),
    sa.UniqueConstraint('cart_id', 'variant_id', 'grade', name=op.f('uq_consumer_cart_lines_cart_id_variant_id_grade'))
    )
    op.create_table('sku_tier_moves',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('variant_id', sa.Integer(), nullable=False),
    sa.Column('tier', sa.String(length=20), nullable=False),
    sa.Column('pinned', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.String(length=40), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=False),
    sa.Column('actor_user_id', sa.Integer(), nullable=True),
    sa.Column('created_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("tier IN ('official', 'outlet', 'employee')", name=op.f('ck_sku_tier_moves_tier')),
    sa.ForeignKeyConstraint(['actor_user_id'], ['users.id'], name=op.f('fk_sku_tier_moves_actor_user_id_users')),
    sa.ForeignKeyConstraint(['brand_id'], ['organizations.id'], name=op.f('fk_sku_tier_moves_brand_id_organizations')),
    sa.ForeignKeyConstraint(['variant_id'], ['variants.id'], name=op.f('fk_sku_tier_moves_variant_id_variants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sku_tier_moves'))
    )
    with op.batch_alter_table('sku_tier_moves', schema=None) as batch_op:
        batch_op.create_index('ix_sku_tier_moves_variant_id_id', ['variant_id', 'id'], unique=False)

    op.create_table('consumer_order_lines',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('variant_id', sa.Integer(), nullable=False),
    sa.Column('grade', sa.String(length=1), nullable=False),
    sa.Column('qty', sa.Integer(), nullable=False),
    sa.Column('unit_price_cents', sa.BigInteger(), nullable=False),
    sa.Column('line_cents', sa.BigInteger(), nullable=False),
    sa.Column('price_rule_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('qty > 0', name=op.f('ck_consumer_order_lines_qty')),
    sa.ForeignKeyConstraint(['brand_id'], ['organizations.id'], name=op.f('fk_consumer_order_lines_brand_id_organizations')),
    sa.ForeignKeyConstraint(['order_id'], ['consumer_orders.id'], name=op.f('fk_consumer_order_lines_order_id_consumer_orders')),
    sa.ForeignKeyConstraint(['price_rule_id'], ['policy_rules.id'], name=op.f('fk_consumer_order_lines_price_rule_id_policy_rules')),
    sa.ForeignKeyConstraint(['variant_id'], ['variants.id'], name=op.f('fk_consumer_order_lines_variant_id_variants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consumer_order_lines'))
    )
    with op.batch_alter_table('consumer_order_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consumer_order_lines_order_id'), ['order_id'], unique=False)

    op.create_table('sku_tiers',
    sa.Column('variant_id', sa.Integer(), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('tier', sa.String(length=20), nullable=False),
    sa.Column('pinned', sa.Boolean(), nullable=False),
    sa.Column('move_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('moved_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("tier IN ('official', 'outlet', 'employee')", name=op.f('ck_sku_tiers_tier')),
    sa.ForeignKeyConstraint(['brand_id'], ['organizations.id'], name=op.f('fk_sku_tiers_brand_id_organizations')),
    sa.ForeignKeyConstraint(['move_id'], ['sku_tier_moves.id'], name=op.f('fk_sku_tiers_move_id_sku_tier_moves')),
    sa.ForeignKeyConstraint(['variant_id'], ['variants.id'], name=op.f('fk_sku_tiers_variant_id_variants')),
    sa.PrimaryKeyConstraint('variant_id', name=op.f('pk_sku_tiers'))
    )
    with op.batch_alter_table('sku_tiers', schema=None) as batch_op:
        batch_op.create_index('ix_sku_tiers_brand_id_tier', ['brand_id', 'tier'], unique=False)

    for table in LEDGERS:
        _append_only(table)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table in LEDGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {table}_append_only()")
    with op.batch_alter_table('sku_tiers', schema=None) as batch_op:
        batch_op.drop_index('ix_sku_tiers_brand_id_tier')

    op.drop_table('sku_tiers')
    with op.batch_alter_table('consumer_order_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consumer_order_lines_order_id'))

    op.drop_table('consumer_order_lines')
    with op.batch_alter_table('sku_tier_moves', schema=None) as batch_op:
        batch_op.drop_index('ix_sku_tier_moves_variant_id_id')

    op.drop_table('sku_tier_moves')
    op.drop_table('consumer_cart_lines')
    with op.batch_alter_table('consumer_order_routes', schema=None) as batch_op:
        batch_op.drop_index('ix_consumer_order_routes_order_id_id')

    op.drop_table('consumer_order_routes')
    with op.batch_alter_table('consumer_order_events', schema=None) as batch_op:
        batch_op.drop_index('ix_consumer_order_events_order_id_id')

    op.drop_table('consumer_order_events')
    op.drop_table('online_locations')
    with op.batch_alter_table('consumer_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consumer_sessions_consumer_id'))

    op.drop_table('consumer_sessions')
    with op.batch_alter_table('consumer_orders', schema=None) as batch_op:
        batch_op.drop_index('ix_consumer_orders_status_expires_at')
        batch_op.drop_index('ix_consumer_orders_location_id_status')
        batch_op.drop_index('ix_consumer_orders_consumer_id_id')

    op.drop_table('consumer_orders')
    op.drop_table('consumer_carts')
    with op.batch_alter_table('consumer_addresses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consumer_addresses_consumer_id'))

    op.drop_table('consumer_addresses')
    op.drop_table('consumers')
    with op.batch_alter_table('consumer_sign_in_codes', schema=None) as batch_op:
        batch_op.drop_index('ix_consumer_sign_in_codes_brand_id_phone')

    op.drop_table('consumer_sign_in_codes')
