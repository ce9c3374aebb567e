"""Inventory: locations, stock levels per SKU and grade, and the append-only stock ledger.

Reviewed by hand: the CHECK constraints on stock_levels (on_hand >= 0, reserved >= 0,
reserved <= on_hand) back the conditional updates in portal/inventory/services.py; levels are
unique per (location, variant, grade), which the insert-if-missing relies on. stock_moves is
append-only: the application never updates or deletes a row.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22

"""
from alembic import op
import sqlalchemy as sa

import portal.core.db


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('locations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('is_default', sa.Boolean(), nullable=False),
    sa.Column('created_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('warehouse', 'store')", name=op.f('ck_locations_kind')),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_locations_org_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_locations')),
    sa.UniqueConstraint('code', name=op.f('uq_locations_code'))
    )
    with op.batch_alter_table('locations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_locations_org_id'), ['org_id'], unique=False)
        batch_op.create_index(
            'uq_locations_org_id_default',
            ['org_id'],
            unique=True,
            postgresql_where=sa.text('is_default'),
            sqlite_where=sa.text('is_default'),
        )

    op.create_table('stock_levels',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('variant_id', sa.Integer(), nullable=False),
    sa.Column('grade', sa.String(length=1), nullable=False),
    sa.Column('on_hand', sa.BigInteger(), nullable=False),
    sa.Column('reserved', sa.BigInteger(), nullable=False),
    sa.CheckConstraint("grade IN ('A', 'B')", name=op.f('ck_stock_levels_grade')),
    sa.CheckConstraint('on_hand >= 0', name=op.f('ck_stock_levels_on_hand_not_negative')),
    sa.CheckConstraint('reserved <= on_hand', name=op.f('ck_stock_levels_reserved_within_on_hand')),
    sa.CheckConstraint('reserved >= 0', name=op.f('ck_stock_levels_reserved_not_negative')),
    sa.ForeignKeyConstraint(['brand_id'], ['organizations.id'], name=op.f('fk_stock_levels_brand_id_organizations')),
    sa.ForeignKeyConstraint(['location_id'], ['locations.id'], name=op.f('fk_stock_levels_location_id_locations')),
    sa.ForeignKeyConstraint(['variant_id'], ['variants.id'], name=op.f('fk_stock_levels_variant_id_variants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_levels')),
    sa.UniqueConstraint('location_id', 'variant_id', 'grade', name=op.f('uq_stock_levels_location_id_variant_id_grade'))
    )
    with op.batch_alter_table('stock_levels', schema=None) as batch_op:
        batch_op.create_index('ix_stock_levels_brand_id_variant_id', ['brand_id', 'variant_id'], unique=False)

    op.create_table('stock_moves',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('variant_id', sa.Integer(), nullable=False),
    sa.Column('grade', sa.String(length=1), nullable=False),
    sa.Column('on_hand_delta', sa.BigInteger(), nullable=False),
    sa.Column('reserved_delta', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.String(length=20), nullable=False),
    sa.Column('reference', sa.String(length=80), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=False),
    sa.Column('actor_user_id', sa.Integer(), nullable=True),
    sa.Column('actor_org_id', sa.Integer(), nullable=True),
    sa.Column('created_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("grade IN ('A', 'B')", name=op.f('ck_stock_moves_grade')),
    sa.CheckConstraint("reason IN ('receipt', 'shipment', 'transfer', 'adjustment', 'count', 'damage', 'found', 'sale', 'return', 'push', 'upload', 'reserve', 'release')", name=op.f('ck_stock_moves_reason')),
    sa.ForeignKeyConstraint(['actor_org_id'], ['organizations.id'], name=op.f('fk_stock_moves_actor_org_id_organizations')),
    sa.ForeignKeyConstraint(['actor_user_id'], ['users.id'], name=op.f('fk_stock_moves_actor_user_id_users')),
    sa.ForeignKeyConstraint(['brand_id'], ['organizations.id'], name=op.f('fk_stock_moves_brand_id_organizations')),
    sa.ForeignKeyConstraint(['location_id'], ['locations.id'], name=op.f('fk_stock_moves_location_id_locations')),
    sa.ForeignKeyConstraint(['variant_id'], ['variants.id'], name=op.f('fk_stock_moves_variant_id_variants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_moves'))
    )
    with op.batch_alter_table('stock_moves', schema=None) as batch_op:
        batch_op.create_index('ix_stock_moves_location_id_id', ['location_id', 'id'], unique=False)
        batch_op.create_index('ix_stock_moves_location_id_variant_id_id', ['location_id', 'variant_id', 'id'], unique=False)
        batch_op.create_index('ix_stock_moves_reference', ['reference'], unique=False)

    # The ledger is append-only in the database too (the same triggers as
    # portal/inventory/models.py creates for create_all databases).
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION stock_moves_append_only() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'stock_moves is append-only'; END $$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER stock_moves_append_only BEFORE UPDATE OR DELETE ON stock_moves "
            "FOR EACH ROW EXECUTE FUNCTION stock_moves_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER stock_moves_no_{verb.lower()} BEFORE {verb} ON stock_moves "
                "BEGIN SELECT RAISE(ABORT, 'stock_moves is append-only'); END"
            )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS stock_moves_append_only ON stock_moves")
        op.execute("DROP FUNCTION IF EXISTS stock_moves_append_only()")
    with op.batch_alter_table('stock_moves', schema=None) as batch_op:
        batch_op.drop_index('ix_stock_moves_reference')
        batch_op.drop_index('ix_stock_moves_location_id_variant_id_id')
        batch_op.drop_index('ix_stock_moves_location_id_id')

    op.drop_table('stock_moves')
    with op.batch_alter_table('stock_levels', schema=None) as batch_op:
        batch_op.drop_index('ix_stock_levels_brand_id_variant_id')

    op.drop_table('stock_levels')
    with op.batch_alter_table('locations', schema=None) as batch_op:
        batch_op.drop_index('uq_locations_org_id_default')
        batch_op.drop_index(batch_op.f('ix_locations_org_id'))

    op.drop_table('locations')
