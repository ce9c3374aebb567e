"""Payments: our payments (one per attempt to be paid for a consumer order or a wallet top-up),
the notices providers send about them, refunds and each attempt at sending one.

Reviewed by hand: payments.reference is the merchant order number given to the provider (unique);
a paid payment must name its provider transaction and when it was paid (CHECK
paid_has_transaction). payment_notices is unique per (provider, notice_id), which is what makes a
notice delivered many times, even at once, count once. payment_refunds.reference is the refund
number given to the provider (unique), so a refund asked for twice is paid once. payable_id has no
foreign key on purpose: it names a consumer order or a wallet top-up, after payable_kind.
payment_notices, payment_refunds and payment_refund_attempts are append-only: the same triggers as
portal.core.db.make_append_only creates for create_all databases, written out here so this
migration never changes.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03

"""
from alembic import op
import sqlalchemy as sa

import portal.core.db


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

LEDGERS = ("payment_notices", "payment_refunds", "payment_refund_attempts")


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
    op.create_table('payments',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=32), nullable=False),
    sa.Column('payable_kind', sa.String(length=20), nullable=False),
    sa.Column('payable_id', sa.BigInteger(), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('provider', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('provider_transaction_id', sa.String(length=64), nullable=True),
    sa.Column('expires_at', portal.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('paid_at', portal.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("payable_kind IN ('consumer_order', 'wallet_top_up')", name=op.f('ck_payments_payable_kind')),
    sa.CheckConstraint("provider IN ('test', 'wechat', 'alipay')", name=op.f('ck_payments_provider')),
    sa.CheckConstraint("status <> 'paid' OR (paid_at IS NOT NULL AND provider_transaction_id IS NOT NULL)", name=op.f('ck_payments_paid_has_transaction')),
    sa.CheckConstraint("status IN ('pending', 'paid', 'expired', 'cancelled')", name=op.f('ck_payments_status')),
    sa.CheckConstraint('amount_cents > 0', name=op.f('ck_payments_amount_positive')),
    sa.ForeignKeyConstraint(['brand_id'], ['organizations.id'], name=op.f('fk_payments_brand_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payments')),
    sa.UniqueConstraint('reference', name=op.f('uq_payments_reference'))
    )
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.create_index('ix_payments_brand_id_id', ['brand_id', 'id'], unique=False)
        batch_op.create_index('ix_payments_payable_kind_payable_id', ['payable_kind', 'payable_id'], unique=False)
        batch_op.create_index('ix_payments_status_expires_at', ['status', 'expires_at'], unique=False)

    op.create_table('payment_notices',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('payment_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('provider', sa.String(length=10), nullable=False),
    sa.Column('notice_id', sa.String(length=128), nullable=False),
    sa.Column('provider_transaction_id', sa.String(length=64), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('created_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("outcome IN ('applied', 'declined', 'ignored', 'late', 'double', 'amount_mismatch')", name=op.f('ck_payment_notices_outcome')),
    sa.CheckConstraint("provider IN ('test', 'wechat', 'alipay')", name=op.f('ck_payment_notices_provider')),
    sa.CheckConstraint("status IN ('paid', 'declined', 'pending')", name=op.f('ck_payment_notices_status')),
    sa.ForeignKeyConstraint(['brand_id'], ['organizations.id'], name=op.f('fk_payment_notices_brand_id_organizations')),
    sa.ForeignKeyConstraint(['payment_id'], ['payments.id'], name=op.f('fk_payment_notices_payment_id_payments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_notices')),
    sa.UniqueConstraint('provider', 'notice_id', name=op.f('uq_payment_notices_provider_notice_id'))
    )
    with op.batch_alter_table('payment_notices', schema=None) as batch_op:
        batch_op.create_index('ix_payment_notices_payment_id_id', ['payment_id', 'id'], unique=False)

    op.create_table('payment_refunds',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('payment_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('reference', sa.String(length=64), nullable=False),
    sa.Column('provider', sa.String(length=10), nullable=False),
    sa.Column('provider_transaction_id', sa.String(length=64), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('reason', sa.String(length=20), nullable=False),
    sa.Column('notice_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("provider IN ('test', 'wechat', 'alipay')", name=op.f('ck_payment_refunds_provider')),
    sa.CheckConstraint("reason IN ('late_payment', 'double_payment', 'cancelled', 'returned')", name=op.f('ck_payment_refunds_reason')),
    sa.CheckConstraint('amount_cents > 0', name=op.f('ck_payment_refunds_amount_positive')),
    sa.ForeignKeyConstraint(['brand_id'], ['organizations.id'], name=op.f('fk_payment_refunds_brand_id_organizations')),
    sa.ForeignKeyConstraint(['notice_id'], ['payment_notices.id'], name=op.f('fk_payment_refunds_notice_id_payment_notices')),
    sa.ForeignKeyConstraint(['payment_id'], ['payments.id'], name=op.f('fk_payment_refunds_payment_id_payments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_refunds')),
    sa.UniqueConstraint('reference', name=op.f('uq_payment_refunds_reference'))
    )
    with op.batch_alter_table('payment_refunds', schema=None) as batch_op:
        batch_op.create_index('ix_payment_refunds_payment_id_id', ['payment_id', 'id'], unique=False)

    op.create_table('payment_refund_attempts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('refund_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('provider_refund_id', sa.String(length=64), nullable=False),
    sa.Column('message', sa.String(length=500), nullable=False),
    sa.Column('created_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("state IN ('succeeded', 'processing', 'failed')", name=op.f('ck_payment_refund_attempts_state')),
    sa.ForeignKeyConstraint(['refund_id'], ['payment_refunds.id'], name=op.f('fk_payment_refund_attempts_refund_id_payment_refunds')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_refund_attempts'))
    )
    with op.batch_alter_table('payment_refund_attempts', schema=None) as batch_op:
        batch_op.create_index('ix_payment_refund_attempts_refund_id_id', ['refund_id', 'id'], unique=False)

    for table in LEDGERS:
        _append_only(table)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table in LEDGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {table}_append_only()")
    with op.batch_alter_table('payment_refund_attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_payment_refund_attempts_refund_id_id')

    op.drop_table('payment_refund_attempts')
    with op.batch_alter_table('payment_refunds', schema=None) as batch_op:
        batch_op.drop_index('ix_payment_refunds_payment_id_id')

    op.drop_table('payment_refunds')
    with op.batch_alter_table('payment_notices', schema=None) as batch_op:
        batch_op.drop_index('ix_payment_notices_payment_id_id')

    op.drop_table('payment_notices')
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_index('ix_payments_status_expires_at')
        batch_op.drop_index('ix_payments_payable_kind_payable_id')
        batch_op.drop_index('ix_payments_brand_id_id')

    op.drop_table('payments')
