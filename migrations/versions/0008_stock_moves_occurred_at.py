"""stock_moves.occurred_at: when a move happened in the business, which velocity counts by.

Reviewed by hand. A store's POS may send last week's sales today; counted by created_at (the
insertion time) they made today's velocity spike and the suggested order too big. A reported
sale's move now carries its report's sold_at here, every other move the time it was written,
and the replenishment engine's velocity window filters on this column instead of created_at.

The ledger is append-only (triggers refuse UPDATE), so the existing rows get their created_at
with the trigger set aside for this one statement, inside the migration's transaction: the
only business time we know for them is when they were written. Then the column is NOT NULL;
new rows always carry it (apply_moves, and the scale seed's COPY). On SQLite the batch copy of
the table loses its triggers, so they are created again afterwards.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03

"""
from alembic import op
import sqlalchemy as sa

import portal.core.db


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def _sqlite_triggers(action):
    for verb in ("UPDATE", "DELETE"):
        name = f"stock_moves_no_{verb.lower()}"
        if action == "drop":
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        else:
            op.execute(
                f"CREATE TRIGGER {name} BEFORE {verb} ON stock_moves "
                "BEGIN SELECT RAISE(ABORT, 'stock_moves is append-only'); END"
            )


def upgrade():
    column = sa.Column('occurred_at', portal.core.db.UTCDateTime(timezone=True), nullable=True)
    if op.get_bind().dialect.name == "postgresql":
        op.add_column('stock_moves', column)
        op.execute("ALTER TABLE stock_moves DISABLE TRIGGER stock_moves_append_only")
        op.execute("UPDATE stock_moves SET occurred_at = created_at")
        op.execute("ALTER TABLE stock_moves ENABLE TRIGGER stock_moves_append_only")
        op.alter_column('stock_moves', 'occurred_at', nullable=False)
    else:
        _sqlite_triggers("drop")
        op.add_column('stock_moves', column)
        op.execute("UPDATE stock_moves SET occurred_at = created_at")
        with op.batch_alter_table('stock_moves', schema=None) as batch_op:
            batch_op.alter_column('occurred_at', existing_type=column.type, nullable=False)
        _sqlite_triggers("create")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.drop_column('stock_moves', 'occurred_at')
    else:
        _sqlite_triggers("drop")
        with op.batch_alter_table('stock_moves', schema=None) as batch_op:
            batch_op.drop_column('occurred_at')
        _sqlite_triggers("create")
