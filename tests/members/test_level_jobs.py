"""The nightly membership jobs on a real RQ worker (`python worker.py --burst`), against committed
rows on PostgreSQL: levels recounted from the 12 months' spend, then the automatic tags
refreshed, each run recorded as finished."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def rq_app(own_redis):
    with stack_app("portal_test_member_jobs", own_redis.url) as app:
        yield app


def run_worker(app) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": app.config["REDIS_URL"],
        "PORTAL_ENV": "development",
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.run(
        [sys.executable, "worker.py", "--burst", "--queues", jobs.QUEUE_DEFAULT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.mark.redis
def test_the_worker_recounts_levels_then_refreshes_tags(rq_app):
    """One run asked for (as the scheduler asks): the recount, which asks for the refresh."""
    connection = jobs.redis_connection(rq_app.config["REDIS_URL"])
    connection.flushdb()
    with rq_app.app_context():
        shop = member_shop("WJ")
        big, small = shop.consumer(), shop.consumer()
        spend(shop, big, 120_000)
        spend(shop, small, 60_000)
        ids = (big.member_id, small.member_id)
        db.session.commit()
        jobs.enqueue(recount_levels, key="recount-levels:test")
        db.session.commit()
        result = run_worker(rq_app)
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
    connection.flushdb()
    connection.close()
