"""Real concurrency on PostgreSQL, no mocks: HQ's "close now" and two runs of the counting job
take the same ended task at once, each in its own thread and transaction against a committed
database of the test's own. The task is closed once and each guide's reward written once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.campaigns import tasks
from portal.campaigns.models import GuideTask, TaskStatus
from portal.core.access import Actor
from portal.core.db import utcnow
from portal.extensions import db
from portal.guides.models import CommissionEntry, CommissionKind, GuideVisit
from tests.campaigns.tasks.conftest import TaskShop
from tests.guides.conftest import GuideShop
from tests.support.races import at_once, race_app
from tests.support.retail import build_retail_shop


@pytest.mark.postgres
def test_closing_a_task_from_several_places_at_once_pays_each_reward_once(tmp_path):
    app = race_app("postgresql", tmp_path, "portal_test_task_race")
    with app.app_context():
        gs = GuideShop(build_retail_shop("TR"))
        for short in ("JA", "LJ"):
            gs.add_guide(short)
        ts = TaskShop(gs)
        task = ts.published(kind="share", ref="product:TEE", reward_cents=100, cap_cents=500)
        for n, short in enumerate(("JA", "JA", "LJ")):
            db.session.add(  # a signed-in consumer each (a browser alone is not counted)
                GuideVisit(
                    brand_id=gs.brand.id,
                    guide_id=gs.guides[short].id,
                    consumer_id=gs.consumer().id,
                    visitor=f"race-browser-{n:06d}",
                    target="product",
                    ref="TEE",
                    opened_at=utcnow() - timedelta(minutes=1),
                )
            )
        task.ends_at = utcnow()
        task_id, hq = task.id, ts.hq
        db.session.commit()
        db.session.remove()

    def close() -> str:
        closing = tasks.close_task(hq, tasks.get_task(Actor.system(), task_id))
        return f"closed:{closing.rewards}" if closing.closed else "already"

    def job() -> str:
        done = tasks.run_task(task_id)
        return f"closed:{done['rewards']}" if done["closed"] else "already"

    outcomes = at_once(app, [close, job, close, job], lambda error: error.code)
    assert sorted(outcomes) == ["already", "already", "already", "closed:2"]
    with app.app_context():
        assert db.session.get(GuideTask, task_id).status == TaskStatus.CLOSED
        written = db.session.execute(
            select(CommissionEntry.guide_id, func.sum(CommissionEntry.amount_cents))
            .where(
                CommissionEntry.kind == CommissionKind.REWARD,
                CommissionEntry.reference == f"T{task_id}",
            )
            .group_by(CommissionEntry.guide_id)
        ).all()
        assert sorted(amount for _guide, amount in written) == [100, 200]
        db.session.remove()
        db.engine.dispose()
