"""The points' periodic jobs (portal/members/points_jobs.py): on a real RQ worker
(`python worker.py --burst`) against committed rows on PostgreSQL, and asked for by the scheduler
(portal/schedule.py), whose slots run inline without Redis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from portal import schedule
from portal.core import jobs
from portal.core.access import Actor
from portal.core.db import utcnow
from portal.core.jobs import JobRun
from portal.extensions import db
from portal.members import membership, points
from portal.members.points_jobs import expire_points, mature_points
from portal.schedule import DAY, Periodic, Scheduler
from portal.storefront.models import Consumer
from tests.members.test_points import held, till_points
from tests.support.processes import stack_app
from tests.support.retail import RetailShop, build_retail_shop
from tests.support.workers import empty_redis, run_burst_worker

ENTRIES = (
    Periodic("mature-points", "portal.members.points_jobs.mature_points", 3600),
    Periodic("expire-points", "portal.members.points_jobs.expire_points", DAY, "00:30"),
)


def _record_sale(built: RetailShop, consumer, yuan: int, occurred_at: datetime) -> None:
    """A till's sale, pending: nothing matures it but the job."""
    points.record_pos_sale(
        Actor.system(),
        built.brand,
        built.locations["JA"],
        phone=consumer.phone,
        amount_cents=yuan * 100,
        reference=f"J-{yuan}-{occurred_at:%Y%m%d}",
        occurred_at=occurred_at,
    )


@pytest.fixture
def shop(app) -> RetailShop:
    return build_retail_shop("PT")


# -- a real worker -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rq_app(own_redis):
    with stack_app("portal_test_points_jobs", own_redis.url, demo=False) as app:
        yield app


@pytest.mark.redis
def test_rq_worker_matures_due_points_and_expires_a_past_years_points(rq_app):
    with empty_redis(rq_app), rq_app.app_context():
        built = build_retail_shop("PJ")
        consumer = built.consumer()
        consumer_id = consumer.id
        _record_sale(built, consumer, 300, datetime(2024, 6, 1, 4, tzinfo=UTC))
        _record_sale(built, consumer, 200, utcnow() - timedelta(days=10))
        _record_sale(built, consumer, 50, utcnow() - timedelta(days=1))  # returns still open
        db.session.commit()
        assert held(consumer) == (550, 0)
        jobs.enqueue(mature_points, key="mature:test")
        jobs.enqueue(expire_points, key="expire:test")
        db.session.commit()

        result = run_burst_worker(rq_app)

        assert result.returncode == 0, result.stderr[-2000:]
        db.session.expire_all()
        matured = db.session.get(JobRun, "mature:test")
        expired = db.session.get(JobRun, "expire:test")
        assert (matured.status, expired.status) == ("finished", "finished"), (
            matured.error,
            expired.error,
        )
        assert matured.result == {"lots": 2}
        assert expired.result == {"members": 1, "points": 300}  # 2024's: gone at the end of 2025
        consumer = db.session.execute(
            select(Consumer).where(Consumer.id == consumer_id)
        ).scalar_one()
        assert held(consumer) == (50, 200)
        db.session.remove()


# -- the scheduler -------------------------------------------------------------------------------


def test_the_scheduler_asks_for_both_jobs_and_they_run(shop, app, monkeypatch):
    """Without Redis the scheduler runs each due slot inline. Only the points' entries are listed
    here (their `Periodic` lines go into portal/schedule.py); the daily one is given an
    interval so that it is due whatever the time of day."""
    consumer = shop.consumer()
    till_points(shop, consumer, 10)
    _record_sale(shop, consumer, 40, utcnow() - timedelta(days=9))
    _record_sale(shop, consumer, 70, datetime(2023, 2, 1, 4, tzinfo=UTC))
    member_id = membership.member_of(consumer).id
    db.session.commit()
    monkeypatch.setattr(schedule, "PERIODIC", ENTRIES)
    monkeypatch.setitem(app.config, "SCHEDULE_INTERVALS", "expire-points=60")

    Scheduler(app).tick()

    runs = db.session.execute(
        select(JobRun).where(JobRun.id.like("periodic:%-points:%")).order_by(JobRun.id)
    ).scalars()
    by_entry = {run.id.split(":")[1]: run for run in runs}
    assert set(by_entry) == {"expire-points", "mature-points"}
    assert {run.status for run in by_entry.values()} == {"finished"}
    db.session.expire_all()
    member = membership.lock_member(member_id)
    balance = points.balance(member)
    # The mature run came first: 2023's 70 matured, then expired; 10 + 40 are usable.
    assert (balance.pending, balance.available) == (0, 50)
