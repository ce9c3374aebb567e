"""The month-end settlement job (portal/guides/jobs.py) on a real RQ worker
(`python worker.py --burst`) against committed rows on PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from portal.core import jobs
from portal.core.jobs import JobRun
from portal.extensions import db
from portal.guides.jobs import settle_commissions
from portal.guides.models import CommissionStatement
from tests.guides.commission_support import entry, make_guide
from tests.support.processes import ROOT, portal_env, stack_app
from tests.support.retail import build_retail_shop
from tests.support.workers import empty_redis


@pytest.fixture(scope="module")
def rq_app(own_redis):
    with stack_app("portal_test_commission_jobs", own_redis.url, demo=False) as app:
        yield app


def burst(app) -> subprocess.CompletedProcess:
    """A burst worker that also imports the guides' jobs (until create_app registers them)."""
    env = portal_env(app.config["SQLALCHEMY_DATABASE_URI"], app.config["REDIS_URL"])
    return subprocess.run(
        [sys.executable, "worker.py", "--burst", "--queues", jobs.QUEUE_DEFAULT]
        + ["--import", "portal.guides.jobs"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.mark.redis
@pytest.mark.postgres
def test_rq_worker_settles_the_month_once(rq_app):
    with empty_redis(rq_app), rq_app.app_context():
        shop = build_retail_shop("SJ")
        guide = make_guide(shop.brand.id, shop.net.links["JA"].buyer)
        entry(guide, 1500, datetime(2025, 2, 10, tzinfo=UTC))
        entry(guide, 800, datetime(2025, 3, 2, tzinfo=UTC))  # March's
        brand_id = shop.brand.id
        jobs.enqueue(settle_commissions, None, "2025-02", key="settle:test:1")
        db.session.commit()

        result = burst(rq_app)

        assert result.returncode == 0, result.stderr[-2000:]
        db.session.expire_all()
        run = db.session.get(JobRun, "settle:test:1")
        assert run.status == "finished", run.error
        assert run.result == {
            "period": "2025-02",
            "brands": 1,
            "guide_statements": 1,
            "store_statements": 1,
            "entries": 1,
            "amount_cents": 1500,
        }
        jobs.enqueue(settle_commissions, brand_id, "2025-02", key="settle:test:2")
        db.session.commit()
        assert burst(rq_app).returncode == 0
        db.session.expire_all()
        again = db.session.get(JobRun, "settle:test:2")
        assert again.status == "finished", again.error
        assert again.result["guide_statements"] == 0  # made nothing new
        rows = db.session.execute(
            select(CommissionStatement.party, CommissionStatement.amount_cents).where(
                CommissionStatement.brand_id == brand_id
            )
        ).all()
        assert sorted(rows) == [("guide", 1500), ("store", 1500)]
        db.session.remove()
