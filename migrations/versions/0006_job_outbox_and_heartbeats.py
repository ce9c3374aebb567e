"""Jobs survive a Redis outage and a dead worker: an outbox mark on each run, and heartbeats.

Reviewed by hand. `job_runs.dispatched_at` is when the run was last handed to Redis: a queued run
without it is in the outbox, and the scheduler's relay sends it (the partial index keeps that
look-up cheap however many finished runs pile up). Runs queued before this migration get no mark,
so the relay hands them to Redis once more; a run already waiting there collapses into itself.

`job_heartbeats` holds one row per run that a worker is running, touched every few seconds by the
work horse. It is a table of its own, without a foreign key, so that a heartbeat never waits on
the row lock a long job holds on its own `job_runs` row while it reports progress.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

"""
from alembic import op
import sqlalchemy as sa

import portal.core.db


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('job_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dispatched_at', portal.core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(
            'ix_job_runs_undispatched',
            ['created_at'],
            unique=False,
            postgresql_where=sa.text("status = 'queued' AND dispatched_at IS NULL"),
            sqlite_where=sa.text("status = 'queued' AND dispatched_at IS NULL"),
        )

    op.create_table('job_heartbeats',
    sa.Column('job_id', sa.String(length=160), nullable=False),
    sa.Column('worker', sa.String(length=200), nullable=False),
    sa.Column('beat_at', portal.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('job_id', name=op.f('pk_job_heartbeats'))
    )


def downgrade():
    op.drop_table('job_heartbeats')
    with op.batch_alter_table('job_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_job_runs_undispatched')
        batch_op.drop_column('dispatched_at')
