"""The nightly membership jobs on a real RQ worker (`python worker.py --burst`), against committed
rows on PostgreSQL: levels recounted from the 12 months' spend, then the automatic tags
refreshed, each run recorded as finished."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.core import jobs
from portal.core.jobs import JobRun
from portal.extensions import db
from portal.members import membership, tags
from portal.members.level_jobs import recount_levels
from portal.members.models import Member
from tests.members.test_levels import member_shop, spend
from tests.support.processes import stack_app
from tests.support.workers import empty_redis, run_burst_worker


@pytest.fixture(scope="module")
def rq_app(own_redis):
    with stack_app("portal_test_member_jobs", own_redis.url) as app:
        yield app


@pytest.mark.redis
def test_the_worker_recounts_levels_then_refreshes_tags(rq_app):
    """One run asked for (as the scheduler asks): the recount, which asks for the refresh."""
    with empty_redis(rq_app), rq_app.app_context():
        shop = member_shop("WJ")
        big, small = shop.consumer(), shop.consumer()
        spend(shop, big, 120_000)
        spend(shop, small, 60_000)
        ids = (big.member_id, small.member_id)
        db.session.commit()
        jobs.enqueue(recount_levels, key="recount-levels:test")
        db.session.commit()
        result = run_burst_worker(rq_app)
        assert result.returncode == 0, result.stderr[-2000:]

        db.session.expire_all()
        recount = db.session.get(JobRun, "recount-levels:test")
        assert recount.status == "finished", recount.error
        assert recount.result["changed"] >= 2
        refresh = db.session.execute(
            select(JobRun).where(JobRun.id.like("refresh-member-tags:%"))
        ).scalar_one()
        assert refresh.status == "finished", refresh.error
        levels = dict(
            db.session.execute(select(Member.id, Member.level).where(Member.id.in_(ids))).all()
        )
        assert levels == {ids[0]: "gold", ids[1]: "silver"}
        member = membership.member_of(db.session.get(type(big), big.id))
        held = {tags.label(t) for t in tags.tags_of(member, shop.brand.id)}
        assert {"Level: Gold", "Bought in the last 30 days"} <= held
        db.session.remove()
