"""The tasks' five-minute job (portal/campaigns/task_jobs.py) on a real RQ worker
(`python worker.py --burst`) against committed rows on PostgreSQL: it counts a published task,
reaches a guide who joined since, closes the task once its window is over and writes each
guide's reward once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.campaigns import tasks
from portal.campaigns.models import GuideTask, TaskAssignment, TaskStatus
from portal.campaigns.task_jobs import count_task_results
from portal.core import jobs
from portal.core.access import Actor, Role
from portal.core.db import utcnow
from portal.core.jobs import JobRun
from portal.extensions import db
from portal.guides.models import GuideVisit
from tests.campaigns.tasks.conftest import TaskShop, rewards
from tests.guides.conftest import GuideShop
from tests.support.processes import stack_app
from tests.support.retail import build_retail_shop
from tests.support.workers import empty_redis, run_burst_worker


@pytest.fixture(scope="module")
def rq_app(own_redis):
    with stack_app("portal_test_task_jobs", own_redis.url, demo=False) as app:
        yield app


def opened(ts: TaskShop, short: str, visitor: str, *, signed_in: bool = True) -> None:
    """The guide's link opened in a browser, by a consumer signed in to the shop (only they
    count) or by nobody who signed in."""
    consumer = ts.gs.consumer() if signed_in else None
    db.session.add(
        GuideVisit(
            brand_id=ts.brand.id,
            guide_id=ts.guide(short).id,
            consumer_id=consumer.id if consumer is not None else None,
            visitor=visitor,
            target="product",
            ref="TEE",
            opened_at=utcnow() - timedelta(minutes=1),
        )
    )


def run(app, key: str) -> JobRun:
    jobs.enqueue(count_task_results, key=key)
    db.session.commit()
    result = run_burst_worker(app)
    assert result.returncode == 0, result.stderr[-2000:]
    db.session.expire_all()
    found = db.session.get(JobRun, key)
    assert found.status == "finished", found.error
    return found


@pytest.mark.redis
@pytest.mark.postgres
def test_rq_worker_counts_a_task_then_closes_it_and_pays_each_reward_once(rq_app):
    with empty_redis(rq_app), rq_app.app_context():
        gs = GuideShop(build_retail_shop("TJ"))
        for short in ("JA", "LJ"):
            gs.add_guide(short)
        ts = TaskShop(gs)
        task = ts.published(kind="share", ref="product:TEE", target=2, reward_cents=50)
        task_id = task.id
        for n in range(3):
            opened(ts, "JA", f"browser-ja-{n:08d}")
        opened(ts, "LJ", "browser-lj-00000001")
        opened(ts, "LJ", "browser-lj-00000002", signed_in=False)  # not counted
        paid = {gs.guides["JA"].id: 150, gs.guides["LJ"].id: 50}  # 3 and 1 results, ¥0.50 each
        newcomer = gs.add_guide("LJ", Role.STORE_STAFF)  # joined after the task was published
        db.session.commit()

        first = run(rq_app, "tasks:test:1")
        assert first.result["counted"] == 4 and first.result["assigned"] == 1
        assert db.session.execute(
            select(TaskAssignment.guide_id).where(
                TaskAssignment.task_id == task_id, TaskAssignment.guide_id == newcomer.id
            )
        ).scalar_one()

        db.session.get(GuideTask, task_id).ends_at = utcnow()  # the window is over
        db.session.commit()
        second = run(rq_app, "tasks:test:2")
        assert second.result["closed"] == 1 and second.result["rewards"] == 2
        task = db.session.get(GuideTask, task_id)
        assert task.status == TaskStatus.CLOSED
        assert rewards(task) == paid

        third = run(rq_app, "tasks:test:3")
        assert third.result["tasks"] == 0  # nothing published is left
        tasks.close_task(Actor.system(), task)  # closing it again writes nothing
        assert rewards(task) == paid
        db.session.remove()
