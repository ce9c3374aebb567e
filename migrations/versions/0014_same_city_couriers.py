"""Same-city delivery by courier: consumer_orders.delivery_method (parcel or same_city; NULL on
pickup orders, and on delivery orders placed before this revision, which all went by parcel) and
courier_dispatches, one row per courier sent for an order (portal/storefront/couriers.py).

Reviewed by hand: the new column is nullable, so existing rows need no default; its CHECK lets
NULL through on both backends. The column and its CHECK go in through a batch so SQLite copies
consumer_orders with its other constraints.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03

"""
from alembic import op
import sqlalchemy as sa

import portal.core.db


# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    with op.batch_alter_table('consumer_orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delivery_method', sa.String(length=20), nullable=True))
        batch_op.create_check_constraint(
            op.f('ck_consumer_orders_delivery_method'),
            "delivery_method IN ('parcel', 'same_city')",
        )

    op.create_table('courier_dispatches',
    sa.Column('id', ID, nullable=False),
    sa.Column('order_id', ID, nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('backend', sa.String(length=30), nullable=False),
    sa.Column('dispatch_ref', sa.String(length=64), nullable=False),
    sa.Column('courier_name', sa.String(length=60), nullable=False),
    sa.Column('courier_phone', sa.String(length=20), nullable=False),
    sa.Column('distance_km', sa.Float(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('actor_user_id', sa.Integer(), nullable=True),
    sa.Column('dispatched_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('cancelled_at', portal.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('dispatched', 'cancelled')", name=op.f('ck_courier_dispatches_status')),
    sa.ForeignKeyConstraint(['actor_user_id'], ['users.id'], name=op.f('fk_courier_dispatches_actor_user_id_users')),
    sa.ForeignKeyConstraint(['brand_id'], ['organizations.id'], name=op.f('fk_courier_dispatches_brand_id_organizations')),
    sa.ForeignKeyConstraint(['location_id'], ['locations.id'], name=op.f('fk_courier_dispatches_location_id_locations')),
    sa.ForeignKeyConstraint(['order_id'], ['consumer_orders.id'], name=op.f('fk_courier_dispatches_order_id_consumer_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_courier_dispatches')),
    sa.UniqueConstraint('backend', 'dispatch_ref', name=op.f('uq_courier_dispatches_backend_dispatch_ref'))
    )
    with op.batch_alter_table('courier_dispatches', schema=None) as batch_op:
        batch_op.create_index('ix_courier_dispatches_order_id_id', ['order_id', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('courier_dispatches', schema=None) as batch_op:
        batch_op.drop_index('ix_courier_dispatches_order_id_id')
    op.drop_table('courier_dispatches')
    with op.batch_alter_table('consumer_orders', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_consumer_orders_delivery_method'), type_='check')
        batch_op.drop_column('delivery_method')
