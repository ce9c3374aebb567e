"""Consumer returns: a request per return (the order, the location that receives the goods, who
received or rejected it and when, the refunded amount and its payment refund) and its lines (the
order line, the quantity, the unit price copied from the order line, the inspection grade).

Reviewed by hand: status is one of requested, received, refunded, rejected; a line's grade is
empty until the inspection, then A or B. No timeline table: the return row carries who and
when of each step, the units' moves are in the stock ledger and the money in payment_refunds.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03

"""
from alembic import op
import sqlalchemy as sa

import portal.core.db


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('consumer_returns',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('consumer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('refund_cents', sa.BigInteger(), nullable=False),
    sa.Column('refund_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('requested_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('received_at', portal.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('received_by_user_id', sa.Integer(), nullable=True),
    sa.Column('refunded_at', portal.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('rejected_at', portal.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('rejected_by_user_id', sa.Integer(), nullable=True),
    sa.Column('reject_reason', sa.String(length=200), nullable=False),
    sa.Column('created_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('requested', 'received', 'refunded', 'rejected')", name=op.f('ck_consumer_returns_status')),
    sa.ForeignKeyConstraint(['brand_id'], ['organizations.id'], name=op.f('fk_consumer_returns_brand_id_organizations')),
    sa.ForeignKeyConstraint(['consumer_id'], ['consumers.id'], name=op.f('fk_consumer_returns_consumer_id_consumers')),
    sa.ForeignKeyConstraint(['location_id'], ['locations.id'], name=op.f('fk_consumer_returns_location_id_locations')),
    sa.ForeignKeyConstraint(['order_id'], ['consumer_orders.id'], name=op.f('fk_consumer_returns_order_id_consumer_orders')),
    sa.ForeignKeyConstraint(['received_by_user_id'], ['users.id'], name=op.f('fk_consumer_returns_received_by_user_id_users')),
    sa.ForeignKeyConstraint(['refund_id'], ['payment_refunds.id'], name=op.f('fk_consumer_returns_refund_id_payment_refunds')),
    sa.ForeignKeyConstraint(['rejected_by_user_id'], ['users.id'], name=op.f('fk_consumer_returns_rejected_by_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consumer_returns')),
    sa.UniqueConstraint('number', name=op.f('uq_consumer_returns_number'))
    )
    with op.batch_alter_table('consumer_returns', schema=None) as batch_op:
        batch_op.create_index('ix_consumer_returns_location_id_status', ['location_id', 'status'], unique=False)
        batch_op.create_index('ix_consumer_returns_order_id', ['order_id'], unique=False)

    op.create_table('consumer_return_lines',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('return_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('order_line_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('variant_id', sa.Integer(), nullable=False),
    sa.Column('qty', sa.Integer(), nullable=False),
    sa.Column('unit_price_cents', sa.BigInteger(), nullable=False),
    sa.Column('grade', sa.String(length=1), nullable=True),
    sa.CheckConstraint("grade IS NULL OR grade IN ('A', 'B')", name=op.f('ck_consumer_return_lines_grade')),
    sa.CheckConstraint('qty > 0', name=op.f('ck_consumer_return_lines_qty')),
    sa.ForeignKeyConstraint(['brand_id'], ['organizations.id'], name=op.f('fk_consumer_return_lines_brand_id_organizations')),
    sa.ForeignKeyConstraint(['order_line_id'], ['consumer_order_lines.id'], name=op.f('fk_consumer_return_lines_order_line_id_consumer_order_lines')),
    sa.ForeignKeyConstraint(['return_id'], ['consumer_returns.id'], name=op.f('fk_consumer_return_lines_return_id_consumer_returns')),
    sa.ForeignKeyConstraint(['variant_id'], ['variants.id'], name=op.f('fk_consumer_return_lines_variant_id_variants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consumer_return_lines'))
    )
    with op.batch_alter_table('consumer_return_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consumer_return_lines_order_line_id'), ['order_line_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_consumer_return_lines_return_id'), ['return_id'], unique=False)


def downgrade():
    with op.batch_alter_table('consumer_return_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consumer_return_lines_return_id'))
        batch_op.drop_index(batch_op.f('ix_consumer_return_lines_order_line_id'))

    op.drop_table('consumer_return_lines')
    with op.batch_alter_table('consumer_returns', schema=None) as batch_op:
        batch_op.drop_index('ix_consumer_returns_order_id')
        batch_op.drop_index('ix_consumer_returns_location_id_status')

    op.drop_table('consumer_returns')
